// Starting programs (fork/exec with given stdio, session and controlling terminal), running short commands to
// completion through the Reaper, and the byte relays between a process's stdio and the host's stdio sockets.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "posix.h"
#include "reaper.h"

namespace shimcore::guest {

struct SpawnOptions {
  std::vector<std::string> argv;                // argv[0] without a slash is looked up in PATH (of `env` when given)
  std::optional<std::vector<std::string>> env;  // "K=V"; nullopt = the agent's environment
  std::string working_directory;                // empty = the agent's
  int stdin_fd = -1;                            // -1 = /dev/null
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool new_session = false;  // setsid(); with `controlling_terminal`, stdin becomes the session's tty
  bool controlling_terminal = false;
};

// Forks and execs; throws Error naming the program when it cannot be found or exec fails (reported by the child
// through a close-on-exec pipe). The child is the caller's to reap through the Reaper.
pid_t spawn(const SpawnOptions& options);

struct CommandResult {
  int status = 0;  // raw wait status
  std::string out;
  std::string err;
  bool ok() const;
};
// Runs a short command with stdin on /dev/null, collecting stdout and stderr, and waits for it via the Reaper.
CommandResult run_command(Reaper& reaper, const std::vector<std::string>& argv);

// Copies bytes from `from` to `to` on its own thread until EOF (or EIO, a pty whose other side has gone), an error,
// or stop(). At the end it drops its references to both fds, so the last holder's close is the peer's EOF.
class Relay {
 public:
  Relay(std::shared_ptr<Fd> from, std::shared_ptr<Fd> to, std::string name);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // True once the copy has ended by itself or was stopped, false when `deadline` passes first.
  bool wait_until(std::chrono::steady_clock::time_point deadline);
  // Ends the copy now (hcsshim's CopyAfterExitTimeout force-close) and waits for the thread to let go of the fds.
  void stop();
  std::uint64_t bytes() const noexcept { return bytes_.load(); }

 private:
  void run(std::shared_ptr<Fd> from, std::shared_ptr<Fd> to);

  std::string name_;
  Fd wake_;  // eventfd: stop() writes it to interrupt the thread's poll
  std::atomic<std::uint64_t> bytes_{0};
  std::mutex mutex_;
  std::condition_variable done_changed_;
  bool done_ = false;
  std::jthread thread_;
};

}  // namespace shimcore::guest
