// POSIX wrappers: errors become shimcore::Error; every fd is O_CLOEXEC so children inherit only what they are given.
#include "posix.h"

#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "shimcore/gcs/stream_mux.h"

namespace shimcore::guest {

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Error errno_error(std::string_view what, ErrorKind kind) {
  const int saved = errno;
  return make_error(kind, "{}: {}", what, std::strerror(saved));
}

Pipe make_pipe() {
  int fds[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC) != 0) throw errno_error("pipe2");
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

void write_all(int fd, std::string_view data) {
  struct stat st {};
  const bool is_socket = ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
  while (!data.empty()) {
    const ssize_t n =
        is_socket ? ::send(fd, data.data(), data.size(), MSG_NOSIGNAL) : ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw errno_error("write");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

Fd dial_unix(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    throw make_error(ErrorKind::InvalidArgument, "socket path too long: {}", path);
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw errno_error("socket(AF_UNIX)");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw errno_error("connect " + path, ErrorKind::Unavailable);
  }
  return fd;
}

Fd dial_vsock(std::uint32_t cid, std::uint32_t port) {
  sockaddr_vm address{};
  address.svm_family = AF_VSOCK;
  address.svm_cid = cid;
  address.svm_port = port;
  Fd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw errno_error("socket(AF_VSOCK)", ErrorKind::Unavailable);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw errno_error(fmt::format("connect vsock({}, {:#x})", cid, port), ErrorKind::Unavailable);
  }
  return fd;
}

namespace {

class UnixTransport final : public Transport {
 public:
  explicit UnixTransport(std::string dir) : dir_(std::move(dir)) {}
  Fd dial(std::uint32_t port) override { return dial_unix(describe(port)); }
  std::string describe(std::uint32_t port) const override { return dir_ + "/" + std::to_string(port); }

 private:
  std::string dir_;
};

class VsockTransport final : public Transport {
 public:
  Fd dial(std::uint32_t port) override { return dial_vsock(VMADDR_CID_HOST, port); }
  std::string describe(std::uint32_t port) const override { return fmt::format("vsock(2, {:#x})", port); }
};

// Ports as streams of the stream mux on a virtio-serial port (QEMU without vsock). The mux is (re)opened on demand:
// the port reads as hung up until the host's end is connected, and a host that reconnects gets a fresh channel.
class VirtioSerialTransport final : public Transport {
 public:
  explicit VirtioSerialTransport(std::string device) : device_(std::move(device)) {}

  Fd dial(std::uint32_t port) override {
    std::shared_ptr<gcs::mux::StreamMux> mux;
    {
      const std::lock_guard lock(mutex_);
      if (!mux_ || mux_->closed()) {
        mux_.reset();  // closes the old channel before the device is opened again (it admits one opener)
        Fd channel(::open(device_.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY));
        if (!channel) throw errno_error("open " + device_, ErrorKind::Unavailable);
        mux_ = std::make_shared<gcs::mux::StreamMux>(hcs::OsHandle(channel.release()), gcs::mux::Side::Guest);
      }
      mux = mux_;
    }
    return Fd(mux->open(port, std::chrono::seconds(10)).release());
  }

  std::string describe(std::uint32_t port) const override {
    return fmt::format("virtio-serial({}, port {:#x})", device_, port);
  }

 private:
  std::string device_;
  std::mutex mutex_;
  std::shared_ptr<gcs::mux::StreamMux> mux_;
};

}  // namespace

std::unique_ptr<Transport> make_unix_transport(std::string dir) { return std::make_unique<UnixTransport>(dir); }
std::unique_ptr<Transport> make_virtio_serial_transport(std::string device) {
  return std::make_unique<VirtioSerialTransport>(std::move(device));
}
std::unique_ptr<Transport> make_vsock_transport() { return std::make_unique<VsockTransport>(); }

UnixListener::UnixListener(std::string path) : path_(std::move(path)) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(address.sun_path)) {
    throw make_error(ErrorKind::InvalidArgument, "socket path too long: {}", path_);
  }
  std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
  fd_ = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_) throw errno_error("socket(AF_UNIX)");
  ::unlink(path_.c_str());
  if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw errno_error("bind " + path_);
  }
  if (::listen(fd_.get(), 4) != 0) throw errno_error("listen " + path_);
}

UnixListener::~UnixListener() { ::unlink(path_.c_str()); }

std::optional<Fd> UnixListener::accept(std::chrono::milliseconds timeout) {
  pollfd p{fd_.get(), POLLIN, 0};
  int ready = 0;
  do {
    ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) return std::nullopt;
  Fd conn(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) throw errno_error("accept " + path_);
  return conn;
}

Fd receive_fd(int socket_fd, std::chrono::milliseconds timeout) {
  pollfd p{socket_fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
    throw make_error(ErrorKind::DeadlineExceeded, "no console fd received");
  }
  char data[256];
  iovec iov{data, sizeof(data)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  ssize_t n = 0;
  do {
    n = ::recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw errno_error("recvmsg console socket");
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
      return Fd(fd);
    }
  }
  throw make_error(ErrorKind::Internal, "console socket message carried no fd");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw errno_error("open " + path, ErrorKind::NotFound);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const std::string& path, std::string_view content) {
  const std::string temporary = path + ".tmp";
  {
    Fd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) throw errno_error("open " + temporary);
    write_all(fd.get(), content);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) throw errno_error("rename " + path);
}

}  // namespace shimcore::guest
