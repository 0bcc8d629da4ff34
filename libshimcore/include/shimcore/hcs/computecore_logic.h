// The platform-neutral parts of the computecore backend (event decoding, UTF-16 conversion, callback registry, exit
// latches), compiled on every platform so that Linux tests cover them.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "shimcore/errdefs.h"
#include "shimcore/hcs/client.h"

namespace shimcore::hcs::computecore {

// HCS_EVENT_TYPE (ComputeDefs.h; the group values from hcsshim internal/computecore/types.go).
namespace event_type {
inline constexpr std::uint32_t kInvalid = 0x00000000;
inline constexpr std::uint32_t kSystemExited = 0x00000001;
inline constexpr std::uint32_t kSystemCrashInitiated = 0x00000002;
inline constexpr std::uint32_t kSystemCrashReport = 0x00000003;
inline constexpr std::uint32_t kSystemRdpEnhancedModeStateChanged = 0x00000004;
inline constexpr std::uint32_t kSystemSiloJobCreated = 0x00000005;
inline constexpr std::uint32_t kSystemGuestConnectionClosed = 0x00000006;
inline constexpr std::uint32_t kProcessExited = 0x00010000;
inline constexpr std::uint32_t kOperationCallback = 0x01000000;
inline constexpr std::uint32_t kServiceDisconnect = 0x02000000;
inline constexpr std::uint32_t kGroupVmLifecycle = 0x80000002;
inline constexpr std::uint32_t kGroupLiveMigration = 0x80000003;
inline constexpr std::uint32_t kGroupOperationInfo = 0xC0000001;
}  // namespace event_type

// "SystemExited", "ProcessExited", ... or "Unknown(0x...)": for messages and logs.
std::string event_type_name(std::uint32_t type);

// The exit code reported when HCS gives none that is valid (hcsshim's -1): a failed wait, a lost service, or a
// ProcessStatus that cannot be read.
inline constexpr std::uint32_t kUnknownExitCode = 0xFFFFFFFF;

// --- Event data -> exits -------------------------------------------------------------------------------------------

// HcsEventSystemExited's SystemExitStatus. ExitType "UnexpectedExit" becomes HCS_E_UNEXPECTED_EXIT whatever Status
// says (hcsshim's waitBackground treats exactly that exit type as a failure); otherwise Status is passed through. Data
// that is not a JSON object still ends the wait: status HCS_E_INVALID_JSON, exit type "Unknown".
SystemExit system_exit_from_event(std::string_view event_data);
// HcsEventServiceDisconnect on a system handle: the compute service went away, so no exit event can follow; waiters
// are released with HCS_E_SERVICE_DISCONNECT (hcsshim aborts them with "lost communication with compute service").
SystemExit system_exit_from_service_disconnect();
// A stopped system's exit from its Properties (State "Stopped" or Stopped: true), for a handle opened after the exit,
// which never sees the event. nullopt while the system is not stopped.
std::optional<SystemExit> system_exit_from_properties(const nlohmann::json& properties);

// HcsEventProcessExited's ProcessStatus. A non-zero LastWaitResult means HCS could not read the exit code: exit_code
// is then kUnknownExitCode (hcsshim reports -1). `pid` fills in a missing ProcessId.
ProcessExit process_exit_from_event(std::string_view event_data, std::uint32_t pid);
// HcsEventServiceDisconnect on a process handle.
ProcessExit process_exit_from_service_disconnect(std::uint32_t pid);
// A ProcessStatus read with HcsGetProcessProperties: the exit if Exited is true, else nullopt.
std::optional<ProcessExit> process_exit_from_status(const nlohmann::json& status, std::uint32_t pid);
// The exit a process is given when HCS reports it gone (`hr`) but never delivers its exit event.
ProcessExit process_exit_from_failure(std::uint32_t hr, std::uint32_t pid);

// --- UTF-8 <-> UTF-16 -----------------------------------------------------------------------------------------------

// Strict: ill-formed UTF-8 (overlong forms, surrogates, truncated sequences, > U+10FFFF) throws Error(InvalidArgument),
// because what we send HCS (ids, JSON) must arrive exactly as written.
std::u16string utf8_to_utf16(std::string_view utf8);
// Lenient: an unpaired surrogate becomes U+FFFD, so that an odd string from HCS never loses the rest of a document.
std::string utf16_to_utf8(std::u16string_view utf16);

// --- Exit latches ----------------------------------------------------------------------------------------------------

// The rendezvous between the HCS callback thread that learns of an exit and the threads that wait for it: the first
// signal wins, waiters wake, and the one on_exit callback runs once.
template <typename Exit>
class ExitLatch {
 public:
  using Callback = std::function<void(const Exit&)>;

