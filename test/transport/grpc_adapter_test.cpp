// The gRPC adapter over real Unix sockets, with the same registry served by a TtrpcServer at the same time: both
// transports must give the same answers and status codes. Also containerd's Events/Publish client.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "containerd/events/task.pb.h"
#include "containerd/services/events/v1/events.pb.h"
#include "containerd/task/v3/shim.grpc.pb.h"
#include "probe_service.h"
#include "shimcore/transport/grpc_events.h"
#include "shimcore/transport/grpc_server.h"
#include "shimcore/transport/ttrpc_client.h"
#include "shimcore/transport/ttrpc_frame.h"
#include "shimcore/transport/ttrpc_server.h"
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
namespace task = containerd::task::v3;
namespace events = containerd::services::events::v1;

namespace {

using shimcore::testing::Probe;

// The shared probe service plus handlers only the gRPC comparison needs.
std::shared_ptr<ServiceRegistry> make_registry(Probe& probe) {
  auto registry = std::make_shared<ServiceRegistry>();
  Service service = shimcore::testing::make_probe_service(probe);
  service.add_unary("Twice", [](const CallContext&, std::string_view, ResponderPtr responder) {
    responder->reply("first");
    responder->fail({StatusCode::NotFound, "second"});
    responder->reply("third");
  });
  service.add_unary("Keep", [&probe](const CallContext&, std::string_view, ResponderPtr responder) {
    const std::lock_guard lock(probe.kept_mutex);
    probe.kept.push_back(std::move(responder));
  });
  service.add_server_stream("Flood", [&probe](const CallContext& context, std::string_view, StreamWriter& writer) {
    const std::string chunk(32 * 1024, 'f');
    int sent = 0;
    while (sent < 2000 && writer.send(chunk)) ++sent;  // 2000 chunks: far past any write bound the tests set
    probe.flood_stopped.set_value(sent < 2000 && context.stop.stop_requested());
  });
  service.add_server_stream("CountFail", [](const CallContext&, std::string_view request, StreamWriter& writer) {
    writer.send(std::string(request));
    throw shimcore::make_error(ErrorKind::NotFound, "stream {} gone", "s1");
  });
  registry->add(std::move(service));

  Service task_service("containerd.task.v3.Task");
  task_service.add_blocking<task::ConnectRequest, task::ConnectResponse>(
      "Connect", [](const CallContext&, const task::ConnectRequest& request) {
        if (request.id() == "missing")
          throw shimcore::make_error(ErrorKind::NotFound, "task {} not found", request.id());
        task::ConnectResponse response;
        response.set_shim_pid(42);
        response.set_task_pid(43);
        response.set_version("v3:" + request.id());
        return response;
      });
  registry->add(std::move(task_service));
  registry->add_alias("containerd.task.v2.Task", "containerd.task.v3.Task");
  return registry;
}

grpc::ByteBuffer to_buffer(std::string_view bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

// No Catch2 assertion here: it runs on the client threads of the concurrency test, and Catch2 is single-threaded.
std::string to_bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return "<undumpable ByteBuffer>";
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes;
}

RpcStatus from_grpc(const grpc::Status& status) {
  return {static_cast<StatusCode>(status.error_code()), status.error_message()};
}

void apply(grpc::ClientContext& context, const CallOptions& options) {
  if (options.timeout) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::duration_cast<std::chrono::system_clock::duration>(*options.timeout));
  }
  for (const auto& [key, value] : options.metadata) context.AddMetadata(key, value);
}

// A unary call through grpc's generic stub, the untyped twin of TtrpcClient::call.
class GrpcCall {
 public:
  GrpcCall(grpc::GenericStub& stub, std::string_view service, std::string_view method, std::string_view payload,
           const CallOptions& options = {})
      : request_(to_buffer(payload)) {
    apply(context_, options);
    stub.UnaryCall(&context_, fmt::format("/{}/{}", service, method), grpc::StubOptions(), &request_, &response_,
                   [this](grpc::Status status) { done_.set_value(std::move(status)); });
  }
  ~GrpcCall() {
    if (!result_) {
      context_.TryCancel();
      future_.wait();  // gRPC writes into this object until the callback has run
    }
  }
  GrpcCall(const GrpcCall&) = delete;
  GrpcCall& operator=(const GrpcCall&) = delete;

