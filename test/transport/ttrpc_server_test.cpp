// The ttrpc server and client over real Unix sockets: round trips, concurrency, deadlines, errors, every bad-input
// case of the protocol, shutdown, and the socket's access rules.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "probe_service.h"
#include "shimcore/transport/ttrpc_client.h"
#include "shimcore/transport/ttrpc_server.h"
#include "shimcore/transport/ttrpc_session.h"
#include "test_util.h"
#include "ttrpc/request.pb.h"

using namespace std::chrono_literals;
using namespace shimcore::transport;
using shimcore::ErrorKind;
using shimcore::StatusCode;
namespace fs = std::filesystem;
using shimcore::testing::eventually;
using shimcore::testing::Gate;
using TempDir = shimcore::testing::TempDir;
namespace wire = shimcore::transport::ttrpc;

namespace {

using shimcore::testing::Probe;

std::shared_ptr<ServiceRegistry> make_registry(Probe& probe) {
  auto registry = std::make_shared<ServiceRegistry>();
  registry->add(shimcore::testing::make_probe_service(probe));
  return registry;
}

struct Fixture {
  TempDir dir;
  Probe probe;
  std::string socket = (dir.path / "s.sock").string();
  std::string address = "unix://" + socket;
  TtrpcServer server;

  explicit Fixture(TtrpcServerOptions options = {}) : server(make_registry(probe), options) {
    server.listen(address);
    server.start();
  }
  ~Fixture() {
    probe.gate.open();
    server.shutdown(1s);
  }
};

// A raw Unix-socket peer for sending bytes no well-behaved client would send.
class RawPeer {
 public:
  explicit RawPeer(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof(address.sun_path) - 1);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  }
  ~RawPeer() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // The next frame, or nullopt on EOF / timeout.
  std::optional<wire::Frame> read_frame(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto frame = decoder_.next()) return frame;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd poll_fd{fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return std::nullopt;
      decoder_.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
    }
  }
  // True if the server closed the connection within the timeout (EOF or reset).
  bool closed_by_peer(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd poll_fd{fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, 100) > 0) {
        char buffer[4096];
        const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
        if (n <= 0) return true;
      }
    }
    return false;
  }

 private:
  int fd_ = -1;
  wire::FrameDecoder decoder_;
};

std::string request_frame(std::uint32_t stream, const std::string& method, const std::string& payload,
                          std::int64_t timeout_nano = 0, std::uint8_t flags = 0) {
  ::ttrpc::Request request;
  request.set_service("test.v1.Probe");
  request.set_method(method);
  request.set_payload(payload);
  request.set_timeout_nano(timeout_nano);
  return wire::encode_frame(stream, wire::MessageType::Request, flags, request.SerializeAsString());
}

::ttrpc::Response decode_response(const wire::Frame& frame) {
  CHECK(frame.header.type == 2);
  ::ttrpc::Response response;
  REQUIRE(response.ParseFromString(frame.data));
  return response;
}

}  // namespace

TEST_CASE("unary round trip with metadata", "[ttrpc][server]") {
  Fixture fixture;
  TtrpcClient client(fixture.address);
  const CallResult echo = client.call("test.v1.Probe", "Echo", std::string("\x00payload\xff", 9));
  CHECK(echo.status.ok());
  CHECK(echo.payload == std::string("\x00payload\xff", 9));
  const CallResult ns = client.call("test.v1.Probe", "Namespace", "", {{}, {{"containerd-namespace-ttrpc", "k8s.io"}}});
  CHECK(ns.payload == "k8s.io");
  CHECK(client.call("test.v1.Probe", "Echo", "").payload.empty());
}

TEST_CASE("a blocked call does not delay a second call on the same connection", "[ttrpc][server]") {
  Fixture fixture;
  TtrpcClient client(fixture.address);
  auto blocked = std::async(std::launch::async, [&] { return client.call("test.v1.Probe", "Block", ""); });
  REQUIRE(eventually([&] { return fixture.probe.blocked.load() == 1; }));
  const CallResult second = client.call("test.v1.Probe", "Echo", "second", {2s, {}});
  CHECK(second.status.ok());
  CHECK(second.payload == "second");
  CHECK(blocked.wait_for(0ms) == std::future_status::timeout);  // answered out of order
  fixture.probe.gate.open();
  const CallResult first = blocked.get();
  CHECK(first.status.ok());
  CHECK(first.payload == "released");
}

