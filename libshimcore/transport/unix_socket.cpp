// Unix-socket address parsing and stale-socket handling, shared by the ttrpc and gRPC servers.
#include "shimcore/transport/unix_socket.h"

#include <filesystem>
#include <string_view>

#include "shimcore/errdefs.h"

#ifndef _WIN32
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif

namespace shimcore::transport {

std::string unix_socket_path(const std::string& address) {
  constexpr std::string_view kScheme = "unix://";
  std::string path = address.starts_with(kScheme) ? address.substr(kScheme.size()) : address;
  if (path.empty() || path.front() != '/') {
    throw make_error(ErrorKind::InvalidArgument, "unsupported socket address \"{}\" (want unix:///abs/path)", address);
  }
  // sun_path holds 108 bytes including the terminating NUL.
  if (path.size() >= 108) {
    throw make_error(ErrorKind::InvalidArgument, "socket path \"{}\" is {} bytes; Unix sockets allow 107", path,
                     path.size());
  }
  return path;
}

void clear_stale_socket(const std::string& path) {
#ifdef _WIN32
  (void)path;
#else
  std::error_code error;
  const auto status = std::filesystem::symlink_status(path, error);
  if (error || !std::filesystem::exists(status)) return;
  if (!std::filesystem::is_socket(status)) {
    throw make_error(ErrorKind::AlreadyExists, "{} exists and is not a socket", path);
  }
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) throw make_error(ErrorKind::Internal, "cannot create a socket to probe {}", path);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof(address.sun_path) - 1);
  const bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  ::close(probe);
  if (live) throw make_error(ErrorKind::AlreadyExists, "a server is already listening on {}", path);
  std::filesystem::remove(path, error);
#endif
}

}  // namespace shimcore::transport
