// containerd's stdio strings (FIFO paths, file:// and binary:// URIs) parsed, and the shim's ends of FIFOs and files
// opened without ever blocking.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shimcore/hcs/os_handle.h"

namespace shimcore::io::detail {

enum class TargetKind { None, Path, File, Binary };

struct Target {
  TargetKind kind = TargetKind::None;
  std::string text;                  // what containerd sent, for messages and to compare two binary targets
  std::string path;                  // the decoded absolute filesystem path
  std::vector<std::string> args;     // Binary: the query as arguments, key then value, in query order
  bool ready_byte_required = false;  // Binary: "binary-v2", where closing the ready pipe without a byte is a failure
};

// `stream` ("stdin", "stdout", "stderr") only names the field in error messages. Throws InvalidArgument.
Target parse_target(const std::string& text, std::string_view stream);

// The shim's writing end of a Path or File target, non-blocking and close-on-exec. For a FIFO the open never blocks
// and never fails for want of a reader: see the definition.
hcs::OsHandle open_output(const Target& target, std::string_view stream);
// The shim's reading end of a Path target (a FIFO, or a regular file read to its end), non-blocking, close-on-exec.
hcs::OsHandle open_input(const Target& target, std::string_view stream);

// O_NONBLOCK on; throws Unavailable.
void set_nonblocking(int fd, std::string_view what);

}  // namespace shimcore::io::detail
