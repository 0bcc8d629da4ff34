// ttrpc client: unary calls with deadlines and metadata, multiplexed on one connection that reconnects on demand.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shimcore/transport/service_registry.h"

namespace shimcore::transport {

struct CallOptions {
  std::optional<std::chrono::nanoseconds> timeout;  // sent as timeout_nano and enforced locally
  Metadata metadata;
};

struct CallResult {
  RpcStatus status;
  std::string payload;  // the response message when status is OK
};

class TtrpcClient {
 public:
  // "unix:///abs/path" or "/abs/path". Nothing is dialled until the first call.
  explicit TtrpcClient(std::string address);
  ~TtrpcClient();
  TtrpcClient(const TtrpcClient&) = delete;
  TtrpcClient& operator=(const TtrpcClient&) = delete;

  // Thread-safe and blocking; many threads may call at once over the one connection. Never throws: transport
  // failures come back as Unavailable, a passed deadline as DeadlineExceeded.
  CallResult call(std::string_view service, std::string_view method, std::string payload,
                  const CallOptions& options = {});

  // Typed form: encodes the request, decodes the response; throws Error with the kind of the status code.
  template <typename Response, typename Request>
  Response call(std::string_view service, std::string_view method, const Request& request,
                const CallOptions& options = {}) {
    CallResult result = call(service, method, request.SerializeAsString(), options);
    if (!result.status.ok()) throw Error(from_status_code(static_cast<int>(result.status.code)), result.status.message);
    Response response;
    if (!response.ParseFromString(result.payload)) {
      throw make_error(ErrorKind::InvalidArgument, "{}/{}: cannot decode {}", service, method,
                       Response::descriptor()->full_name());
    }
    return response;
  }

  // Drops the connection; the next call dials again.
  void disconnect();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shimcore::transport
