// fork/exec with explicit stdio, command capture, and stdio relays.
#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log.h"

namespace shimcore::guest {
namespace {

// PATH lookup in the parent: execvp may allocate, which a child of a multi-threaded process must not do.
std::string resolve_program(const std::string& name, const std::optional<std::vector<std::string>>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (env) {
    for (const auto& entry : *env) {
      if (entry.starts_with("PATH=")) path = entry.substr(5);
    }
  } else if (const char* own = std::getenv("PATH")) {
    path = own;
  }
  std::size_t begin = 0;
  while (begin <= path.size()) {
    const std::size_t end = std::min(path.find(':', begin), path.size());
    const std::string dir = end > begin ? path.substr(begin, end - begin) : ".";
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      struct stat st {};
      if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return candidate;
    }
    begin = end + 1;
  }
  throw make_error(ErrorKind::NotFound, "exec: \"{}\": executable file not found in $PATH", name);
}

// The child side between fork and exec: async-signal-safe calls only. Reports errno through `report` on failure.
[[noreturn]] void exec_child(const SpawnOptions& options, const char* program, char* const* argv, char* const* envp,
                             int null_fd, int report) {
  const int wanted[3] = {options.stdin_fd, options.stdout_fd, options.stderr_fd};
  int error = 0;
  // Every source fd is >= 3 (main keeps 0..2 open), so dup2 in order cannot clobber a later source.
  for (int target = 0; target < 3 && error == 0; ++target) {
    const int source = wanted[target] >= 0 ? wanted[target] : null_fd;
    if (::dup2(source, target) < 0) error = errno;
  }
  // The agent blocks SIGCHLD and ignores SIGPIPE; a program must start with neither.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &default_action, nullptr);
  if (error == 0 && options.new_session && ::setsid() < 0) error = errno;
  if (error == 0 && options.controlling_terminal && ::ioctl(0, TIOCSCTTY, 0) < 0) error = errno;
  if (error == 0 && !options.working_directory.empty() && ::chdir(options.working_directory.c_str()) < 0) {
    error = errno;
  }
  if (error == 0) {
    ::execve(program, argv, envp);
    error = errno;
  }
  [[maybe_unused]] const ssize_t ignored = ::write(report, &error, sizeof(error));
  ::_exit(127);
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

pid_t spawn(const SpawnOptions& options) {
  if (options.argv.empty()) throw make_error(ErrorKind::InvalidArgument, "no command to run");
  const std::string program = resolve_program(options.argv.front(), options.env);
  std::vector<std::string> argv_strings = options.argv;
  std::vector<std::string> env_strings;
  if (options.env) {
    env_strings = *options.env;
  } else {
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  }
  std::vector<char*> argv = pointers(argv_strings);
  std::vector<char*> envp = pointers(env_strings);
  Fd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) throw errno_error("open /dev/null");
  Pipe report = make_pipe();

  const pid_t pid = ::fork();
  if (pid < 0) throw errno_error("fork");
  if (pid == 0) exec_child(options, program.c_str(), argv.data(), envp.data(), null_fd.get(), report.write.get());
  report.write.reset();
  int child_errno = 0;
  ssize_t n = 0;
  do {
    n = ::read(report.read.get(), &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    // The child has exited (or is about to); the Reaper collects it and, unclaimed, forgets it.
    throw make_error(child_errno == ENOENT ? ErrorKind::NotFound : ErrorKind::FailedPrecondition, "exec {}: {}",
                     program, std::strerror(child_errno));
  }
  return pid;
}

bool CommandResult::ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

CommandResult run_command(Reaper& reaper, const std::vector<std::string>& argv) {
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  SpawnOptions options;
  options.argv = argv;
  options.stdout_fd = out.write.get();
  options.stderr_fd = err.write.get();
  const pid_t pid = spawn(options);
  out.write.reset();
  err.write.reset();
  CommandResult result;
  pollfd fds[2] = {{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_streams = 2;
  while (open_streams > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_streams;
      }
    }
  }
  // The stop token never fires: the command is short-lived and its status always arrives.
  result.status = reaper.wait(pid, std::stop_token{}).value_or(-1);
  log_debug("command finished", {{"argv", argv}, {"status", describe_wait_status(result.status)}});
  return result;
}

Relay::Relay(std::shared_ptr<Fd> from, std::shared_ptr<Fd> to, std::string name)
    : name_(std::move(name)), wake_(::eventfd(0, EFD_CLOEXEC)) {
  if (!wake_) throw errno_error("eventfd");
  // A pipe or pty destination is made non-blocking so that a full buffer never holds the thread past stop(); sockets
  // get MSG_DONTWAIT per send instead.
  struct stat st {};
  if (::fstat(to->get(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
    ::fcntl(to->get(), F_SETFL, ::fcntl(to->get(), F_GETFL) | O_NONBLOCK);
  }
  thread_ = std::jthread(
      [this, from = std::move(from), to = std::move(to)]() mutable { run(std::move(from), std::move(to)); });
}

Relay::~Relay() { stop(); }

void Relay::run(std::shared_ptr<Fd> from, std::shared_ptr<Fd> to) {
  char buffer[32 * 1024];
  bool stopped = false;
  // Waits until `fd` is ready for `events` or the wake eventfd fires.
  auto ready = [&](int fd, short events) {
    pollfd fds[2] = {{fd, events, 0}, {wake_.get(), POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      if (fds[1].revents != 0) {
        stopped = true;
        return false;
      }
      return true;
    }
  };
  for (;;) {
    if (!ready(from->get(), POLLIN)) break;
    const ssize_t n = ::read(from->get(), buffer, sizeof(buffer));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // EOF, or EIO from a pty master whose slave side is closed
    std::string_view rest(buffer, static_cast<std::size_t>(n));
    bool failed = false;
    while (!rest.empty() && !failed) {
      if (!ready(to->get(), POLLOUT)) {
        failed = true;
        break;
      }
      const ssize_t w = ::send(to->get(), rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      const ssize_t written = w >= 0 || errno != ENOTSOCK ? w : ::write(to->get(), rest.data(), rest.size());
      if (written < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        failed = true;
        break;
      }
      rest.remove_prefix(static_cast<std::size_t>(written));
      bytes_ += static_cast<std::uint64_t>(written);
    }
    if (failed) break;
  }
  log_debug("relay ended", {{"relay", name_}, {"bytes", bytes_.load()}, {"forced", stopped}});
  from.reset();
  to.reset();
  const std::lock_guard lock(mutex_);
  done_ = true;
  done_changed_.notify_all();
}

bool Relay::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return done_changed_.wait_until(lock, deadline, [&] { return done_; });
}

void Relay::stop() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t ignored = ::write(wake_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

}  // namespace shimcore::guest
