// A binary:// logging process run by containerd's logging-binary protocol: fd 3 = stdout, fd 4 = stderr, fd 5 = ready.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "shimcore/hcs/os_handle.h"
#include "stdio_target.h"

namespace shimcore::io::detail {

class LoggerProcess {
 public:
  // How long start() waits for the ready signal. containerd waits without a bound; a bound keeps a hung logger from
  // hanging Create forever.
  static constexpr std::chrono::seconds kReadyTimeout{60};
  // After its fds 3 and 4 reached EOF the logger should flush and exit; then SIGTERM; then SIGKILL. containerd's
  // runc shim sends SIGTERM at once and waits 12 s; the grace period first lets a logger that exits on EOF finish.
  static constexpr std::chrono::seconds kExitGrace{2};
  static constexpr std::chrono::seconds kTermTimeout{10};

  // Starts `target` (a Binary target) and waits until it is ready. Throws NotFound for a missing binary, Unavailable
  // otherwise (failed to start, exited or closed fd 5 without the byte binary-v2 requires, no signal in time).
  static std::unique_ptr<LoggerProcess> start(const Target& target, const std::string& container_id,
                                              const std::string& ns);

  // The write ends of its stdout (fd 3) and stderr (fd 4) pipes, close-on-exec, non-blocking.
  hcs::OsHandle take_stdout() { return std::move(stdout_); }
  hcs::OsHandle take_stderr() { return std::move(stderr_); }
  pid_t pid() const noexcept { return pid_; }

  // Closes the pipe ends still held here, then waits for, terminates and reaps the process (see the constants). The
  // relay must have closed the ends it took first, or the logger never sees EOF and only the signals end it.
  ~LoggerProcess();

  LoggerProcess(const LoggerProcess&) = delete;
  LoggerProcess& operator=(const LoggerProcess&) = delete;

 private:
  LoggerProcess() = default;
  // True once the process exited and was reaped (or cannot be waited for), within `timeout`.
  bool wait_exit(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  bool reaped_ = false;
  bool kill_now_ = false;  // not ready yet: stop it with SIGKILL at once, no grace period
  hcs::OsHandle pidfd_;    // to wait for the exit with a timeout, without polling waitpid
  hcs::OsHandle stdout_, stderr_;
};

}  // namespace shimcore::io::detail
