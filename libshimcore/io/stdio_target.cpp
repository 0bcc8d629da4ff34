// Parsing containerd's stdio strings and opening the shim's ends of FIFOs and files.
#include "stdio_target.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "shimcore/errdefs.h"

namespace shimcore::io::detail {

namespace {

using hcs::OsHandle;

[[noreturn]] void throw_bad(std::string_view stream, const std::string& text, std::string_view why) {
  throw make_error(ErrorKind::InvalidArgument, "{} \"{}\": {}", stream, text, why);
}

// A missing path is NotFound (the caller's mistake or a vanished bundle); everything else is Unavailable.
[[noreturn]] void throw_errno(int error, std::string_view stream, std::string_view what, const std::string& path) {
  const ErrorKind kind = (error == ENOENT || error == ENOTDIR) ? ErrorKind::NotFound : ErrorKind::Unavailable;
  throw make_error(kind, "{}: cannot open {} {}: {}", stream, what, path, std::strerror(error));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding as Go's url.PathUnescape (plus_is_space = false) and url.QueryUnescape (true) do it;
// nullopt for a malformed escape.
std::optional<std::string> unescape(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool valid_scheme(std::string_view scheme) {
  if (scheme.empty() || !std::isalpha(static_cast<unsigned char>(scheme.front()))) return false;
  for (const char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// containerd's runc shim runs the binary with, for each query key, the key and its first value (NewBinaryCmd). Go
// iterates a map there, so its order is random; ours is the order of first appearance.
std::vector<std::string> query_arguments(std::string_view query, std::string_view stream, const std::string& text) {
  std::vector<std::string> args;
  std::vector<std::string> seen;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    const auto key = unescape(pair.substr(0, eq), true);
    const auto value = unescape(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!key || !value) throw_bad(stream, text, "malformed %-escape in the query");
    if (key->empty()) continue;
    if (std::find(seen.begin(), seen.end(), *key) != seen.end()) continue;  // only the first value, as Go's Get
    seen.push_back(*key);
    args.push_back(*key);
    args.push_back(*value);
  }
  return args;
}

}  // namespace

Target parse_target(const std::string& text, std::string_view stream) {
  Target target;
  target.text = text;
  if (text.empty()) return target;
  if (text.find('\0') != std::string::npos) throw_bad(stream, text, "contains a NUL byte");
  if (text.front() == '/') {  // containerd's FIFOs: a bare absolute path, no scheme
    target.kind = TargetKind::Path;
    target.path = text;
    return target;
  }

  const std::size_t separator = text.find("://");
  if (separator == std::string::npos || !valid_scheme(std::string_view(text).substr(0, separator))) {
    throw_bad(stream, text, "neither an absolute FIFO path nor a file:// or binary:// URI");
  }
  std::string scheme = text.substr(0, separator);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "file") {
    target.kind = TargetKind::File;
  } else if (scheme == "binary" || scheme == "binary-v2") {
    target.kind = TargetKind::Binary;
    target.ready_byte_required = scheme == "binary-v2";
  } else {
    throw_bad(stream, text,
              fmt::format("unsupported scheme \"{}\" (supported: a FIFO path, file://, binary://)", scheme));
  }
  if (stream == "stdin") throw_bad(stream, text, "stdin must be a FIFO path");

  std::string_view rest = std::string_view(text).substr(separator + 3);
  const std::size_t fragment = rest.find('#');  // a fragment means nothing here; Go's url.Parse drops it too
  rest = rest.substr(0, fragment);
  const std::size_t query_start = rest.find('?');
  const std::string_view raw_path = rest.substr(0, query_start);
  const std::string_view query =
      query_start == std::string_view::npos ? std::string_view() : rest.substr(query_start + 1);
  // Go would take "file://host/x" as the local /x; a host we cannot honour is refused instead of ignored.
  if (raw_path.empty() || raw_path.front() != '/')
    throw_bad(stream, text, "expected an empty host and an absolute path");

  const auto path = unescape(raw_path, false);
  if (!path) throw_bad(stream, text, "malformed %-escape in the path");
  if (path->find('\0') != std::string::npos) throw_bad(stream, text, "the path contains a NUL byte");
  target.path = *path;
  if (target.kind == TargetKind::Binary) target.args = query_arguments(query, stream, text);
  return target;
}

void set_nonblocking(int fd, std::string_view what) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw make_error(ErrorKind::Unavailable, "{}: cannot make non-blocking: {}", what, std::strerror(errno));
  }
}

OsHandle open_output(const Target& target, std::string_view stream) {
  if (target.kind == TargetKind::File) {
    // As containerd's runc shim: create the parent folders, append, 0644.
    std::error_code ignored;  // a failure shows up as the open's error, which names the path
    std::filesystem::create_directories(std::filesystem::path(target.path).parent_path(), ignored);
    OsHandle file(::open(target.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644));
    if (!file) throw_errno(errno, stream, "log file", target.path);
    return file;
  }

  struct stat info {};
  if (::stat(target.path.c_str(), &info) != 0) throw_errno(errno, stream, "FIFO", target.path);
  if (S_ISDIR(info.st_mode)) throw_bad(stream, target.text, "is a directory, not a FIFO");
  if (!S_ISFIFO(info.st_mode)) {
    // containerd's runc shim appends to a path that is not a FIFO; so do we (a regular file, /dev/null).
    OsHandle file(::open(target.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK));
    if (!file) throw_errno(errno, stream, "file", target.path);
    return file;
  }
  // O_WRONLY blocks until a reader exists, and O_WRONLY|O_NONBLOCK fails with ENXIO without one. A reader of our own,
  // held only for the duration of the open, lets the open succeed at once whatever containerd did. It is closed right
  // away: holding it would hide containerd's reader going away (no EPIPE) and let a FIFO nobody reads fill up and
  // block the process.
  const OsHandle own_reader(::open(target.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!own_reader) throw_errno(errno, stream, "FIFO", target.path);
  OsHandle writer(::open(target.path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!writer) throw_errno(errno, stream, "FIFO", target.path);
  return writer;
}

OsHandle open_input(const Target& target, std::string_view stream) {
  struct stat info {};
  if (::stat(target.path.c_str(), &info) != 0) throw_errno(errno, stream, "FIFO", target.path);
  if (S_ISDIR(info.st_mode)) throw_bad(stream, target.text, "is a directory, not a FIFO");
  // O_RDONLY alone would block until containerd opens its writer (containerd opens it lazily, once a reader exists).
  // O_NONBLOCK never blocks, and stays on: the relay reads only when poll() reports the FIFO ready, and Linux reports
  // a FIFO reader ready (POLLIN/POLLHUP) only once a writer has connected, so a read never mistakes "no writer yet"
  // for EOF. (O_RDWR would never block either, but then we would be a writer ourselves and never see EOF.)
  OsHandle reader(::open(target.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!reader) throw_errno(errno, stream, "FIFO", target.path);
  return reader;
}

}  // namespace shimcore::io::detail
