// ttrpc server protocol rules (containerd/ttrpc 1.2 server.go behaviour), independent of sockets.
#include "shimcore/transport/ttrpc_session.h"

#include <fmt/format.h>

#include "ttrpc/request.pb.h"

namespace shimcore::transport::ttrpc {

std::string encode_response(std::uint32_t stream_id, const RpcStatus& status, std::string_view payload) {
  ::ttrpc::Response response;
  if (!status.ok()) {
    response.mutable_status()->set_code(static_cast<std::int32_t>(status.code));
    response.mutable_status()->set_message(status.message);
  }
  response.set_payload(std::string(payload));
  std::string bytes = response.SerializeAsString();
  if (bytes.size() > kMaxDataSize) {
    // An answer too large for one frame becomes an error the client can read.
    ::ttrpc::Response too_large;
    too_large.mutable_status()->set_code(static_cast<std::int32_t>(to_status_code(ErrorKind::ResourceExhausted)));
    too_large.mutable_status()->set_message(
        fmt::format("response of {} bytes exceeds the {} byte frame limit", bytes.size(), kMaxDataSize));
    bytes = too_large.SerializeAsString();
  }
  return encode_frame(stream_id, MessageType::Response, 0, bytes);
}

std::string encode_data(std::uint32_t stream_id, std::uint8_t flags, std::string_view payload) {
  return encode_frame(stream_id, MessageType::Data, flags, payload);
}

void ServerSession::reject(std::uint32_t stream_id, ErrorKind kind, std::string message) {
  hooks_.send(encode_response(stream_id, RpcStatus::of(kind, std::move(message)), {}));
}

ServerSession::Verdict ServerSession::on_frame(const Frame& frame) {
  switch (static_cast<MessageType>(frame.header.type)) {
    case MessageType::Request: return on_request(frame);
    case MessageType::Data: return on_data(frame);
    case MessageType::Response: return Verdict::Close;  // only servers send responses
  }
  return Verdict::Close;  // unknown message type
}

ServerSession::Verdict ServerSession::on_request(const Frame& frame) {
  const std::uint32_t stream_id = frame.header.stream_id;
  if (frame.oversized) {
    reject(stream_id, ErrorKind::ResourceExhausted,
           fmt::format("message length {} exceeds maximum message size of {}", frame.header.length, kMaxDataSize));
    return Verdict::Continue;
  }
  if (stream_id % 2 != 1) {
    reject(stream_id, ErrorKind::InvalidArgument, "StreamID must be odd for client initiated streams");
    return Verdict::Continue;
  }
  if (stream_id <= last_stream_id_) {
    reject(stream_id, ErrorKind::InvalidArgument, "StreamID cannot be re-used and must increment");
    return Verdict::Continue;
  }
  last_stream_id_ = stream_id;

  ::ttrpc::Request request;
  if (!request.ParseFromString(frame.data)) {
    reject(stream_id, ErrorKind::InvalidArgument, "invalid ttrpc request: cannot decode ttrpc.Request");
    return Verdict::Continue;
  }
  if ((frame.header.flags & kFlagRemoteOpen) != 0) {
    reject(stream_id, ErrorKind::Unimplemented, "client streaming is not supported by this server");
    return Verdict::Continue;
  }
  const Lookup lookup = lookup_method(registry_, request.service(), request.method());
  if (lookup.method == nullptr) {
    hooks_.send(encode_response(stream_id, lookup.status, {}));
    return Verdict::Continue;
  }
  if (active_.size() >= max_active_streams_) {
    reject(stream_id, ErrorKind::ResourceExhausted,
           fmt::format("too many concurrent calls on one connection (limit {})", max_active_streams_));
    return Verdict::Continue;
  }
  if (request.timeout_nano() < 0) {
    reject(stream_id, ErrorKind::InvalidArgument, "negative timeout_nano");
    return Verdict::Continue;
  }

  IncomingCall call;
  call.stream_id = stream_id;
  call.method = lookup.method;
  call.service = request.service();
  call.method_name = request.method();
  call.payload = std::move(*request.mutable_payload());
  call.timeout_nano = request.timeout_nano();
  call.metadata.reserve(static_cast<std::size_t>(request.metadata_size()));
  for (const auto& pair : request.metadata()) call.metadata.emplace_back(pair.key(), pair.value());
  active_.insert(stream_id);
  hooks_.start_call(std::move(call));
  return Verdict::Continue;
}

ServerSession::Verdict ServerSession::on_data(const Frame& frame) {
  const std::uint32_t stream_id = frame.header.stream_id;
  if (!active_.contains(stream_id)) {
    // ttrpc answers data for a stream it does not know, unless the frame carries nothing.
    if ((frame.header.flags & kFlagNoData) == 0) {
      reject(stream_id, ErrorKind::InvalidArgument, fmt::format("StreamID {} is not an open stream", stream_id));
    }
    return Verdict::Continue;
  }
  // No registered method reads client data: the only valid Data frames are an empty close of the sending side.
  return Verdict::Continue;
}

}  // namespace shimcore::transport::ttrpc
