// The stream multiplexer: frame bytes, the decoder's refusals, and two muxes over a socket pair carrying streams in
// both directions, half-closes, refusals, credit under a stalled reader, and the end of the channel.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "shimcore/errdefs.h"
#include "shimcore/gcs/stream_mux.h"

using namespace shimcore;
using namespace shimcore::gcs::mux;
using Catch::Matchers::ContainsSubstring;
using namespace std::chrono_literals;

namespace {

struct SocketPair {
  hcs::OsHandle a;
  hcs::OsHandle b;
};

SocketPair socket_pair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  return {hcs::OsHandle(fds[0]), hcs::OsHandle(fds[1])};
}

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    REQUIRE(n > 0);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Everything until EOF, or what arrived within `timeout` when `until_eof` is false.
std::string read_until_eof(int fd, std::chrono::milliseconds timeout = 10s) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[65536];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) FAIL("no EOF within the timeout; read " << out.size() << " bytes");
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return out;
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

std::string read_exactly(int fd, std::size_t size) {
  std::string out;
  char buffer[65536];
  while (out.size() < size) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);
    const ssize_t n = ::read(fd, buffer, std::min(sizeof buffer, size - out.size()));
    REQUIRE(n > 0);
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

ErrorKind kind_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::Unknown;
}

// An echo server on the host side: each accepted stream gets its bytes back upper-cased, then EOF.
struct EchoHost {
  std::vector<std::jthread> servers;
  std::vector<std::uint32_t> ports;
  std::mutex mutex;

  StreamMux::Acceptor acceptor() {
    return [this](std::uint32_t port) -> hcs::OsHandle {
      if (port == 404) throw make_error(ErrorKind::NotFound, "nothing listens on port 404");
      SocketPair pair = socket_pair();
      const std::lock_guard lock(mutex);
      ports.push_back(port);
      servers.emplace_back([fd = std::make_shared<hcs::OsHandle>(std::move(pair.b))] {
        std::string all = read_until_eof(fd->get());
        for (char& c : all) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        write_all(fd->get(), all);
        ::shutdown(fd->get(), SHUT_WR);
      });
      return std::move(pair.a);
    };
  }
};

}  // namespace

TEST_CASE("mux frames: a 12-byte little-endian header, then the payload") {
  const std::string frame = encode_frame(0x01020304, FrameType::Open, std::string("\x00\x00\x00\x40", 4));
  REQUIRE(frame == std::string("\x04\x03\x02\x01\x01\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x40", 16));

  FrameDecoder decoder;
  const std::string two = encode_frame(1, FrameType::Data, "hello") + encode_frame(3, FrameType::Eof);
  decoder.feed(two.substr(0, 7));
  REQUIRE_FALSE(decoder.next());
  decoder.feed(two.substr(7));
  auto first = decoder.next();
  REQUIRE(first);
  CHECK(first->stream == 1);
  CHECK(first->type == FrameType::Data);
  CHECK(first->payload == "hello");
  auto second = decoder.next();
  REQUIRE(second);
  CHECK(second->stream == 3);
  CHECK(second->type == FrameType::Eof);
  CHECK(second->payload.empty());
  CHECK_FALSE(decoder.next());
  CHECK(decoder.buffered() == 0);
}

