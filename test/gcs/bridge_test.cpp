// The host bridge client against a scripted guest on a socketpair: correlation, failures, and the fatal rules
// (unknown id, bad frame, bad body, unknown notification) of hcs-api-and-schema.md §C.2/§C.8.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "shimcore/gcs/bridge.h"

using namespace shimcore;
using namespace shimcore::gcs;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

namespace {

// The guest end of the connection, driven by the test.
class ScriptedGuest {
 public:
  explicit ScriptedGuest(hcs::OsHandle fd) : fd_(std::move(fd)) {}

  // The next message the host sent (bounded wait).
  Message receive() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto message = decoder_.next()) return *message;
      char buffer[4096];
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
      if (n <= 0) FAIL("host closed the bridge");
      decoder_.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
    }
    FAIL("no message from the host");
    return {};
  }

  void send_raw(std::string_view bytes) { REQUIRE(::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) > 0); }
  void reply(const Message& request, const std::string& body) {
    const auto rpc = rpc_of(request.header.type);
    REQUIRE(rpc);
    send_raw(encode_message(response_type(*rpc), request.header.id, body, BodyEnding::None));
  }
  // True when the host closed its end (recv returns 0) within the bound.
  bool host_closed() {
    timeval tv{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buffer[256];
    for (;;) {
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
      if (n == 0) return true;
      if (n < 0) return false;
    }
  }
  void close() { fd_.reset(); }

 private:
  hcs::OsHandle fd_;
  MessageDecoder decoder_{kGuestMaxMessageSize};
};

struct Pair {
  std::unique_ptr<Bridge> bridge;
  std::unique_ptr<ScriptedGuest> guest;
  std::shared_ptr<std::promise<std::string>> closed = std::make_shared<std::promise<std::string>>();
  std::shared_ptr<std::atomic<int>> notifications = std::make_shared<std::atomic<int>>(0);
};

Pair make_pair(Bridge::Options options = {}) {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  Pair pair;
  auto closed = pair.closed;
  auto notifications = pair.notifications;
  options.on_closed = [closed](const std::string& reason) { closed->set_value(reason); };
  if (!options.on_notification) {
    options.on_notification = [notifications](const ContainerNotification& n) {
      if (n.base.container_id != "known") return false;
      ++*notifications;
      return true;
    };
  }
  pair.guest = std::make_unique<ScriptedGuest>(hcs::OsHandle(fds[1]));
  pair.bridge = std::make_unique<Bridge>(make_socket_stream(hcs::OsHandle(fds[0])), std::move(options));
  return pair;
}

std::string close_reason(Pair& pair) {
  auto future = pair.closed->get_future();
  REQUIRE(future.wait_for(10s) == std::future_status::ready);
  return future.get();
}

template <class Fn>
Error failure_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no error thrown");
  return Error(ErrorKind::Unknown, "");
}

}  // namespace

TEST_CASE("bridge: ids count from 0, host bodies end with a newline, responses reach their callers out of order") {
  auto pair = make_pair();
  auto first = pair.bridge->start_call(Rpc::GetProperties, R"({"ContainerId":"a"})");
  auto second = pair.bridge->start_call(Rpc::DumpStacks, R"({"ContainerId":"b"})");
  const Message m0 = pair.guest->receive();
  const Message m1 = pair.guest->receive();
  CHECK(m0.header == MessageHeader{0x10100901u, 16 + 20, 0});
  CHECK(m0.body == "{\"ContainerId\":\"a\"}\n");
  CHECK(m1.header.id == 1);
  CHECK(m1.header.type == 0x10100c01u);
  pair.guest->reply(m1, R"({"Result":0,"GuestStacks":"s"})");
  pair.guest->reply(m0, R"({"Result":0,"Properties":"{}"})");
  CHECK(decode<DumpStacksResponse>(second->wait(5s)).guest_stacks == "s");
  CHECK(first->wait(5s) == R"({"Result":0,"Properties":"{}"})");
  CHECK_FALSE(pair.bridge->closed());
}

TEST_CASE("bridge: a failure Result is a GuestError of the HRESULT's kind with the guest's message") {
  auto pair = make_pair();
  auto call = pair.bridge->start_call(Rpc::SignalProcess, "{}");
  pair.guest->reply(pair.guest->receive(), R"({"Result":-2147023728,"ErrorMessage":"process 7 not found"})");
  try {
    call->wait(5s);
    FAIL("no error");
  } catch (const GuestError& e) {
    CHECK(e.kind() == ErrorKind::NotFound);
    CHECK(e.hresult() == wire_error::kNotFound);
    CHECK(e.guest_message() == "process 7 not found");
    CHECK_THAT(e.what(), ContainsSubstring("SignalProcess") && ContainsSubstring("process 7 not found"));
  }
  auto timeout = pair.bridge->start_call(Rpc::WaitForProcess, "{}");
  pair.guest->reply(pair.guest->receive(), R"({"Result":-1070137079})");  // 0xC0370109
  CHECK(failure_of([&] { timeout->wait(5s); }).kind() == ErrorKind::DeadlineExceeded);
  CHECK_FALSE(pair.bridge->closed());
}

