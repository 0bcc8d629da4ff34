// ttrpc wire framing (containerd/ttrpc 1.2): the 10-byte big-endian header and an incremental frame decoder.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace shimcore::transport::ttrpc {

inline constexpr std::size_t kHeaderSize = 10;
// Largest data section a frame may carry; ttrpc discards larger ones and answers ResourceExhausted.
inline constexpr std::uint32_t kMaxDataSize = 4u << 20;

enum class MessageType : std::uint8_t { Request = 0x01, Response = 0x02, Data = 0x03 };

// Frame flags. Request and Data frames use them; Response frames always carry 0.
inline constexpr std::uint8_t kFlagRemoteClosed = 0x01;  // the sender sends nothing more on this stream
inline constexpr std::uint8_t kFlagRemoteOpen = 0x02;    // on a Request: the client will stream Data frames
inline constexpr std::uint8_t kFlagNoData = 0x04;        // on a Data frame: it carries no data

struct FrameHeader {
  std::uint32_t length = 0;  // bytes of data after the header
  std::uint32_t stream_id = 0;
  std::uint8_t type = 0;  // a MessageType value; unknown values are kept so the receiver can reject them
  std::uint8_t flags = 0;

  friend bool operator==(const FrameHeader&, const FrameHeader&) = default;
};

std::array<std::uint8_t, kHeaderSize> encode_header(const FrameHeader& header) noexcept;
FrameHeader decode_header(std::span<const std::uint8_t, kHeaderSize> bytes) noexcept;

// Header plus data, ready to write. Throws Error(InvalidArgument) when data exceeds kMaxDataSize.
std::string encode_frame(std::uint32_t stream_id, MessageType type, std::uint8_t flags, std::string_view data);

struct Frame {
  FrameHeader header;
  std::string data;
  // The header announced more than kMaxDataSize: its data was skipped, not kept, and `data` is empty.
  bool oversized = false;
};

// Splits a byte stream into frames. Bytes may arrive in any chunking; oversized frames are skipped without
// buffering their data, so a hostile length costs no memory.
class FrameDecoder {
 public:
  void feed(std::span<const std::uint8_t> bytes);
  void feed(std::string_view bytes);
  // The next complete frame, in arrival order.
  std::optional<Frame> next();
  // True when the bytes fed so far end inside a frame (a truncated header or body if the stream ends now).
  bool mid_frame() const noexcept { return header_filled_ > 0 || in_body_; }

 private:
  std::array<std::uint8_t, kHeaderSize> header_bytes_{};
  std::size_t header_filled_ = 0;
  bool in_body_ = false;
  Frame current_;
  std::size_t remaining_ = 0;  // data bytes still to read (or skip) for current_
  std::deque<Frame> ready_;
};

}  // namespace shimcore::transport::ttrpc