TEST_CASE("many concurrent calls from many threads are all answered correctly", "[ttrpc][server]") {
  Fixture fixture;
  TtrpcClient client(fixture.address);
  std::vector<std::future<bool>> results;
  for (int thread = 0; thread < 8; ++thread) {
    results.push_back(std::async(std::launch::async, [&client, thread] {
      for (int i = 0; i < 200; ++i) {
        const std::string payload = std::to_string(thread) + ":" + std::to_string(i);
        const CallResult result = client.call("test.v1.Probe", "Echo", payload);
        if (!result.status.ok() || result.payload != payload) return false;
      }
      return true;
    }));
  }
  for (auto& result : results) CHECK(result.get());
}

TEST_CASE("deadlines", "[ttrpc][server]") {
  Fixture fixture;
  TtrpcClient client(fixture.address);
  SECTION("the handler sees the caller's deadline") {
    // The server starts the request's timeout_nano when the request arrives, which is inside the call: so the
    // deadline is the timeout after some instant between the two clock readings, however slow the machine.
    const auto before = std::chrono::steady_clock::now();
    const CallResult result = client.call("test.v1.Probe", "Deadline", "", {3s, {}});
    const auto after = std::chrono::steady_clock::now();
    REQUIRE(result.status.ok());
    const auto deadline = shimcore::testing::deadline_of(result.payload);
    CHECK(deadline >= before + 3s);
    CHECK(deadline <= after + 3s);
    CHECK(client.call("test.v1.Probe", "Deadline", "").payload == "none");
  }
  SECTION("the server answers DeadlineExceeded when a handler overruns") {
    RawPeer peer(fixture.socket);
    // Block answers only once its stop token fires, which the deadline does: the server's own answer comes first.
    REQUIRE(peer.write_all(request_frame(1, "Block", "", 100'000'000)));
    const auto frame = peer.read_frame(30s);
    REQUIRE(frame);
    CHECK(frame->header.stream_id == 1);
    CHECK(decode_response(*frame).status().code() == 4);
    auto outcome = fixture.probe.block_outcome.get_future();
    REQUIRE(outcome.wait_for(30s) == std::future_status::ready);  // set after the handler has answered
    CHECK_FALSE(outcome.get());
    // The handler's late answer is dropped: the next frame on the connection answers a request sent after it.
    REQUIRE(peer.write_all(request_frame(3, "Echo", "after")));
    const auto next = peer.read_frame(30s);
    REQUIRE(next);
    CHECK(next->header.stream_id == 3);
    CHECK(decode_response(*next).payload() == "after");
  }
  SECTION("the client gives up at its deadline and the handler's stop token fires") {
    const CallResult result = client.call("test.v1.Probe", "Block", "", {150ms, {}});
    CHECK(result.status.code == StatusCode::DeadlineExceeded);
    auto outcome = fixture.probe.block_outcome.get_future();
    REQUIRE(outcome.wait_for(5s) == std::future_status::ready);
    CHECK_FALSE(outcome.get());
    CHECK(client.call("test.v1.Probe", "Echo", "still usable").payload == "still usable");
  }
}

