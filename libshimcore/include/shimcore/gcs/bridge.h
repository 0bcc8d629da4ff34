// The host side of the GCS bridge: one connection to a guest agent, request/response correlation, asynchronous
// calls, container notifications, and the fatal-error rules of hcsshim's internal/gcs/bridge.go.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "shimcore/errdefs.h"
#include "shimcore/gcs/messages.h"
#include "shimcore/gcs/protocol.h"
#include "shimcore/gcs/transport.h"

namespace shimcore::gcs {

// A guest RPC that the guest answered with a failure HRESULT. The kind follows the HRESULT (hcs::kind_of; the
// guest's timeout 0xC0370109 is DeadlineExceeded); the message carries the guest's ErrorMessage, which is what
// containerd shows (for example runc's error text).
class GuestError : public Error {
 public:
  GuestError(std::uint32_t hresult, Rpc rpc, std::string guest_message);
  std::uint32_t hresult() const noexcept { return hresult_; }
  Rpc rpc() const noexcept { return rpc_; }
  const std::string& guest_message() const noexcept { return guest_message_; }

 private:
  std::uint32_t hresult_;
  Rpc rpc_;
  std::string guest_message_;
};

class Bridge {
 public:
  struct Options {
    // Per-call bound unless a call gives its own. hcsshim kills the whole bridge after 5 minutes; here only the call
    // fails (DeadlineExceeded), and its late response is dropped rather than treated as an unknown id.
    std::chrono::milliseconds call_timeout = std::chrono::minutes(5);
    std::uint32_t max_message_size = kMaxMessageSize;
    // Runs on the reader thread for each 0x30100101 notification; returns false when the container is not known,
    // which is fatal for the bridge (hcsshim guestconnection.go notify). Must not call back into the bridge and wait.
    std::function<bool(const ContainerNotification&)> on_notification;
    // Runs once, on whichever thread closed the bridge, with the reason.
    std::function<void(const std::string& reason)> on_closed;
    // Debug lines (late responses dropped, protocol violations); may be empty.
    std::function<void(const std::string& line)> debug_log;
  };

  // A request in flight. wait() returns the response body (Result 0) or throws: GuestError for a failure Result,
  // Error(Unavailable) when the bridge closed first, Error(DeadlineExceeded) after the timeout.
  class Call {
   public:
    std::string wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
    // Without a bound (WaitForProcess, which hcsshim sends with an infinite timeout): returns or throws when the
    // response arrives or the bridge closes.
    std::string wait_unbounded();
    // Non-blocking: true once a response arrived or the call failed.
    bool done() const;
    // Waits at most `bound` for done(), without giving up on the call (unlike wait with a timeout).
    bool wait_done(std::chrono::milliseconds bound) const;
    std::uint64_t id() const noexcept { return id_; }

    // Only a Bridge can make the key.
    class Key {
      friend class Bridge;
      Key() = default;
    };
    Call(Key, Bridge& bridge, std::uint64_t id, Rpc rpc) : bridge_(&bridge), id_(id), rpc_(rpc) {}

   private:
    friend class Bridge;
    Bridge* bridge_;
    std::uint64_t id_;
    Rpc rpc_;
    // Guarded by bridge_->mutex_.
    bool finished_ = false;
    std::string body_;
    std::optional<Error> failure_;
    std::optional<GuestError> guest_failure_;
  };

  Bridge(std::unique_ptr<Stream> stream, Options options);
  // Closes the connection, fails every pending call with Unavailable and joins the reader thread. Never destroy a
  // bridge from its own callbacks.
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Sends a request body (a JSON object; the host's trailing newline is added) and waits for the response.
  std::string call(Rpc rpc, const std::string& body, std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Sends and returns at once; the response is collected with Call::wait (WaitForProcess).
  std::shared_ptr<Call> start_call(Rpc rpc, const std::string& body);
  // Sends a request whose response is not expected (ShutdownForced/Graceful on the null container: the guest shuts
  // the VM down instead of answering). A response that still arrives is dropped.
  void send_unanswered(Rpc rpc, const std::string& body);

  // Closes the connection (idempotent); pending calls fail with Unavailable naming `reason`.
  void close(const std::string& reason);
  bool closed() const;
  std::string close_reason() const;
  // Waits until the connection is closed (by either side), at most `bound`. True when closed.
  bool wait_closed(std::chrono::milliseconds bound);

 private:
  void reader_loop(std::stop_token stop);
  void dispatch(Message message);
  void finish(Call& call, std::string body);
  void write(std::uint32_t type, std::uint64_t id, const std::string& body);
  std::string await(Call& call, std::optional<std::chrono::milliseconds> timeout);

  Options options_;
  std::unique_ptr<Stream> stream_;
  std::mutex write_mutex_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::shared_ptr<Call>> pending_;
  // Ids whose caller stopped waiting (timeout) or that need no answer: a response to one is dropped, not fatal.
  std::set<std::uint64_t> abandoned_;
  bool closed_ = false;
  std::string close_reason_;
  std::jthread reader_;
};

}  // namespace shimcore::gcs