  bool ready_within(std::chrono::milliseconds timeout) {
    return future_.wait_for(timeout) == std::future_status::ready;
  }
  void cancel() { context_.TryCancel(); }
  const CallResult& result() {
    if (!result_) {
      const grpc::Status status = future_.get();
      result_ = CallResult{from_grpc(status), status.ok() ? to_bytes(response_) : std::string()};
    }
    return *result_;
  }

 private:
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::promise<grpc::Status> done_;
  std::shared_future<grpc::Status> future_ = done_.get_future().share();
  std::optional<CallResult> result_;
};

CallResult unary_over_grpc(grpc::GenericStub& stub, std::string_view service, std::string_view method,
                           std::string_view payload, const CallOptions& options = {}) {
  GrpcCall call(stub, service, method, payload, options);
  return call.result();
}

struct StreamResult {
  std::vector<std::string> messages;
  RpcStatus status;
};

// A server-streaming call through the generic stub: one request, then every message until the status.
StreamResult stream_over_grpc(grpc::GenericStub& stub, std::string_view service, std::string_view method,
                              std::string_view payload) {
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  const auto stream = stub.PrepareCall(&context, fmt::format("/{}/{}", service, method), &queue);
  int tags[4] = {};
  const auto step = [&](int* expected) {
    void* tag = nullptr;
    bool ok = false;
    REQUIRE(queue.Next(&tag, &ok));
    REQUIRE(tag == expected);
    return ok;
  };
  stream->StartCall(&tags[0]);
  step(&tags[0]);
  const grpc::ByteBuffer request = to_buffer(payload);
  stream->WriteLast(request, grpc::WriteOptions(), &tags[1]);
  step(&tags[1]);
  StreamResult result;
  for (;;) {
    grpc::ByteBuffer message;
    stream->Read(&message, &tags[2]);
    if (!step(&tags[2])) break;
    result.messages.push_back(to_bytes(message));
  }
  grpc::Status status;
  stream->Finish(&status, &tags[3]);
  step(&tags[3]);
  result.status = from_grpc(status);
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
  return result;
}

// The same call over ttrpc with a raw socket, since TtrpcClient makes unary calls only.
StreamResult stream_over_ttrpc(const std::string& socket_path, std::string_view service, std::string_view method,
                               std::string_view payload) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  const std::unique_ptr<const int, void (*)(const int*)> closer(&fd, [](const int* open) { ::close(*open); });
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socket_path.copy(address.sun_path, sizeof(address.sun_path) - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  const timeval receive_timeout{10, 0};
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof(receive_timeout)) == 0);
  ::ttrpc::Request request;
  request.set_service(std::string(service));
  request.set_method(std::string(method));
  request.set_payload(std::string(payload));
  const std::string frame =
      wire::encode_frame(1, wire::MessageType::Request, wire::kFlagRemoteClosed, request.SerializeAsString());
  REQUIRE(::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(frame.size()));
  wire::FrameDecoder decoder;
  StreamResult result;
  for (;;) {
    while (auto next = decoder.next()) {
      if (next->header.type == static_cast<std::uint8_t>(wire::MessageType::Data)) {
        if ((next->header.flags & wire::kFlagNoData) == 0) result.messages.push_back(next->data);
        if ((next->header.flags & wire::kFlagRemoteClosed) != 0) return result;
      } else {
        REQUIRE(next->header.type == static_cast<std::uint8_t>(wire::MessageType::Response));
        ::ttrpc::Response response;
        REQUIRE(response.ParseFromString(next->data));
        result.status = {static_cast<StatusCode>(response.status().code()), response.status().message()};
        return result;
      }
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    REQUIRE(n > 0);
    decoder.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
  }
}

std::shared_ptr<grpc::Channel> open_channel(const std::string& address) {
  return grpc::CreateChannel(grpc_unix_target(address), grpc::InsecureChannelCredentials());
}

// One registry served by both transports at once, with a client for each.
struct Fixture {
  TempDir dir;
  Probe probe;
  std::shared_ptr<ServiceRegistry> registry = make_registry(probe);
  std::string ttrpc_socket = (dir.path / "t.sock").string();
  std::string grpc_socket = (dir.path / "g.sock").string();
  TtrpcServer ttrpc_server{registry};
  GrpcServer grpc_server{registry};
  std::optional<TtrpcClient> ttrpc;
  std::shared_ptr<grpc::Channel> channel;
  std::optional<grpc::GenericStub> grpc;

