// The stdio relay: one thread per task or exec, poll() over every live descriptor, one 64 KiB buffer per stream;
// output from a pipe to a pipe or FIFO moves with splice(2) instead, without copying through the buffer.
#include "shimcore/io/stdio_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "logger_process.h"
#include "shimcore/errdefs.h"
#include "shimcore/thread_name.h"
#include "stdio_target.h"

namespace shimcore::io {

namespace {

using detail::LoggerProcess;
using detail::Target;
using detail::TargetKind;
using hcs::OsHandle;

// As large as a default pipe/FIFO buffer, so that one read empties a full pipe and one write can fill a FIFO.
constexpr std::size_t kBufferSize = 64 * 1024;
// Spliced streams get pipes this large (the default /proc/sys/fs/pipe-max-size): a fast writer then wakes the relay
// (and the relay containerd's reader) once per MiB rather than once per 64 KiB. Pages are only taken while data waits.
constexpr int kSplicePipeSize = 1024 * 1024;

// See stdio_relay.h: a write to a FIFO whose reader is gone must be EPIPE, not the death of the shim.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_handler = SIG_IGN;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGPIPE, &action, nullptr);
  });
}

// One direction of one stream: containerd's stdin FIFO -> the process's stdin pipe, or a process output pipe -> its
// destination (FIFO, file, logger pipe, or none: read and discarded).
struct Copier {
  bool is_stdin = false;
  OsHandle src;
  OsHandle dst;
  std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kBufferSize);
  std::size_t begin = 0, end = 0;  // buffer[begin, end) is read but not yet written
  bool src_done = false;           // EOF (or an error, which can only mean the same) on src
  bool finished = false;           // both ends closed
  // stdin after close_stdin: how many more bytes to forward (what containerd had written by then).
  std::optional<std::size_t> close_budget;
  // Output from a pipe into a pipe or FIFO (containerd's, a logger's): splice(2) moves the pages from one pipe to the
  // other, so the data never crosses this process. Then nothing is ever pending in `buffer`, except after a write
  // of the read/write fallback (see splice_source), and `wait_dst` says whether the last splice found dst full.
  bool splice = false;
  bool wait_dst = false;

  std::size_t pending() const { return end - begin; }
};

void finish(Copier& copier) {
  copier.finished = true;
  copier.src.reset();
  copier.dst.reset();  // containerd reads EOF on the FIFO, or the process reads EOF on its stdin
  copier.begin = copier.end = 0;
  copier.buffer.reset();
}

// Writes what is pending until done or the destination is full (EAGAIN: wait for POLLOUT).
void write_pending(Copier& copier) {
  while (copier.pending() > 0) {
    const ssize_t wrote = ::write(copier.dst.get(), copier.buffer.get() + copier.begin, copier.pending());
    if (wrote > 0) {
      copier.begin += static_cast<std::size_t>(wrote);
      continue;
    }
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote == 0 || errno == EAGAIN) return;
    // EPIPE (SIGPIPE is ignored) or another error: nobody reads this end.
    if (copier.is_stdin) {
      // The process closed its stdin or exited: stop forwarding. Closing the FIFO then gives containerd's writer
      // EPIPE instead of a FIFO that fills up and blocks it.
      copier.src_done = true;
      copier.close_budget.reset();
    }
    // Output: containerd closed (or never opened) its reader. This chunk is dropped and the process pipe keeps being
    // drained so that the process never blocks; the next chunk is tried again, so a reader that comes back (attach)
    // gets the output from then on.
    copier.begin = copier.end = 0;
    return;
  }
  copier.begin = copier.end = 0;
}

