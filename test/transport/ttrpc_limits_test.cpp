// The ttrpc server's limits: a deadline of any int64 length, and a shutdown that ends even when a handler ignores
// its cancellation.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdint>
#include <future>
#include <limits>
#include <optional>

#include "shimcore/transport/ttrpc_client.h"
#include "shimcore/transport/ttrpc_frame.h"
#include "shimcore/transport/ttrpc_server.h"
#include "test_util.h"
#include "ttrpc/request.pb.h"

using namespace std::chrono_literals;
using namespace shimcore::transport;
using shimcore::StatusCode;
using shimcore::testing::Gate;
using shimcore::testing::TempDir;
namespace wire = shimcore::transport::ttrpc;

namespace {

// "Deadline" answers the milliseconds the handler has left; "Hold" waits for `release` and ignores its stop token
// (a handler stuck in a system call); "Cooperate" waits for `release` or its stop token.
struct Handlers {
  Gate release;
  std::promise<void> held;
  std::promise<void> cooperating;
};

std::shared_ptr<ServiceRegistry> registry_of(Handlers& handlers) {
  Service service("test.v1.Limits");
  service.add_unary("Deadline", [](const CallContext& context, std::string_view, ResponderPtr responder) {
    if (!context.deadline) {
      responder->reply("none");
      return;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*context.deadline - std::chrono::steady_clock::now());
    responder->reply(std::to_string(left.count()));
  });
  service.add_unary("Hold", [&handlers](const CallContext&, std::string_view, ResponderPtr responder) {
    handlers.held.set_value();
    handlers.release.wait(std::stop_token());  // no stop token: cancellation cannot reach it
    responder->reply("held");
  });
  service.add_unary("Cooperate", [&handlers](const CallContext& context, std::string_view, ResponderPtr responder) {
    handlers.cooperating.set_value();
    responder->reply(handlers.release.wait(context.stop) ? "released" : "stopped");
  });
  auto registry = std::make_shared<ServiceRegistry>();
  registry->add(std::move(service));
  return registry;
}

// One request frame written on a raw socket, the answer read back: the client library would refuse (or clamp) the
// timeout itself before the server ever saw it.
::ttrpc::Response raw_call(const std::string& socket, const std::string& method, std::int64_t timeout_nano) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socket.copy(address.sun_path, sizeof(address.sun_path) - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  ::ttrpc::Request request;
  request.set_service("test.v1.Limits");
  request.set_method(method);
  request.set_timeout_nano(timeout_nano);
  const std::string frame = wire::encode_frame(1, wire::MessageType::Request, 0, request.SerializeAsString());
  REQUIRE(::write(fd, frame.data(), frame.size()) == static_cast<ssize_t>(frame.size()));
  wire::FrameDecoder decoder;
  std::optional<wire::Frame> answer;
  std::uint8_t buffer[4096];
  while (!answer) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    REQUIRE(n > 0);
    decoder.feed(std::span<const std::uint8_t>(buffer, static_cast<std::size_t>(n)));
    answer = decoder.next();
  }
  ::close(fd);
  ::ttrpc::Response response;
  REQUIRE(response.ParseFromString(answer->data));
  return response;
}

}  // namespace

TEST_CASE("a timeout_nano of INT64_MAX is a far deadline, not an overflow into the past", "[ttrpc][server]") {
  TempDir dir;
  Handlers handlers;
  TtrpcServer server(registry_of(handlers));
  const std::string socket = (dir.path / "s.sock").string();
  server.listen(socket);
  server.start();
  const auto response = raw_call(socket, "Deadline", std::numeric_limits<std::int64_t>::max());
  REQUIRE(response.status().code() == 0);
  // Clamped to the server's max_timeout (a year): comfortably more than 300 days remain.
  CHECK(std::stoll(response.payload()) > std::chrono::milliseconds(std::chrono::hours(24 * 300)).count());
  CHECK(std::stoll(response.payload()) <= std::chrono::milliseconds(std::chrono::hours(24 * 365)).count());
  // An ordinary deadline is untouched by the clamp.
  const auto short_one = raw_call(socket, "Deadline", std::chrono::nanoseconds(30s).count());
  CHECK(std::stoll(short_one.payload()) <= 30'000);
  server.shutdown();
}

TEST_CASE("shutdown ends when a handler ignores its cancellation, and says so", "[ttrpc][server]") {
  TempDir dir;
  Handlers handlers;
  TtrpcServerOptions options;
  options.cancel_bound = 50ms;  // how long shutdown waits for the stuck handler; the outcome does not depend on it
  TtrpcServer server(registry_of(handlers), options);
  const std::string address = "unix://" + (dir.path / "s.sock").string();
  server.listen(address);
  server.start();
  TtrpcClient client(address);
  auto call = std::async(std::launch::async, [&] { return client.call("test.v1.Limits", "Hold", ""); });
  handlers.held.get_future().wait();
  // Before the bound existed this joined the stuck worker and never returned (the test timed out).
  CHECK_FALSE(server.shutdown(0ms));
  CHECK(call.get().status.code == StatusCode::Unavailable);  // the connection went with the server
  handlers.release.open();                                   // the abandoned worker may now finish
}

TEST_CASE("shutdown joins every worker when handlers honour their stop token", "[ttrpc][server]") {
  TempDir dir;
  Handlers handlers;
  TtrpcServer server(registry_of(handlers));
  const std::string address = "unix://" + (dir.path / "s.sock").string();
  server.listen(address);
  server.start();
  TtrpcClient client(address);
  auto call = std::async(std::launch::async, [&] { return client.call("test.v1.Limits", "Cooperate", ""); });
  handlers.cooperating.get_future().wait();
  CHECK(server.shutdown(0ms));
  CHECK(call.get().status.code == StatusCode::Unavailable);
  CHECK(server.in_flight_calls() == 0);
}