  ExitLatch() = default;
  ExitLatch(const ExitLatch&) = delete;
  ExitLatch& operator=(const ExitLatch&) = delete;

  // Records the exit, wakes every waiter and then runs the on_exit callback on this thread, outside the lock (so a
  // waiter may return while the callback still runs, and a callback may itself call wait()). Returns false (and does
  // nothing) if an exit was recorded before or the latch is closed. The callback's exceptions are swallowed: this runs
  // on an HCS thread, and an exception cannot cross into computecore.dll.
  bool signal(Exit exit) {
    Callback callback;
    {
      std::lock_guard lock(mutex_);
      if (exit_ || closed_) return false;
      exit_ = std::move(exit);
      callback = std::exchange(callback_, nullptr);
      if (callback) delivering_ = std::this_thread::get_id();
    }
    changed_.notify_all();
    if (callback) {
      try {
        callback(*exit_);  // exit_ is never written again once set
      } catch (...) {
      }
      {
        std::lock_guard lock(mutex_);
        delivering_ = std::thread::id();
      }
      changed_.notify_all();
    }
    return true;
  }

  // Blocks until the exit is recorded; nullopt when `timeout` passes first. No timeout waits forever.
  std::optional<Exit> wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    std::unique_lock lock(mutex_);
    const auto ready = [this] { return exit_.has_value(); };
    if (!timeout) {
      changed_.wait(lock, ready);
    } else {
      // wait_for adds the timeout to now(): keep absurd values (milliseconds::max) from overflowing the clock.
      const auto bounded = std::clamp(*timeout, std::chrono::milliseconds(0), kLongestWait);
      if (!changed_.wait_for(lock, bounded, ready)) return std::nullopt;
    }
    return exit_;
  }

  // Sets the one callback: called at once (on this thread) if the exit is already known, else later by signal().
  // A second callback is a programming error (Error FailedPrecondition), as the Client interface allows one per handle.
  void on_exit(Callback callback) {
    std::unique_lock lock(mutex_);
    if (callback_set_) throw Error(ErrorKind::FailedPrecondition, "hcs: an on_exit callback is already set");
    callback_set_ = true;
    if (closed_) return;
    if (exit_) {
      const Exit exit = *exit_;
      lock.unlock();
      callback(exit);
      return;
    }
    callback_ = std::move(callback);
  }

  std::optional<Exit> exit() const {
    std::lock_guard lock(mutex_);
    return exit_;
  }
  bool exited() const {
    std::lock_guard lock(mutex_);
    return exit_.has_value();
  }

  // Disarms the latch when its handle closes: later signals are ignored and a pending callback is dropped. Waits for a
  // callback that is running on another thread, so that it never outlives what it captured; from inside that callback
  // it does not wait (it would wait for itself).
  void close() {
    std::unique_lock lock(mutex_);
    closed_ = true;
    callback_ = nullptr;
    changed_.wait(lock,
                  [this] { return delivering_ == std::thread::id() || delivering_ == std::this_thread::get_id(); });
  }

 private:
  static constexpr std::chrono::milliseconds kLongestWait = std::chrono::hours(24 * 365);

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<Exit> exit_;
  Callback callback_;
  bool callback_set_ = false;
  bool closed_ = false;
  std::thread::id delivering_;  // the thread running the callback, if any
};

