// The server side of one ttrpc connection as a pure state machine (frames in, frames and calls out), without I/O,
// so that the protocol rules are testable and fuzzable apart from sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "shimcore/transport/service_registry.h"
#include "shimcore/transport/ttrpc_frame.h"

namespace shimcore::transport::ttrpc {

// A decoded, validated request that the connection must run.
struct IncomingCall {
  std::uint32_t stream_id = 0;
  const Method* method = nullptr;  // points into the registry, which outlives every connection
  std::string service;
  std::string method_name;
  std::string payload;
  std::int64_t timeout_nano = 0;  // 0: no deadline
  Metadata metadata;
};

// Frames for answers. A Response omits `status` on success, as the Go server does.
std::string encode_response(std::uint32_t stream_id, const RpcStatus& status, std::string_view payload);
std::string encode_data(std::uint32_t stream_id, std::uint8_t flags, std::string_view payload);

class ServerSession {
 public:
  struct Hooks {
    std::function<void(IncomingCall)> start_call;  // run this call (asynchronously)
    std::function<void(std::string frame)> send;   // write this frame on the connection
  };
  enum class Verdict { Continue, Close };

  ServerSession(const ServiceRegistry& registry, Hooks hooks, std::size_t max_active_streams = 1024)
      : registry_(registry), hooks_(std::move(hooks)), max_active_streams_(max_active_streams) {}

  // Applies ttrpc's rules to one frame. Errors the peer can recover from are answered on the frame's stream; a frame
  // no client may send (a Response, an unknown type) closes the connection.
  Verdict on_frame(const Frame& frame);
  // The call on this stream has sent its final frame; its stream slot is free.
  void on_call_finished(std::uint32_t stream_id) { active_.erase(stream_id); }
  std::size_t active_streams() const noexcept { return active_.size(); }

 private:
  Verdict on_request(const Frame& frame);
  Verdict on_data(const Frame& frame);
  void reject(std::uint32_t stream_id, ErrorKind kind, std::string message);

  const ServiceRegistry& registry_;
  Hooks hooks_;
  std::size_t max_active_streams_;
  std::uint32_t last_stream_id_ = 0;
  std::set<std::uint32_t> active_;
};

}  // namespace shimcore::transport::ttrpc