void read_source(Copier& copier) {
  std::size_t want = kBufferSize;
  if (copier.close_budget) want = std::min(want, *copier.close_budget);
  const ssize_t got = ::read(copier.src.get(), copier.buffer.get(), want);
  if (got > 0) {
    if (copier.close_budget) *copier.close_budget -= static_cast<std::size_t>(got);
    if (copier.dst) {
      copier.begin = 0;
      copier.end = static_cast<std::size_t>(got);
      write_pending(copier);
    }
    return;
  }
  if (got < 0 && errno == EINTR) return;
  if (got < 0 && errno == EAGAIN) {
    if (copier.close_budget) copier.close_budget = 0;  // less was there than FIONREAD said: nothing more to forward
    return;
  }
  // 0 is EOF. EIO is what a pty master (terminal mode) reads once the console process and its children are gone.
  // Any other error can only end the stream as well.
  copier.src_done = true;
}

bool is_pipe(int fd) {
  struct stat info {};
  return ::fstat(fd, &info) == 0 && S_ISFIFO(info.st_mode);
}

// Splices src into dst until src is empty or dst is full (a bounded number of times, so that a busy stream cannot
// starve the others). Both ends are non-blocking.
void splice_source(Copier& copier) {
  for (int round = 0; round < 16; ++round) {
    const ssize_t moved = ::splice(copier.src.get(), nullptr, copier.dst.get(), nullptr, kSplicePipeSize,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (moved > 0) {
      copier.wait_dst = false;
      continue;
    }
    if (moved == 0) {  // EOF: src is empty and has no writer left
      copier.src_done = true;
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      // Either src is empty (wait for POLLIN) or dst is full (wait for POLLOUT): FIONREAD tells which.
      int available = 0;
      copier.wait_dst = ::ioctl(copier.src.get(), FIONREAD, &available) == 0 && available > 0;
      return;
    }
    // EPIPE: containerd has no reader. read/write then drops this chunk exactly as it does without splice, and the
    // next round tries splice again (a reader that comes back gets the output). Anything else (EINVAL: a pair the
    // kernel cannot splice) leaves splice for good.
    if (errno != EPIPE) copier.splice = false;
    copier.wait_dst = false;
    read_source(copier);
    return;
  }
}

// One step of a copier whose descriptor poll() reported ready.
void pump(Copier& copier) {
  if (copier.pending() > 0) {
    write_pending(copier);
  } else if (copier.splice) {
    splice_source(copier);
  } else {
    read_source(copier);
  }
}

// close_stdin on the relay thread: forward what containerd has already written into the FIFO, then close.
void start_closing(Copier& copier) {
  int available = 0;
  if (copier.src_done || ::ioctl(copier.src.get(), FIONREAD, &available) != 0 || available < 0) available = 0;
  copier.close_budget = static_cast<std::size_t>(available);
}

// A closing stdin reads without poll(): the budget says the data is there (and a FIFO with no writer must not be
// waited for).
void pump_closing(Copier& copier) {
  while (copier.close_budget && !copier.src_done && copier.pending() == 0) {
    if (*copier.close_budget == 0) {
      copier.src_done = true;
      break;
    }
    read_source(copier);
  }
}

}  // namespace

struct StdioRelay::State {
  // Declared first so that it is destroyed last, after every pipe end the logger reads has been closed.
  std::unique_ptr<LoggerProcess> logger;
  // containerd's side, from open() until attach() hands them to the copiers.
  OsHandle stdin_src, stdout_dst, stderr_dst;
  OsHandle wake;                // eventfd: close_stdin, drain and destruction interrupt the thread's poll()
  std::vector<Copier> copiers;  // the relay thread's alone while it runs
  std::thread thread;

  std::mutex mutex;  // guards the flags below
  std::condition_variable changed;
  bool attached = false;
  bool stop = false;
  bool stdin_close_requested = false;
  bool outputs_done = false;  // every output copier finished
  bool thread_done = false;
  std::optional<bool> drained;

  ~State() { shutdown(); }

  void notify_thread() {
    const std::uint64_t one = 1;
    // EAGAIN means the counter is saturated: the thread is woken anyway.
    [[maybe_unused]] const ssize_t ignored = ::write(wake.get(), &one, sizeof(one));
  }

  void close_everything() {
    copiers.clear();
    stdin_src.reset();
    stdout_dst.reset();
    stderr_dst.reset();
  }

