// The shim's way into containerd's event exchange: ttrpc Events/Forward. (The gRPC sink is in grpc_sink.cpp, so
// that a shim, which only forwards over ttrpc, does not link gRPC.)
#include "shimcore/events/publisher.h"

#include "containerd/services/ttrpc/events/v1/events.pb.h"
#include "shimcore/errdefs.h"
#include "shimcore/transport/ttrpc_client.h"

namespace shimcore::events {

namespace {

constexpr std::chrono::milliseconds kDefaultAttemptTimeout{5000};

class TtrpcSink final : public Sink {
 public:
  explicit TtrpcSink(std::string address) : address_(std::move(address)), client_(address_) {}

  void set_attempt_timeout(std::chrono::milliseconds timeout) override { timeout_ = timeout; }

  void deliver(const containerd::types::Envelope& envelope) override {
    containerd::services::events::ttrpc::v1::ForwardRequest request;
    *request.mutable_envelope() = envelope;
    // containerd reads the namespace from the envelope; the metadata is what Go's shim publisher sends as well, and
    // keeps namespace-aware interceptors on the other side happy.
    transport::CallOptions options{timeout_, {{"containerd-namespace-ttrpc", envelope.namespace_()}}};
    const auto result =
        client_.call("containerd.services.events.ttrpc.v1.Events", "Forward", request.SerializeAsString(), options);
    if (!result.status.ok()) {
      throw make_error(from_status_code(static_cast<std::int32_t>(result.status.code)), "forward {} to {}: {}",
                       envelope.topic(), address_, result.status.message);
    }
  }

 private:
  std::string address_;
  transport::TtrpcClient client_;  // dials lazily and again after a failure, so a restarted containerd is found
  std::chrono::milliseconds timeout_ = kDefaultAttemptTimeout;
};

}  // namespace

std::unique_ptr<Sink> make_ttrpc_sink(std::string ttrpc_address) {
  return std::make_unique<TtrpcSink>(std::move(ttrpc_address));
}

}  // namespace shimcore::events
