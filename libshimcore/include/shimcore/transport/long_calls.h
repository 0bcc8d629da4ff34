// Calls that wait for a long time (a host process, a pod's grace period) run here, not on the server's worker pool.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

namespace shimcore::transport {

// A bounded set of owned threads, one per long call. The server's pool is small (four workers): a handler that may
// wait for minutes hands its body to run() and returns, so that such calls cannot starve every other RPC.
class LongCalls {
 public:
  explicit LongCalls(std::size_t limit = kDefaultLimit);
  ~LongCalls();  // close()
  LongCalls(const LongCalls&) = delete;
  LongCalls& operator=(const LongCalls&) = delete;

  static constexpr std::size_t kDefaultLimit = 64;

  using Body = std::function<void(std::stop_token)>;
  // Runs `body` on a thread of its own and returns at once. The body's token is requested when `call_stop` is (the
  // caller went away, the deadline passed, the server is shutting down) or on close(); the body must then end
  // promptly. Throws Error(ResourceExhausted) when `limit` bodies are running, Error(Unavailable) after close().
  // The body must not throw: report errors through the call's responder.
  void run(std::stop_token call_stop, Body body);

  // Requests stop on every body and joins their threads. Idempotent; run() fails afterwards.
  void close();

 private:
  struct Entry;
  void reap_finished_locked();

  const std::size_t limit_;
  std::mutex mutex_;
  std::list<std::unique_ptr<Entry>> entries_;
  bool closed_ = false;
};

}  // namespace shimcore::transport
