// The GCS bridge wire protocol (hcs-api-and-schema.md §C): message identifiers, the 16-byte little-endian header,
// wire error codes, and an incremental message decoder. Shared by the host bridge client and the guest agent.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace shimcore::gcs {

inline constexpr std::size_t kHeaderSize = 16;
// The host refuses larger messages (hcsshim prot.MaxMsgSize); the guest, which hcsshim leaves unbounded, uses
// kGuestMaxMessageSize so that a hostile size costs no memory either.
inline constexpr std::uint32_t kMaxMessageSize = 0x10000;
inline constexpr std::uint32_t kGuestMaxMessageSize = 16u << 20;
inline constexpr std::uint32_t kProtocolVersion = 4;
// The vsock port the guest dials for the bridge, and the first per-process stdio port the host allocates.
inline constexpr std::uint32_t kBridgePort = 0x40000000;
inline constexpr std::uint32_t kFirstStdioPort = 0x40000001;
// The utility VM itself is addressed with the null container id.
inline constexpr std::string_view kNullContainerId = "00000000-0000-0000-0000-000000000000";
inline constexpr std::string_view kZeroActivityId = "00000000-0000-0000-0000-000000000000";

// [31:28] class, [27:20] category, [19:8] message id, [7:0] version (always 1).
enum class MessageClass : std::uint32_t { Request = 1, Response = 2, Notification = 3 };

enum class Rpc : std::uint32_t {
  Create = 0x10100101,
  Start = 0x10100201,
  ShutdownGraceful = 0x10100301,
  ShutdownForced = 0x10100401,
  ExecuteProcess = 0x10100501,
  WaitForProcess = 0x10100601,
  SignalProcess = 0x10100701,
  ResizeConsole = 0x10100801,
  GetProperties = 0x10100901,
  ModifySettings = 0x10100a01,
  NegotiateProtocol = 0x10100b01,
  DumpStacks = 0x10100c01,
  DeleteContainerState = 0x10100d01,
  UpdateContainer = 0x10100e01,
  LifecycleNotification = 0x10100f01,
};
// Guest -> host: a container's init process has exited.
inline constexpr std::uint32_t kContainerNotification = 0x30100101;

constexpr MessageClass message_class(std::uint32_t type) noexcept { return static_cast<MessageClass>(type >> 28); }
// The response identifier of a request: the class nibble replaced by 2.
constexpr std::uint32_t response_type(Rpc rpc) noexcept {
  return (static_cast<std::uint32_t>(rpc) & 0x0fffffffu) | 0x20000000u;
}
// The request a request or response identifier belongs to; nullopt for identifiers outside the table above.
std::optional<Rpc> rpc_of(std::uint32_t type) noexcept;
// "Create", "WaitForProcess", ... for logs and errors; "0x10100101"-style hex for unknown identifiers.
std::string describe_type(std::uint32_t type);

// HRESULTs the bridge carries in ResponseBase.Result (internal/bridgeutils/gcserr).
namespace wire_error {
inline constexpr std::uint32_t kNotImplemented = 0x80004001;
inline constexpr std::uint32_t kFail = 0x80004005;
inline constexpr std::uint32_t kNotFound = 0x80070490;
inline constexpr std::uint32_t kInvalidArgument = 0x80070057;
inline constexpr std::uint32_t kTimeout = 0xC0370109;
inline constexpr std::uint32_t kUnsupportedProtocolVersion = 0xC037010C;
inline constexpr std::uint32_t kInvalidJson = 0xC037010D;
inline constexpr std::uint32_t kSystemNotFound = 0xC037010E;
inline constexpr std::uint32_t kAlreadyExists = 0xC037010F;
inline constexpr std::uint32_t kUnknownMessage = 0xC037010B;
inline constexpr std::uint32_t kInvalidState = 0x80370105;
inline constexpr std::uint32_t kAlreadyStopped = 0xC0370110;
}  // namespace wire_error

struct MessageHeader {
  std::uint32_t type = 0;
  std::uint32_t size = 0;  // total length, header included
  std::uint64_t id = 0;

  friend bool operator==(const MessageHeader&, const MessageHeader&) = default;
};

std::array<std::uint8_t, kHeaderSize> encode_header(const MessageHeader& header) noexcept;
MessageHeader decode_header(std::span<const std::uint8_t, kHeaderSize> bytes) noexcept;

// How a sender ends the JSON body: the host's json.Encoder appends '\n', the guest's json.Marshal does not.
enum class BodyEnding { Newline, None };

// Header plus body, ready to write. Throws Error(ResourceExhausted) when the message would exceed `max_size`.
std::string encode_message(std::uint32_t type, std::uint64_t id, std::string_view json_body, BodyEnding ending,
                           std::uint32_t max_size = kMaxMessageSize);

struct Message {
  MessageHeader header;
  std::string body;  // the JSON text (any trailing newline kept)
};

// Splits a byte stream into messages. A header whose size is below 16 or above the decoder's maximum is a protocol
// violation: the decoder stops (failed() with the reason) and the connection must be dropped, as hcsshim does.
class MessageDecoder {
 public:
  explicit MessageDecoder(std::uint32_t max_size = kMaxMessageSize) : max_size_(max_size) {}

  void feed(std::span<const std::uint8_t> bytes);
  void feed(std::string_view bytes);
  // The next complete message, in arrival order; nullopt when none is complete (or the stream failed).
  std::optional<Message> next();
  bool failed() const noexcept { return !error_.empty(); }
  const std::string& error() const noexcept { return error_; }
  // True when the bytes fed so far end inside a message.
  bool mid_message() const noexcept { return header_filled_ > 0 || in_body_; }

 private:
  std::uint32_t max_size_;
  std::array<std::uint8_t, kHeaderSize> header_bytes_{};
  std::size_t header_filled_ = 0;
  bool in_body_ = false;
  Message current_;
  std::size_t remaining_ = 0;
  std::deque<Message> ready_;
  std::string error_;
};

}  // namespace shimcore::gcs