TEST_CASE("errors keep their kind as a status code", "[ttrpc][server]") {
  Fixture fixture;
  TtrpcClient client(fixture.address);
  const CallResult not_found = client.call("test.v1.Probe", "Fail", "");
  CHECK(not_found.status.code == StatusCode::NotFound);
  CHECK(not_found.status.message == "task t1 not found");
  CHECK(client.call("test.v1.Probe", "Throw", "").status.code == StatusCode::Unknown);
  CHECK(client.call("test.v1.Probe", "Drop", "").status.code == StatusCode::Internal);
  const CallResult unknown = client.call("test.v1.Probe", "Missing", "");
  CHECK(unknown.status.code == StatusCode::Unimplemented);
  CHECK(unknown.status.message == "method Missing");
  CHECK(client.call("test.v1.Other", "Echo", "").status.code == StatusCode::Unimplemented);
  try {
    client.call<::ttrpc::Response>("test.v1.Probe", "Fail", ::ttrpc::Request{});
    FAIL("no error");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == ErrorKind::NotFound);
  }
}

TEST_CASE("server streaming sends Data frames and closes the stream", "[ttrpc][server]") {
  Fixture fixture;
  RawPeer peer(fixture.socket);
  REQUIRE(peer.write_all(request_frame(1, "Count", "n", 0, wire::kFlagRemoteClosed)));
  for (int i = 1; i <= 3; ++i) {
    const auto frame = peer.read_frame();
    REQUIRE(frame);
    CHECK(frame->header == wire::FrameHeader{2, 1, 3, 0});
    CHECK(frame->data == "n" + std::to_string(i));
  }
  const auto end = peer.read_frame();
  REQUIRE(end);
  CHECK(end->header == wire::FrameHeader{0, 1, 3, wire::kFlagRemoteClosed | wire::kFlagNoData});
}

TEST_CASE("bad input is answered or closes only the offending connection", "[ttrpc][server][bad-input]") {
  Fixture fixture;
  TtrpcClient witness(fixture.address);  // another connection that must stay healthy throughout
  REQUIRE(witness.call("test.v1.Probe", "Echo", "before").status.ok());

  SECTION("oversized length: ResourceExhausted, then the stream continues in step") {
    RawPeer peer(fixture.socket);
    const auto header = wire::encode_header({wire::kMaxDataSize + 1, 1, 1, 0});
    REQUIRE(peer.write_all(std::string_view(reinterpret_cast<const char*>(header.data()), header.size())));
    REQUIRE(peer.write_all(std::string(wire::kMaxDataSize + 1, '\x01')));
    REQUIRE(peer.write_all(request_frame(3, "Echo", "after")));
    const auto rejected = peer.read_frame();
    REQUIRE(rejected);
    CHECK(rejected->header.stream_id == 1);
    CHECK(decode_response(*rejected).status().code() == 8);
    const auto echoed = peer.read_frame();
    REQUIRE(echoed);
    CHECK(echoed->header.stream_id == 3);
    CHECK(decode_response(*echoed).payload() == "after");
  }
  SECTION("truncated header, then the peer goes away") {
    {
      RawPeer peer(fixture.socket);
      REQUIRE(peer.write_all(std::string("\x00\x00\x00", 3)));
    }
    CHECK(eventually([&] { return fixture.server.connection_count() == 1; }));
  }
  SECTION("truncated body, then the peer goes away") {
    {
      RawPeer peer(fixture.socket);
      REQUIRE(peer.write_all(request_frame(1, "Echo", "x").substr(0, 14)));
    }
    CHECK(eventually([&] { return fixture.server.connection_count() == 1; }));
  }
  SECTION("unknown message type closes the connection") {
    RawPeer peer(fixture.socket);
    REQUIRE(peer.write_all(wire::encode_frame(1, static_cast<wire::MessageType>(9), 0, "zz")));
    CHECK(peer.closed_by_peer());
  }
  SECTION("a Response frame from a client closes the connection") {
    RawPeer peer(fixture.socket);
    REQUIRE(peer.write_all(wire::encode_response(1, {}, "")));
    CHECK(peer.closed_by_peer());
  }
  SECTION("Data for an unknown stream is answered InvalidArgument") {
    RawPeer peer(fixture.socket);
    REQUIRE(peer.write_all(wire::encode_data(5, 0, "stray")));
    const auto frame = peer.read_frame();
    REQUIRE(frame);
    CHECK(decode_response(*frame).status().code() == 3);
  }
  SECTION("garbage protobuf is InvalidArgument and the connection stays usable") {
    RawPeer peer(fixture.socket);
    REQUIRE(peer.write_all(wire::encode_frame(1, wire::MessageType::Request, 0, std::string("\x0a\xff\xff", 3))));
    const auto rejected = peer.read_frame();
    REQUIRE(rejected);
    CHECK(decode_response(*rejected).status().code() == 3);
    REQUIRE(peer.write_all(request_frame(3, "Echo", "ok")));
    const auto echoed = peer.read_frame();
    REQUIRE(echoed);
    CHECK(decode_response(*echoed).payload() == "ok");
  }
  SECTION("a peer that disconnects mid-call cancels the call") {
    {
      RawPeer peer(fixture.socket);
      REQUIRE(peer.write_all(request_frame(1, "Block", "")));
      REQUIRE(eventually([&] { return fixture.probe.blocked.load() == 1; }));
    }
    auto outcome = fixture.probe.block_outcome.get_future();
    REQUIRE(outcome.wait_for(5s) == std::future_status::ready);
    CHECK_FALSE(outcome.get());
    CHECK(eventually([&] { return fixture.server.in_flight_calls() == 0; }));
  }
  SECTION("a client that never reads is disconnected") {
    RawPeer peer(fixture.socket);
    const std::string big(32 * 1024, 'b');
    bool write_failed = false;
    for (std::uint32_t stream = 1; stream < 2 * 2000 && !write_failed; stream += 2) {
      write_failed = !peer.write_all(request_frame(stream, "Echo", big));
      if (fixture.server.connection_count() == 1) break;
    }
    CHECK(eventually([&] { return fixture.server.connection_count() == 1; }));
  }
  CHECK(witness.call("test.v1.Probe", "Echo", "after").payload == "after");
}

