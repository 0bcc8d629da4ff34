// Helpers the service files share to register handlers that answer later (blocking waits without a worker thread).
#pragma once

#include <google/protobuf/message.h>

#include <functional>
#include <string>

#include "shimcore/transport/service_registry.h"

namespace shimcore::service {

template <typename Request>
using AsyncHandler = std::function<void(const transport::CallContext&, const Request&, transport::ResponderPtr)>;

// Decodes the request and hands the responder over; exceptions thrown before that reach the caller as errors.
template <typename Request>
void add_async(transport::Service& service, std::string method, AsyncHandler<Request> handler) {
  service.add_unary(
      std::move(method), [handler = std::move(handler)](const transport::CallContext& context, std::string_view bytes,
                                                        transport::ResponderPtr responder) {
        transport::complete_with_errors(
            *responder, [&] { handler(context, transport::decode_request<Request>(context, bytes), responder); });
      });
}

inline void reply(const transport::ResponderPtr& responder, const google::protobuf::Message& message) {
  responder->reply(message.SerializeAsString());
}

}  // namespace shimcore::service
