// libFuzzer target: arbitrary bytes as a stream-mux channel. The decoder may only fail with shimcore::Error, and every
// frame it yields re-encodes to the bytes it came from; a live host-side mux fed the same bytes must end (never hang
// or crash) once the channel closes.
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "shimcore/errdefs.h"
#include "shimcore/gcs/stream_mux.h"

namespace {

using namespace shimcore::gcs::mux;
using shimcore::hcs::OsHandle;

void require(bool condition) {
  if (!condition) std::abort();
}

void decode_all(std::string_view bytes, std::size_t chunk) {
  FrameDecoder decoder;
  std::size_t fed = 0;
  std::string consumed;
  try {
    while (fed < bytes.size()) {
      const std::string_view piece = bytes.substr(fed, chunk);
      decoder.feed(piece);
      fed += piece.size();
      while (auto frame = decoder.next()) consumed += encode_frame(frame->stream, frame->type, frame->payload);
    }
    require(bytes.substr(0, consumed.size()) == consumed);
    require(consumed.size() + decoder.buffered() == bytes.size());
  } catch (const shimcore::Error&) {
  }
}

void run_live(std::string_view bytes) {
  int channel[2];
  require(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) == 0);
  OsHandle ours(channel[0]);
  std::mutex mutex;
  std::vector<OsHandle> peers;  // the far ends of accepted streams, held open and never read
  {
    StreamMux mux(OsHandle(channel[1]), Side::Host, [&](std::uint32_t port) {
      if (port % 3 == 0) throw std::runtime_error("refused");
      int pair[2];
      require(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
      const std::lock_guard lock(mutex);
      peers.emplace_back(pair[1]);
      return OsHandle(pair[0]);
    });
    std::string_view left = bytes;
    while (!left.empty()) {
      const ssize_t n = ::send(ours.get(), left.data(), left.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      left.remove_prefix(static_cast<std::size_t>(n));
    }
    ::shutdown(ours.get(), SHUT_WR);
    require(mux.wait_closed(std::chrono::seconds(5)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 32;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  decode_all(bytes, chunk);
  decode_all(bytes, bytes.size() + 1);
  if (bytes.size() <= 4096) run_live(bytes);
  return 0;
}