TEST_CASE("graceful shutdown lets an in-flight call finish, then removes the socket", "[ttrpc][server]") {
  TempDir dir;
  Probe probe;
  const std::string socket = (dir.path / "g.sock").string();
  TtrpcServer server(make_registry(probe));
  server.listen("unix://" + socket);
  server.start();
  TtrpcClient client("unix://" + socket);
  auto call = std::async(std::launch::async, [&] { return client.call("test.v1.Probe", "Block", ""); });
  REQUIRE(eventually([&] { return probe.blocked.load() == 1; }));
  // A long grace: shutdown must return when the call is done, not when the grace runs out.
  auto stopping = std::async(std::launch::async, [&] { server.shutdown(60s); });
  CHECK(eventually([&] { return !fs::exists(socket); }));        // no longer accepting
  CHECK(stopping.wait_for(0ms) == std::future_status::timeout);  // the gate is closed: still waiting for the call
  CHECK(server.in_flight_calls() == 1);
  probe.gate.open();
  const CallResult result = call.get();
  CHECK(result.status.ok());
  CHECK(result.payload == "released");
  CHECK(stopping.wait_for(20s) == std::future_status::ready);
  CHECK(server.in_flight_calls() == 0);
  CHECK(client.call("test.v1.Probe", "Echo", "").status.code == StatusCode::Unavailable);

  // The same client redials on demand once a server listens again.
  TtrpcServer restarted(make_registry(probe));
  restarted.listen("unix://" + socket);
  restarted.start();
  const CallResult again = client.call("test.v1.Probe", "Echo", "again");
  CHECK(again.status.ok());
  CHECK(again.payload == "again");
  restarted.shutdown();
}

TEST_CASE("shutdown past its grace cancels the calls still running", "[ttrpc][server]") {
  TempDir dir;
  Probe probe;
  TtrpcServer server(make_registry(probe));
  server.listen("unix://" + (dir.path / "c.sock").string());
  server.start();
  TtrpcClient client("unix://" + (dir.path / "c.sock").string());
  auto call = std::async(std::launch::async, [&] { return client.call("test.v1.Probe", "Block", ""); });
  REQUIRE(eventually([&] { return probe.blocked.load() == 1; }));
  server.shutdown(100ms);
  auto outcome = probe.block_outcome.get_future();
  REQUIRE(outcome.wait_for(5s) == std::future_status::ready);
  CHECK_FALSE(outcome.get());
  CHECK(call.get().status.code == StatusCode::Unavailable);
}