TEST_CASE("bridge: fatal peer behaviour closes the connection and fails pending calls with Unavailable") {
  auto pair = make_pair();
  auto pending = pair.bridge->start_call(Rpc::WaitForProcess, "{}");
  const Message request = pair.guest->receive();
  std::string expected;
  SECTION("a response to an id never sent") {
    pair.guest->send_raw(encode_message(response_type(Rpc::WaitForProcess), 99, R"({"Result":0})", BodyEnding::None));
    expected = "unknown request id 99";
  }
  SECTION("a response of the wrong type") {
    pair.guest->send_raw(
        encode_message(response_type(Rpc::Create), request.header.id, R"({"Result":0})", BodyEnding::None));
    expected = "answered with CreateResponse";
  }
  SECTION("an unparseable body") {
    pair.guest->send_raw(encode_message(response_type(Rpc::WaitForProcess), request.header.id, "{", BodyEnding::None));
    expected = "not valid JSON";
  }
  SECTION("an oversized frame") {
    auto header = encode_header({response_type(Rpc::WaitForProcess), kMaxMessageSize + 1, request.header.id});
    pair.guest->send_raw(std::string_view(reinterpret_cast<const char*>(header.data()), header.size()));
    expected = "outside [16, 65536]";
  }
  SECTION("garbage") {
    pair.guest->send_raw(std::string("\x00\x01\x02\x03\x04\x00\x00\x00garbage!", 16));
    expected = "announces 4 bytes";
  }
  SECTION("an unknown notification type") {
    pair.guest->send_raw(encode_message(0x30100201u, 0, "{}", BodyEnding::None));
    expected = "unknown notification";
  }
  SECTION("a notification for an unknown container") {
    pair.guest->send_raw(encode_message(kContainerNotification, 0, R"({"ContainerId":"other"})", BodyEnding::None));
    expected = "unknown container other";
  }
  SECTION("a request from the guest") {
    pair.guest->send_raw(encode_message(0x10100101u, 0, "{}", BodyEnding::None));
    expected = "unexpected message Create";
  }
  SECTION("the guest hangs up") {
    pair.guest->close();
    expected = "the guest closed the bridge";
  }
  CHECK_THAT(close_reason(pair), ContainsSubstring(expected));
  const Error error = failure_of([&] { pending->wait(5s); });
  CHECK(error.kind() == ErrorKind::Unavailable);
  CHECK_THAT(error.what(), ContainsSubstring("bridge closed"));
  CHECK(pair.bridge->closed());
  CHECK(failure_of([&] { pair.bridge->call(Rpc::Start, "{}"); }).kind() == ErrorKind::Unavailable);
}

TEST_CASE("bridge: the host closes its end after a violation, without crashing") {
  auto pair = make_pair();
  pair.guest->send_raw(std::string(16, '\xff'));
  CHECK_THAT(close_reason(pair), ContainsSubstring("protocol violation"));
  CHECK(pair.guest->host_closed());
}

TEST_CASE("bridge: notifications for known containers are delivered in order with calls") {
  auto pair = make_pair();
  pair.guest->send_raw(encode_message(kContainerNotification, 0,
                                      R"({"ContainerId":"known","Type":"ForcedExit","Operation":"None","Result":0})",
                                      BodyEnding::None));
  auto call = pair.bridge->start_call(Rpc::Start, "{}");
  pair.guest->reply(pair.guest->receive(), R"({"Result":0})");
  call->wait(5s);
  CHECK(*pair.notifications == 1);
}

TEST_CASE("bridge: a timed-out call fails alone; its late response is dropped, not fatal") {
  auto pair = make_pair();
  auto slow = pair.bridge->start_call(Rpc::GetProperties, "{}");
  const Message late = pair.guest->receive();
  CHECK(failure_of([&] { slow->wait(50ms); }).kind() == ErrorKind::DeadlineExceeded);
  pair.guest->reply(late, R"({"Result":0})");
  auto next = pair.bridge->start_call(Rpc::Start, "{}");
  pair.guest->reply(pair.guest->receive(), R"({"Result":0,"ActivityId":"x"})");
  CHECK(next->wait(5s) == R"({"Result":0,"ActivityId":"x"})");
  CHECK_FALSE(pair.bridge->closed());
}

TEST_CASE("bridge: an unanswered send (null-id shutdown) then the guest hanging up") {
  auto pair = make_pair();
  pair.bridge->send_unanswered(Rpc::ShutdownForced, R"({"ContainerId":"00000000-0000-0000-0000-000000000000"})");
  const Message shutdown = pair.guest->receive();
  CHECK(shutdown.header.type == static_cast<std::uint32_t>(Rpc::ShutdownForced));
  pair.guest->reply(shutdown, R"({"Result":0})");  // dropped: not an unknown id
  pair.guest->close();
  CHECK(pair.bridge->wait_closed(10s));
  CHECK(pair.bridge->close_reason() == "the guest closed the bridge");
}

TEST_CASE("bridge: a request too big for the guest's limit fails alone with ResourceExhausted") {
  auto pair = make_pair();
  const std::string body = R"({"x":")" + std::string(kMaxMessageSize, 'a') + R"("})";
  CHECK(failure_of([&] { pair.bridge->call(Rpc::Create, body); }).kind() == ErrorKind::ResourceExhausted);
  CHECK_FALSE(pair.bridge->closed());
}