  void shutdown() {
    {
      const std::lock_guard lock(mutex);
      stop = true;
    }
    if (wake) notify_thread();
    if (thread.joinable()) thread.join();
    close_everything();
    logger.reset();
  }

  void run();
};

void StdioRelay::State::run() {
  bool stdin_closing = false;
  std::vector<pollfd> entries;
  std::vector<Copier*> owners;  // per entry after the eventfd: its copier
  for (;;) {
    {
      const std::lock_guard lock(mutex);
      if (stop) break;
      if (stdin_close_requested && !stdin_closing) {
        stdin_closing = true;
        for (Copier& copier : copiers) {
          if (copier.is_stdin && !copier.finished) start_closing(copier);
        }
      }
    }

    bool outputs_live = false;
    bool any_live = false;
    for (Copier& copier : copiers) {
      if (copier.finished) continue;
      pump_closing(copier);
      if (copier.src_done && copier.pending() == 0) {
        finish(copier);
        continue;
      }
      any_live = true;
      if (!copier.is_stdin) outputs_live = true;
    }
    if (!outputs_live) {
      const std::lock_guard lock(mutex);
      if (!outputs_done) {
        outputs_done = true;
        changed.notify_all();
      }
    }
    if (!any_live) break;

    entries.clear();
    owners.clear();
    entries.push_back({wake.get(), POLLIN, 0});
    for (Copier& copier : copiers) {
      if (copier.finished) continue;
      if (copier.pending() > 0 || (copier.splice && copier.wait_dst)) {
        // Back-pressure: read more only once the last chunk is written (or dst has room for the next splice).
        entries.push_back({copier.dst.get(), POLLOUT, 0});
        owners.push_back(&copier);
      } else if (!copier.close_budget) {
        entries.push_back({copier.src.get(), POLLIN, 0});
        owners.push_back(&copier);
      }
    }
    const int ready = ::poll(entries.data(), entries.size(), -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;  // cannot happen with valid descriptors; drain then reports "not drained"
    }
    if (entries[0].revents != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] const ssize_t ignored = ::read(wake.get(), &count, sizeof(count));
    }
    for (std::size_t i = 1; i < entries.size(); ++i) {
      const short revents = entries[i].revents;
      if (revents == 0) continue;
      Copier* copier = owners[i - 1];
      if (revents & POLLNVAL) {  // a descriptor closed under us: a bug, but never spin on it
        copier->src_done = true;
        copier->begin = copier->end = 0;
        continue;
      }
      // POLLHUP/POLLERR are handled by the read or splice (EOF) or write (EPIPE) they lead to.
      pump(*copier);
    }
  }
  const std::lock_guard lock(mutex);
  thread_done = true;
  changed.notify_all();
}

StdioRelay::StdioRelay(std::unique_ptr<State> state) : state_(std::move(state)) {}

StdioRelay::~StdioRelay() { state_->shutdown(); }

std::unique_ptr<StdioRelay> StdioRelay::open(const StdioConfig& config) {
  ignore_sigpipe_once();
  const Target in = detail::parse_target(config.stdin_path, "stdin");
  const Target out = detail::parse_target(config.stdout_path, "stdout");
  // containerd never opens the stderr FIFO of a terminal task; neither do we.
  const Target err = config.terminal ? Target{} : detail::parse_target(config.stderr_path, "stderr");
  if (out.kind == TargetKind::Binary && err.kind == TargetKind::Binary && out.text != err.text) {
    throw make_error(ErrorKind::InvalidArgument,
                     "stdout \"{}\" and stderr \"{}\" name different logging binaries (one logger serves both)",
                     out.text, err.text);
  }

  auto state = std::make_unique<State>();
  state->wake = OsHandle(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!state->wake) throw make_error(ErrorKind::Unavailable, "stdio relay: eventfd: {}", std::strerror(errno));
  if (in.kind == TargetKind::Path) state->stdin_src = detail::open_input(in, "stdin");
  if (out.kind == TargetKind::Path || out.kind == TargetKind::File) {
    state->stdout_dst = detail::open_output(out, "stdout");
  }
  if (err.kind == TargetKind::Path || err.kind == TargetKind::File) {
    state->stderr_dst = detail::open_output(err, "stderr");
  }
  // The logger last, so that a bad FIFO path does not first start (and then have to stop) a logger.
  const Target* binary = out.kind == TargetKind::Binary ? &out : err.kind == TargetKind::Binary ? &err : nullptr;
  if (binary != nullptr) {
    state->logger = LoggerProcess::start(*binary, config.container_id, config.ns);
    OsHandle logger_out = state->logger->take_stdout();
    OsHandle logger_err = state->logger->take_stderr();
    // A stream that does not go to the logger leaves its fd at EOF from the start.
    if (out.kind == TargetKind::Binary) state->stdout_dst = std::move(logger_out);
    if (err.kind == TargetKind::Binary) state->stderr_dst = std::move(logger_err);
  }
  return std::unique_ptr<StdioRelay>(new StdioRelay(std::move(state)));
}

