// Reaper thread: sigtimedwait(SIGCHLD) then waitpid(-1, WNOHANG) until no child is left to collect.
#include "reaper.h"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "log.h"

namespace shimcore::guest {
namespace {

// Statuses nobody claimed (runc's short-lived intermediate processes) are dropped after this long; a process the
// agent started is claimed within the request that started it.
constexpr auto kUnclaimedLifetime = std::chrono::minutes(2);

}  // namespace

Reaper::Reaper() : thread_([this](std::stop_token stop) { run(stop); }) {}

Reaper::~Reaper() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void Reaper::run(std::stop_token stop) {
  sigset_t child;
  sigemptyset(&child);
  sigaddset(&child, SIGCHLD);
  // The timeout bounds how long a stop request waits; it also sweeps up a SIGCHLD that coalesced with another.
  const timespec period{0, 200'000'000};
  while (!stop.stop_requested()) {
    ::sigtimedwait(&child, nullptr, &period);
    reap_all();
  }
  const std::lock_guard lock(mutex_);
  stopped_ = true;
  changed_.notify_all();
}

void Reaper::reap_all() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;  // 0: children left but none exited; -1/ECHILD: no children
    log_debug("reaped", {{"pid", pid}, {"status", describe_wait_status(status)}});
    const auto now = std::chrono::steady_clock::now();
    const std::lock_guard lock(mutex_);
    std::erase_if(exited_, [&](const auto& entry) { return now - entry.second.at > kUnclaimedLifetime; });
    exited_[pid] = Exit{status, now};
    changed_.notify_all();
  }
}

std::optional<int> Reaper::wait(pid_t pid, std::stop_token stop) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, stop, [&] { return stopped_ || exited_.contains(pid); });
  const auto it = exited_.find(pid);
  if (it == exited_.end()) return std::nullopt;
  const int status = it->second.status;
  exited_.erase(it);
  return status;
}

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 255;
}

std::string describe_wait_status(int wait_status) {
  if (WIFEXITED(wait_status)) return fmt::format("exit status {}", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return fmt::format("killed by signal {}", WTERMSIG(wait_status));
  return fmt::format("wait status {:#x}", wait_status);
}

}  // namespace shimcore::guest
