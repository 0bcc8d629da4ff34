// The Unix-socket guest transport (ports as socket files in one directory) and the socket Stream.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "shimcore/errdefs.h"
#include "shimcore/gcs/transport.h"
#include "shimcore/transport/unix_socket.h"

namespace shimcore::gcs {
namespace {

class SocketStream final : public Stream {
 public:
  explicit SocketStream(hcs::OsHandle socket) : socket_(std::move(socket)) {}

  std::size_t read_some(std::span<std::uint8_t> buffer) override {
    for (;;) {
      const ssize_t n = ::recv(socket_.get(), buffer.data(), buffer.size(), 0);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return 0;
      throw make_error(ErrorKind::Unavailable, "guest stream read: {}", std::strerror(errno));
    }
  }

  void write_all(std::string_view bytes) override {
    while (!bytes.empty()) {
      const ssize_t n = ::send(socket_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw make_error(ErrorKind::Unavailable, "guest stream write: {}", std::strerror(errno));
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  void shutdown() noexcept override {
    if (socket_) ::shutdown(socket_.get(), SHUT_RDWR);
  }

  hcs::OsHandle release_handle() noexcept override { return std::move(socket_); }

 private:
  hcs::OsHandle socket_;
};

class UnixPortListener final : public PortListener {
 public:
  UnixPortListener(std::uint32_t port, std::string path) : port_(port), path_(std::move(path)) {
    transport::clear_stale_socket(path_);
    socket_ = hcs::OsHandle(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket_) throw make_error(ErrorKind::Unavailable, "socket for guest port {}: {}", port, std::strerror(errno));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path_.copy(address.sun_path, sizeof(address.sun_path) - 1);
    if (::bind(socket_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      const int error = errno;
      throw make_error(error == EADDRINUSE ? ErrorKind::AlreadyExists : ErrorKind::Unavailable,
                       "listen on guest port {} ({}): {}", port, path_, std::strerror(error));
    }
    bound_ = true;
    if (::listen(socket_.get(), 4) != 0) {
      throw make_error(ErrorKind::Unavailable, "listen on {}: {}", path_, std::strerror(errno));
    }
  }

  ~UnixPortListener() override {
    if (bound_) ::unlink(path_.c_str());
  }

  std::unique_ptr<Stream> accept(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd fd{socket_.get(), POLLIN, 0};
      const int ready = ::poll(&fd, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) throw make_error(ErrorKind::Unavailable, "poll {}: {}", path_, std::strerror(errno));
      if (ready == 0) {
        throw make_error(ErrorKind::DeadlineExceeded, "the guest did not connect to port {} ({}) within {} ms", port_,
                         path_, timeout.count());
      }
      const int connection = ::accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (connection >= 0) return make_socket_stream(hcs::OsHandle(connection));
      if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
        throw make_error(ErrorKind::Unavailable, "accept on {}: {}", path_, std::strerror(errno));
      }
    }
  }

  std::uint32_t port() const noexcept override { return port_; }

 private:
  std::uint32_t port_;
  std::string path_;
  hcs::OsHandle socket_;
  bool bound_ = false;
};

class UnixPortTransport final : public GuestTransport {
 public:
  explicit UnixPortTransport(std::string directory) : directory_(std::move(directory)) {}

  std::unique_ptr<PortListener> listen(std::uint32_t port) override {
    const std::string path =
        transport::unix_socket_path((std::filesystem::path(directory_) / std::to_string(port)).string());
    return std::make_unique<UnixPortListener>(port, path);
  }

  std::string describe() const override { return "unix:" + directory_ + "/"; }

 private:
  std::string directory_;
};

}  // namespace

std::unique_ptr<Stream> make_socket_stream(hcs::OsHandle socket) {
  return std::make_unique<SocketStream>(std::move(socket));
}

std::unique_ptr<GuestTransport> make_unix_port_transport(std::string directory) {
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) {
    throw make_error(ErrorKind::NotFound, "guest port directory {} does not exist", directory);
  }
  return std::make_unique<UnixPortTransport>(std::move(directory));
}

}  // namespace shimcore::gcs
