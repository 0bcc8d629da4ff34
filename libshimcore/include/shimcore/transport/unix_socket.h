// Unix-socket addresses as containerd writes them, and the stale-socket rule both servers apply before binding.
#pragma once

#include <string>

namespace shimcore::transport {

// The filesystem path of a "unix:///abs/path" or bare "/abs/path" address. Throws Error(InvalidArgument) for other
// schemes, relative paths, and paths too long for sun_path.
std::string unix_socket_path(const std::string& address);

// Prepares `path` for bind(): a socket file left by a dead server is removed; a live server there, or a file that is
// not a socket, is Error(AlreadyExists). (gRPC would unlink any socket at the path, live or not, so both servers
// check first.)
void clear_stale_socket(const std::string& path);

}  // namespace shimcore::transport
