// Starting, waiting for and stopping binary:// logging processes (containerd's logging-binary protocol).
#include "logger_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>
#include <vector>

#include "shimcore/errdefs.h"

namespace shimcore::io::detail {

namespace {

using hcs::OsHandle;
using Clock = std::chrono::steady_clock;

struct Pipe {
  OsHandle read_end, write_end;
};

Pipe make_pipe(const std::string& path) {
  int fds[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw make_error(ErrorKind::Unavailable, "logging binary {}: pipe: {}", path, std::strerror(errno));
  }
  return {OsHandle(fds[0]), OsHandle(fds[1])};
}

// A close-on-exec copy numbered 6 or above; see start().
OsHandle duplicate_above_5(const OsHandle& handle, const std::string& path) {
  OsHandle copy(::fcntl(handle.get(), F_DUPFD_CLOEXEC, 6));
  if (!copy) throw make_error(ErrorKind::Unavailable, "logging binary {}: dup: {}", path, std::strerror(errno));
  return copy;
}

// RAII for the posix_spawn attribute objects.
struct SpawnFileActions {
  posix_spawn_file_actions_t actions;
  SpawnFileActions() { ::posix_spawn_file_actions_init(&actions); }
  ~SpawnFileActions() { ::posix_spawn_file_actions_destroy(&actions); }
  SpawnFileActions(const SpawnFileActions&) = delete;
  SpawnFileActions& operator=(const SpawnFileActions&) = delete;
};
struct SpawnAttributes {
  posix_spawnattr_t attributes;
  SpawnAttributes() { ::posix_spawnattr_init(&attributes); }
  ~SpawnAttributes() { ::posix_spawnattr_destroy(&attributes); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
};

int milliseconds_for_poll(Clock::duration remaining) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(remaining).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, INT_MAX));
}

}  // namespace

