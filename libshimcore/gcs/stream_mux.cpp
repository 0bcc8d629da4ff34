// The stream multiplexer: frame codec and the poll loop that pumps each stream's socket against the channel.
#include "shimcore/gcs/stream_mux.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "shimcore/errdefs.h"
#include "shimcore/thread_name.h"

namespace shimcore::gcs::mux {
namespace {

void put_u32(std::string& out, std::uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

std::uint32_t get_u32(const char* bytes) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  return value;
}

std::string u32_payload(std::uint32_t value) {
  std::string out;
  put_u32(out, value);
  return out;
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw make_error(ErrorKind::Internal, "stream mux: O_NONBLOCK: {}", std::strerror(errno));
  }
}

const char* type_name(FrameType type) {
  switch (type) {
    case FrameType::Open: return "Open";
    case FrameType::Accept: return "Accept";
    case FrameType::Refuse: return "Refuse";
    case FrameType::Data: return "Data";
    case FrameType::Eof: return "Eof";
    case FrameType::Reset: return "Reset";
    case FrameType::Credit: return "Credit";
  }
  return "?";
}

}  // namespace

std::string encode_frame(std::uint32_t stream, FrameType type, std::string_view payload) {
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  put_u32(out, stream);
  out.push_back(static_cast<char>(type));
  out.append(3, '\0');
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  out.append(payload);
  return out;
}

void FrameDecoder::feed(std::string_view bytes) {
  if (failed_) throw make_error(ErrorKind::FailedPrecondition, "stream mux: the decoder already failed");
  // Drop what was consumed once it dominates the buffer, so a long stream does not grow it.
  if (start_ > kMaxPayload && start_ * 2 > buffer_.size()) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(bytes);
}

std::optional<Frame> FrameDecoder::next() {
  if (failed_ || buffered() < kHeaderSize) return std::nullopt;
  const char* header = buffer_.data() + start_;
  auto reject = [&](const std::string& why) -> Error {
    failed_ = true;
    return make_error(ErrorKind::InvalidArgument, "stream mux: bad frame at offset {}: {}", consumed_, why);
  };
  const std::uint32_t stream = get_u32(header);
  const auto raw_type = static_cast<std::uint8_t>(header[4]);
  const std::uint32_t length = get_u32(header + 8);
  if (raw_type < 1 || raw_type > 7) throw reject("unknown type " + std::to_string(raw_type));
  const auto type = static_cast<FrameType>(raw_type);
  if (header[5] != 0 || header[6] != 0 || header[7] != 0) throw reject("non-zero padding");
  if (stream == 0) throw reject("stream id 0");
  if (length > kMaxPayload) throw reject("payload of " + std::to_string(length) + " bytes");
  bool size_ok = true;
  switch (type) {
    case FrameType::Open:
    case FrameType::Credit: size_ok = length == 4; break;
    case FrameType::Accept:
    case FrameType::Eof:
    case FrameType::Reset: size_ok = length == 0; break;
    case FrameType::Data: size_ok = length > 0; break;
    case FrameType::Refuse: break;
  }
  if (!size_ok) throw reject(std::string(type_name(type)) + " with a payload of " + std::to_string(length) + " bytes");
  if (buffered() < kHeaderSize + length) return std::nullopt;
  Frame frame{stream, type, buffer_.substr(start_ + kHeaderSize, length)};
  start_ += kHeaderSize + length;
  consumed_ += kHeaderSize + length;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  return frame;
}

// ---------------------------------------------------------------------------------------------------------------
// The loop. Stream state is touched by the loop thread only; callers reach it through commands and the pending
// table, both under `mutex`.
struct StreamMux::Loop {
  struct Stream {
    hcs::OsHandle socket;
    bool opening = false;     // we sent Open and wait for Accept
    bool local_eof = false;   // our socket reached EOF and we sent Eof
    bool remote_eof = false;  // the peer sent Eof
    bool shut_write = false;  // we passed the peer's Eof on (shutdown SHUT_WR)
    std::string out;          // the peer's bytes not yet written to our socket
    std::size_t out_offset = 0;
    std::uint32_t credit = kWindow;  // what we may still send
    std::uint32_t unacked = 0;       // what we delivered and not yet credited back
  };
  struct Pending {
    bool done = false;
    bool accepted = false;
    std::string why;
  };
  struct Command {
    std::uint32_t id = 0;
    std::uint32_t port = 0;
    hcs::OsHandle socket;  // set: open; empty: abandon (the caller gave up waiting)
  };

