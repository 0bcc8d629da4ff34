// The agent's single reaper: as a child subreaper it inherits every orphan (runc's container processes included), and
// only this thread calls waitpid, so the runc command runner and the process waiters never steal each other's statuses.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

namespace shimcore::guest {

class Reaper {
 public:
  // SIGCHLD must already be blocked in every thread (main does so before any thread starts): the reaper takes it
  // with sigtimedwait.
  Reaper();
  ~Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // The raw wait status of `pid` once it has exited (it may have exited before the call: statuses are kept until
  // claimed), or nullopt when `stop` is requested or the reaper stops first. Each status is handed out once.
  std::optional<int> wait(pid_t pid, std::stop_token stop);

 private:
  struct Exit {
    int status;
    std::chrono::steady_clock::time_point at;
  };
  void run(std::stop_token stop);
  void reap_all();

  std::mutex mutex_;
  std::condition_variable_any changed_;
  std::map<pid_t, Exit> exited_;
  bool stopped_ = false;
  std::jthread thread_;  // last: starts after the members above exist and stops before they go
};

// The exit code hcsshim reports: WEXITSTATUS, or 128 + the signal number.
int exit_code_of(int wait_status);
std::string describe_wait_status(int wait_status);

}  // namespace shimcore::guest
