// ttrpc frame header encoding and the incremental frame decoder.
#include "shimcore/transport/ttrpc_frame.h"

#include <algorithm>

#include "shimcore/errdefs.h"

namespace shimcore::transport::ttrpc {
namespace {

void put_u32(std::uint8_t* out, std::uint32_t value) noexcept {
  out[0] = static_cast<std::uint8_t>(value >> 24);
  out[1] = static_cast<std::uint8_t>(value >> 16);
  out[2] = static_cast<std::uint8_t>(value >> 8);
  out[3] = static_cast<std::uint8_t>(value);
}

std::uint32_t get_u32(const std::uint8_t* in) noexcept {
  return (std::uint32_t{in[0]} << 24) | (std::uint32_t{in[1]} << 16) | (std::uint32_t{in[2]} << 8) |
         std::uint32_t{in[3]};
}

}  // namespace

std::array<std::uint8_t, kHeaderSize> encode_header(const FrameHeader& header) noexcept {
  std::array<std::uint8_t, kHeaderSize> bytes{};
  put_u32(bytes.data(), header.length);
  put_u32(bytes.data() + 4, header.stream_id);
  bytes[8] = header.type;
  bytes[9] = header.flags;
  return bytes;
}

FrameHeader decode_header(std::span<const std::uint8_t, kHeaderSize> bytes) noexcept {
  return FrameHeader{get_u32(bytes.data()), get_u32(bytes.data() + 4), bytes[8], bytes[9]};
}

std::string encode_frame(std::uint32_t stream_id, MessageType type, std::uint8_t flags, std::string_view data) {
  if (data.size() > kMaxDataSize) {
    throw make_error(ErrorKind::InvalidArgument, "ttrpc frame data of {} bytes exceeds the {} byte limit", data.size(),
                     kMaxDataSize);
  }
  const auto header = encode_header(
      FrameHeader{static_cast<std::uint32_t>(data.size()), stream_id, static_cast<std::uint8_t>(type), flags});
  std::string frame;
  frame.reserve(kHeaderSize + data.size());
  frame.append(reinterpret_cast<const char*>(header.data()), header.size());
  frame.append(data);
  return frame;
}

void FrameDecoder::feed(std::string_view bytes) {
  feed(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

void FrameDecoder::feed(std::span<const std::uint8_t> bytes) {
  for (;;) {
    if (!in_body_) {
      if (bytes.empty()) return;
      const std::size_t take = std::min(kHeaderSize - header_filled_, bytes.size());
      std::copy_n(bytes.begin(), take, header_bytes_.begin() + static_cast<std::ptrdiff_t>(header_filled_));
      header_filled_ += take;
      bytes = bytes.subspan(take);
      if (header_filled_ < kHeaderSize) return;
      header_filled_ = 0;
      current_ = Frame{decode_header(header_bytes_), {}, false};
      current_.oversized = current_.header.length > kMaxDataSize;
      remaining_ = current_.header.length;
      // Grow with the data actually received: a header alone must not make us allocate its announced size.
      if (!current_.oversized) current_.data.reserve(std::min<std::size_t>(remaining_, 64 * 1024));
      in_body_ = true;
    }
    // A frame with no data completes right after its header, even when no further byte follows.
    const std::size_t take = std::min(remaining_, bytes.size());
    if (!current_.oversized) current_.data.append(reinterpret_cast<const char*>(bytes.data()), take);
    remaining_ -= take;
    bytes = bytes.subspan(take);
    if (remaining_ != 0) return;
    ready_.push_back(std::move(current_));
    current_ = Frame{};
    in_body_ = false;
  }
}

std::optional<Frame> FrameDecoder::next() {
  if (ready_.empty()) return std::nullopt;
  Frame frame = std::move(ready_.front());
  ready_.pop_front();
  return frame;
}

}  // namespace shimcore::transport::ttrpc
