// fork/exec of emulated container processes. Between fork and exec the child only makes async-signal-safe calls.
#include "hcs/emulator/host_process.h"

#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>

#include "shimcore/hcs/hresult.h"

namespace shimcore::hcs::emulator {
namespace {

struct PipePair {
  OsHandle read_end;
  OsHandle write_end;
};

PipePair make_pipe() {
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) throw HcsError(hresult::kInvalidArgument, "CreateProcess(pipe)");
  return {OsHandle(fds[0]), OsHandle(fds[1])};
}

std::uint32_t hresult_for_errno(int error) {
  switch (error) {
    case ENOENT: return hresult::kFileNotFound;
    case ENOTDIR: return 0x80070003;  // ERROR_PATH_NOT_FOUND
    case EACCES:
    case EPERM: return hresult::kAccessDenied;
    default: return 0x80004005;  // E_FAIL
  }
}

// Writes errno to the status pipe and exits; the parent turns it into the error. Async-signal-safe.
[[noreturn]] void child_fail(int status_fd) {
  const int error = errno;
  [[maybe_unused]] const ssize_t ignored = ::write(status_fd, &error, sizeof(error));
  ::_exit(127);
}

}  // namespace

std::vector<std::string> split_command_line(std::string_view line) {
  std::vector<std::string> args;
  std::size_t i = 0;
  // CommandLineToArgvW's white space is a space or a tab, nothing else (a newline is part of an argument).
  const auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    if (i >= line.size()) break;
    std::string arg;
    bool quoted = false;
    while (i < line.size() && (quoted || !is_space(line[i]))) {
      if (line[i] == '\\') {
        std::size_t backslashes = 0;
        while (i < line.size() && line[i] == '\\') {
          ++backslashes;
          ++i;
        }
        if (i < line.size() && line[i] == '"') {
          arg.append(backslashes / 2, '\\');
          if (backslashes % 2 == 1) {
            arg.push_back('"');
            ++i;
          }
        } else {
          arg.append(backslashes, '\\');
        }
        continue;
      }
      if (line[i] == '"') {
        if (quoted && i + 1 < line.size() && line[i + 1] == '"') {
          arg.push_back('"');  // "" inside quotes
          i += 2;
          continue;
        }
        quoted = !quoted;
        ++i;
        continue;
      }
      arg.push_back(line[i++]);
    }
    args.push_back(std::move(arg));
  }
  return args;
}

