// GuestConnection over the Unix-socket transport against a scripted guest that dials like hcsshim's GCS: the
// bridge port first, then one socket per stdio port it is given (hcs-api-and-schema.md §C.6, §C.7, §E.6).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "shimcore/gcs/guest_connection.h"

using namespace shimcore;
using namespace shimcore::gcs;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

namespace {

hcs::OsHandle dial(const std::filesystem::path& path) {
  hcs::OsHandle fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.string().copy(address.sun_path, sizeof(address.sun_path) - 1);
  REQUIRE(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
  return fd;
}

std::string read_all(int fd) {
  std::string out;
  char buffer[512];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) out.append(buffer, static_cast<std::size_t>(n));
  return out;
}

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/shimcore-gcs-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

// The guest side: dials the bridge, answers each request with `answer`, and may send extra messages.
class ScriptedGuest {
 public:
  explicit ScriptedGuest(const std::filesystem::path& dir) : dir_(dir) {}
  void connect() { fd_ = dial(dir_ / std::to_string(kBridgePort)); }
  Message receive() {
    for (;;) {
      if (auto message = decoder_.next()) return *message;
      char buffer[4096];
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
      if (n <= 0) throw std::runtime_error("host closed");
      decoder_.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
    }
  }
  void reply(const Message& request, const std::string& body) {
    send(encode_message(response_type(*rpc_of(request.header.type)), request.header.id, body, BodyEnding::None));
  }
  void send(const std::string& bytes) { ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL); }
  hcs::OsHandle dial_port(std::uint32_t port) { return dial(dir_ / std::to_string(port)); }
  void close() { fd_.reset(); }

 private:
  std::filesystem::path dir_;
  hcs::OsHandle fd_;
  MessageDecoder decoder_{kGuestMaxMessageSize};
};

const std::string kNegotiated = encode_body(NegotiateProtocolResponse{{}, 4, GcsCapabilities::linux_guest()});

}  // namespace

TEST_CASE("guest connection: negotiate, create, exec with stdio ports, wait, exit notification") {
  TempDir dir;
  auto transport = make_unix_port_transport(dir.path.string());
  auto bridge_listener = transport->listen(kBridgePort);
  ScriptedGuest guest(dir.path);

  std::promise<std::string> exit_type;
  auto guest_side = std::async(std::launch::async, [&] {
    guest.connect();
    const Message negotiate = guest.receive();
    REQUIRE(negotiate.header.type == static_cast<std::uint32_t>(Rpc::NegotiateProtocol));
    auto request = decode<NegotiateProtocolRequest>(negotiate.body);
    CHECK(request.minimum_version == 4);
    CHECK(request.maximum_version == 4);
    CHECK(request.base.container_id == kNullContainerId);
    guest.reply(negotiate, kNegotiated);

    const Message create = guest.receive();
    auto create_request = decode<CreateRequest>(create.body);
    CHECK(create_request.base.container_id == "c1");
    CHECK(create_request.container_config["OciBundlePath"] == "/run/gcs/c/c1");
    guest.reply(create, R"({"Result":0})");

    const Message exec = guest.receive();
    auto exec_request = decode<ExecuteProcessRequest>(exec.body);
    // Ports count up from 0x40000001 in stdin, stdout, stderr order, only for the pipes asked for.
    CHECK(exec_request.stdio.stdin_port == 0);
    CHECK(exec_request.stdio.stdout_port == kFirstStdioPort);
    CHECK(exec_request.stdio.stderr_port == kFirstStdioPort + 1);
    {
      auto out = guest.dial_port(exec_request.stdio.stdout_port);
      auto err = guest.dial_port(exec_request.stdio.stderr_port);
      guest.reply(exec, R"({"Result":0,"ProcessId":42})");
      REQUIRE(::write(out.get(), "hello\n", 6) == 6);
      REQUIRE(::write(err.get(), "oops", 4) == 4);
    }
    const Message wait = guest.receive();
    auto wait_request = decode<WaitForProcessRequest>(wait.body);
    CHECK(wait_request.process_id == 42);
    CHECK(wait_request.timeout_ms == kInfiniteTimeout);
    guest.reply(wait, R"({"Result":0,"ExitCode":4})");
    guest.send(encode_message(kContainerNotification, 0,
                              R"({"ContainerId":"c1","Type":"UnexpectedExit","Operation":"None","Result":0})",
                              BodyEnding::None));
    // Second exec: a port is never reused.
    const Message exec2 = guest.receive();
    CHECK(decode<ExecuteProcessRequest>(exec2.body).stdio.stdout_port == kFirstStdioPort + 2);
    guest.reply(exec2, R"({"Result":-2147024809,"ErrorMessage":"runc exec: executable file not found"})");
  });

  auto connection = GuestConnection::connect(*transport, *bridge_listener, 10s, {});
  CHECK(connection->protocol_version() == 4);
  CHECK(connection->capabilities().runtime_os_type == "Linux");
  connection->create_container("c1", {{"OciBundlePath", "/run/gcs/c/c1"}},
                               [&](const ContainerNotification& n) { exit_type.set_value(n.type); });
  ProcessParameters parameters;
  parameters.create_stdout_pipe = true;
  parameters.create_stderr_pipe = true;
  auto process = connection->execute_process("c1", parameters);
  CHECK(process->pid() == 42);
  auto stdio = process->take_stdio();
  CHECK_FALSE(stdio.std_in.valid());
  CHECK(read_all(stdio.std_out.get()) == "hello\n");
  CHECK(read_all(stdio.std_err.get()) == "oops");
  CHECK(process->wait(10s) == 4);
  auto notified = exit_type.get_future();
  REQUIRE(notified.wait_for(10s) == std::future_status::ready);
  CHECK(notified.get() == "UnexpectedExit");

  parameters.create_stderr_pipe = false;
  try {
    connection->execute_process("c1", parameters);
    FAIL("no error");
  } catch (const GuestError& e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    CHECK_THAT(e.what(), ContainsSubstring("executable file not found"));
  }
  guest_side.get();
  // The listener of the failed exec's port is gone with it.
  CHECK_FALSE(std::filesystem::exists(dir.path / std::to_string(kFirstStdioPort + 2)));
  CHECK_FALSE(connection->closed());
}

