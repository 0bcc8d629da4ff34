// A task's stdio on the shim side: containerd's FIFOs (or its file:// and binary:// log targets) relayed to and from
// the pipes of an HCS process.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "shimcore/hcs/client.h"

namespace shimcore::io {

// The stdio fields of CreateTaskRequest / ExecProcessRequest.
//
// stdout_path and stderr_path take one of:
//   - ""                          not requested: the process's output is read and discarded, so it never blocks;
//   - "/abs/path"                 a FIFO containerd created and reads (a regular file there is appended to);
//   - "file:///abs/path"          appended to that file (parent folders are created), as containerd's runc shim does;
//   - "binary:///abs/path?k=v"    containerd's logging-binary protocol: the binary runs with the arguments "k" "v"
//                                 (query order), environment CONTAINER_ID and CONTAINER_NAMESPACE only, fd 3 = stdout,
//                                 fd 4 = stderr, fd 5 = a pipe it writes one byte to and/or closes when ready.
//                                 "binary-v2://" requires the byte (closing alone means the logger failed). When both
//                                 streams name a binary it must be the same URI: one logger serves both.
// stdin_path is "" or an absolute FIFO path. With `terminal` there is a single stream (stdout); stderr_path is
// ignored, as containerd itself never opens it then.
struct StdioConfig {
  std::string stdin_path, stdout_path, stderr_path;
  bool terminal = false;
  std::string container_id, ns;  // CONTAINER_ID and CONTAINER_NAMESPACE of a binary:// logger
};

// One relay per task or exec. Thread-safe: attach, close_stdin and drain may be called from different threads.
//
// Behaviour that matters to callers:
//   - Output FIFOs never block the process: when containerd has no reader (never opened, or closed it), writes fail
//     with EPIPE and that output is discarded while the process pipe keeps being drained; a reader that comes back
//     (re-attach) gets the output from then on. When containerd's reader is open but not reading, the relay waits
//     (back-pressure), which is what drain's bound is for.
//   - SIGPIPE: writing to a FIFO whose reader is gone raises SIGPIPE, which would kill the shim. open() therefore sets
//     SIGPIPE to SIG_IGN for the whole process, once (as the Go runtime effectively does for shims); children the
//     relay starts (binary loggers) get the default disposition back.
//   - No stdin from containerd closes the process's stdin pipe at attach, so that the process reads EOF; containerd's
//     stdin writer closing (EOF on the FIFO) does the same.
class StdioRelay {
 public:
  // Opens containerd's side now (Create time); never blocks on a FIFO whose other end is not open yet, and starts and
  // waits for a binary:// logger. Throws shimcore::Error: InvalidArgument for a bad URI, NotFound for a missing FIFO
  // (or logging binary), Unavailable otherwise; the message names the path.
  static std::unique_ptr<StdioRelay> open(const StdioConfig& config);

  // Starts copying: containerd stdin -> process stdin, process stdout/stderr -> containerd. Call once, after the
  // process exists (a second call throws FailedPrecondition). Handles absent on either side are skipped.
  void attach(hcs::ProcessStdio process);

  // CloseIO: stop forwarding stdin and close the process's stdin pipe so that it sees EOF. Bytes containerd had
  // already written into the FIFO when this is called are still delivered first (containerd's client writes, then
  // calls CloseIO at once). Before attach it takes effect at attach.
  void close_stdin();

  // After the process exited: waits until its stdout/stderr reached EOF and were fully written (or discarded because
  // containerd had no reader), at most `bound` (a grandchild may keep the pipe open), then stops relaying and closes
  // every stream. Returns true if fully drained. Later calls return the first result.
  bool drain(std::chrono::milliseconds bound);

  // Stops and joins the relay thread, closes every descriptor, and stops a binary:// logger: it gets EOF on fds 3/4,
  // a grace period to exit, then SIGTERM and finally SIGKILL (bounded, about 12 s at worst).
  ~StdioRelay();

  StdioRelay(const StdioRelay&) = delete;
  StdioRelay& operator=(const StdioRelay&) = delete;

 private:
  struct State;
  explicit StdioRelay(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace shimcore::io