std::uint32_t exit_code_from_wait_status(int status) noexcept {
  if (WIFEXITED(status)) return static_cast<std::uint32_t>(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return 128u + static_cast<std::uint32_t>(WTERMSIG(status));
  return 255;
}

SpawnRequest spawn_request_of(const nlohmann::json& parameters) {
  SpawnRequest request;
  if (const auto args = parameters.find("CommandArgs"); args != parameters.end() && !args->empty()) {
    request.argv = args->get<std::vector<std::string>>();
  } else {
    request.argv = split_command_line(parameters.value("CommandLine", std::string()));
  }
  if (const auto env = parameters.find("Environment"); env != parameters.end() && !env->is_null()) {
    request.environment = env->get<std::map<std::string, std::string>>();
  }
  request.working_directory = parameters.value("WorkingDirectory", std::string());
  request.terminal = parameters.value("EmulateConsole", false);
  request.stdin_pipe = parameters.value("CreateStdInPipe", false);
  request.stdout_pipe = parameters.value("CreateStdOutPipe", false);
  request.stderr_pipe = parameters.value("CreateStdErrPipe", false);
  return request;
}

SpawnedProcess spawn_host_process(const SpawnRequest& request) {
  if (request.argv.empty() || request.argv.front().empty()) {
    throw HcsError(hresult::kInvalidArgument, "CreateProcess: empty command line");
  }
  // Everything the child needs is prepared here: after fork only async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  bool has_path = false;
  for (const auto& [key, value] : request.environment) {
    env_strings.push_back(key + "=" + value);
    has_path = has_path || key == "PATH";
  }
  if (!has_path) env_strings.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  std::vector<char*> envp;
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = request.argv;
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // Candidate executables: a name with a slash as is, otherwise each PATH entry (resolved inside the root).
  std::vector<std::string> candidates;
  if (request.argv.front().find('/') != std::string::npos) {
    candidates.push_back(request.argv.front());
  } else {
    std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    if (const auto it = request.environment.find("PATH"); it != request.environment.end()) path = it->second;
    std::size_t start = 0;
    while (start <= path.size()) {
      const std::size_t end = std::min(path.find(':', start), path.size());
      const std::string dir = path.substr(start, end - start);
      candidates.push_back((dir.empty() ? std::string(".") : dir) + "/" + request.argv.front());
      start = end + 1;
    }
  }
  const std::string root = request.root ? request.root->string() : std::string();
  const std::string cwd = request.working_directory.empty() ? std::string("/") : request.working_directory;

  PipePair in, out, err, status;
  status = make_pipe();
  OsHandle pty_master, pty_slave;
  if (request.terminal) {
    int master = -1, slave = -1;
    if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) {
      throw HcsError(hresult::kInvalidArgument, "CreateProcess(openpty)");
    }
    pty_master = OsHandle(master);
    pty_slave = OsHandle(slave);
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
  } else {
    if (request.stdin_pipe) in = make_pipe();
    if (request.stdout_pipe) out = make_pipe();
    if (request.stderr_pipe) err = make_pipe();
  }
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  OsHandle null_handle(null_fd);
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  const int fd_limit = open_max > 0 && open_max < INT_MAX ? static_cast<int>(open_max) : 1024;

  const pid_t pid = ::fork();
  if (pid < 0) throw HcsError(0x80004005, "CreateProcess(fork)");
  if (pid == 0) {
    const int status_fd = status.write_end.get();
    // A clean signal state: exec keeps the blocked mask and ignored signals, and the shim's threads may block some.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; ++signal) ::sigaction(signal, &default_action, nullptr);
    if (request.terminal) {
      ::setsid();
      ::ioctl(pty_slave.get(), TIOCSCTTY, 0);
      for (int target : {0, 1, 2}) ::dup2(pty_slave.get(), target);
    } else {
      ::setpgid(0, 0);  // its own process group, so that signals reach its children too
      ::dup2(request.stdin_pipe ? in.read_end.get() : null_fd, 0);
      ::dup2(request.stdout_pipe ? out.write_end.get() : null_fd, 1);
      ::dup2(request.stderr_pipe ? err.write_end.get() : null_fd, 2);
    }
    // Nothing else of the shim's may reach the container: not fds that lack close-on-exec (asio's accepted sockets,
    // whose copies would hide the shim's death from containerd), nor other tasks' pipes. Marked rather than closed,
    // so that the status pipe still reports a failed exec; the loop is for kernels before 5.11.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3; fd < fd_limit; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    for (const int procs : request.join_cgroups) {
      if (::write(procs, "0", 1) != 1) child_fail(status_fd);
    }
    if (!root.empty() && (::chroot(root.c_str()) != 0)) child_fail(status_fd);
    if (::chdir(cwd.c_str()) != 0) child_fail(status_fd);
    int last_error = ENOENT;
    for (const std::string& candidate : candidates) {
      ::execve(candidate.c_str(), argv.data(), envp.data());
      if (errno != ENOENT && errno != ENOTDIR) last_error = errno;
    }
    errno = last_error;
    child_fail(status_fd);
  }
  // Parent: the status pipe reads EOF when exec succeeded (close-on-exec), or the child's errno when it failed.
  if (!request.terminal) ::setpgid(pid, pid);  // also here, so that the group exists before anyone signals it
  status.write_end.reset();
  int child_errno = 0;
  ssize_t got = 0;
  do {
    got = ::read(status.read_end.get(), &child_errno, sizeof(child_errno));
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof(child_errno))) {
    int ignored = 0;
    ::waitpid(pid, &ignored, 0);
    throw HcsError(hresult_for_errno(child_errno),
                   "CreateProcess(" + request.argv.front() + "): " + std::strerror(child_errno));
  }
  SpawnedProcess spawned;
  spawned.pid = pid;
  if (request.terminal) {
    spawned.std_in = OsHandle(::fcntl(pty_master.get(), F_DUPFD_CLOEXEC, 0));
    spawned.std_out = OsHandle(::fcntl(pty_master.get(), F_DUPFD_CLOEXEC, 0));
    spawned.pty_master = std::move(pty_master);
  } else {
    spawned.std_in = std::move(in.write_end);
    spawned.std_out = std::move(out.read_end);
    spawned.std_err = std::move(err.read_end);
  }
  return spawned;
}

}  // namespace shimcore::hcs::emulator
