// How the host reaches a utility VM's guest agent: the host listens on numbered ports (the bridge, then one port
// per stdio stream) and the guest dials them, as with hvsock/vsock. The seam lets a vsock transport drop in.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "shimcore/hcs/os_handle.h"

namespace shimcore::gcs {

// One connected byte stream to the guest.
class Stream {
 public:
  virtual ~Stream() = default;
  // Up to buffer.size() bytes; 0 at end of stream. Throws Error(Unavailable) when the stream broke.
  virtual std::size_t read_some(std::span<std::uint8_t> buffer) = 0;
  // Throws Error(Unavailable) when the stream broke or was shut down.
  virtual void write_all(std::string_view bytes) = 0;
  // Ends both directions: a blocked read_some returns 0, later writes fail. Safe from any thread.
  virtual void shutdown() noexcept = 0;
  // Gives the OS handle to a stdio relay (a socket descriptor on Linux); the stream is unusable afterwards.
  virtual hcs::OsHandle release_handle() noexcept = 0;
};

// A listener for exactly the connections the guest makes to one port.
class PortListener {
 public:
  virtual ~PortListener() = default;  // stops listening (and removes what the listener created)
  // The next connection. Throws Error(DeadlineExceeded) when none arrives within `timeout`, Error(Unavailable)
  // when the listener failed.
  virtual std::unique_ptr<Stream> accept(std::chrono::milliseconds timeout) = 0;
  virtual std::uint32_t port() const noexcept = 0;
};

class GuestTransport {
 public:
  virtual ~GuestTransport() = default;
  // Starts listening on `port` before the guest is told about it. Throws Error(AlreadyExists) when the port is
  // taken, Error(Unavailable) otherwise.
  virtual std::unique_ptr<PortListener> listen(std::uint32_t port) = 0;
  // Where the guest finds the ports, for logs ("unix:/run/x/" or "vsock").
  virtual std::string describe() const = 0;
};

// The emulator's transport: port P is the Unix socket `<directory>/<P in decimal>` (the guest agent is started with
// --unix-dir <directory>). The directory must exist.
std::unique_ptr<GuestTransport> make_unix_port_transport(std::string directory);

// A Stream over a connected stream socket (Linux); for tests and the Unix transport.
std::unique_ptr<Stream> make_socket_stream(hcs::OsHandle socket);

}  // namespace shimcore::gcs
