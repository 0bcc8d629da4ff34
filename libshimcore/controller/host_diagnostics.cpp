// The process kind's diagnostics: host processes with the caller's stdio, the shim's threads from /proc.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "shimcore/controller/diagnostics.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/os_handle.h"

extern char** environ;

namespace shimcore::controller {
namespace {

namespace fs = std::filesystem;

// The caller's stdio: FIFOs or files it created; absent paths read from / write to /dev/null. Opened without
// blocking, so that a FIFO nobody holds is an error for the caller instead of a worker thread stuck in open().
hcs::OsHandle open_stdio(const std::string& path, int flags) {
  const std::string target = path.empty() ? "/dev/null" : path;
  hcs::OsHandle handle(::open(target.c_str(), flags | O_CLOEXEC | O_NONBLOCK));
  if (!handle.valid()) {
    const int error = errno;
    if (error == ENXIO) {
      throw make_error(ErrorKind::FailedPrecondition, "cannot open {}: no reader holds the FIFO", target);
    }
    throw make_error(error == ENOENT ? ErrorKind::NotFound : ErrorKind::InvalidArgument, "cannot open {}: {}", target,
                     std::strerror(error));
  }
  ::fcntl(handle.get(), F_SETFL, ::fcntl(handle.get(), F_GETFL) & ~O_NONBLOCK);  // the child does plain blocking I/O
  return handle;
}

// Runs the request's process to its end, or kills it (its whole process group) once `stop` is requested: the caller
// went away, its deadline passed or the shim is stopping. Runs on a LongCalls thread, never on a server worker.
std::int32_t exec_in_host(const DiagExecRequest& request, std::stop_token stop) {
  if (request.args.empty()) throw make_error(ErrorKind::InvalidArgument, "DiagExecInHost: no args");
  if (request.stdio.terminal) {
    // The process kind has no console to lend a host process; hcsshim refuses a terminal with stderr the same way.
    throw make_error(ErrorKind::FailedPrecondition, "DiagExecInHost: a terminal is not supported by this shim");
  }
  const std::string workdir = request.workdir.empty() ? std::string("/") : request.workdir;
  std::error_code error;
  if (!fs::is_directory(workdir, error)) {
    throw make_error(ErrorKind::InvalidArgument, "DiagExecInHost: workdir {} is not a directory", workdir);
  }
  const hcs::OsHandle in = open_stdio(request.stdio.stdin_path, O_RDONLY);
  const hcs::OsHandle out = open_stdio(request.stdio.stdout_path, O_WRONLY);
  const hcs::OsHandle err = open_stdio(request.stdio.stderr_path, O_WRONLY);

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, in.get(), STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, out.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, err.get(), STDERR_FILENO);
  ::posix_spawn_file_actions_addchdir_np(&actions, workdir.c_str());
  posix_spawnattr_t attributes;
  ::posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigfillset(&defaults);
  ::posix_spawnattr_setsigdefault(&attributes, &defaults);
  sigset_t none;
  sigemptyset(&none);
  ::posix_spawnattr_setsigmask(&attributes, &none);  // the shim blocks SIGTERM/SIGINT; its children must not
  ::posix_spawnattr_setpgroup(&attributes, 0);       // its own group, so that cancelling kills what it started too
  ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  std::vector<std::string> args = request.args;
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = ::posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    throw make_error(spawned == ENOENT ? ErrorKind::NotFound : ErrorKind::InvalidArgument,
                     "DiagExecInHost: cannot run {}: {}", args.front(), std::strerror(spawned));
  }
  {
    // Until the child is reaped its pid (and group id) cannot be reused, so the callback's kill hits only what this
    // call started: wait without reaping, drop the callback (which waits for a running one), then reap.
    const std::stop_callback cancel(stop, [pid] { ::kill(-pid, SIGKILL); });
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (stop.stop_requested() && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
    throw make_error(ErrorKind::Canceled, "DiagExecInHost: {} was killed: the call was cancelled", args.front());
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class HostDiagnostics final : public Diagnostics {
 public:
  std::int32_t exec(const DiagExecRequest& request, std::stop_token stop) override {
    return exec_in_host(request, stop);
  }
  DiagStacks stacks() override { return {shim_thread_dump(), {}}; }
  void share(const std::string&, const std::string&, bool) override {
    throw make_error(ErrorKind::Unimplemented,
                     "DiagShare: a process-isolated sandbox has no utility VM to share a host path into");
  }
};

}  // namespace

std::string shim_thread_dump() {
  std::string dump;
  std::error_code error;
  for (const auto& task : fs::directory_iterator("/proc/self/task", error)) {
    std::string name = read_text(task.path() / "comm");
    if (!name.empty() && name.back() == '\n') name.pop_back();
    dump += fmt::format("thread {} ({})\n", task.path().filename().string(), name);
    const std::string status = read_text(task.path() / "status");
    const auto state = status.find("State:");
    if (state != std::string::npos) dump += "  " + status.substr(state, status.find('\n', state) - state) + "\n";
    const std::string wchan = read_text(task.path() / "wchan");
    if (!wchan.empty() && wchan != "0") dump += "  wchan: " + wchan + "\n";
    std::istringstream stack(read_text(task.path() / "stack"));
    for (std::string line; std::getline(stack, line);) dump += "  " + line + "\n";
  }
  return dump;
}

std::unique_ptr<Diagnostics> make_host_diagnostics() { return std::make_unique<HostDiagnostics>(); }

}  // namespace shimcore::controller
