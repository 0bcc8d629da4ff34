// Thin RAII and error-checked wrappers over the POSIX calls the guest agent makes: fds, pipes, sockets, files.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shimcore/errdefs.h"

namespace shimcore::guest {

// An owned file descriptor; closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// Error(kind) with "<what>: <strerror(errno)>", errno read at the call.
Error errno_error(std::string_view what, ErrorKind kind = ErrorKind::Internal);

struct Pipe {
  Fd read;
  Fd write;
};
Pipe make_pipe();  // both ends O_CLOEXEC

// Writes everything, retrying on EINTR; uses send(MSG_NOSIGNAL) on sockets so a dead peer is an error, not SIGPIPE.
void write_all(int fd, std::string_view data);

// Connects a stream socket; throws Error(Unavailable) naming the address.
Fd dial_unix(const std::string& path);
Fd dial_vsock(std::uint32_t cid, std::uint32_t port);

// How the guest reaches the host's listeners by port: vsock (CID 2) in a VM, the stream mux on a virtio-serial port
// (QEMU), or the emulator's Unix sockets named by the port in decimal inside one folder (DIR/1073741824 is the bridge,
// DIR/<port> a stdio port).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Fd dial(std::uint32_t port) = 0;
  virtual std::string describe(std::uint32_t port) const = 0;
};
std::unique_ptr<Transport> make_unix_transport(std::string dir);
std::unique_ptr<Transport> make_vsock_transport();
// Ports as streams of the stream mux (shimcore/gcs/stream_mux.h) on a virtio-serial port such as /dev/vport0p1.
std::unique_ptr<Transport> make_virtio_serial_transport(std::string device);

// A listening Unix socket that unlinks its path on destruction.
class UnixListener {
 public:
  explicit UnixListener(std::string path);
  ~UnixListener();
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;
  const std::string& path() const noexcept { return path_; }
  // One connection, or nullopt when none arrives within `timeout`.
  std::optional<Fd> accept(std::chrono::milliseconds timeout);

 private:
  std::string path_;
  Fd fd_;
};

// Receives one fd passed with SCM_RIGHTS (runc's --console-socket protocol); throws when none arrives.
Fd receive_fd(int socket_fd, std::chrono::milliseconds timeout);

std::string read_file(const std::string& path);
// Writes through a temporary file and rename(2), so readers never see half a file.
void write_file(const std::string& path, std::string_view content);

}  // namespace shimcore::guest