TEST_CASE("guest connection: a guest that never dials, or offers another version, fails the connect") {
  TempDir dir;
  auto transport = make_unix_port_transport(dir.path.string());
  auto bridge_listener = transport->listen(kBridgePort);
  SECTION("never dials") {
    try {
      GuestConnection::connect(*transport, *bridge_listener, 100ms, {});
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::DeadlineExceeded);
    }
  }
  SECTION("version 3") {
    ScriptedGuest guest(dir.path);
    auto guest_side = std::async(std::launch::async, [&] {
      guest.connect();
      guest.reply(guest.receive(), encode_body(NegotiateProtocolResponse{{}, 3, {}}));
    });
    try {
      GuestConnection::connect(*transport, *bridge_listener, 10s, {});
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::FailedPrecondition);
      CHECK_THAT(e.what(), ContainsSubstring("protocol 3"));
    }
    guest_side.get();
  }
  SECTION("a port already listened on") { CHECK_THROWS_AS(transport->listen(kBridgePort), Error); }
}

TEST_CASE("guest connection: the guest dying fails the pending wait with Unavailable; null-id shutdown") {
  TempDir dir;
  auto transport = make_unix_port_transport(dir.path.string());
  auto bridge_listener = transport->listen(kBridgePort);
  ScriptedGuest guest(dir.path);
  std::promise<void> hang_up;
  auto guest_side = std::async(std::launch::async, [&] {
    guest.connect();
    guest.reply(guest.receive(), kNegotiated);
    const Message exec = guest.receive();
    guest.reply(exec, R"({"Result":0,"ProcessId":7})");
    guest.receive();  // WaitForProcess: never answered
    hang_up.get_future().wait();
    guest.close();
  });
  std::promise<std::string> closed;
  GuestConnectionOptions options;
  options.on_closed = [&](const std::string& reason) { closed.set_value(reason); };
  auto connection = GuestConnection::connect(*transport, *bridge_listener, 10s, options);
  auto process = connection->execute_process(std::string(kNullContainerId), {});
  CHECK_THROWS_AS(process->wait(50ms), Error);  // still running; the wait goes on
  CHECK_FALSE(process->exited());
  hang_up.set_value();
  try {
    process->wait(10s);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Unavailable);
  }
  guest_side.get();
  CHECK(closed.get_future().get() == "the guest closed the bridge");
  CHECK(connection->shutdown_vm(true, 1s));  // already gone: nothing to send
  CHECK_THROWS_AS(connection->dump_stacks(), Error);
}