  Loop(hcs::OsHandle channel_socket, Side loop_side, Acceptor loop_acceptor)
      : channel(std::move(channel_socket)),
        side(loop_side),
        acceptor(std::move(loop_acceptor)),
        next_id(loop_side == Side::Guest ? 1 : 2) {
    set_nonblocking(channel.get());
    wake = hcs::OsHandle(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake) throw make_error(ErrorKind::Internal, "stream mux: eventfd: {}", std::strerror(errno));
    thread = std::thread([this] { run(); });
  }

  ~Loop() {
    stopping.store(true);
    poke();
    if (thread.joinable()) thread.join();
  }

  void poke() const {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake.get(), &one, sizeof one);
  }

  bool peer_opened(std::uint32_t id) const { return (id % 2 == 1) == (side == Side::Host); }

  void send(std::uint32_t id, FrameType type, std::string_view payload = {}) {
    channel_out += encode_frame(id, type, payload);
  }

  void finish(const std::string& why) {
    {
      const std::lock_guard lock(mutex);
      if (!ended) {
        ended = true;
        end_reason = why;
      }
      for (auto& [id, pending_open] : pending) {
        if (!pending_open.done) {
          pending_open.done = true;
          pending_open.why = why;
        }
      }
      live_streams = 0;
    }
    changed.notify_all();
    streams.clear();  // every local socket closes: their users read EOF
  }

  void answer_open(std::uint32_t id, bool accepted, const std::string& why) {
    {
      const std::lock_guard lock(mutex);
      const auto it = pending.find(id);
      if (it == pending.end()) return;
      it->second.done = true;
      it->second.accepted = accepted;
      it->second.why = why;
    }
    changed.notify_all();
  }

  void drop(std::uint32_t id, bool send_reset) {
    const auto it = streams.find(id);
    if (it == streams.end()) return;
    if (it->second.opening) answer_open(id, false, "the stream was reset");
    streams.erase(it);
    if (send_reset) send(id, FrameType::Reset);
  }

  void handle(Frame frame) {
    const std::uint32_t id = frame.stream;
    const auto it = streams.find(id);
    switch (frame.type) {
      case FrameType::Open: {
        if (it != streams.end() || !peer_opened(id)) {
          send(id, FrameType::Reset);
          return;
        }
        const std::uint32_t port = get_u32(frame.payload.data());
        if (!acceptor) {
          send(id, FrameType::Refuse, "no ports are served on this side");
          return;
        }
        try {
          hcs::OsHandle socket = acceptor(port);
          if (!socket) throw make_error(ErrorKind::Unavailable, "no listener on port {}", port);
          set_nonblocking(socket.get());
          Stream stream;
          stream.socket = std::move(socket);
          streams.emplace(id, std::move(stream));
          send(id, FrameType::Accept);
        } catch (const std::exception& error) {
          send(id, FrameType::Refuse, error.what());
        }
        return;
      }
      case FrameType::Accept:
        if (it == streams.end() || !it->second.opening) {
          send(id, FrameType::Reset);
          return;
        }
        it->second.opening = false;
        answer_open(id, true, {});
        return;
      case FrameType::Refuse:
        if (it != streams.end() && it->second.opening) {
          answer_open(id, false, frame.payload.empty() ? std::string("refused") : frame.payload);
          streams.erase(it);
        }
        return;
      case FrameType::Data: {
        if (it == streams.end()) {
          send(id, FrameType::Reset);
          return;
        }
        Stream& stream = it->second;
        // Data before Accept, after Eof, or beyond the credit we gave: the peer broke the protocol for this stream.
        if (stream.opening || stream.remote_eof ||
            stream.out.size() - stream.out_offset + frame.payload.size() > kWindow) {
          drop(id, true);
          return;
        }
        if (stream.out_offset == stream.out.size()) {
          stream.out.clear();
          stream.out_offset = 0;
        }
        stream.out += frame.payload;
        return;
      }
      case FrameType::Eof:
        if (it == streams.end() || it->second.opening) {
          if (it == streams.end())
            send(id, FrameType::Reset);
          else
            drop(id, true);
          return;
        }
        it->second.remote_eof = true;
        return;
      case FrameType::Reset:
        if (it != streams.end()) drop(id, false);
        return;
      case FrameType::Credit: {
        if (it == streams.end()) return;  // a late credit for a stream that ended
        const std::uint32_t more = get_u32(frame.payload.data());
        if (static_cast<std::uint64_t>(it->second.credit) + more > kWindow) {
          drop(id, true);
          return;
        }
        it->second.credit += more;
        return;
      }
    }
  }

  void take_commands() {
    std::deque<Command> taken;
    {
      const std::lock_guard lock(mutex);
      taken.swap(commands);
    }
    for (Command& command : taken) {
      if (!command.socket) {
        drop(command.id, true);
        continue;
      }
      Stream stream;
      stream.socket = std::move(command.socket);
      stream.opening = true;
      streams.emplace(command.id, std::move(stream));
      send(command.id, FrameType::Open, u32_payload(command.port));
    }
  }

  // Reads what the local socket has, within credit; false when the stream was dropped.
  bool pump_in(std::uint32_t id, Stream& stream) {
    std::array<char, kMaxPayload> buffer;
    const std::size_t want = std::min<std::size_t>(buffer.size(), stream.credit);
    const ssize_t n = ::recv(stream.socket.get(), buffer.data(), want, MSG_DONTWAIT);
    if (n > 0) {
      stream.credit -= static_cast<std::uint32_t>(n);
      send(id, FrameType::Data, std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    } else if (n == 0) {
      stream.local_eof = true;
      send(id, FrameType::Eof);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      drop(id, true);
      return false;
    }
    return true;
  }

  // Writes the peer's bytes to the local socket and credits what was delivered; false when the stream was dropped.
  bool pump_out(std::uint32_t id, Stream& stream) {
    while (stream.out_offset < stream.out.size()) {
      const ssize_t n = ::send(stream.socket.get(), stream.out.data() + stream.out_offset,
                               stream.out.size() - stream.out_offset, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        drop(id, true);
        return false;
      }
      stream.out_offset += static_cast<std::size_t>(n);
      stream.unacked += static_cast<std::uint32_t>(n);
    }
    const bool drained = stream.out_offset == stream.out.size();
    if (stream.unacked > 0 && (drained || stream.unacked >= kWindow / 4)) {
      send(id, FrameType::Credit, u32_payload(stream.unacked));
      stream.unacked = 0;
    }
    return true;
  }

  // Passes a drained Eof on and ends a stream finished both ways.
  void settle(std::uint32_t id) {
    const auto it = streams.find(id);
    if (it == streams.end()) return;
    Stream& stream = it->second;
    if (stream.remote_eof && !stream.shut_write && stream.out_offset == stream.out.size()) {
      ::shutdown(stream.socket.get(), SHUT_WR);
      stream.shut_write = true;
    }
    if (stream.local_eof && stream.shut_write) streams.erase(it);
  }

  void publish_count() {
    const std::lock_guard lock(mutex);
    live_streams = streams.size();
  }

  void run() {
    set_thread_name("stream-mux");
    std::vector<pollfd> fds;
    std::vector<std::uint32_t> ids;
    std::array<char, 64 * 1024> buffer;
    while (!stopping.load()) {
      take_commands();
      for (auto it = streams.begin(); it != streams.end();) {
        const std::uint32_t id = (it++)->first;
        settle(id);
      }
      publish_count();
      fds.clear();
      ids.clear();
      fds.push_back({wake.get(), POLLIN, 0});
      fds.push_back({channel.get(), static_cast<short>(POLLIN | (channel_out.empty() ? 0 : POLLOUT)), 0});
      // Stop reading local sockets while the channel is backed up: the channel is the bottleneck.
      const bool channel_busy = channel_out.size() > 4 * kMaxPayload;
      for (auto& [id, stream] : streams) {
        short events = 0;
        if (!stream.opening && !stream.local_eof && stream.credit > 0 && !channel_busy) events |= POLLIN;
        if (stream.out_offset < stream.out.size()) events |= POLLOUT;
        if (events == 0) continue;
        fds.push_back({stream.socket.get(), events, 0});
        ids.push_back(id);
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        finish(std::string("poll: ") + std::strerror(errno));
        return;
      }
      if (fds[0].revents != 0) {
        std::uint64_t count = 0;
        [[maybe_unused]] const ssize_t n = ::read(wake.get(), &count, sizeof count);
      }
      // The channel: read and decode, then write what is queued.
      if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        const ssize_t n = ::read(channel.get(), buffer.data(), buffer.size());
        if (n == 0) {
          finish("the peer closed the channel");
          return;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          finish(std::string("channel read: ") + std::strerror(errno));
          return;
        }
        if (n > 0) {
          try {
            decoder.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
            while (auto frame = decoder.next()) handle(std::move(*frame));
          } catch (const Error& error) {
            finish(error.what());
            return;
          }
        }
      }
      for (std::size_t i = 0; i < ids.size(); ++i) {
        const short revents = fds[i + 2].revents;
        if (revents == 0) continue;
        const auto it = streams.find(ids[i]);
        if (it == streams.end()) continue;
        if ((revents & POLLOUT) != 0 || ((revents & (POLLERR | POLLHUP)) != 0 && !it->second.out.empty())) {
          if (!pump_out(ids[i], it->second)) continue;
        }
        if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !it->second.local_eof && it->second.credit > 0) {
          pump_in(ids[i], it->second);
        }
      }
      while (!channel_out.empty()) {
        const ssize_t n = ::write(channel.get(), channel_out.data(), channel_out.size());
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          finish(std::string("channel write: ") + std::strerror(errno));
          return;
        }
        channel_out.erase(0, static_cast<std::size_t>(n));
      }
    }
    finish("the stream mux stopped");
  }

  hcs::OsHandle channel;
  const Side side;
  Acceptor acceptor;
  hcs::OsHandle wake;

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::deque<Command> commands;
  std::map<std::uint32_t, Pending> pending;
  bool ended = false;
  std::string end_reason;
  std::size_t live_streams = 0;
  std::uint32_t next_id;

  std::map<std::uint32_t, Stream> streams;
  FrameDecoder decoder;
  std::string channel_out;
  std::atomic<bool> stopping{false};
  std::thread thread;
};

