// Many port-addressed byte streams over one channel (a virtio-serial port): what hvsock/vsock give hcsshim's bridge
// and stdio, carried where no socket family reaches the guest (QEMU without vhost-vsock). Linux only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shimcore/hcs/os_handle.h"

namespace shimcore::gcs::mux {

// The wire format. Every frame is a 12-byte header, little-endian: u32 stream id, u8 type, three zero bytes, u32
// payload length (at most kMaxPayload), then the payload. The side that opens a stream picks its id: odd for the
// guest, even (non-zero) for the host, so the two never collide.
enum class FrameType : std::uint8_t {
  Open = 1,    // payload: u32 port. The peer answers Accept or Refuse.
  Accept = 2,  // empty
  Refuse = 3,  // payload: why, UTF-8
  Data = 4,    // payload: stream bytes; never more than the sender's credit
  Eof = 5,     // the sender will send no more Data (half close)
  Reset = 6,   // the stream is gone in both directions
  Credit = 7,  // payload: u32 bytes the receiver has delivered, which the sender may send again
};
constexpr std::size_t kHeaderSize = 12;
constexpr std::uint32_t kMaxPayload = 64 * 1024;
constexpr std::uint32_t kWindow = 256 * 1024;  // each direction of each stream starts with this much credit

struct Frame {
  std::uint32_t stream = 0;
  FrameType type = FrameType::Data;
  std::string payload;
};

std::string encode_frame(std::uint32_t stream, FrameType type, std::string_view payload = {});

// Splits a byte stream into frames. Malformed input (an unknown type, non-zero padding, stream 0, an oversize or
// wrongly sized payload) throws Error(InvalidArgument) naming the offset; the decoder is unusable afterwards.
class FrameDecoder {
 public:
  void feed(std::string_view bytes);
  std::optional<Frame> next();  // a complete frame, or nullopt until more bytes arrive
  std::size_t buffered() const noexcept { return buffer_.size() - start_; }

 private:
  std::string buffer_;
  std::size_t start_ = 0;
  std::uint64_t consumed_ = 0;  // bytes of the stream before buffer_[start_]
  bool failed_ = false;
};

enum class Side { Guest, Host };

// Runs the channel on a thread it owns. Each stream is a connected stream socket on each side: open() returns one
// end of a socket pair whose other end the mux pumps, and the acceptor hands it a connected socket for each stream
// the peer opens. Per-stream credit bounds what either side buffers, so a reader that stops reading stalls only its
// own stream. Every stream ends when the channel ends.
class StreamMux {
 public:
  // A connected socket for a stream the peer opened to `port`; throw (any exception) to refuse it with what().
  using Acceptor = std::function<hcs::OsHandle(std::uint32_t port)>;

  // `channel` is read and written non-blocking from now on. Without an acceptor every Open is refused.
  StreamMux(hcs::OsHandle channel, Side side, Acceptor acceptor = {});
  ~StreamMux();  // ends the loop; every stream is reset
  StreamMux(const StreamMux&) = delete;
  StreamMux& operator=(const StreamMux&) = delete;

  // Opens a stream to the peer's `port` and returns this side's end. Throws Error(Unavailable) when the peer refused
  // or the channel ended, Error(DeadlineExceeded) when no answer came within `timeout`.
  hcs::OsHandle open(std::uint32_t port, std::chrono::milliseconds timeout);
  // True once the channel ended (peer gone, a protocol error, or destruction); `reason` says why.
  bool closed(std::string* reason = nullptr) const;
  // Blocks until the channel ends or `timeout` passes; true when it ended.
  bool wait_closed(std::chrono::milliseconds timeout) const;
  std::size_t open_streams() const;  // streams not yet ended, for tests and diagnostics

 private:
  struct Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace shimcore::gcs::mux
