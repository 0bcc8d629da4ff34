// Publishes events to containerd over its gRPC Events API (the socket containerd passes to a shim as -address).
#pragma once

#include <google/protobuf/any.pb.h>

#include <chrono>
#include <string>
#include <string_view>

namespace shimcore::transport {

// Calls containerd.services.events.v1.Events/Publish on `grpc_address` ("unix:///abs/path" or "/abs/path") with the
// namespace in the containerd-namespace metadata; containerd stamps the time itself. Blocking, bounded by `timeout`.
// Throws Error with the kind of the status code (Unavailable when nothing listens).
void publish_event_grpc(const std::string& grpc_address, std::string_view ns, std::string_view topic,
                        const google::protobuf::Any& event, std::chrono::milliseconds timeout);

}  // namespace shimcore::transport
