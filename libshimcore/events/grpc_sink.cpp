// containerd's event exchange over gRPC Events/Publish. Its own file, so that executables that only use the ttrpc
// sink (the shims) leave gRPC out of their link.
#include "shimcore/events/publisher.h"
#include "shimcore/transport/grpc_events.h"

namespace shimcore::events {

namespace {

constexpr std::chrono::milliseconds kDefaultAttemptTimeout{5000};

class GrpcSink final : public Sink {
 public:
  explicit GrpcSink(std::string address) : address_(std::move(address)) {}

  void set_attempt_timeout(std::chrono::milliseconds timeout) override { timeout_ = timeout; }

  void deliver(const containerd::types::Envelope& envelope) override {
    // Publish, not Forward: it is the call containerd's gRPC clients (and `containerd publish`) use. The envelope's
    // timestamp is lost; containerd stamps the time it receives the event, which keeps publish order anyway.
    transport::publish_event_grpc(address_, envelope.namespace_(), envelope.topic(), envelope.event(), timeout_);
  }

 private:
  std::string address_;
  std::chrono::milliseconds timeout_ = kDefaultAttemptTimeout;
};

}  // namespace

std::unique_ptr<Sink> make_grpc_sink(std::string grpc_address) {
  return std::make_unique<GrpcSink>(std::move(grpc_address));
}

}  // namespace shimcore::events
