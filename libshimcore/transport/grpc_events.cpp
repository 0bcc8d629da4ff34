// gRPC client for containerd's Events/Publish, through the generated stub.
#include "shimcore/transport/grpc_events.h"

#include <grpcpp/grpcpp.h>

#include "containerd/services/events/v1/events.grpc.pb.h"
#include "shimcore/errdefs.h"
#include "shimcore/transport/grpc_server.h"

namespace shimcore::transport {

void publish_event_grpc(const std::string& grpc_address, std::string_view ns, std::string_view topic,
                        const google::protobuf::Any& event, std::chrono::milliseconds timeout) {
  namespace events = containerd::services::events::v1;
  // A channel per event: events are rare next to the cost of a connect, and no channel outlives a failed containerd.
  const auto channel = grpc::CreateChannel(grpc_unix_target(grpc_address), grpc::InsecureChannelCredentials());
  const auto stub = events::Events::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  // containerd's gRPC namespace key (ttrpc uses containerd-namespace-ttrpc).
  context.AddMetadata("containerd-namespace", std::string(ns));
  events::PublishRequest request;
  request.set_topic(std::string(topic));
  *request.mutable_event() = event;
  google::protobuf::Empty response;
  const grpc::Status status = stub->Publish(&context, request, &response);
  if (!status.ok()) {
    throw make_error(from_status_code(static_cast<std::int32_t>(status.error_code())), "publish {} to {}: {}", topic,
                     grpc_address, status.error_message());
  }
}

}  // namespace shimcore::transport
