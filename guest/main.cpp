// shimcore-gcs: the Linux guest agent. It dials the host's GCS bridge (vsock, virtio-serial or Unix sockets), runs
// containers with runc and processes in the utility VM, and answers the host as hcsshim's Linux GCS does.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "agent.h"
#include "bridge.h"
#include "log.h"
#include "mounts.h"
#include "posix.h"
#include "reaper.h"

namespace {

using namespace shimcore::guest;

constexpr std::string_view kUsage =
    "usage: shimcore-gcs [options]\n"
    "  --unix-dir DIR       dial the host's Unix sockets DIR/<port> (emulator) instead of vsock CID 2\n"
    "  --virtio-serial DEV  dial the host through the stream mux on virtio-serial port DEV (QEMU) instead of vsock\n"
    "  --root DIR           state root: bundles, runc state in DIR/runc (default /run/gcs)\n"
    "  --runc PATH          runc binary (default runc)\n"
    "  --plan9-dir DIR      Plan9 share N is the folder DIR/N, bind-mounted (emulator, QEMU's 9p export);\n"
    "                       default: share N over 9p (virtio)\n"
    "  --cgroup-parent P    containers get cgroupsPath P/<id> (default /gcs)\n"
    "  --log-level LEVEL    debug, info, warn or error (default info)\n"
    "  -h, --help           this text\n";

struct Flags {
  std::string unix_dir;
  std::string virtio_serial;
  std::string plan9_dir;
  AgentOptions agent;
  LogLevel level = LogLevel::Info;
};

// Returns nullopt after printing usage (help) or an error (exit code in `code`).
std::optional<Flags> parse_flags(int argc, char** argv, int& code) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage.data(), stdout);
      code = 0;
      return std::nullopt;
    }
    std::string_view name = arg;
    std::optional<std::string> value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    }
    auto take = [&]() -> std::optional<std::string> {
      if (value) return value;
      if (i + 1 < argc) return std::string(argv[++i]);
      std::fprintf(stderr, "shimcore-gcs: %.*s needs a value\n%s", static_cast<int>(name.size()), name.data(),
                   kUsage.data());
      return std::nullopt;
    };
    std::string* target = nullptr;
    if (name == "--unix-dir") target = &flags.unix_dir;
    if (name == "--virtio-serial") target = &flags.virtio_serial;
    if (name == "--root") target = &flags.agent.root;
    if (name == "--runc") target = &flags.agent.runc;
    if (name == "--plan9-dir") target = &flags.plan9_dir;
    if (name == "--cgroup-parent") target = &flags.agent.cgroup_parent;
    if (target != nullptr) {
      auto v = take();
      if (!v || v->empty()) {
        code = 2;
        if (v) std::fprintf(stderr, "shimcore-gcs: %s must not be empty\n", std::string(name).c_str());
        return std::nullopt;
      }
      *target = *v;
    } else if (name == "--log-level") {
      auto v = take();
      const auto level = v ? parse_log_level(*v) : std::nullopt;
      if (!level) {
        if (v) std::fprintf(stderr, "shimcore-gcs: unknown log level \"%s\"\n", v->c_str());
        code = 2;
        return std::nullopt;
      }
      flags.level = *level;
    } else {
      std::fprintf(stderr, "shimcore-gcs: unknown argument \"%s\"\n%s", argv[i], kUsage.data());
      code = 2;
      return std::nullopt;
    }
  }
  if (!flags.unix_dir.empty() && !flags.virtio_serial.empty()) {
    std::fprintf(stderr, "shimcore-gcs: --unix-dir and --virtio-serial exclude each other\n");
    code = 2;
    return std::nullopt;
  }
  flags.agent.root = std::filesystem::absolute(flags.agent.root).lexically_normal().string();
  while (flags.agent.root.size() > 1 && flags.agent.root.back() == '/') flags.agent.root.pop_back();
  return flags;
}

}  // namespace

int main(int argc, char** argv) {
  int code = 0;
  const std::optional<Flags> flags = parse_flags(argc, argv, code);
  if (!flags) return code;
  set_log_level(flags->level);

  // Children get fds 0..2 by dup2 from higher fds (process.cpp): keep the low numbers taken even if started without.
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) ::open("/dev/null", O_RDWR);
  }
  // Before any thread exists: SIGCHLD is only taken by the Reaper, and a dead peer is a write error, not a signal.
  sigset_t child;
  sigemptyset(&child);
  sigaddset(&child, SIGCHLD);
  ::pthread_sigmask(SIG_BLOCK, &child, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Orphans (runc's container processes once runc exits) are re-parented to us, so their statuses reach the Reaper.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) log_warn("PR_SET_CHILD_SUBREAPER failed");

  try {
    Reaper reaper;
    std::unique_ptr<Transport> transport = !flags->unix_dir.empty() ? make_unix_transport(flags->unix_dir)
                                           : !flags->virtio_serial.empty()
                                               ? make_virtio_serial_transport(flags->virtio_serial)
                                               : make_vsock_transport();
    std::unique_ptr<ShareMounter> shares =
        flags->plan9_dir.empty() ? make_virtio_9p_mounter() : make_directory_share_mounter(flags->plan9_dir);
    Agent agent(flags->agent, reaper, *transport, std::move(shares));
    Bridge bridge(agent, *transport);
    agent.set_notifier([&bridge](const shimcore::gcs::ContainerNotification& n) { bridge.notify(n); });
    log_info("shimcore-gcs starting",
             {{"pid", ::getpid()},
              {"root", flags->agent.root},
              {"transport", !flags->unix_dir.empty()        ? "unix:" + flags->unix_dir
                            : !flags->virtio_serial.empty() ? "virtio-serial:" + flags->virtio_serial
                                                            : std::string("vsock")}});
    bridge.run();
    log_info("shutting down");
  } catch (const std::exception& e) {
    log_error("fatal", {{"error", e.what()}});
    return 1;
  }
  if (::getpid() == 1) {
    // As the VM's init there is nothing to return to: power the VM off.
    ::sync();
    ::reboot(RB_POWER_OFF);
  }
  return 0;
}
