// libFuzzer target: arbitrary bytes as one ttrpc connection's inbound stream, through the frame decoder, the server
// session's protocol rules and the request dispatcher (typed protobuf decoding included). Every frame the server
// would send back must itself be a well-formed ttrpc frame.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "containerd/task/v3/shim.pb.h"
#include "shimcore/transport/service_registry.h"
#include "shimcore/transport/ttrpc_frame.h"
#include "shimcore/transport/ttrpc_session.h"
#include "ttrpc/request.pb.h"

namespace {

using namespace shimcore::transport;
namespace wire = shimcore::transport::ttrpc;

// Abort (a finding) when an invariant of our own output breaks.
void require(bool condition) {
  if (!condition) std::abort();
}

// Checks that `frame` is one whole, well-formed frame as a ttrpc client would decode it.
void check_outgoing(const std::string& frame) {
  wire::FrameDecoder decoder;
  decoder.feed(frame);
  auto decoded = decoder.next();
  require(decoded.has_value() && !decoder.next().has_value() && !decoder.mid_frame());
  require(!decoded->oversized && decoded->header.length == decoded->data.size());
  if (decoded->header.type == static_cast<std::uint8_t>(wire::MessageType::Response)) {
    require(decoded->header.flags == 0);
    ::ttrpc::Response response;
    require(response.ParseFromString(decoded->data));
  } else {
    require(decoded->header.type == static_cast<std::uint8_t>(wire::MessageType::Data));
  }
}

class CheckingResponder final : public Responder, public StreamWriter {
 public:
  explicit CheckingResponder(std::uint32_t stream_id) : stream_id_(stream_id) {}
  void reply(std::string payload) override {
    if (done_) return;
    done_ = true;
    check_outgoing(wire::encode_response(stream_id_, {}, payload));
  }
  void fail(RpcStatus status) override {
    if (done_) return;
    done_ = true;
    require(!status.ok());
    check_outgoing(wire::encode_response(stream_id_, status, {}));
  }
  bool send(std::string payload) override {
    check_outgoing(wire::encode_data(stream_id_, 0, payload));
    return true;
  }

 private:
  std::uint32_t stream_id_;
  bool done_ = false;
};

const ServiceRegistry& registry() {
  static const ServiceRegistry instance = [] {
    ServiceRegistry built;
    Service task("containerd.task.v3.Task");
    task.add_blocking<containerd::task::v3::CreateTaskRequest, containerd::task::v3::CreateTaskResponse>(
        "Create", [](const CallContext& context, const containerd::task::v3::CreateTaskRequest& request) {
          if (request.id().empty()) throw shimcore::make_error(shimcore::ErrorKind::InvalidArgument, "id is empty");
          containerd::task::v3::CreateTaskResponse response;
          response.set_pid(static_cast<std::uint32_t>(request.rootfs_size() + context.metadata.size()));
          return response;
        });
    task.add_unary("Echo", [](const CallContext&, std::string_view request, ResponderPtr responder) {
      responder->reply(std::string(request));
    });
    task.add_server_stream("Stream", [](const CallContext&, std::string_view request, StreamWriter& writer) {
      for (char c : request.substr(0, 4)) writer.send(std::string(1, c));
    });
    built.add(std::move(task));
    built.add_alias("containerd.task.v2.Task", "containerd.task.v3.Task");
    return built;
  }();
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // protobuf logs every string field with invalid UTF-8 it rejects; at fuzzing rates that is only noise.
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks how the stream is cut into reads, so that partial headers and bodies are exercised.
  const std::size_t chunk = 1 + data[0] % 64;
  std::vector<wire::IncomingCall> calls;
  wire::ServerSession session(registry(),
                              {[&](wire::IncomingCall call) { calls.push_back(std::move(call)); },
                               [](std::string frame) { check_outgoing(frame); }},
                              16);
  wire::FrameDecoder decoder;
  bool closed = false;
  for (std::size_t offset = 1; offset < size && !closed; offset += chunk) {
    const std::size_t length = std::min(chunk, size - offset);
    decoder.feed(std::span<const std::uint8_t>(data + offset, length));
    while (auto frame = decoder.next()) {
      if (session.on_frame(*frame) == wire::ServerSession::Verdict::Close) {
        closed = true;
        break;
      }
    }
  }
  // Run every dispatched call the way the server's worker pool would.
  for (const wire::IncomingCall& call : calls) {
    require(call.method != nullptr && call.stream_id % 2 == 1 && call.timeout_nano >= 0);
    CallContext context;
    context.service = call.service;
    context.method = call.method_name;
    context.metadata = call.metadata;
    auto responder = std::make_shared<CheckingResponder>(call.stream_id);
    if (call.method->unary) {
      complete_with_errors(*responder, [&] { call.method->unary(context, call.payload, responder); });
    } else {
      call.method->server_stream(context, call.payload, *responder);
    }
    session.on_call_finished(call.stream_id);
  }
  return 0;
}