StreamMux::StreamMux(hcs::OsHandle channel, Side side, Acceptor acceptor)
    : loop_(std::make_unique<Loop>(std::move(channel), side, std::move(acceptor))) {}

StreamMux::~StreamMux() = default;

hcs::OsHandle StreamMux::open(std::uint32_t port, std::chrono::milliseconds timeout) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    throw make_error(ErrorKind::Unavailable, "stream mux: socketpair: {}", std::strerror(errno));
  }
  hcs::OsHandle ours(pair[0]);
  hcs::OsHandle theirs(pair[1]);
  set_nonblocking(ours.get());
  Loop& loop = *loop_;
  std::unique_lock lock(loop.mutex);
  if (loop.ended) throw make_error(ErrorKind::Unavailable, "stream mux: {}", loop.end_reason);
  const std::uint32_t id = loop.next_id;
  loop.next_id += 2;
  loop.pending.emplace(id, Loop::Pending{});
  loop.commands.push_back({id, port, std::move(ours)});
  loop.poke();
  const bool answered = loop.changed.wait_for(lock, timeout, [&] { return loop.pending[id].done; });
  const Loop::Pending result = loop.pending[id];
  loop.pending.erase(id);
  if (!answered) {
    loop.commands.push_back({id, port, hcs::OsHandle()});
    loop.poke();
    throw make_error(ErrorKind::DeadlineExceeded, "stream mux: port {} did not answer within {} ms", port,
                     timeout.count());
  }
  if (!result.accepted) throw make_error(ErrorKind::Unavailable, "stream mux: port {}: {}", port, result.why);
  return theirs;
}

bool StreamMux::closed(std::string* reason) const {
  const std::lock_guard lock(loop_->mutex);
  if (reason != nullptr) *reason = loop_->end_reason;
  return loop_->ended;
}

bool StreamMux::wait_closed(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(loop_->mutex);
  return loop_->changed.wait_for(lock, timeout, [&] { return loop_->ended; });
}

std::size_t StreamMux::open_streams() const {
  const std::lock_guard lock(loop_->mutex);
  return loop_->live_streams;
}

}  // namespace shimcore::gcs::mux
