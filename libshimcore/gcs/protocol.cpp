// GCS bridge header encoding, identifier table and the incremental message decoder.
#include "shimcore/gcs/protocol.h"

#include <algorithm>

#include <fmt/format.h>

#include "shimcore/errdefs.h"

namespace shimcore::gcs {
namespace {

void put_le(std::uint8_t* out, std::uint64_t value, int bytes) noexcept {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

std::uint64_t get_le(const std::uint8_t* in, int bytes) noexcept {
  std::uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}

struct RpcName {
  Rpc rpc;
  std::string_view name;
};

constexpr RpcName kRpcNames[] = {
    {Rpc::Create, "Create"},
    {Rpc::Start, "Start"},
    {Rpc::ShutdownGraceful, "ShutdownGraceful"},
    {Rpc::ShutdownForced, "ShutdownForced"},
    {Rpc::ExecuteProcess, "ExecuteProcess"},
    {Rpc::WaitForProcess, "WaitForProcess"},
    {Rpc::SignalProcess, "SignalProcess"},
    {Rpc::ResizeConsole, "ResizeConsole"},
    {Rpc::GetProperties, "GetProperties"},
    {Rpc::ModifySettings, "ModifySettings"},
    {Rpc::NegotiateProtocol, "NegotiateProtocol"},
    {Rpc::DumpStacks, "DumpStacks"},
    {Rpc::DeleteContainerState, "DeleteContainerState"},
    {Rpc::UpdateContainer, "UpdateContainer"},
    {Rpc::LifecycleNotification, "LifecycleNotification"},
};

}  // namespace

std::optional<Rpc> rpc_of(std::uint32_t type) noexcept {
  const auto cls = message_class(type);
  if (cls != MessageClass::Request && cls != MessageClass::Response) return std::nullopt;
  const std::uint32_t request = (type & 0x0fffffffu) | 0x10000000u;
  for (const auto& entry : kRpcNames) {
    if (static_cast<std::uint32_t>(entry.rpc) == request) return entry.rpc;
  }
  return std::nullopt;
}

std::string describe_type(std::uint32_t type) {
  if (type == kContainerNotification) return "ContainerNotification";
  if (const auto rpc = rpc_of(type)) {
    for (const auto& entry : kRpcNames) {
      if (entry.rpc == *rpc) {
        return message_class(type) == MessageClass::Response ? fmt::format("{}Response", entry.name)
                                                             : std::string(entry.name);
      }
    }
  }
  return fmt::format("{:#010x}", type);
}

std::array<std::uint8_t, kHeaderSize> encode_header(const MessageHeader& header) noexcept {
  std::array<std::uint8_t, kHeaderSize> bytes{};
  put_le(bytes.data(), header.type, 4);
  put_le(bytes.data() + 4, header.size, 4);
  put_le(bytes.data() + 8, header.id, 8);
  return bytes;
}

MessageHeader decode_header(std::span<const std::uint8_t, kHeaderSize> bytes) noexcept {
  return MessageHeader{static_cast<std::uint32_t>(get_le(bytes.data(), 4)),
                       static_cast<std::uint32_t>(get_le(bytes.data() + 4, 4)), get_le(bytes.data() + 8, 8)};
}

std::string encode_message(std::uint32_t type, std::uint64_t id, std::string_view json_body, BodyEnding ending,
                           std::uint32_t max_size) {
  const std::size_t size = kHeaderSize + json_body.size() + (ending == BodyEnding::Newline ? 1 : 0);
  if (size > max_size) {
    throw make_error(ErrorKind::ResourceExhausted, "bridge message {} of {} bytes exceeds the {} byte limit",
                     describe_type(type), size, max_size);
  }
  const auto header = encode_header(MessageHeader{type, static_cast<std::uint32_t>(size), id});
  std::string message;
  message.reserve(size);
  message.append(reinterpret_cast<const char*>(header.data()), header.size());
  message.append(json_body);
  if (ending == BodyEnding::Newline) message.push_back('\n');
  return message;
}

void MessageDecoder::feed(std::string_view bytes) {
  feed(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

void MessageDecoder::feed(std::span<const std::uint8_t> bytes) {
  while (!failed()) {
    if (!in_body_) {
      if (bytes.empty()) return;
      const std::size_t take = std::min(kHeaderSize - header_filled_, bytes.size());
      std::copy_n(bytes.begin(), take, header_bytes_.begin() + static_cast<std::ptrdiff_t>(header_filled_));
      header_filled_ += take;
      bytes = bytes.subspan(take);
      if (header_filled_ < kHeaderSize) return;
      header_filled_ = 0;
      current_ = Message{decode_header(header_bytes_), {}};
      if (current_.header.size < kHeaderSize || current_.header.size > max_size_) {
        error_ = fmt::format("bridge message {} announces {} bytes, outside [{}, {}]",
                             describe_type(current_.header.type), current_.header.size, kHeaderSize, max_size_);
        return;
      }
      remaining_ = current_.header.size - kHeaderSize;
      // Grow with the bytes actually received: a header alone must not make us allocate its announced size.
      current_.body.reserve(std::min<std::size_t>(remaining_, 64 * 1024));
      in_body_ = true;
    }
    const std::size_t take = std::min(remaining_, bytes.size());
    current_.body.append(reinterpret_cast<const char*>(bytes.data()), take);
    remaining_ -= take;
    bytes = bytes.subspan(take);
    if (remaining_ != 0) return;
    ready_.push_back(std::move(current_));
    current_ = Message{};
    in_body_ = false;
  }
}

std::optional<Message> MessageDecoder::next() {
  if (ready_.empty()) return std::nullopt;
  Message message = std::move(ready_.front());
  ready_.pop_front();
  return message;
}

}  // namespace shimcore::gcs
