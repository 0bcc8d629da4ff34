// ttrpc server on asio: Unix sockets (and named pipes on Windows), concurrent calls per connection, worker pool.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "shimcore/transport/service_registry.h"
#include "shimcore/transport/unix_socket.h"

namespace shimcore::transport {

struct TtrpcServerOptions {
  std::size_t io_threads = 1;      // threads running socket I/O; handlers never run here
  std::size_t worker_threads = 4;  // bounded pool that runs handlers
  std::size_t max_streams_per_connection = 1024;
  // A connection whose peer stops reading is closed once this many answer bytes wait to be written.
  std::size_t max_pending_write_bytes = 16u << 20;
  // Unix sockets: file mode of the socket and whether peers must run as our effective uid (SO_PEERCRED).
  unsigned socket_mode = 0600;
  bool require_same_user = true;
  // How long shutdown() waits, once it has cancelled the calls still running, for their handlers to return. A handler
  // that ignores its stop token past this bound is abandoned (shutdown returns false) instead of hanging the shim.
  std::chrono::milliseconds cancel_bound = std::chrono::seconds(2);
  // Longest deadline a call may ask for (timeout_nano); a larger one is clamped to it rather than overflowing the
  // clock (ttrpc allows any int64).
  std::chrono::nanoseconds max_timeout = std::chrono::hours(24 * 365);
};

class TtrpcServer {
 public:
  TtrpcServer(std::shared_ptr<const ServiceRegistry> registry, TtrpcServerOptions options = {});
  ~TtrpcServer();  // shutdown with no grace
  TtrpcServer(const TtrpcServer&) = delete;
  TtrpcServer& operator=(const TtrpcServer&) = delete;

  // Binds and listens: "unix:///abs/path" or "/abs/path" (Unix socket; a stale socket file is replaced, a live one is
  // AlreadyExists) or, on Windows, "\\.\pipe\name". Call before start(). Throws Error.
  void listen(const std::string& address);
  // Starts the I/O and worker threads; returns at once.
  void start();
  // Stops accepting, lets in-flight calls finish for up to `grace`, then closes every connection (running handlers see
  // their stop token requested) and waits up to options.cancel_bound for those handlers to return. Returns true when
  // every thread was joined; false when a handler was still running at the bound: its worker thread is then abandoned
  // (never joined, not even by the destructor), and the caller should end the process. Idempotent.
  bool shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  std::size_t connection_count() const;
  std::size_t in_flight_calls() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shimcore::transport
