// ttrpc server protocol rules, frame by frame, with no sockets: what is dispatched, what is answered, what closes.
#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>

#include "shimcore/transport/ttrpc_session.h"
#include "ttrpc/request.pb.h"

using namespace shimcore::transport;
using namespace shimcore::transport::ttrpc;
using shimcore::StatusCode;

namespace {

struct Harness {
  ServiceRegistry registry;
  std::vector<IncomingCall> calls;
  std::vector<std::string> sent;
  ServerSession session;

  explicit Harness(std::size_t max_streams = 1024)
      : registry(make_registry()),
        session(registry,
                {[this](IncomingCall call) { calls.push_back(std::move(call)); },
                 [this](std::string frame) { sent.push_back(std::move(frame)); }},
                max_streams) {}

  static ServiceRegistry make_registry() {
    ServiceRegistry registry;
    Service service("test.v1.Echo");
    service.add_unary("Echo", [](const CallContext&, std::string_view, ResponderPtr) {});
    registry.add(std::move(service));
    return registry;
  }

  ServerSession::Verdict request(std::uint32_t stream, const std::string& service, const std::string& method,
                                 std::uint8_t flags = 0) {
    ::ttrpc::Request request;
    request.set_service(service);
    request.set_method(method);
    request.set_payload("ping");
    request.set_timeout_nano(5'000'000'000);
    auto* pair = request.add_metadata();
    pair->set_key("containerd-namespace-ttrpc");
    pair->set_value("k8s.io");
    return session.on_frame(Frame{{0, stream, 1, flags}, request.SerializeAsString(), false});
  }

  // The single answer sent so far, decoded.
  ::ttrpc::Response only_answer(std::uint32_t expected_stream) {
    REQUIRE(sent.size() == 1);
    FrameDecoder decoder;
    decoder.feed(sent.front());
    auto frame = decoder.next();
    REQUIRE(frame);
    CHECK(frame->header.stream_id == expected_stream);
    CHECK(frame->header.type == 2);
    CHECK(frame->header.flags == 0);
    ::ttrpc::Response response;
    REQUIRE(response.ParseFromString(frame->data));
    return response;
  }
};

}  // namespace

TEST_CASE("a valid request is dispatched with its metadata and timeout", "[ttrpc][session]") {
  Harness harness;
  CHECK(harness.request(1, "test.v1.Echo", "Echo") == ServerSession::Verdict::Continue);
  REQUIRE(harness.calls.size() == 1);
  const IncomingCall& call = harness.calls.front();
  CHECK(call.stream_id == 1);
  CHECK(call.service == "test.v1.Echo");
  CHECK(call.method_name == "Echo");
  CHECK(call.payload == "ping");
  CHECK(call.timeout_nano == 5'000'000'000);
  REQUIRE(call.metadata.size() == 1);
  CHECK(call.metadata.front() == std::pair<std::string, std::string>{"containerd-namespace-ttrpc", "k8s.io"});
  CHECK(harness.sent.empty());
  CHECK(harness.session.active_streams() == 1);
  harness.session.on_call_finished(1);
  CHECK(harness.session.active_streams() == 0);
}

TEST_CASE("unknown service and method answer Unimplemented with ttrpc's wording", "[ttrpc][session]") {
  SECTION("service") {
    Harness harness;
    harness.request(1, "test.v1.Nope", "Echo");
    const auto response = harness.only_answer(1);
    CHECK(response.status().code() == 12);
    CHECK(response.status().message() == "service test.v1.Nope");
  }
  SECTION("method") {
    Harness harness;
    harness.request(1, "test.v1.Echo", "Nope");
    const auto response = harness.only_answer(1);
    CHECK(response.status().code() == 12);
    CHECK(response.status().message() == "method Nope");
  }
}

TEST_CASE("stream ids must be odd and increasing", "[ttrpc][session]") {
  SECTION("even") {
    Harness harness;
    harness.request(2, "test.v1.Echo", "Echo");
    CHECK(harness.only_answer(2).status().code() == 3);
    CHECK(harness.calls.empty());
  }
  SECTION("re-used") {
    Harness harness;
    harness.request(5, "test.v1.Echo", "Echo");
    harness.request(3, "test.v1.Echo", "Echo");
    CHECK(harness.calls.size() == 1);
    const auto response = harness.only_answer(3);
    CHECK(response.status().code() == 3);
    CHECK(response.status().message() == "StreamID cannot be re-used and must increment");
  }
}

TEST_CASE("garbage in the request payload is InvalidArgument", "[ttrpc][session]") {
  Harness harness;
  CHECK(harness.session.on_frame(Frame{{0, 1, 1, 0}, std::string("\xff\xff\xff\xff", 4), false}) ==
        ServerSession::Verdict::Continue);
  CHECK(harness.only_answer(1).status().code() == 3);
  CHECK(harness.calls.empty());
}

TEST_CASE("an oversized request is answered ResourceExhausted", "[ttrpc][session]") {
  Harness harness;
  harness.session.on_frame(Frame{{kMaxDataSize + 1, 1, 1, 0}, {}, true});
  CHECK(harness.only_answer(1).status().code() == 8);
}

TEST_CASE("client streaming is refused", "[ttrpc][session]") {
  Harness harness;
  harness.request(1, "test.v1.Echo", "Echo", kFlagRemoteOpen);
  CHECK(harness.only_answer(1).status().code() == 12);
  CHECK(harness.calls.empty());
}

TEST_CASE("a Data frame for an unknown stream is answered; an empty one is ignored", "[ttrpc][session]") {
  Harness harness;
  CHECK(harness.session.on_frame(Frame{{3, 7, 3, 0}, "abc", false}) == ServerSession::Verdict::Continue);
  CHECK(harness.only_answer(7).status().code() == 3);
  harness.sent.clear();
  harness.session.on_frame(Frame{{0, 9, 3, kFlagRemoteClosed | kFlagNoData}, {}, false});
  CHECK(harness.sent.empty());
}

TEST_CASE("frames no client may send close the connection", "[ttrpc][session]") {
  Harness harness;
  CHECK(harness.session.on_frame(Frame{{0, 1, 2, 0}, {}, false}) == ServerSession::Verdict::Close);  // Response
  CHECK(harness.session.on_frame(Frame{{0, 1, 0x7f, 0}, {}, false}) == ServerSession::Verdict::Close);
  CHECK(harness.session.on_frame(Frame{{0, 1, 0, 0}, {}, false}) == ServerSession::Verdict::Close);
  CHECK(harness.sent.empty());
}

TEST_CASE("too many concurrent streams on one connection", "[ttrpc][session]") {
  Harness harness(2);
  harness.request(1, "test.v1.Echo", "Echo");
  harness.request(3, "test.v1.Echo", "Echo");
  harness.request(5, "test.v1.Echo", "Echo");
  CHECK(harness.calls.size() == 2);
  CHECK(harness.only_answer(5).status().code() == 8);
  harness.session.on_call_finished(1);
  harness.sent.clear();
  harness.request(7, "test.v1.Echo", "Echo");
  CHECK(harness.calls.size() == 3);
}
