// Transport-agnostic RPC services: named methods over serialized protobuf bytes, shared by the ttrpc and gRPC servers.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shimcore/errdefs.h"

namespace shimcore::transport {

using Metadata = std::vector<std::pair<std::string, std::string>>;
using Deadline = std::chrono::steady_clock::time_point;

// The outcome code and message of a call, as carried by google.rpc.Status.
struct RpcStatus {
  StatusCode code = StatusCode::Ok;
  std::string message;

  bool ok() const noexcept { return code == StatusCode::Ok; }
  // The one place an errdefs kind becomes a status code (through to_status_code).
  static RpcStatus from_error(const Error& error) { return of(error.kind(), error.what()); }
  // A status the transport itself decides (an unknown method, a malformed frame): named by its errdefs kind so that it
  // goes through the same table as every handler error.
  static RpcStatus of(ErrorKind kind, std::string message) { return {to_status_code(kind), std::move(message)}; }
};

// What a handler may know about the call besides its request.
struct CallContext {
  std::string service;
  std::string method;
  std::optional<Deadline> deadline;  // from ttrpc timeout_nano or the gRPC deadline
  Metadata metadata;
  // Requested when the caller can no longer receive the answer: peer gone, deadline passed, server shutting down.
  std::stop_token stop;

  // The first value of a metadata key, or empty.
  std::string_view metadata_value(std::string_view key) const noexcept;
  // The containerd namespace of the caller (ttrpc key containerd-namespace-ttrpc, gRPC key containerd-namespace).
  std::string_view namespace_name() const noexcept;
};

// Completes one unary call. Thread-safe; only the first completion counts, later ones are ignored.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void reply(std::string payload) = 0;
  virtual void fail(RpcStatus status) = 0;
};
using ResponderPtr = std::shared_ptr<Responder>;

// The server side of a server-streaming call. send() returns false once the caller is gone.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  virtual bool send(std::string payload) = 0;
};

// A unary handler gets the request bytes and completes the responder now or later, from any thread. Handlers run on
// the server's worker pool, never on an I/O thread, so a blocking handler delays nobody else; one that waits for a
// long time (Task.Wait) should keep the responder and return instead of holding a worker.
using UnaryHandler = std::function<void(const CallContext&, std::string_view request, ResponderPtr responder)>;
// A server-streaming handler writes messages and returns; throwing ends the stream with the error's status.
using ServerStreamHandler = std::function<void(const CallContext&, std::string_view request, StreamWriter& writer)>;

struct Method {
  UnaryHandler unary;                 // set for unary methods
  ServerStreamHandler server_stream;  // set for server-streaming methods
};

// One service: a fully-qualified protobuf service name and its methods.
class Service {
 public:
  explicit Service(std::string name) : name_(std::move(name)) {}
  const std::string& name() const noexcept { return name_; }

  Service& add_unary(std::string method, UnaryHandler handler);
  Service& add_server_stream(std::string method, ServerStreamHandler handler);

  // A blocking typed handler: decodes Request (garbage -> InvalidArgument), returns Response or throws Error.
  template <typename Request, typename Response>
  Service& add_blocking(std::string method, std::function<Response(const CallContext&, const Request&)> handler);

  const Method* find(std::string_view method) const noexcept;
  const std::map<std::string, Method, std::less<>>& methods() const noexcept { return methods_; }

 private:
  std::string name_;
  std::map<std::string, Method, std::less<>> methods_;
};

// All services a server exposes. Built before serving and read-only afterwards, so lookups need no lock.
class ServiceRegistry {
 public:
  // Throws Error(AlreadyExists) for a second service of the same name.
  void add(Service service);
  // Serves an existing service under a second name, e.g. containerd.task.v2.Task for containerd.task.v3.Task.
  void add_alias(std::string alias, std::string_view existing);

  const Service* find_service(std::string_view name) const noexcept;
  std::vector<std::string> service_names() const;

 private:
  std::map<std::string, std::shared_ptr<const Service>, std::less<>> services_;
};

// Looks up service/method as both servers must: an unknown service or method is Unimplemented (code 12) with
// ttrpc's wording ("service X", "method X").
struct Lookup {
  const Method* method = nullptr;
  RpcStatus status;
};
Lookup lookup_method(const ServiceRegistry& registry, std::string_view service, std::string_view method);

// Decodes `bytes` into a protobuf message or throws Error(InvalidArgument) naming the method.
template <typename Message>
Message decode_request(const CallContext& context, std::string_view bytes) {
  Message message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    throw make_error(ErrorKind::InvalidArgument, "{}/{}: cannot decode {} ({} bytes)", context.service, context.method,
                     Message::descriptor()->full_name(), bytes.size());
  }
  return message;
}

// Runs a handler body and reports any exception through the responder (Error keeps its kind; anything else is
// Unknown), so no exception ever crosses into the transport.
void complete_with_errors(Responder& responder, const std::function<void()>& body) noexcept;

template <typename Request, typename Response>
Service& Service::add_blocking(std::string method,
                               std::function<Response(const CallContext&, const Request&)> handler) {
  return add_unary(std::move(method), [handler = std::move(handler)](const CallContext& context, std::string_view bytes,
                                                                     ResponderPtr responder) {
    complete_with_errors(*responder, [&] {
      const Response response = handler(context, decode_request<Request>(context, bytes));
      responder->reply(response.SerializeAsString());
    });
  });
}

}  // namespace shimcore::transport
