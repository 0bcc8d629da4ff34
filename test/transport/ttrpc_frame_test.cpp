// ttrpc framing against hand-computed bytes, and the incremental decoder under every chunking and bad length.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include <string>

#include "shimcore/errdefs.h"
#include "shimcore/transport/service_registry.h"
#include "shimcore/transport/ttrpc_frame.h"
#include "shimcore/transport/ttrpc_session.h"

using namespace shimcore::transport::ttrpc;

namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int value : values) out.push_back(static_cast<char>(value));
  return out;
}

}  // namespace

TEST_CASE("header layout: big-endian length and stream id, then type and flags", "[ttrpc][frame]") {
  const auto header = encode_header(FrameHeader{0x01020304, 0x0a0b0c0d, 0x03, 0x05});
  CHECK(std::string(header.begin(), header.end()) == bytes({1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 3, 5}));
  CHECK(decode_header(header) == FrameHeader{0x01020304, 0x0a0b0c0d, 0x03, 0x05});
}

TEST_CASE("frames from containerd-shim-contract.md §5", "[ttrpc][frame]") {
  SECTION("OK response {shim_pid:100, task_pid:101} on stream 1") {
    CHECK(encode_response(1, {}, bytes({0x08, 0x64, 0x10, 0x65})) ==
          bytes({0, 0, 0, 6, 0, 0, 0, 1, 2, 0, 0x12, 0x04, 0x08, 0x64, 0x10, 0x65}));
  }
  SECTION("NotFound on stream 3") {
    const shimcore::transport::RpcStatus status{shimcore::StatusCode::NotFound, "task t1 not found"};
    CHECK(encode_response(3, status, {}) ==
          bytes({0, 0, 0, 0x17, 0, 0, 0, 3, 2, 0, 0x0a, 0x15, 0x08, 0x05, 0x12, 0x11}) + "task t1 not found");
  }
  SECTION("empty OK response: a 0-length frame") {
    CHECK(encode_response(5, {}, {}) == bytes({0, 0, 0, 0, 0, 0, 0, 5, 2, 0}));
  }
  SECTION("end of a server stream") {
    CHECK(encode_data(7, kFlagRemoteClosed | kFlagNoData, {}) == bytes({0, 0, 0, 0, 0, 0, 0, 7, 3, 5}));
  }
}

TEST_CASE("encode_frame refuses data over 4 MiB", "[ttrpc][frame]") {
  CHECK(encode_frame(1, MessageType::Data, 0, std::string(kMaxDataSize, 'x')).size() == kHeaderSize + kMaxDataSize);
  try {
    encode_frame(1, MessageType::Data, 0, std::string(kMaxDataSize + 1, 'x'));
    FAIL("no error");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == shimcore::ErrorKind::InvalidArgument);
  }
}

TEST_CASE("the decoder yields the same frames whatever the chunking", "[ttrpc][frame]") {
  const std::string stream = encode_frame(1, MessageType::Request, 0, "hello") +
                             encode_frame(3, MessageType::Request, 0, "") +
                             encode_frame(5, MessageType::Data, kFlagRemoteClosed, std::string(70000, 'z'));
  const std::size_t chunk = GENERATE(1, 2, 9, 10, 11, 4096, 1 << 20);
  CAPTURE(chunk);
  FrameDecoder decoder;
  std::vector<Frame> frames;
  for (std::size_t offset = 0; offset < stream.size(); offset += chunk) {
    decoder.feed(std::string_view(stream).substr(offset, chunk));
    while (auto frame = decoder.next()) frames.push_back(std::move(*frame));
  }
  CHECK_FALSE(decoder.mid_frame());
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].header == FrameHeader{5, 1, 1, 0});
  CHECK(frames[0].data == "hello");
  CHECK(frames[1].header == FrameHeader{0, 3, 1, 0});
  CHECK(frames[1].data.empty());
  CHECK(frames[2].header == FrameHeader{70000, 5, 3, 1});
  CHECK(frames[2].data == std::string(70000, 'z'));
}

TEST_CASE("an oversized frame is skipped, not buffered, and the stream stays in step", "[ttrpc][frame]") {
  FrameDecoder decoder;
  const std::uint32_t length = kMaxDataSize + 10;
  const auto header = encode_header(FrameHeader{length, 9, 1, 0});
  decoder.feed(std::string_view(reinterpret_cast<const char*>(header.data()), header.size()));
  for (std::uint32_t sent = 0; sent < length; sent += 1 << 20) {
    decoder.feed(std::string(std::min<std::uint32_t>(1 << 20, length - sent), 'x'));
  }
  decoder.feed(encode_frame(11, MessageType::Request, 0, "after"));
  auto skipped = decoder.next();
  REQUIRE(skipped);
  CHECK(skipped->oversized);
  CHECK(skipped->data.empty());
  CHECK(skipped->header.stream_id == 9);
  auto after = decoder.next();
  REQUIRE(after);
  CHECK(after->data == "after");
}

TEST_CASE("a truncated header or body is visible as mid_frame", "[ttrpc][frame]") {
  FrameDecoder decoder;
  decoder.feed(bytes({0, 0, 0}));
  CHECK(decoder.mid_frame());
  decoder.feed(bytes({5, 0, 0, 0, 1, 1, 0, 'a'}));
  CHECK(decoder.mid_frame());
  CHECK_FALSE(decoder.next());
  decoder.feed("bcde");
  CHECK_FALSE(decoder.mid_frame());
  CHECK(decoder.next()->data == "abcde");
}
