// `start`: spawn the daemon and print its address only once it listens (containerd dials once, at once).
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <istream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <ostream>
#include <thread>
#include <vector>

#include "shimcore/errdefs.h"
#include "shimcore/shim/log.h"
#include "shimcore/shim/runtime.h"
#include "shimcore/shim/runtime_options.h"
#include "shimcore/transport/unix_socket.h"

namespace shimcore::shim {
namespace {

namespace fs = std::filesystem;

fs::path socket_dir() {
  if (const char* dir = std::getenv("SHIMCORE_SOCKET_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (::geteuid() == 0) return "/run/shimcore/s";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "shimcore" / "s";
  }
  return fs::path("/tmp") / ("shimcore-" + std::to_string(::geteuid())) / "s";
}

// FNV-1a: a stable short name per containerd socket, namespace and id (not a security boundary: the directory is
// private to the user and the server checks its peers).
std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

bool listening(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof(address.sun_path) - 1);
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

// Warnings of `start` go to the bundle's log FIFO, which containerd copies into its own log: stdout and stderr are
// containerd's bootstrap channel, and a stray line there would corrupt the address.
void log_to_bundle_fifo(const fs::path& bundle, const ShimFlags& flags, const std::vector<std::string>& warnings) {
  if (warnings.empty()) return;
  const int fd = ::open((bundle / "log").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return;  // run by hand, without containerd
  struct stat status {};
  if (::fstat(fd, &status) == 0 && S_ISFIFO(status.st_mode)) {
    set_log_fields(flags.namespace_name, flags.id);
    for (const std::string& warning : warnings) {
      const std::string line = format_log_line(LogLevel::Warn, warning);
      if (::write(fd, line.data(), line.size()) < 0) break;
    }
  }
  ::close(fd);
}

}  // namespace

std::string daemon_address(const ShimFlags& flags) {
  const std::string key = flags.address + "/" + flags.namespace_name + "/" + flags.id;
  return fmt::format("unix://{}/{:016x}.sock", socket_dir().string(), fnv1a(key));
}

namespace {

// The options' SandboxIsolation names one this shim runs: an unknown value is InvalidArgument, HYPERVISOR sent to the
// process shim FailedPrecondition (Hyper-V isolated Windows containers are the wcow shim's). PROCESS, the default,
// says nothing for the VM kinds, whose isolation is fixed.
void require_kind_isolation(const SandboxKind& kind, const RuntimeOptions& options) {
  const int isolation = static_cast<int>(options.sandbox_isolation());
  if (!RuntimeOptions::SandboxIsolation_IsValid(isolation)) {
    throw make_error(ErrorKind::InvalidArgument, "runtime options: unknown SandboxIsolation {}", isolation);
  }
  if (kind.isolation == Isolation::Process && options.sandbox_isolation() == RuntimeOptions::HYPERVISOR) {
    throw make_error(ErrorKind::FailedPrecondition,
                     "runtime options: SandboxIsolation HYPERVISOR, but {} runs process-isolated containers only "
                     "(Hyper-V isolated Windows containers are containerd-shim-wcow-v2's)",
                     kind.binary_name);
  }
}

}  // namespace

void start(const SandboxKind& kind, const ShimFlags& flags, std::istream& in, std::ostream& out) {
  if (flags.id.empty()) throw make_error(ErrorKind::InvalidArgument, "start: -id is required");
  if (flags.namespace_name.empty()) throw make_error(ErrorKind::InvalidArgument, "start: -namespace is required");
  const std::string options((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const ParsedRuntimeOptions parsed = parse_runtime_options(options);
  require_kind_isolation(kind, parsed.options);
  const fs::path bundle = flags.bundle.empty() ? fs::current_path() : fs::path(flags.bundle);

  const std::string address = daemon_address(flags);
  const std::string path = transport::unix_socket_path(address);
  std::error_code error;
  fs::create_directories(fs::path(path).parent_path(), error);
  ::chmod(fs::path(path).parent_path().c_str(), 0700);
  if (listening(path)) {
    throw make_error(ErrorKind::AlreadyExists, "a shim for {}/{} is already serving on {}", flags.namespace_name,
                     flags.id, address);
  }
  // The daemon reads the parsed options from the bundle (load_runtime_options), also after a restart.
  save_runtime_options(bundle, parsed.options);
  log_to_bundle_fifo(bundle, flags, parsed.warnings);

  std::vector<std::string> args{fs::read_symlink("/proc/self/exe").string(),
                                "-namespace",
                                flags.namespace_name,
                                "-id",
                                flags.id,
                                "-address",
                                flags.address,
                                "-publish-binary",
                                flags.publish_binary,
                                "-bundle",
                                bundle.string(),
                                "-socket",
                                address};
  if (flags.debug) args.emplace_back("-debug");
  args.emplace_back("serve");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string workdir = bundle.string();

  const pid_t child = ::fork();
  if (child < 0) throw make_error(ErrorKind::Unavailable, "start: fork failed");
  if (child == 0) {
    // The daemon: its own session, nothing inherited from containerd's output pipe (containerd reads that pipe to
    // EOF, so a daemon holding it would stall containerd), cwd = bundle.
    ::setsid();
    const int null_fd = ::open("/dev/null", O_RDWR);
    for (int target : {0, 1, 2}) ::dup2(null_fd, target);
    if (null_fd > 2) ::close(null_fd);
    if (::chdir(workdir.c_str()) != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  // Listen first, print last: wait for the socket, noticing if the daemon dies instead.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!listening(path)) {
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) {
      throw make_error(ErrorKind::Unavailable, "start: the shim daemon exited (status {:#x}) before listening; see {}",
                       status, (bundle / "log").string());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
      throw make_error(ErrorKind::DeadlineExceeded, "start: the shim daemon did not listen on {} within 20 s", address);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  out << nlohmann::json{{"version", 3}, {"address", address}, {"protocol", "ttrpc"}}.dump();
  out.flush();
  (void)kind;
}

}  // namespace shimcore::shim