TEST_CASE("the socket: mode 0600, stale files replaced, live ones refused, bad addresses", "[ttrpc][server]") {
  TempDir dir;
  Probe probe;
  const std::string socket = (dir.path / "m.sock").string();
  {
    TtrpcServer first(make_registry(probe));
    first.listen("unix://" + socket);
    first.start();
    struct stat info {};
    REQUIRE(::stat(socket.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    TtrpcServer second(make_registry(probe));
    try {
      second.listen(socket);
      FAIL("listened twice");
    } catch (const shimcore::Error& error) {
      CHECK(error.kind() == ErrorKind::AlreadyExists);
    }
  }
  // A socket file left behind by a dead server (bound, never unlinked):
  const int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socket.copy(address.sun_path, sizeof(address.sun_path) - 1);
  REQUIRE(::bind(stale, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  ::close(stale);
  TtrpcServer third(make_registry(probe));
  third.listen("unix://" + socket);
  third.start();
  CHECK(TtrpcClient("unix://" + socket).call("test.v1.Probe", "Echo", "x").payload == "x");
  third.shutdown();

  for (const std::string& bad : {std::string("tcp://1.2.3.4:5"), std::string("relative.sock"),
                                 "unix://" + std::string(120, 'a'), std::string(R"(\\.\pipe\containerd-shim)")}) {
    CAPTURE(bad);
    TtrpcServer server(make_registry(probe));
    try {
      server.listen(bad);
      FAIL("accepted");
    } catch (const shimcore::Error& error) {
      CHECK(error.kind() == ErrorKind::InvalidArgument);
    }
  }
}

TEST_CASE("peers of another user are turned away (SO_PEERCRED)", "[ttrpc][server][root]") {
  if (::geteuid() != 0) SKIP("needs root to run a peer as another user");
  for (const bool require_same_user : {true, false}) {
    CAPTURE(require_same_user);
    TempDir dir;
    ::chmod(dir.path.c_str(), 0755);
    Probe probe;
    TtrpcServerOptions options;
    options.socket_mode = 0666;  // let the other user reach connect(), so that the credential check decides
    options.require_same_user = require_same_user;
    const std::string socket = (dir.path / "u.sock").string();
    TtrpcServer server(make_registry(probe), options);
    server.listen(socket);
    server.start();
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // As nobody: exit 10 if answered, 20 if the connection was closed without an answer, 30 on other errors.
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(30);
      const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      socket.copy(address.sun_path, sizeof(address.sun_path) - 1);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) ::_exit(30);
      const std::string frame = request_frame(1, "Echo", "hi");
      if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) < 0) ::_exit(20);
      char buffer[64];
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      ::_exit(n > 0 ? 10 : 20);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == (require_same_user ? 20 : 10));
    server.shutdown();
  }
}

TEST_CASE("task v2 and v3 share handlers through an alias", "[ttrpc][registry]") {
  ServiceRegistry registry;
  Service task("containerd.task.v3.Task");
  task.add_unary("Connect", [](const CallContext&, std::string_view, ResponderPtr responder) { responder->reply(""); });
  registry.add(std::move(task));
  registry.add_alias("containerd.task.v2.Task", "containerd.task.v3.Task");
  CHECK(lookup_method(registry, "containerd.task.v2.Task", "Connect").method ==
        lookup_method(registry, "containerd.task.v3.Task", "Connect").method);
  CHECK(lookup_method(registry, "containerd.task.v2.Task", "Connect").method != nullptr);
  CHECK(registry.service_names() == std::vector<std::string>{"containerd.task.v2.Task", "containerd.task.v3.Task"});
  CHECK_THROWS_AS(registry.add(Service("containerd.task.v3.Task")), shimcore::Error);
  CHECK_THROWS_AS(registry.add_alias("x", "missing"), shimcore::Error);
}