TEST_CASE("the mux decoder refuses malformed frames, naming the offset") {
  auto refusal = [](std::string bytes) {
    FrameDecoder decoder;
    decoder.feed(encode_frame(1, FrameType::Accept));  // one good frame first: offsets count from the stream's start
    decoder.feed(bytes);
    REQUIRE(decoder.next());
    try {
      decoder.next();
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::InvalidArgument);
      CHECK_THAT(e.what(), ContainsSubstring("offset 12"));
      // Once failed, the decoder stays failed.
      CHECK_FALSE(decoder.next());
      CHECK(kind_of([&] { decoder.feed("x"); }) == ErrorKind::FailedPrecondition);
      return std::string(e.what());
    }
    FAIL("no refusal");
    return std::string();
  };
  std::string unknown = encode_frame(1, FrameType::Eof);
  unknown[4] = 9;
  CHECK_THAT(refusal(unknown), ContainsSubstring("unknown type 9"));
  std::string padded = encode_frame(1, FrameType::Eof);
  padded[6] = 1;
  CHECK_THAT(refusal(padded), ContainsSubstring("padding"));
  CHECK_THAT(refusal(encode_frame(0, FrameType::Eof)), ContainsSubstring("stream id 0"));
  std::string huge = encode_frame(1, FrameType::Data, "x");
  huge[8] = 1;
  huge[10] = 1;  // 65537 bytes
  CHECK_THAT(refusal(huge), ContainsSubstring("payload of 65537 bytes"));
  CHECK_THAT(refusal(encode_frame(1, FrameType::Open, "ab")), ContainsSubstring("Open with a payload of 2 bytes"));
  CHECK_THAT(refusal(encode_frame(1, FrameType::Reset, "x")), ContainsSubstring("Reset with a payload of 1 bytes"));
  CHECK_THAT(refusal(encode_frame(1, FrameType::Data)), ContainsSubstring("Data with a payload of 0 bytes"));
}

