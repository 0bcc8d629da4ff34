// shimdiag: the operators' CLI of the shims' containerd.runhcs.v1.diag.ShimDiag service (hcsshim's cmd/shimdiag):
// finds the running shims, runs a process where a shim's containers live, prints stacks, tasks and pids, and shares a
// host folder into a utility VM.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "diag_client.h"
#include "discovery.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/os_handle.h"

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;
using shimcore::ErrorKind;
using shimcore::make_error;
using shimcore::hcs::OsHandle;
using namespace shimdiag;

// Exit codes (documented in --help).
constexpr int kExitFailed = 1;         // the shim answered with an error
constexpr int kExitUsage = 2;          // bad command line
constexpr int kExitNotFound = 3;       // no such shim (or the shim found no such thing)
constexpr int kExitUnavailable = 4;    // nothing answers at the shim's address, or the call timed out
constexpr int kExitUnimplemented = 5;  // the shim does not serve ShimDiag or that call

constexpr const char* kUsage = R"(usage: shimdiag [global options] <command> [options] [arguments]

Talks to the containerd.runhcs.v1.diag.ShimDiag service of the running containerd-shim-{lcow,wcow,process}-v2
shims (and of any shim that serves it).

commands:
  list [--pids]                              every shim of this host: namespace, id, kind, state, address
  exec [-t] [--stdin] [-w DIR] <shim> <command> [args...]
                                             run a process where the shim's containers live (the host for
                                             the process kind, the utility VM for LCOW); exits with its code
  stacks <shim>                              the shim's threads and, for a VM shim, the guest agent's stacks
  tasks [--execs] <shim>                     the shim's tasks (and their processes) as a table
  share [--ro] <shim> <host-path> <uvm-path> share a host folder into the shim's utility VM
  pid <shim>                                 the shim's process id

