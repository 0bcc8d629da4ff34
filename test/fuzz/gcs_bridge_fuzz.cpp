// libFuzzer target: arbitrary bytes as one GCS bridge stream, split by the host's and the guest's message decoders,
// each body decoded as every message type that side accepts. Decoding may only fail with shimcore::Error (any other
// exception escapes and is a finding); what decodes must re-encode and decode to the same JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "shimcore/errdefs.h"
#include "shimcore/gcs/messages.h"
#include "shimcore/gcs/protocol.h"

namespace {

using namespace shimcore::gcs;

void require(bool condition) {
  if (!condition) std::abort();
}

template <class T>
void try_decode(const std::string& body) {
  try {
    const T value = decode<T>(body);
    const std::string encoded = encode_body(value);
    const T again = decode<T>(encoded);
    require(encode_body(again) == encoded);
  } catch (const shimcore::Error&) {
  }
}

// What a guest agent decodes (host requests) and what the host decodes (responses, notifications).
void decode_guest_side(const std::string& body) {
  try_decode<RequestBase>(body);
  try_decode<NegotiateProtocolRequest>(body);
  try_decode<CreateRequest>(body);
  try_decode<ExecuteProcessRequest>(body);
  try_decode<WaitForProcessRequest>(body);
  try_decode<SignalProcessRequest>(body);
  try_decode<ResizeConsoleRequest>(body);
  try_decode<GetPropertiesRequest>(body);
  try_decode<ModifySettingsRequest>(body);
  try_decode<MappedDirectory>(body);
  try_decode<CombinedLayers>(body);
  try_decode<NetworkAdapter>(body);
  try_decode<ProcessParameters>(body);
}

void decode_host_side(const std::string& body) {
  try_decode<ResponseBase>(body);
  try_decode<NegotiateProtocolResponse>(body);
  try_decode<CreateResponse>(body);
  try_decode<ExecuteProcessResponse>(body);
  try_decode<WaitForProcessResponse>(body);
  try_decode<GetPropertiesResponse>(body);
  try_decode<DumpStacksResponse>(body);
  try_decode<ContainerNotification>(body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  MessageDecoder host(kMaxMessageSize);
  MessageDecoder guest(kGuestMaxMessageSize);
  // Feed in two uneven pieces: reassembly must not depend on chunking.
  const std::size_t split = size / 3;
  host.feed(bytes.substr(0, split));
  host.feed(bytes.substr(split));
  guest.feed(bytes);
  std::size_t host_messages = 0;
  while (auto message = host.next()) {
    ++host_messages;
    require(message->header.size == kHeaderSize + message->body.size());
    require(message->header.size <= kMaxMessageSize);
    (void)describe_type(message->header.type);
    (void)rpc_of(message->header.type);
    decode_host_side(message->body);
  }
  std::size_t guest_messages = 0;
  while (auto message = guest.next()) {
    ++guest_messages;
    require(message->header.size == kHeaderSize + message->body.size());
    decode_guest_side(message->body);
  }
  // The stricter host limit can only stop earlier, never yield more messages.
  require(host_messages <= guest_messages);
  if (!host.failed()) require(host_messages == guest_messages);
  return 0;
}