TEST_CASE("streams opened by the guest reach the host's acceptor by port, both ways, with half-closes") {
  EchoHost host;
  SocketPair channel = socket_pair();
  StreamMux host_mux(std::move(channel.a), Side::Host, host.acceptor());
  StreamMux guest_mux(std::move(channel.b), Side::Guest);

  // Three streams at once, interleaved, one of them larger than the window so credit has to come back.
  hcs::OsHandle s1 = guest_mux.open(0x40000000, 5s);
  hcs::OsHandle s2 = guest_mux.open(109, 5s);
  hcs::OsHandle s3 = guest_mux.open(7000, 5s);
  std::string big(kWindow * 3 + 123, 'a');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::jthread writer([&] {
    write_all(s3.get(), big);
    ::shutdown(s3.get(), SHUT_WR);
  });
  write_all(s1.get(), "bridge");
  ::shutdown(s1.get(), SHUT_WR);
  write_all(s2.get(), "stdout");
  ::shutdown(s2.get(), SHUT_WR);
  CHECK(read_until_eof(s1.get()) == "BRIDGE");
  CHECK(read_until_eof(s2.get()) == "STDOUT");
  std::string upper = big;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string echoed = read_until_eof(s3.get());
  CHECK(echoed.size() == upper.size());
  CHECK(echoed == upper);
  {
    const std::lock_guard lock(host.mutex);
    CHECK(host.ports == std::vector<std::uint32_t>{0x40000000, 109, 7000});
  }
  // Finished both ways, the streams are gone from both muxes.
  for (int i = 0; i < 200 && (guest_mux.open_streams() != 0 || host_mux.open_streams() != 0); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(guest_mux.open_streams() == 0);
  CHECK(host_mux.open_streams() == 0);
}

TEST_CASE("a refused port, a mux without an acceptor, and a peer that never answers") {
  EchoHost host;
  SocketPair channel = socket_pair();
  StreamMux host_mux(std::move(channel.a), Side::Host, host.acceptor());
  StreamMux guest_mux(std::move(channel.b), Side::Guest);
  try {
    guest_mux.open(404, 5s);
    FAIL("opened a refused port");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Unavailable);
    CHECK_THAT(e.what(), ContainsSubstring("port 404: nothing listens on port 404"));
  }
  // The guest side serves no ports.
  try {
    host_mux.open(1, 5s);
    FAIL("the guest accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Unavailable);
    CHECK_THAT(e.what(), ContainsSubstring("no ports are served"));
  }
  // The refusals left the channel working.
  hcs::OsHandle ok = guest_mux.open(5, 5s);
  write_all(ok.get(), "still");
  ::shutdown(ok.get(), SHUT_WR);
  CHECK(read_until_eof(ok.get()) == "STILL");

  // A peer that reads the channel but never answers: DeadlineExceeded.
  SocketPair silent = socket_pair();
  StreamMux lonely(std::move(silent.a), Side::Guest);
  CHECK(kind_of([&] { lonely.open(1, 100ms); }) == ErrorKind::DeadlineExceeded);
  // What it sent is a well-formed Open for port 1 on an odd (guest) stream id.
  FrameDecoder decoder;
  decoder.feed(read_exactly(silent.b.get(), kHeaderSize + 4));
  auto open = decoder.next();
  REQUIRE(open);
  CHECK(open->type == FrameType::Open);
  CHECK(open->stream % 2 == 1);
  CHECK(open->payload == std::string("\x01\x00\x00\x00", 4));
}

TEST_CASE("a reader that stops reading stalls only its own stream") {
  SocketPair channel = socket_pair();
  std::vector<hcs::OsHandle> host_ends;
  std::mutex mutex;
  StreamMux host_mux(std::move(channel.a), Side::Host, [&](std::uint32_t) {
    SocketPair pair = socket_pair();
    const std::lock_guard lock(mutex);
    host_ends.push_back(std::move(pair.b));
    return std::move(pair.a);
  });
  StreamMux guest_mux(std::move(channel.b), Side::Guest);
  hcs::OsHandle stalled = guest_mux.open(1, 5s);
  hcs::OsHandle lively = guest_mux.open(2, 5s);
  // The host never reads `stalled`: the guest's writes stop once the window and the socket buffers are full.
  std::atomic<std::size_t> written{0};
  std::jthread flood([&] {
    const std::string chunk(65536, 'x');
    for (int i = 0; i < 64; ++i) {
      const ssize_t n = ::send(stalled.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      written += static_cast<std::size_t>(n);
    }
  });
  std::this_thread::sleep_for(300ms);
  const std::size_t stuck_at = written.load();
  CHECK(stuck_at < 64u * 65536u);  // the flood is held back
  // Meanwhile the other stream flows.
  write_all(lively.get(), "ping");
  hcs::OsHandle* lively_host = nullptr;
  {
    const std::lock_guard lock(mutex);
    REQUIRE(host_ends.size() == 2);
    lively_host = &host_ends[1];
  }
  CHECK(read_exactly(lively_host->get(), 4) == "ping");
  // Reading the stalled stream releases the flood, in order and complete.
  std::string drained;
  {
    const std::lock_guard lock(mutex);
    drained = read_exactly(host_ends[0].get(), 64u * 65536u);
  }
  CHECK(drained == std::string(64u * 65536u, 'x'));
}

TEST_CASE("the end of the channel ends every stream and every later open") {
  EchoHost host;
  SocketPair channel = socket_pair();
  auto host_mux = std::make_unique<StreamMux>(std::move(channel.a), Side::Host, host.acceptor());
  StreamMux guest_mux(std::move(channel.b), Side::Guest);
  hcs::OsHandle open_stream = guest_mux.open(9, 5s);
  host_mux.reset();  // the host goes away
  REQUIRE(guest_mux.wait_closed(5s));
  std::string reason;
  CHECK(guest_mux.closed(&reason));
  CHECK(reason == "the peer closed the channel");
  CHECK(read_until_eof(open_stream.get()).empty());  // the stream reads EOF
  CHECK(kind_of([&] { guest_mux.open(9, 1s); }) == ErrorKind::Unavailable);

  // Garbage on the channel ends the mux with the decoder's reason.
  SocketPair raw = socket_pair();
  StreamMux victim(std::move(raw.a), Side::Host, host.acceptor());
  write_all(raw.b.get(), std::string(12, '\xff'));
  REQUIRE(victim.wait_closed(5s));
  victim.closed(&reason);
  CHECK_THAT(reason, ContainsSubstring("bad frame at offset 0"));
}