<shim> is a name as `list` prints it (<namespace>/<id>), the bare id when it is unique, the id of any task the
shim serves, or an address (unix:///path, /path, \\.\pipe\name).

global options:
  -h, --help             this text; `shimdiag <command> --help` for a command's
  --timeout DURATION     bound on each call (default 10s; exec: none unless given), e.g. 500ms, 30s, 2m
  --grpc                 call over gRPC instead of ttrpc: a shim found by name at <address>.grpc (served when
                         it runs with SHIMCORE_DIAG_GRPC=1), an address as given; a shim whose bootstrap says
                         grpc is called over gRPC anyway
  --state DIR            containerd state folder to search (repeatable; default /run/containerd)
  --socket-dir DIR       shim socket folder to search (repeatable; default $SHIMCORE_SOCKET_DIR or
                         /run/shimcore/s, and /run/containerd/s)

exit status:
  0  success (exec: the process's own exit code once the shim ran it)
  1  the shim answered with an error
  2  bad command line
  3  no such shim, or the shim found no such thing
  4  nothing answers at the shim's address (stale socket, shim gone), or the call timed out
  5  the shim does not serve ShimDiag, or not that call
)";

struct CommandHelp {
  const char* name;
  const char* text;
};
constexpr CommandHelp kCommandHelp[] = {
    {"list", R"(usage: shimdiag list [--pids]

Lists every shim found in containerd's state folders (the bootstrap record of each task and sandbox bundle)
and every shim socket no bundle names. STATE is "running" when the address accepts connections, "stale" when
it does not (a socket left behind). TASKS counts the tasks and sandboxes the shim serves.

options:
  --pids    also ask each running shim for its process id (DiagPid); "-" when it cannot say
)"},
    {"exec", R"(usage: shimdiag exec [-t] [--stdin] [-w DIR] <shim> <command> [args...]

Runs <command> through the shim's DiagExecInHost: on the host for the process kind, in the utility VM
(outside every container) for LCOW. Its stdout and stderr come here; shimdiag exits with its exit code.
Everything after <shim> is the command line, options included.

options:
  -t, --tty         give the process a terminal (this terminal in raw mode; its size is set in the
                    process's terminal with `stty` before the command runs: ShimDiag carries no size)
  --stdin           pass this standard input to the process
  -w, --workdir DIR the process's working directory (default /)
)"},
    {"stacks", R"(usage: shimdiag stacks <shim>

Prints the shim's threads (DiagStacks) and, for a shim with a utility VM, the guest agent's stacks.
)"},
    {"tasks", R"(usage: shimdiag tasks [--execs] <shim>

Prints the tasks the shim holds (DiagTasks) as a table.

options:
  --execs   one row per exec process of each task, with its state ("-" for a task without execs; the
            task's own init process is the task)
)"},
    {"share", R"(usage: shimdiag share [--ro] <shim> <host-path> <uvm-path>

Shares the host folder <host-path> into the shim's utility VM at <uvm-path> (DiagShare) until the VM stops.
A shim without a utility VM answers that it does not implement it.

options:
  --ro, --readonly   share read-only
)"},
    {"pid", R"(usage: shimdiag pid <shim>

Prints the shim's process id (DiagPid).
)"},
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Globals {
  std::chrono::milliseconds timeout{10000};
  bool timeout_given = false;
  bool grpc = false;
  DiscoveryOptions discovery;
};

std::chrono::milliseconds parse_duration(const std::string& text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string unit(end, text.data() + text.size());
  double scale = 0;
  if (unit == "ms") scale = 1;
  if (unit == "s" || unit.empty()) scale = 1000;
  if (unit == "m") scale = 60000;
  if (error != std::errc() || end == text.data() || scale == 0 || value < 0) {
    throw UsageError(fmt::format("--timeout {:?}: want a duration such as 500ms, 30s or 2m", text));
  }
  return std::chrono::milliseconds(static_cast<long long>(value * scale));
}

int exit_code_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::NotFound: return kExitNotFound;
    case ErrorKind::Unavailable:
    case ErrorKind::DeadlineExceeded: return kExitUnavailable;
    case ErrorKind::Unimplemented: return kExitUnimplemented;
    default: return kExitFailed;
  }
}

// The options of a command: those before its first argument (`exec` stops there: the rest is the command line).
po::variables_map parse_command(const std::string& command, const po::options_description& options,
                                const std::vector<std::string>& args, std::vector<std::string>& positional,
                                bool stop_at_first_positional) {
  std::vector<std::string> option_args;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      option_args.push_back(arg);
      // An option that takes a value as the next word: --long or its one-letter -x form.
      bool takes_value = false;
      for (const auto& option : options.options()) {
        const bool named = arg == "--" + option->long_name() ||
                           arg == option->canonical_display_name(po::command_line_style::allow_dash_for_short);
        takes_value = takes_value || (named && option->semantic()->max_tokens() > 0);
      }
      if (takes_value && i + 1 < args.size()) option_args.push_back(args[++i]);
      continue;
    }
    if (stop_at_first_positional) break;
    positional.push_back(arg);
  }
  for (; i < args.size(); ++i) positional.push_back(args[i]);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(option_args).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& error) {
    throw UsageError(fmt::format("{}: {}", command, error.what()));
  }
  return vm;
}

// The client for a resolved shim, by the protocol asked for or recorded.
std::unique_ptr<DiagClient> connect(const Globals& globals, const ShimEntry& shim, std::chrono::milliseconds timeout) {
  if (shim.protocol == "grpc") return make_grpc_client(shim.address, timeout);
  if (globals.grpc) {
    const bool explicit_address = shim.id.empty() && shim.tasks.empty();
    return make_grpc_client(explicit_address ? shim.address : shim.address + ".grpc", timeout);
  }
  return make_ttrpc_client(shim.address, timeout);
}

ShimEntry find_shim(const Globals& globals, const std::string& name) {
  return resolve(name, discover(globals.discovery), globals.discovery);
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    std::cout << line << "\n";
  }
}

int run_list(const Globals& globals, const std::vector<std::string>& args) {
  po::options_description options;
  options.add_options()("pids", "");
  std::vector<std::string> positional;
  const auto vm = parse_command("list", options, args, positional, false);
  if (!positional.empty()) throw UsageError("list: takes no arguments");
  const bool pids = vm.count("pids") > 0;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"NAMESPACE", "ID", "KIND", "STATE", "TASKS"};
  if (pids) header.push_back("PID");
  header.push_back("ADDRESS");
  rows.push_back(header);
  for (const ShimEntry& shim : discover(globals.discovery)) {
    const bool running = reachable(shim.address);
    std::vector<std::string> row{shim.ns.empty() ? "-" : shim.ns, shim.id.empty() ? "-" : shim.id,
                                 shim.kind.empty() ? "-" : shim.kind, running ? "running" : "stale",
                                 std::to_string(shim.tasks.size())};
    if (pids) {
      std::string pid = "-";
      if (running) {
        try {
          pid = std::to_string(connect(globals, shim, globals.timeout)->pid().pid());
        } catch (const shimcore::Error&) {
          // A shim that does not serve ShimDiag, or went away meanwhile: it is listed all the same.
        }
      }
      row.push_back(pid);
    }
    row.push_back(shim.address);
    rows.push_back(std::move(row));
  }
  print_table(rows);
  return 0;
}

