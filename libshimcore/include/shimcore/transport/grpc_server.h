// gRPC server over a ServiceRegistry: serves every registered method through grpc's callback generic API.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "shimcore/transport/service_registry.h"

namespace shimcore::transport {

struct GrpcServerOptions {
  std::size_t worker_threads = 4;  // bounded pool that runs handlers; gRPC's own threads never run one
  // A server stream whose reader lets this many bytes pile up is cancelled (ttrpc closes the connection instead).
  std::size_t max_pending_write_bytes = 16u << 20;
  // Largest request or response message; 4 MiB is ttrpc's frame limit, so both transports accept the same requests.
  int max_message_bytes = 4 << 20;
  // File mode of the Unix socket. gRPC cannot check peer credentials, so the mode is the only access rule.
  unsigned socket_mode = 0600;
};

// Mirrors TtrpcServer: same registry, same status codes and messages, same worker-pool and shutdown semantics.
class GrpcServer {
 public:
  GrpcServer(std::shared_ptr<const ServiceRegistry> registry, GrpcServerOptions options = {});
  ~GrpcServer();  // shutdown with no grace
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Names a Unix socket to serve: "unix:///abs/path" or "/abs/path". A stale socket file is replaced, a live one is
  // AlreadyExists. gRPC binds only in start(), so a bind failure is reported there. Call before start(). Throws Error.
  void listen(const std::string& address);
  // Binds, starts serving and returns at once. Throws Error(Unavailable) when a socket cannot be bound.
  void start();
  // Stops accepting and removes the socket files, lets in-flight calls finish for up to `grace`, then cancels the
  // rest (their stop tokens are requested) and joins the workers. Idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  // Calls accepted and not yet answered (an answer chosen counts as answered, as in TtrpcServer).
  std::size_t in_flight_calls() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The gRPC target ("unix:/abs/path") of a "unix:///abs/path" or bare "/abs/path" address. Throws
// Error(InvalidArgument) for anything else.
std::string grpc_unix_target(const std::string& address);

}  // namespace shimcore::transport
