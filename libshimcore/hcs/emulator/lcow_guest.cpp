// The emulated LCOW guest: shimcore-gcs as pid 1 of its own pid and mount namespaces, a direct child of the shim
// that stands for the VM on the host.
#include "hcs/emulator/lcow_guest.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "hcs/emulator/orphaned_threads.h"
#include "shimcore/hcs/hresult.h"
#include "shimcore/thread_name.h"

namespace shimcore::hcs::emulator {
namespace {

// Steps of the launch that can fail before exec; the child reports {step, errno} through a CLOEXEC pipe.
enum class LaunchStep : int { Clone = 1, PrivateMounts, Proc, RunGcs, Exec };

const char* step_name(int step) {
  switch (static_cast<LaunchStep>(step)) {
    case LaunchStep::Clone: return "clone(CLONE_NEWPID|CLONE_NEWNS)";
    case LaunchStep::PrivateMounts: return "making mounts private";
    case LaunchStep::Proc: return "mounting /proc";
    case LaunchStep::RunGcs: return "mounting a tmpfs at /run/gcs";
    case LaunchStep::Exec: return "exec of the guest agent";
  }
  return "launch";
}

// As the rest of the emulator: the message in the operation text (what() shows it) and in the result document.
[[noreturn]] void fail(std::uint32_t hr, std::string_view operation, const std::string& message) {
  const nlohmann::json result{{"Error", static_cast<std::int32_t>(hr)}, {"ErrorMessage", message}};
  throw HcsError(hr, std::string(operation) + ": " + message, result.dump());
}

[[noreturn]] void report_and_exit(int fd, LaunchStep step) {
  const int report[2] = {static_cast<int>(step), errno};
  [[maybe_unused]] const ssize_t n = ::write(fd, report, sizeof report);
  ::_exit(120 + static_cast<int>(step));
}

class LcowGuest final : public EmulatedGuest {
 public:
  LcowGuest(GuestContext context, std::filesystem::path agent)
      : context_(std::move(context)), agent_(std::move(agent)) {}

  ~LcowGuest() override {
    stop();
    if (watcher_.joinable()) {
      if (watcher_.get_id() == std::this_thread::get_id()) {
        OrphanedThreads::adopt(std::move(watcher_));  // destroyed from its own exit callback
      } else {
        watcher_.join();
      }
    }
  }

  void start() override {
    constexpr std::string_view op = "StartComputeSystem";
    std::error_code error;
    if (!std::filesystem::is_regular_file(agent_, error)) {
      fail(hresult::kFileNotFound, op, fmt::format("the LCOW guest agent {} does not exist", agent_.string()));
    }
    const char* level = std::getenv("SHIMCORE_GCS_LOG_LEVEL");
    std::vector<std::string> args{agent_.string(),
                                  "--unix-dir",
                                  context_.ports_directory.string(),
                                  "--plan9-dir",
                                  context_.plan9_directory.string(),
                                  "--root",
                                  "/run/gcs",
                                  "--cgroup-parent",
                                  "/shimcore-vm-" + context_.runtime_id,
                                  "--log-level",
                                  level != nullptr && *level != '\0' ? level : "info"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
      fail(hresult::kServiceNotAvailable, op, fmt::format("pipe: {}", std::strerror(errno)));
    }
    const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    // A clone straight into new pid and mount namespaces: the agent is pid 1 of its namespace and our direct child,
    // so no second process stands for the VM (a plain fork would show a copy of the shim in ps).
    const pid_t agent = static_cast<pid_t>(
        ::syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
    if (agent < 0) {
      const int saved = errno;
      ::close(report[0]);
      ::close(report[1]);
      if (devnull >= 0) ::close(devnull);
      fail(hresult::kAccessDenied, op,
           fmt::format("starting the LCOW guest agent: {} failed: {}", step_name(static_cast<int>(LaunchStep::Clone)),
                       std::strerror(saved)));
    }
    if (agent == 0) launch(report[1], devnull, argv.data());  // never returns
    ::close(report[1]);
    if (devnull >= 0) ::close(devnull);
    int failure[2] = {0, 0};
    ssize_t n;
    do {
      n = ::read(report[0], failure, sizeof failure);
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n == static_cast<ssize_t>(sizeof failure)) {
      int status = 0;
      ::waitpid(agent, &status, 0);
      fail(failure[0] == static_cast<int>(LaunchStep::Exec) ? hresult::kFileNotFound : hresult::kAccessDenied, op,
           fmt::format("starting the LCOW guest agent {}: {} failed: {}", agent_.string(), step_name(failure[0]),
                       std::strerror(failure[1])));
    }
    {
      const std::lock_guard lock(mutex_);
      pid_ = agent;
    }
    watcher_ = std::thread([this, agent] { watch(agent); });
  }

  void stop() override {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
      // The agent is its pid namespace's init (and leads its process group), so everything it
      // started (runc, containers) dies with it.
      if (pid_ > 0 && !exited_) ::kill(-pid_, SIGKILL);
    }
    if (watcher_.joinable() && watcher_.get_id() != std::this_thread::get_id()) watcher_.join();
  }

  void modify(const nlohmann::json&) override {
    fail(hresult::kNotSupported, "ModifyComputeSystem",
         "an LCOW VM with an external GCS bridge takes guest requests over the bridge, not from HCS");
  }

  int host_pid() const override {
    const std::lock_guard lock(mutex_);
    return pid_;
  }

 private:
  // In the cloned child (pid 1 of its namespaces): only async-signal-safe calls until exec.
  [[noreturn]] static void launch(int report_fd, int devnull, char** argv) {
    ::setpgid(0, 0);  // its own process group: stop() signals the group, terminals never reach it
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      report_and_exit(report_fd, LaunchStep::PrivateMounts);
    }
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      report_and_exit(report_fd, LaunchStep::Proc);
    }
    ::mkdir("/run/gcs", 0700);
    if (::mount("tmpfs", "/run/gcs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") != 0) {
      report_and_exit(report_fd, LaunchStep::RunGcs);
    }
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    // Only stdio goes into the VM: an inherited copy of containerd's connection to the shim would keep that connection
    // open after the shim died, and containerd would never clean up.
    ::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
    ::execv(argv[0], argv);
    report_and_exit(report_fd, LaunchStep::Exec);
  }

  void watch(pid_t agent) {
    set_thread_name("hcs-lcow-guest");
    int status = 0;
    while (::waitpid(agent, &status, 0) < 0 && errno == EINTR) {
    }
    bool report = false;
    {
      const std::lock_guard lock(mutex_);
      exited_ = true;
      report = !stopping_;
    }
    // The agent powers the VM off with reboot(RB_POWER_OFF), which in a pid namespace ends its init with SIGINT: a
    // clean power-off, like an exit 0.
    const bool clean =
        (WIFEXITED(status) && WEXITSTATUS(status) == 0) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
    if (!clean) {
      std::fprintf(stderr, "hcs emulator: the LCOW guest agent of %s ended with %s %d\n", context_.system_id.c_str(),
                   WIFEXITED(status) ? "exit code" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    if (report && context_.exited) context_.exited(clean);
  }

  GuestContext context_;
  std::filesystem::path agent_;
  mutable std::mutex mutex_;
  pid_t pid_ = -1;
  bool stopping_ = false;
  bool exited_ = false;
  std::thread watcher_;
};

}  // namespace

std::unique_ptr<EmulatedGuest> make_lcow_guest(const GuestContext& context, const std::filesystem::path& agent) {
  return std::make_unique<LcowGuest>(context, agent);
}

}  // namespace shimcore::hcs::emulator