void StdioRelay::attach(hcs::ProcessStdio process) {
  State& state = *state_;
  const std::lock_guard lock(state.mutex);  // held until the thread exists, so that drain sees it
  if (state.attached || state.drained) {
    throw make_error(ErrorKind::FailedPrecondition, "stdio relay: attach after attach or drain");
  }
  state.attached = true;

  std::vector<Copier> copiers;
  const auto add = [&](std::string_view name, bool is_stdin, OsHandle src, OsHandle dst) {
    detail::set_nonblocking(src.get(), name);
    if (dst) detail::set_nonblocking(dst.get(), name);
    Copier copier;
    copier.is_stdin = is_stdin;
    // stdin keeps read/write: its close_stdin budget counts bytes through the buffer.
    copier.splice = !is_stdin && dst && is_pipe(src.get()) && is_pipe(dst.get());
    if (copier.splice) {  // best effort: a smaller pipe only costs more wake-ups
      ::fcntl(src.get(), F_SETPIPE_SZ, kSplicePipeSize);
      ::fcntl(dst.get(), F_SETPIPE_SZ, kSplicePipeSize);
    }
    copier.src = std::move(src);
    copier.dst = std::move(dst);
    copiers.push_back(std::move(copier));
  };
  // stdin needs both ends. Otherwise the one present closes below: the process reads EOF (as with /dev/null), or
  // containerd's writer gets EPIPE.
  if (process.std_in && state.stdin_src) add("stdin", true, std::move(state.stdin_src), std::move(process.std_in));
  // Output is always read, even with nowhere to go, so that the process never blocks on a full pipe. A destination
  // without a process stream closes below: containerd reads EOF at once.
  if (process.std_out) add("stdout", false, std::move(process.std_out), std::move(state.stdout_dst));
  if (process.std_err) add("stderr", false, std::move(process.std_err), std::move(state.stderr_dst));
  state.stdin_src.reset();
  state.stdout_dst.reset();
  state.stderr_dst.reset();
  state.copiers = std::move(copiers);
  state.thread = std::thread([&state] {
    set_thread_name("stdio-relay");
    state.run();
  });
}

void StdioRelay::close_stdin() {
  State& state = *state_;
  {
    const std::lock_guard lock(state.mutex);
    state.stdin_close_requested = true;
  }
  state.notify_thread();
}

bool StdioRelay::drain(std::chrono::milliseconds bound) {
  State& state = *state_;
  std::unique_lock lock(state.mutex);
  if (state.drained) return *state.drained;
  bool done = true;  // never attached: the process produced nothing
  if (state.attached) {
    done = state.thread.joinable() &&
           state.changed.wait_for(lock, bound, [&] { return state.outputs_done || state.thread_done; }) &&
           state.outputs_done;
  }
  state.drained = done;
  state.stop = true;
  lock.unlock();
  state.notify_thread();
  if (state.thread.joinable()) state.thread.join();
  state.close_everything();
  return done;
}

}  // namespace shimcore::io