// Signals `latch` with `exit` after `delay` unless it exits first or this object is destroyed first. hcsshim's
// workaround for an HCS that reports a process gone (invalid state, system not found, element not found) without ever
// delivering the exit event: waiters are released after a grace period instead of hanging forever. The waiting thread
// is owned: destruction ends the wait at once and joins it, so nothing outlives the handle that started it.
template <typename Exit>
class DelayedSignal {
 public:
  DelayedSignal(std::weak_ptr<ExitLatch<Exit>> latch, std::chrono::milliseconds delay, Exit exit)
      : thread_([latch = std::move(latch), delay, exit = std::move(exit)](std::stop_token stop) mutable {
          std::mutex mutex;
          std::condition_variable_any woken;
          std::unique_lock lock(mutex);
          woken.wait_for(lock, stop, delay, [] { return false; });  // only the delay or a stop ends it
          if (stop.stop_requested()) return;
          if (const auto alive = latch.lock()) alive->signal(std::move(exit));
        }) {}
  DelayedSignal(const DelayedSignal&) = delete;
  DelayedSignal& operator=(const DelayedSignal&) = delete;
  ~DelayedSignal() = default;  // the jthread requests stop and joins

  // Waits until the delay has passed and the signal (if still due) was given.
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::jthread thread_;
};

// --- The callback-context registry -----------------------------------------------------------------------------------

// Receives the events HCS delivers for one system or process handle.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // `data` is HCS_EVENT.EventData in UTF-8 (empty when HCS passed none).
  virtual void on_event(std::uint32_t type, std::string_view data) = 0;
};

// SystemExited and ServiceDisconnect end a system's wait; every other event is ignored.
class SystemEventSink final : public EventSink {
 public:
  explicit SystemEventSink(std::shared_ptr<ExitLatch<SystemExit>> latch) : latch_(std::move(latch)) {}
  void on_event(std::uint32_t type, std::string_view data) override;

 private:
  std::shared_ptr<ExitLatch<SystemExit>> latch_;
};

// ProcessExited and ServiceDisconnect end a process's wait; every other event is ignored.
class ProcessEventSink final : public EventSink {
 public:
  ProcessEventSink(std::shared_ptr<ExitLatch<ProcessExit>> latch, std::uint32_t pid)
      : latch_(std::move(latch)), pid_(pid) {}
  void on_event(std::uint32_t type, std::string_view data) override;

 private:
  std::shared_ptr<ExitLatch<ProcessExit>> latch_;
  std::uint32_t pid_;
};

// Maps the integer context HCS hands back to our callback onto the sink of a handle. HCS gets a number, never a
// pointer, so that an event racing with a handle's destruction finds no entry instead of freed memory (hcsshim's
// notification.go does the same). Ids start at 1 and are never reused.
class NotificationRegistry {
 public:
  // The registry the one global computecore callback uses.
  static NotificationRegistry& global();

  std::uint64_t add(std::shared_ptr<EventSink> sink);
  void remove(std::uint64_t id) noexcept;
  // Delivers an event to the sink registered under `id`, outside the registry lock; false for an unknown id.
  bool dispatch(std::uint64_t id, std::uint32_t type, std::string_view data) const;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::uint64_t last_id_ = 0;
  std::unordered_map<std::uint64_t, std::shared_ptr<EventSink>> sinks_;
};

// Registers a sink and removes it again when destroyed: the owner destroys it only after closing the HCS handle
// (HcsClose* drains callbacks in flight and delivers nothing more).
class Registration {
 public:
  Registration() = default;
  Registration(NotificationRegistry& registry, std::shared_ptr<EventSink> sink)
      : registry_(&registry), id_(registry.add(std::move(sink))) {}
  Registration(Registration&& other) noexcept
      : registry_(std::exchange(other.registry_, nullptr)), id_(std::exchange(other.id_, 0)) {}
  Registration& operator=(Registration&& other) noexcept {
    if (this != &other) {
      reset();
      registry_ = std::exchange(other.registry_, nullptr);
      id_ = std::exchange(other.id_, 0);
    }
    return *this;
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() { reset(); }

  std::uint64_t id() const noexcept { return id_; }
  void reset() noexcept {
    if (registry_ != nullptr && id_ != 0) registry_->remove(id_);
    registry_ = nullptr;
    id_ = 0;
  }

 private:
  NotificationRegistry* registry_ = nullptr;
  std::uint64_t id_ = 0;
};

}  // namespace shimcore::hcs::computecore