  Fixture() {
    ttrpc_server.listen("unix://" + ttrpc_socket);
    ttrpc_server.start();
    grpc_server.listen(grpc_socket);  // bare path here, unix:// above: both forms are accepted
    grpc_server.start();
    ttrpc.emplace("unix://" + ttrpc_socket);
    channel = open_channel("unix://" + grpc_socket);
    grpc.emplace(channel);
  }
  ~Fixture() {
    probe.gate.open();
    grpc_server.shutdown(1s);
    ttrpc_server.shutdown(1s);
  }
};

}  // namespace

TEST_CASE("both transports give the same answers and status codes", "[grpc][parity]") {
  Fixture fixture;
  task::ConnectRequest connect;
  connect.set_id("c1");
  struct Case {
    std::string service;
    std::string method;
    std::string payload;
    StatusCode expected;
  };
  const std::vector<Case> cases = {
      {"test.v1.Probe", "Echo", std::string("\x00payload\xff", 9), StatusCode::Ok},
      {"test.v1.Probe", "Echo", "", StatusCode::Ok},
      {"test.v1.Probe", "Fail", "", StatusCode::NotFound},
      {"test.v1.Probe", "Throw", "", StatusCode::Unknown},
      {"test.v1.Probe", "Drop", "", StatusCode::Internal},
      {"test.v1.Probe", "Twice", "", StatusCode::Ok},
      {"test.v1.Probe", "Missing", "", StatusCode::Unimplemented},
      {"test.v1.Other", "Echo", "", StatusCode::Unimplemented},
      {"containerd.task.v3.Task", "Connect", connect.SerializeAsString(), StatusCode::Ok},
      {"containerd.task.v2.Task", "Connect", connect.SerializeAsString(), StatusCode::Ok},
      {"containerd.task.v3.Task", "Connect", std::string("\x0a\xff\xff", 3), StatusCode::InvalidArgument},
  };
  for (const Case& c : cases) {
    CAPTURE(c.service, c.method);
    const CallResult over_ttrpc = fixture.ttrpc->call(c.service, c.method, c.payload);
    const CallResult over_grpc = unary_over_grpc(*fixture.grpc, c.service, c.method, c.payload);
    CHECK(over_ttrpc.status.code == c.expected);
    CHECK(over_grpc.status.code == c.expected);
    CHECK(over_grpc.status.message == over_ttrpc.status.message);
    CHECK(over_grpc.payload == over_ttrpc.payload);
  }
  // The messages themselves, spot-checked once (they are equal across transports by the loop above).
  CHECK(unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Echo", std::string("\x00payload\xff", 9)).payload ==
        std::string("\x00payload\xff", 9));
  CHECK(unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Fail", "").status.message == "task t1 not found");
  CHECK(unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Throw", "").status.message == "plain exception");
  CHECK(unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Drop", "").status.message == "handler returned no answer");
  CHECK(unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Twice", "").payload == "first");
  CHECK(unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Missing", "").status.message == "method Missing");
  CHECK(unary_over_grpc(*fixture.grpc, "test.v1.Other", "Echo", "").status.message == "service test.v1.Other");
  CHECK(eventually([&] { return fixture.grpc_server.in_flight_calls() == 0; }));
}

TEST_CASE("a typed call through the generated containerd Task stub", "[grpc][typed]") {
  Fixture fixture;
  const auto stub = task::Task::NewStub(fixture.channel);
  {
    grpc::ClientContext context;
    task::ConnectRequest request;
    request.set_id("c1");
    task::ConnectResponse response;
    const grpc::Status status = stub->Connect(&context, request, &response);
    REQUIRE(status.ok());
    CHECK(response.shim_pid() == 42);
    CHECK(response.task_pid() == 43);
    CHECK(response.version() == "v3:c1");
    const auto over_ttrpc =
        fixture.ttrpc->call<task::ConnectResponse>("containerd.task.v3.Task", "Connect", request, {});
    CHECK(over_ttrpc.SerializeAsString() == response.SerializeAsString());
  }
  {
    grpc::ClientContext context;
    task::ConnectRequest request;
    request.set_id("missing");
    task::ConnectResponse response;
    const grpc::Status status = stub->Connect(&context, request, &response);
    CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(status.error_message() == "task missing not found");
  }
  {
    // Registered nowhere: the generated stub sees gRPC's usual answer for a method the server lacks.
    grpc::ClientContext context;
    google::protobuf::Empty response;
    const grpc::Status status = stub->Pause(&context, task::PauseRequest(), &response);
    CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
    CHECK(status.error_message() == "method Pause");
  }
}

TEST_CASE("metadata and deadlines reach the handler on both transports", "[grpc][parity]") {
  Fixture fixture;
  SECTION("the containerd namespace, under each transport's own key") {
    const CallResult over_ttrpc =
        fixture.ttrpc->call("test.v1.Probe", "Namespace", "", {{}, {{"containerd-namespace-ttrpc", "k8s.io"}}});
    const CallResult over_grpc =
        unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Namespace", "", {{}, {{"containerd-namespace", "k8s.io"}}});
    CHECK(over_ttrpc.payload == "k8s.io");
    CHECK(over_grpc.payload == "k8s.io");
    CHECK(unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Namespace", "").payload.empty());
  }
  SECTION("the caller's deadline") {
    // The deadline each handler sees is the caller's timeout from some instant inside the call, so it lies between
    // the timeout after the clock reading before the call and the timeout after the one behind it, however slow the
    // machine. ttrpc sends the timeout in nanoseconds and the server starts it on arrival: exact. gRPC's grpc-timeout
    // header rounds the time left up, to 10 ms between 1 and 10 s, and gRPC keeps its clocks in whole milliseconds
    // and converts between the system and steady clocks: kGrpcRounding covers that encoding, not any delay.
    constexpr auto kGrpcRounding = 20ms;
    const auto check_deadline = [](const std::function<CallResult()>& call, std::chrono::milliseconds rounding) {
      const auto before = std::chrono::steady_clock::now();
      const CallResult result = call();
      const auto after = std::chrono::steady_clock::now();
      REQUIRE(result.status.ok());
      const auto deadline = shimcore::testing::deadline_of(result.payload);
      CHECK(deadline >= before + 3s - rounding);
      CHECK(deadline <= after + 3s + rounding);
    };
    const auto over_ttrpc = [&] { return fixture.ttrpc->call("test.v1.Probe", "Deadline", "", {3s, {}}); };
    const auto over_grpc = [&] { return unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Deadline", "", {3s, {}}); };
    check_deadline(over_ttrpc, 0ms);
    check_deadline(over_grpc, kGrpcRounding);
    CHECK(fixture.ttrpc->call("test.v1.Probe", "Deadline", "").payload == "none");
    CHECK(unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Deadline", "").payload == "none");
  }
}

TEST_CASE("a blocked gRPC call does not delay a second one", "[grpc][server]") {
  Fixture fixture;
  GrpcCall blocked(*fixture.grpc, "test.v1.Probe", "Block", "");
  REQUIRE(eventually([&] { return fixture.probe.blocked.load() == 1; }));
  const CallResult second = unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Echo", "second", {2s, {}});
  CHECK(second.status.ok());
  CHECK(second.payload == "second");
  CHECK_FALSE(blocked.ready_within(0ms));  // answered out of order
  CHECK(fixture.grpc_server.in_flight_calls() == 1);
  fixture.probe.gate.open();
  CHECK(blocked.result().status.ok());
  CHECK(blocked.result().payload == "released");
  CHECK(eventually([&] { return fixture.grpc_server.in_flight_calls() == 0; }));
}

TEST_CASE("many concurrent gRPC calls from many threads are all answered correctly", "[grpc][server]") {
  Fixture fixture;
  std::vector<std::future<bool>> results;
  for (int thread = 0; thread < 8; ++thread) {
    results.push_back(std::async(std::launch::async, [&fixture, thread] {
      for (int i = 0; i < 100; ++i) {
        const std::string payload = std::to_string(thread) + ":" + std::to_string(i);
        GrpcCall call(*fixture.grpc, "test.v1.Probe", "Echo", payload);
        const CallResult& result = call.result();
        if (!result.status.ok() || result.payload != payload) return false;
      }
      return true;
    }));
  }
  for (auto& result : results) CHECK(result.get());
}

TEST_CASE("a gRPC call's stop token fires on client cancel and on its deadline", "[grpc][server]") {
  Fixture fixture;
  SECTION("the client cancels") {
    GrpcCall call(*fixture.grpc, "test.v1.Probe", "Block", "");
    REQUIRE(eventually([&] { return fixture.probe.blocked.load() == 1; }));
    call.cancel();
    CHECK(call.result().status.code == StatusCode::Canceled);
  }
  SECTION("the deadline passes") {
    const CallResult result = unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Block", "", {150ms, {}});
    CHECK(result.status.code == StatusCode::DeadlineExceeded);
  }
  auto outcome = fixture.probe.block_outcome.get_future();
  REQUIRE(outcome.wait_for(5s) == std::future_status::ready);
  CHECK_FALSE(outcome.get());
  CHECK(eventually([&] { return fixture.grpc_server.in_flight_calls() == 0; }));
  CHECK(unary_over_grpc(*fixture.grpc, "test.v1.Probe", "Echo", "still usable").payload == "still usable");
}

TEST_CASE("a handler may keep its responder and answer later from another thread", "[grpc][parity]") {
  Fixture fixture;
  auto over_ttrpc = std::async(std::launch::async, [&] { return fixture.ttrpc->call("test.v1.Probe", "Keep", ""); });
  GrpcCall over_grpc(*fixture.grpc, "test.v1.Probe", "Keep", "");
  REQUIRE(eventually([&] {
    const std::lock_guard lock(fixture.probe.kept_mutex);
    return fixture.probe.kept.size() == 2;
  }));
  CHECK(fixture.grpc_server.in_flight_calls() == 1);
  std::vector<ResponderPtr> kept;
  {
    const std::lock_guard lock(fixture.probe.kept_mutex);
    kept.swap(fixture.probe.kept);
  }
  for (const ResponderPtr& responder : kept) responder->reply("later");
  CHECK(over_ttrpc.get().payload == "later");
  CHECK(over_grpc.result().payload == "later");
  CHECK(fixture.grpc_server.in_flight_calls() == 0);

  // Dropped later without an answer: the last reference going away answers Internal on both transports.
  auto dropped_ttrpc = std::async(std::launch::async, [&] { return fixture.ttrpc->call("test.v1.Probe", "Keep", ""); });
  GrpcCall dropped_grpc(*fixture.grpc, "test.v1.Probe", "Keep", "");
  REQUIRE(eventually([&] {
    const std::lock_guard lock(fixture.probe.kept_mutex);
    return fixture.probe.kept.size() == 2;
  }));
  {
    const std::lock_guard lock(fixture.probe.kept_mutex);
    fixture.probe.kept.clear();
  }
  const CallResult dropped_over_ttrpc = dropped_ttrpc.get();
  CHECK(dropped_over_ttrpc.status.code == StatusCode::Internal);
  CHECK(dropped_grpc.result().status.code == StatusCode::Internal);
  CHECK(dropped_grpc.result().status.message == dropped_over_ttrpc.status.message);
}

TEST_CASE("a gRPC stream whose client does not read is cancelled once its writes pile up", "[grpc][server]") {
  TempDir dir;
  Probe probe;
  const std::string socket = (dir.path / "f.sock").string();
  GrpcServerOptions options;
  options.max_pending_write_bytes = 256 * 1024;
  GrpcServer server(make_registry(probe), options);
  server.listen(socket);
  server.start();
  grpc::GenericStub stub(open_channel(socket));
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  const auto stream = stub.PrepareCall(&context, "/test.v1.Probe/Flood", &queue);
  int tags[3] = {};
  const auto step = [&](int* expected) {
    void* tag = nullptr;
    bool ok = false;
    REQUIRE(queue.Next(&tag, &ok));
    REQUIRE(tag == expected);
    return ok;
  };
  stream->StartCall(&tags[0]);
  step(&tags[0]);
  const grpc::ByteBuffer request = to_buffer("");
  stream->WriteLast(request, grpc::WriteOptions(), &tags[1]);
  step(&tags[1]);
  // The client never reads: the handler's send() must be refused and its stop token requested.
  auto flood_stopped = probe.flood_stopped.get_future();
  REQUIRE(flood_stopped.wait_for(20s) == std::future_status::ready);
  CHECK(flood_stopped.get());
  // Reading now drains what the transport buffered, then ends with the server's error instead of OK.
  int read = 0;
  for (; read < 4000; ++read) {
    grpc::ByteBuffer message;
    stream->Read(&message, &tags[1]);
    if (!step(&tags[1])) break;
  }
  CHECK(read < 2000);
  grpc::Status status;
  stream->Finish(&status, &tags[2]);
  step(&tags[2]);
  CHECK_FALSE(status.ok());
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
  CHECK(eventually([&] { return server.in_flight_calls() == 0; }));
  CHECK(unary_over_grpc(stub, "test.v1.Probe", "Echo", "after").payload == "after");
}

TEST_CASE("server streaming: one gRPC message per send, then the status", "[grpc][parity]") {
  Fixture fixture;
  const StreamResult counted = stream_over_grpc(*fixture.grpc, "test.v1.Probe", "Count", "n");
  CHECK(counted.messages == std::vector<std::string>{"n1", "n2", "n3"});
  CHECK(counted.status.ok());
  const StreamResult counted_ttrpc = stream_over_ttrpc(fixture.ttrpc_socket, "test.v1.Probe", "Count", "n");
  CHECK(counted_ttrpc.messages == counted.messages);
  CHECK(counted_ttrpc.status.ok());

  const StreamResult failed = stream_over_grpc(*fixture.grpc, "test.v1.Probe", "CountFail", "a");
  CHECK(failed.messages == std::vector<std::string>{"a"});
  CHECK(failed.status.code == StatusCode::NotFound);
  CHECK(failed.status.message == "stream s1 gone");
  const StreamResult failed_ttrpc = stream_over_ttrpc(fixture.ttrpc_socket, "test.v1.Probe", "CountFail", "a");
  CHECK(failed_ttrpc.messages == failed.messages);
  CHECK(failed_ttrpc.status.code == failed.status.code);
  CHECK(failed_ttrpc.status.message == failed.status.message);
  CHECK(eventually([&] { return fixture.grpc_server.in_flight_calls() == 0; }));
}

TEST_CASE("graceful gRPC shutdown lets an in-flight call finish, then removes the socket", "[grpc][server]") {
  TempDir dir;
  Probe probe;
  const std::string socket = (dir.path / "g.sock").string();
  GrpcServer server(make_registry(probe));
  server.listen("unix://" + socket);
  server.start();
  grpc::GenericStub stub(open_channel(socket));
  GrpcCall call(stub, "test.v1.Probe", "Block", "");
  REQUIRE(eventually([&] { return probe.blocked.load() == 1; }));
  // A long grace: shutdown must return when the call is done, not when the grace runs out.
  auto stopping = std::async(std::launch::async, [&] { server.shutdown(60s); });
  CHECK(eventually([&] { return !fs::exists(socket); }));        // no longer accepting
  CHECK(stopping.wait_for(0ms) == std::future_status::timeout);  // the gate is closed: still waiting for the call
  CHECK(server.in_flight_calls() == 1);
  probe.gate.open();
  CHECK(call.result().status.ok());
  CHECK(call.result().payload == "released");
  CHECK(stopping.wait_for(20s) == std::future_status::ready);
  CHECK(server.in_flight_calls() == 0);
  CHECK(unary_over_grpc(stub, "test.v1.Probe", "Echo", "", {2s, {}}).status.code == StatusCode::Unavailable);
  server.shutdown(1s);  // idempotent
}

TEST_CASE("gRPC shutdown past its grace cancels the calls still running", "[grpc][server]") {
  TempDir dir;
  Probe probe;
  const std::string socket = (dir.path / "c.sock").string();
  GrpcServer server(make_registry(probe));
  server.listen(socket);
  server.start();
  grpc::GenericStub stub(open_channel(socket));
  GrpcCall call(stub, "test.v1.Probe", "Block", "");
  REQUIRE(eventually([&] { return probe.blocked.load() == 1; }));
  server.shutdown(100ms);
  auto outcome = probe.block_outcome.get_future();
  REQUIRE(outcome.wait_for(5s) == std::future_status::ready);
  CHECK_FALSE(outcome.get());
  CHECK(call.result().status.code == StatusCode::Unavailable);
  CHECK(server.in_flight_calls() == 0);
}

TEST_CASE("the gRPC socket: mode 0600, stale files replaced, live ones refused, bad addresses", "[grpc][server]") {
  TempDir dir;
  Probe probe;
  const std::string socket = (dir.path / "m.sock").string();
  {
    GrpcServer first(make_registry(probe));
    first.listen("unix://" + socket);
    first.start();
    struct stat info {};
    REQUIRE(::stat(socket.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    GrpcServer second(make_registry(probe));
    try {
      second.listen(socket);
      FAIL("listened twice");
    } catch (const shimcore::Error& error) {
      CHECK(error.kind() == ErrorKind::AlreadyExists);
    }
    CHECK_THROWS_AS(first.start(), shimcore::Error);
  }
  CHECK_FALSE(fs::exists(socket));
  // A socket file left behind by a dead server (bound, never unlinked):
  const int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socket.copy(address.sun_path, sizeof(address.sun_path) - 1);
  REQUIRE(::bind(stale, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  ::close(stale);
  GrpcServer third(make_registry(probe));
  third.listen("unix://" + socket);
  third.start();
  grpc::GenericStub stub(open_channel(socket));
  CHECK(unary_over_grpc(stub, "test.v1.Probe", "Echo", "x").payload == "x");
  third.shutdown();

  for (const std::string& bad : {std::string("tcp://1.2.3.4:5"), std::string("relative.sock"),
                                 "unix://" + std::string(120, 'a'), std::string(R"(\\.\pipe\containerd-shim)")}) {
    CAPTURE(bad);
    GrpcServer server(make_registry(probe));
    try {
      server.listen(bad);
      FAIL("accepted");
    } catch (const shimcore::Error& error) {
      CHECK(error.kind() == ErrorKind::InvalidArgument);
    }
  }
  GrpcServer unbindable(make_registry(probe));
  unbindable.listen((dir.path / "missing" / "s.sock").string());  // gRPC binds only in start()
  try {
    unbindable.start();
    FAIL("bound in a missing folder");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == ErrorKind::Unavailable);
  }
  GrpcServer idle(make_registry(probe));
  try {
    idle.start();
    FAIL("started without a listener");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == ErrorKind::FailedPrecondition);
  }
  idle.shutdown();
  idle.shutdown();
}

namespace {

// A stand-in for containerd's Events service: records what Publish receives.
struct EventSink {
  std::mutex mutex;
  std::vector<std::pair<std::string, events::PublishRequest>> published;  // namespace, request

  std::shared_ptr<ServiceRegistry> registry() {
    auto registry = std::make_shared<ServiceRegistry>();
    Service service("containerd.services.events.v1.Events");
    service.add_blocking<events::PublishRequest, google::protobuf::Empty>(
        "Publish", [this](const CallContext& context, const events::PublishRequest& request) {
          if (request.topic() == "/refused") throw shimcore::make_error(ErrorKind::NotFound, "no such topic");
          const std::lock_guard lock(mutex);
          published.emplace_back(std::string(context.namespace_name()), request);
          return google::protobuf::Empty();
        });
    registry->add(std::move(service));
    return registry;
  }
};

}  // namespace

TEST_CASE("publish_event_grpc calls Events/Publish with the namespace in the metadata", "[grpc][events]") {
  TempDir dir;
  EventSink sink;
  const std::string socket = (dir.path / "containerd.sock").string();
  GrpcServer server(sink.registry());
  server.listen("unix://" + socket);
  server.start();

  containerd::events::TaskExit exit;
  exit.set_container_id("c1");
  exit.set_id("c1");
  exit.set_pid(4242);
  exit.set_exit_status(137);
  google::protobuf::Any event;
  event.set_type_url("types.containerd.io/containerd.events.TaskExit");
  event.set_value(exit.SerializeAsString());

  publish_event_grpc(socket, "k8s.io", "/tasks/exit", event, 5s);
  publish_event_grpc("unix://" + socket, "default", "/tasks/exit", event, 5s);
  {
    const std::lock_guard lock(sink.mutex);
    REQUIRE(sink.published.size() == 2);
    const auto& [ns, request] = sink.published.front();
    CHECK(ns == "k8s.io");
    CHECK(request.topic() == "/tasks/exit");
    CHECK(request.event().type_url() == "types.containerd.io/containerd.events.TaskExit");
    CHECK(request.event().value() == exit.SerializeAsString());
    CHECK(sink.published.back().first == "default");
  }

  try {
    publish_event_grpc(socket, "k8s.io", "/refused", event, 5s);
    FAIL("published");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == ErrorKind::NotFound);
  }
  server.shutdown();

  try {
    publish_event_grpc(socket, "k8s.io", "/tasks/exit", event, 2s);  // nothing listens any more
    FAIL("published");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == ErrorKind::Unavailable);
  }
  CHECK_THROWS_AS(publish_event_grpc("tcp://127.0.0.1:1", "k8s.io", "/tasks/exit", event, 1s), shimcore::Error);
}