// A FIFO under a private temporary folder, removed with it.
class FifoDir {
 public:
  FifoDir() {
    std::string pattern = (fs::temp_directory_path() / "shimdiag-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw make_error(ErrorKind::Internal, "mkdtemp: {}", std::strerror(errno));
    }
    path_ = pattern;
  }
  ~FifoDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  FifoDir(const FifoDir&) = delete;
  FifoDir& operator=(const FifoDir&) = delete;
  std::string make(const std::string& name) const {
    const std::string path = (path_ / name).string();
    if (::mkfifo(path.c_str(), 0600) != 0)
      throw make_error(ErrorKind::Internal, "mkfifo {}: {}", path, std::strerror(errno));
    return path;
  }

 private:
  fs::path path_;
};

OsHandle open_fifo(const std::string& path, int flags) {
  OsHandle fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd) throw make_error(ErrorKind::Internal, "open {}: {}", path, std::strerror(errno));
  return fd;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return true;
}

// The process's output FIFO: read until every writer (the shim's, the process's, our placeholder) is gone.
class OutputRelay {
 public:
  OutputRelay(const std::string& path, int target)
      : read_(open_fifo(path, O_RDONLY | O_NONBLOCK)), placeholder_(open_fifo(path, O_WRONLY)) {
    ::fcntl(read_.get(), F_SETFL, ::fcntl(read_.get(), F_GETFL) & ~O_NONBLOCK);
    thread_ = std::jthread([this, target] {
      char buffer[8192];
      for (;;) {
        const ssize_t got = ::read(read_.get(), buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0 || !write_all(target, buffer, static_cast<std::size_t>(got))) return;
      }
    });
  }
  // The call has returned: the process and the shim have closed their ends; drain what is left.
  void finish() {
    placeholder_.reset();
    if (thread_.joinable()) thread_.join();
  }
  ~OutputRelay() { finish(); }

 private:
  OsHandle read_;
  OsHandle placeholder_;  // keeps the FIFO from reading as ended before the shim opens it
  std::jthread thread_;
};

// Our stdin towards the process's stdin FIFO, until our stdin ends or the call returns. The writer end is opened
// blocking, which returns once the shim opens the reader; a blocked writer already counts as one, so the process never
// reads a premature end, and nothing written is lost with a FIFO nobody holds yet.
class InputRelay {
 public:
  explicit InputRelay(std::string path) : path_(std::move(path)) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw make_error(ErrorKind::Internal, "pipe: {}", std::strerror(errno));
    stop_read_ = OsHandle(pipe_fds[0]);
    stop_write_ = OsHandle(pipe_fds[1]);
    thread_ = std::jthread([this] {
      const OsHandle fifo(::open(path_.c_str(), O_WRONLY | O_CLOEXEC));
      if (!fifo) return;
      char buffer[8192];
      for (;;) {
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
          if (errno == EINTR) continue;
          break;
        }
        if (fds[1].revents != 0) break;
        const ssize_t got = ::read(STDIN_FILENO, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0 || !write_all(fifo.get(), buffer, static_cast<std::size_t>(got))) break;
      }
    });  // the FIFO closes as the thread ends: the process reads end of input
  }
  ~InputRelay() {
    const char stop = 1;
    (void)!::write(stop_write_.get(), &stop, 1);
    // A shim that never opened the FIFO (the call failed) leaves the writer's open blocked: a reader releases it.
    const OsHandle release(::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (thread_.joinable()) thread_.join();
  }
  InputRelay(const InputRelay&) = delete;
  InputRelay& operator=(const InputRelay&) = delete;

 private:
  std::string path_;
  OsHandle stop_read_, stop_write_;
  std::jthread thread_;
};