std::unique_ptr<LoggerProcess> LoggerProcess::start(const Target& target, const std::string& container_id,
                                                    const std::string& ns) {
  const std::string& path = target.path;
  Pipe out = make_pipe(path);
  Pipe err = make_pipe(path);
  Pipe ready = make_pipe(path);

  // The child gets its fds 3, 4, 5 by dup2. A source that already sat on its own target would make dup2 a no-op that
  // keeps FD_CLOEXEC (the fd would vanish at exec), and one that sat on another target would be overwritten before
  // use; copies numbered 6+ avoid both, and closefrom(6) keeps them (and anything else) out of the logger.
  pid_t pid = -1;
  {
    SpawnFileActions files;
    const OsHandle child_out = duplicate_above_5(out.read_end, path);
    const OsHandle child_err = duplicate_above_5(err.read_end, path);
    const OsHandle child_ready = duplicate_above_5(ready.write_end, path);
    ::posix_spawn_file_actions_addopen(&files.actions, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(&files.actions, 1, "/dev/null", O_WRONLY, 0);
    // fd 2 stays the shim's stderr (its log FIFO, read by containerd), so that a logger's complaints reach
    // containerd's log; containerd's runc shim sends them to /dev/null.
    ::posix_spawn_file_actions_adddup2(&files.actions, child_out.get(), 3);
    ::posix_spawn_file_actions_adddup2(&files.actions, child_err.get(), 4);
    ::posix_spawn_file_actions_adddup2(&files.actions, child_ready.get(), 5);
    ::posix_spawn_file_actions_addclosefrom_np(&files.actions, 6);

    // The shim ignores SIGPIPE (see stdio_relay.h) and its threads may block signals; exec keeps both, so the
    // logger gets the default disposition of every signal and an empty mask, as a freshly started program expects.
    SpawnAttributes attributes;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    ::posix_spawnattr_setsigdefault(&attributes.attributes, &all);
    ::posix_spawnattr_setsigmask(&attributes.attributes, &none);
    ::posix_spawnattr_setflags(&attributes.attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    // As containerd's NewBinaryCmd: argv is the path and the query, the environment only these two variables.
    std::vector<std::string> arguments{path};
    arguments.insert(arguments.end(), target.args.begin(), target.args.end());
    std::vector<std::string> environment{"CONTAINER_ID=" + container_id, "CONTAINER_NAMESPACE=" + ns};
    std::vector<char*> argv, envp;
    for (std::string& argument : arguments) argv.push_back(argument.data());
    argv.push_back(nullptr);
    for (std::string& variable : environment) envp.push_back(variable.data());
    envp.push_back(nullptr);

    const int result =
        ::posix_spawn(&pid, path.c_str(), &files.actions, &attributes.attributes, argv.data(), envp.data());
    if (result != 0) {
      const ErrorKind kind = (result == ENOENT || result == ENOTDIR) ? ErrorKind::NotFound : ErrorKind::Unavailable;
      throw make_error(kind, "cannot start logging binary {}: {}", path, std::strerror(result));
    }
  }  // the copies made for the child close here
  std::unique_ptr<LoggerProcess> logger(new LoggerProcess());
  logger->pid_ = pid;
  // Without a pidfd (kernels before 5.3) wait_exit polls waitpid instead.
  logger->pidfd_ = OsHandle(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  logger->kill_now_ = true;  // until it is ready: a failure below must not wait for a broken logger
  // Only the child may hold its ends now, so that its exit (or its closing fd 5) reads as EOF here.
  out.read_end.reset();
  err.read_end.reset();
  ready.write_end.reset();

  // Ready: a byte, or (plain "binary" only, for loggers written before binary-v2) EOF.
  const auto deadline = Clock::now() + kReadyTimeout;
  for (;;) {
    pollfd entry{ready.read_end.get(), POLLIN, 0};
    const int polled = ::poll(&entry, 1, milliseconds_for_poll(deadline - Clock::now()));
    if (polled < 0 && errno == EINTR) continue;
    if (polled < 0) {
      throw make_error(ErrorKind::Unavailable, "logging binary {}: poll: {}", path, std::strerror(errno));
    }
    if (polled == 0) {
      throw make_error(ErrorKind::Unavailable, "logging binary {} did not signal ready (fd 5) within {} s", path,
                       kReadyTimeout.count());
    }
    char byte = 0;
    const ssize_t got = ::read(ready.read_end.get(), &byte, 1);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) {
      throw make_error(ErrorKind::Unavailable, "logging binary {}: reading fd 5: {}", path, std::strerror(errno));
    }
    if (got == 0 && target.ready_byte_required) {
      throw make_error(ErrorKind::Unavailable,
                       "logging binary {} closed its ready pipe (fd 5) without signalling ready (it may have "
                       "crashed or exited)",
                       path);
    }
    break;
  }
  logger->kill_now_ = false;
  set_nonblocking(out.write_end.get(), "logging binary stdout pipe");
  set_nonblocking(err.write_end.get(), "logging binary stderr pipe");
  logger->stdout_ = std::move(out.write_end);
  logger->stderr_ = std::move(err.write_end);
  return logger;
}

bool LoggerProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (reaped_) return true;
    int status = 0;
    const pid_t waited = ::waitpid(pid_, &status, WNOHANG);
    if (waited == pid_) {
      reaped_ = true;
      continue;
    }
    if (waited < 0 && errno != EINTR) {  // ECHILD: reaped elsewhere (SIGCHLD set to SIG_IGN); nothing left to wait
      reaped_ = true;
      continue;
    }
    const auto remaining = deadline - Clock::now();
    if (remaining <= Clock::duration::zero()) return false;
    if (pidfd_) {
      pollfd entry{pidfd_.get(), POLLIN, 0};
      ::poll(&entry, 1, milliseconds_for_poll(remaining));
    } else {
      std::this_thread::sleep_for(std::min<Clock::duration>(remaining, std::chrono::milliseconds(10)));
    }
  }
}

LoggerProcess::~LoggerProcess() {
  stdout_.reset();
  stderr_.reset();
  if (pid_ <= 0) return;
  if (kill_now_ || !wait_exit(kExitGrace)) {
    if (!kill_now_) ::kill(pid_, SIGTERM);
    if (kill_now_ || !wait_exit(kTermTimeout)) ::kill(pid_, SIGKILL);
  }
  // SIGKILL cannot be refused: wait for it without a bound, so that no zombie is left behind.
  while (!reaped_) {
    int status = 0;
    const pid_t waited = ::waitpid(pid_, &status, 0);
    if (waited == pid_ || (waited < 0 && errno != EINTR)) reaped_ = true;
  }
}

}  // namespace shimcore::io::detail