// This terminal in raw mode for the call's duration.
class RawTerminal {
 public:
  RawTerminal() {
    if (::isatty(STDIN_FILENO) == 0 || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

int run_exec(const Globals& globals, const std::vector<std::string>& args) {
  po::options_description options;
  options.add_options()("tty,t", "")("stdin", "")("workdir,w", po::value<std::string>());
  std::vector<std::string> positional;
  const auto vm = parse_command("exec", options, args, positional, true);
  if (positional.size() < 2) throw UsageError("exec: want <shim> <command> [args...]");
  const bool tty = vm.count("tty") > 0;
  const bool with_stdin = vm.count("stdin") > 0;
  const ShimEntry shim = find_shim(globals, positional[0]);
  std::vector<std::string> command(positional.begin() + 1, positional.end());
  winsize size{};
  if (tty && ::ioctl(STDIN_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0) {
    // ShimDiag has no window size: the process's terminal gets this one before the command runs.
    std::vector<std::string> wrapped{
        "sh", "-c", fmt::format("stty rows {} cols {} 2>/dev/null; exec \"$@\"", size.ws_row, size.ws_col), "sh"};
    wrapped.insert(wrapped.end(), command.begin(), command.end());
    command = std::move(wrapped);
  }

  FifoDir fifos;
  diag::ExecProcessRequest request;
  for (const std::string& word : command) request.add_args(word);
  if (vm.count("workdir")) request.set_workdir(vm["workdir"].as<std::string>());
  request.set_terminal(tty);
  const std::string out_path = fifos.make("stdout");
  request.set_stdout(out_path);
  std::optional<OutputRelay> err;
  if (!tty) {  // a terminal carries both streams
    const std::string err_path = fifos.make("stderr");
    request.set_stderr(err_path);
    err.emplace(err_path, STDERR_FILENO);
  }
  OutputRelay out(out_path, STDOUT_FILENO);
  std::optional<InputRelay> in;
  if (with_stdin) {
    const std::string in_path = fifos.make("stdin");
    request.set_stdin(in_path);
    in.emplace(in_path);
  }
  std::optional<RawTerminal> raw;
  if (tty) raw.emplace();
  const auto client = connect(globals, shim, globals.timeout_given ? globals.timeout : std::chrono::milliseconds(0));
  const diag::ExecProcessResponse response = client->exec(request);
  raw.reset();
  in.reset();
  out.finish();
  if (err) err->finish();
  return response.exit_code();
}

std::string one_shim(const std::string& command, const std::vector<std::string>& positional) {
  if (positional.size() != 1) throw UsageError(command + ": want exactly one <shim>");
  return positional[0];
}

int run_stacks(const Globals& globals, const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  parse_command("stacks", po::options_description(), args, positional, false);
  const auto stacks = connect(globals, find_shim(globals, one_shim("stacks", positional)), globals.timeout)->stacks();
  std::cout << stacks.stacks();
  if (!stacks.stacks().empty() && !stacks.stacks().ends_with('\n')) std::cout << "\n";
  if (!stacks.guest_stacks().empty()) {
    std::cout << "\n" << stacks.guest_stacks();
    if (!stacks.guest_stacks().ends_with('\n')) std::cout << "\n";
  }
  return 0;
}

int run_tasks(const Globals& globals, const std::vector<std::string>& args) {
  po::options_description options;
  options.add_options()("execs", "");
  std::vector<std::string> positional;
  const auto vm = parse_command("tasks", options, args, positional, false);
  const bool execs = vm.count("execs") > 0;
  const auto tasks = connect(globals, find_shim(globals, one_shim("tasks", positional)), globals.timeout)->tasks(execs);
  std::vector<std::vector<std::string>> rows;
  rows.push_back(execs ? std::vector<std::string>{"TASK", "EXEC", "STATE"} : std::vector<std::string>{"TASK"});
  for (const auto& task : tasks.tasks()) {
    if (!execs) {
      rows.push_back({task.id()});
      continue;
    }
    if (task.execs().empty()) rows.push_back({task.id(), "-", "-"});
    for (const auto& exec : task.execs()) rows.push_back({task.id(), exec.id(), exec.state()});
  }
  print_table(rows);
  return 0;
}

int run_share(const Globals& globals, const std::vector<std::string>& args) {
  po::options_description options;
  options.add_options()("ro", "")("readonly", "");
  std::vector<std::string> positional;
  const auto vm = parse_command("share", options, args, positional, false);
  if (positional.size() != 3) throw UsageError("share: want <shim> <host-path> <uvm-path>");
  diag::ShareRequest request;
  request.set_host_path(fs::absolute(positional[1]).lexically_normal().string());  // the shim's cwd is not ours
  request.set_uvm_path(positional[2]);
  request.set_read_only(vm.count("ro") > 0 || vm.count("readonly") > 0);
  connect(globals, find_shim(globals, positional[0]), globals.timeout)->share(request);
  return 0;
}

int run_pid(const Globals& globals, const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  parse_command("pid", po::options_description(), args, positional, false);
  std::cout << connect(globals, find_shim(globals, one_shim("pid", positional)), globals.timeout)->pid().pid() << "\n";
  return 0;
}

int run(int argc, char** argv) {
  po::options_description global;
  global.add_options()("help,h", "")("timeout", po::value<std::string>())("grpc", "")(
      "state", po::value<std::vector<std::string>>())("socket-dir", po::value<std::vector<std::string>>());
  // Global options come before the command; the command is the first word that is not one of them.
  std::vector<std::string> words(argv + 1, argv + argc);
  std::vector<std::string> positional;
  const auto vm = parse_command("shimdiag", global, words, positional, true);
  const std::string command = positional.empty() ? std::string() : positional.front();
  const std::vector<std::string> rest(positional.empty() ? positional.end() : positional.begin() + 1, positional.end());
  if (vm.count("help") || command.empty() || command == "help") {
    if (command == "help" && !rest.empty()) {
      for (const auto& help : kCommandHelp) {
        if (rest[0] == help.name) {
          std::cout << help.text;
          return 0;
        }
      }
    }
    (command.empty() && !vm.count("help") ? std::cerr : std::cout) << kUsage;
    return command.empty() && !vm.count("help") ? kExitUsage : 0;
  }
  Globals globals;
  if (vm.count("timeout")) {
    globals.timeout = parse_duration(vm["timeout"].as<std::string>());
    globals.timeout_given = true;
  }
  globals.grpc = vm.count("grpc") > 0;
  globals.discovery = default_discovery();
  if (vm.count("state")) {
    globals.discovery.state_dirs.clear();
    for (const auto& dir : vm["state"].as<std::vector<std::string>>()) globals.discovery.state_dirs.emplace_back(dir);
  }
  if (vm.count("socket-dir")) {
    globals.discovery.socket_dirs.clear();
    for (const auto& dir : vm["socket-dir"].as<std::vector<std::string>>()) {
      globals.discovery.socket_dirs.emplace_back(dir);
    }
  }
  // `shimdiag <command> --help` (exec: only before <shim>, since the rest is the process's command line).
  for (const std::string& word : rest) {
    if (word == "-h" || word == "--help") {
      for (const auto& help : kCommandHelp) {
        if (command == help.name) {
          std::cout << help.text;
          return 0;
        }
      }
    }
    if (command == "exec" && !word.starts_with("-")) break;
  }
  if (command == "list") return run_list(globals, rest);
  if (command == "exec") return run_exec(globals, rest);
  if (command == "stacks") return run_stacks(globals, rest);
  if (command == "tasks") return run_tasks(globals, rest);
  if (command == "share") return run_share(globals, rest);
  if (command == "pid") return run_pid(globals, rest);
  throw UsageError(fmt::format("unknown command {:?} (list, exec, stacks, tasks, share, pid)", command));
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);  // a closed output pipe is an error, not a silent death
  try {
    return run(argc, argv);
  } catch (const UsageError& error) {
    std::cerr << "shimdiag: " << error.what() << "\n(shimdiag --help for usage)\n";
    return kExitUsage;
  } catch (const shimcore::Error& error) {
    std::cerr << "shimdiag: " << error.what();
    if (error.kind() == ErrorKind::Unimplemented) {
      std::cerr << " (the shim does not serve containerd.runhcs.v1.diag.ShimDiag, or not this call)";
    }
    std::cerr << "\n";
    return exit_code_of(error.kind());
  } catch (const std::exception& error) {
    std::cerr << "shimdiag: " << error.what() << "\n";
    return kExitFailed;
  }
}
