// shimcore-gcs against a host played by the test: raw bridge messages over the emulator's Unix sockets, busybox
// containers run by runc on an overlay of a Plan9-shared layer, stdio bytes and exit codes checked end to end.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "guest_host.h"
#include "shimcore/gcs/messages.h"
#include "shimcore/gcs/protocol.h"

using namespace shimcore;
using namespace shimcore::testing;
using Catch::Matchers::ContainsSubstring;
using nlohmann::json;
namespace fs = std::filesystem;
namespace we = gcs::wire_error;

namespace {

constexpr const char* kActivity = "11111111-2222-3333-4444-555555555555";

json base(const std::string& id) { return {{"ContainerId", id}, {"ActivityId", kActivity}}; }

std::int32_t hr(std::uint32_t value) { return static_cast<std::int32_t>(value); }

json wait_body(const std::string& id, std::uint32_t pid, std::uint32_t timeout = gcs::kInfiniteTimeout) {
  json body = base(id);
  body["ProcessId"] = pid;
  body["TimeoutInMs"] = timeout;
  return body;
}

json signal_body(const std::string& id, std::uint32_t pid, int signal) {
  json body = base(id);
  body["ProcessId"] = pid;
  body["Options"] = {{"Signal", signal}};
  return body;
}

// Starts the container's init with the given ports; returns its pid.
std::uint32_t start_init(GuestHost& host, const std::string& id, std::uint32_t in, std::uint32_t out, std::uint32_t err,
                         bool console = false) {
  json parameters = {{"CreateStdInPipe", in != 0}, {"CreateStdOutPipe", out != 0}, {"CreateStdErrPipe", err != 0}};
  if (console) parameters["EmulateConsole"] = true;
  const json reply = host.call(gcs::Rpc::ExecuteProcess, host.exec_body(id, parameters, in, out, err));
  INFO(reply.dump() << "\n" << host.agent_log());
  REQUIRE(reply.value("Result", -1) == 0);
  REQUIRE(reply.value("ProcessId", 0) > 0);
  return reply["ProcessId"].get<std::uint32_t>();
}

// Starts the container's init with stdout on a port and returns all it wrote once it has exited.
std::string init_output(GuestHost& host, const std::string& id) {
  const std::uint32_t out = host.listen_port();
  const std::uint64_t exec_id = host.send(static_cast<std::uint32_t>(gcs::Rpc::ExecuteProcess),
                                          host.exec_body(id, {{"CreateStdOutPipe", true}}, 0, out, 0));
  const int out_fd = host.accept_port(out);
  REQUIRE(out_fd >= 0);
  const auto reply = host.response(exec_id);
  INFO(host.agent_log());
  REQUIRE(reply);
  REQUIRE((*reply)["Result"] == 0);
  const json waited = host.call(gcs::Rpc::WaitForProcess, wait_body(id, (*reply)["ProcessId"].get<std::uint32_t>()));
  const std::string output = read_stream(out_fd);
  ::close(out_fd);
  CHECK(waited["ExitCode"] == 0);
  return output;
}

}  // namespace

TEST_CASE("guest: NegotiateProtocol gates every other request and announces the Linux capabilities", "[guest][unit]") {
  GuestHost host;
  // Before negotiation only NegotiateProtocol is dispatched.
  const json early = host.call(gcs::Rpc::Create, {{"ContainerId", "c1"}, {"ContainerConfig", "{}"}});
  CHECK(early["Result"] == hr(we::kNotImplemented));
  CHECK_THAT(early.value("ErrorMessage", ""), ContainsSubstring("NegotiateProtocol"));

  const json too_old =
      host.call(gcs::Rpc::NegotiateProtocol,
                {{"ContainerId", gcs::kNullContainerId}, {"MinimumVersion", 3}, {"MaximumVersion", 3}});
  CHECK(too_old["Result"] == hr(we::kUnsupportedProtocolVersion));

  const json reply = host.call(gcs::Rpc::NegotiateProtocol,
                               {{"ContainerId", gcs::kNullContainerId}, {"MinimumVersion", 4}, {"MaximumVersion", 5}});
  CHECK(reply["Result"] == 0);
  CHECK(reply["Version"] == 4);
  CHECK(reply["Capabilities"] == json::parse(R"({"SupportedSchemaVersions":[{"Major":2,"Minor":1}],
      "RuntimeOsType":"Linux","GuestDefinedCapabilities":{"NamespaceAddRequestSupported":true,
      "SignalProcessSupported":true,"DumpStacksSupported":true,"DeleteContainerStateSupported":true}})"));

  // An unknown request id gets E_NOTIMPL with its own response type.
  const std::uint64_t unknown = host.send(0x10107701, base(std::string(gcs::kNullContainerId)));
  const auto unknown_reply = host.response(unknown);
  REQUIRE(unknown_reply);
  CHECK((*unknown_reply)["Result"] == hr(we::kNotImplemented));
  CHECK(host.response_type_of(unknown) == 0x20107701u);

  // A body that is not JSON is answered with 0xC037010D and the connection stays up.
  const std::uint64_t bad = static_cast<std::uint64_t>(1000);
  host.send_raw(
      gcs::encode_message(static_cast<std::uint32_t>(gcs::Rpc::Create), bad, "{not json", gcs::BodyEnding::Newline));
  const auto bad_reply = host.response(bad);
  REQUIRE(bad_reply);
  CHECK((*bad_reply)["Result"] == hr(we::kInvalidJson));
  CHECK_FALSE((*bad_reply).value("ErrorMessage", "").empty());
  // Create with an old schema, and a bundle outside the state root.
  const json old_schema = host.call(
      gcs::Rpc::Create,
      {{"ContainerId", "c1"}, {"ContainerConfig", R"({"SchemaVersion":{"Major":2,"Minor":0},"OciBundlePath":"/x"})"}});
  CHECK(old_schema["Result"] == hr(we::kInvalidJson));
  const json outside = host.call(
      gcs::Rpc::Create,
      {{"ContainerId", "c1"},
       {"ContainerConfig",
        R"({"SchemaVersion":{"Major":2,"Minor":1},"OciBundlePath":"/tmp/elsewhere","OciSpecification":{"process":{}}})"}});
  CHECK(outside["Result"] == hr(we::kInvalidArgument));
  // The null container's Create (hcsshim sends it to WCOW only) just succeeds.
  const json null_create = host.call(
      gcs::Rpc::Create, {{"ContainerId", gcs::kNullContainerId}, {"ContainerConfig", R"({"SystemType":"Container"})"}});
  CHECK(null_create["Result"] == 0);
  // DumpStacks lists the agent's threads.
  const json stacks = host.call(gcs::Rpc::DumpStacks, base(std::string(gcs::kNullContainerId)));
  CHECK(stacks["Result"] == 0);
  CHECK_THAT(stacks.value("GuestStacks", ""), ContainsSubstring("thread "));
}

TEST_CASE("guest: container init gives its output and exit code in its own pid namespace then an exit notification",
          "[guest][unit]") {
  GuestHost host;
  host.negotiate();
  host.create_container("init1", {"sh", "-c", "echo x; readlink /proc/self/ns/pid; exit 4"});
  // The config.json the guest wrote: cgroups path under the parent, no hooks, the missing netns path dropped.
  const json written = json::parse(std::ifstream(host.gcs_root() + "/c/init1/config.json"));
  CHECK(written["linux"]["cgroupsPath"] == "/shimcore-test-" + std::to_string(::getpid()) + "/init1");
  CHECK_FALSE(written.contains("hooks"));
  CHECK_FALSE(written["linux"]["namespaces"][4].contains("path"));

  const std::uint32_t out = host.listen_port();
  const std::uint64_t exec_id = host.send(static_cast<std::uint32_t>(gcs::Rpc::ExecuteProcess),
                                          host.exec_body("init1", {{"CreateStdOutPipe", true}}, 0, out, 0));
  const int out_fd = host.accept_port(out);
  REQUIRE(out_fd >= 0);
  const auto exec_reply = host.response(exec_id);
  INFO(host.agent_log());
  REQUIRE(exec_reply);
  REQUIRE((*exec_reply)["Result"] == 0);
  const std::uint32_t pid = (*exec_reply)["ProcessId"];
  const std::uint64_t wait_id =
      host.send(static_cast<std::uint32_t>(gcs::Rpc::WaitForProcess), wait_body("init1", pid));
  const auto wait_reply = host.response(wait_id);
  REQUIRE(wait_reply);
  const json waited = *wait_reply;
  const std::string output = read_stream(out_fd);
  ::close(out_fd);
  CHECK(waited["Result"] == 0);
  CHECK(waited["ExitCode"] == 4);
  const std::string own_ns = fs::read_symlink("/proc/self/ns/pid").string();
  REQUIRE(output.starts_with("x\npid:["));
  CHECK(output.substr(2) != own_ns + "\n");

  const auto notification = host.notification();
  REQUIRE(notification);
  CHECK((*notification)["ContainerId"] == "init1");
  CHECK((*notification)["ActivityId"] == kActivity);
  CHECK((*notification)["Type"] == "UnexpectedExit");
  CHECK((*notification)["Operation"] == "None");
  CHECK((*notification)["Result"] == 0);
  // No order between the wait's answer and the notification is asserted: an init that exits before the host's
  // WaitForProcess reaches the guest has its notification sent first (hcsshim's GCS has the same race; the host takes
  // the exit code from the wait, not from the notification). It failed 1 run in ~20 under load.

  // Waiting again still answers; the exited pid cannot be signalled; an unknown pid is not found.
  CHECK(host.call(gcs::Rpc::WaitForProcess, wait_body("init1", pid))["ExitCode"] == 4);
  CHECK(host.call(gcs::Rpc::SignalProcess, signal_body("init1", pid, SIGKILL))["Result"] == hr(we::kNotFound));
  CHECK(host.call(gcs::Rpc::WaitForProcess, wait_body("init1", 999999))["Result"] == hr(we::kNotFound));
  // A second init start is a wrong state move.
  const json again = host.call(gcs::Rpc::ExecuteProcess, host.exec_body("init1", json::object(), 0, 0, 0));
  CHECK(again["Result"] == hr(we::kInvalidState));
  CHECK_THAT(again.value("ErrorMessage", ""), ContainsSubstring("Stopped"));

  // Delete removes the bundle (rootfs overlay unmounted first); a second delete finds nothing.
  CHECK(host.call(gcs::Rpc::DeleteContainerState, base("init1"))["Result"] == 0);
  CHECK_FALSE(fs::exists(host.gcs_root() + "/c/init1"));
  CHECK(host.call(gcs::Rpc::DeleteContainerState, base("init1"))["Result"] == hr(we::kSystemNotFound));
}

TEST_CASE("guest: exec into a running container and its properties then SIGKILL gives ForcedExit", "[guest][unit]") {
  GuestHost host;
  host.negotiate();
  host.create_container("run1", {"sleep", "30"});
  const std::uint32_t init = start_init(host, "run1", 0, 0, 0);
  // Deleting a running container is refused, naming its state.
  const json early_delete = host.call(gcs::Rpc::DeleteContainerState, base("run1"));
  CHECK(early_delete["Result"] == hr(we::kInvalidState));
  CHECK_THAT(early_delete.value("ErrorMessage", ""), ContainsSubstring("Running"));

  const std::uint32_t out = host.listen_port();
  const std::uint32_t err = host.listen_port();
  const json process = {{"args", {"sh", "-c", "echo hello from exec; echo oops >&2; exit 3"}},
                        {"cwd", "/"},
                        {"env", {"PATH=/bin"}},
                        {"user", {{"uid", 0}, {"gid", 0}}}};
  const std::uint64_t exec_id = host.send(
      static_cast<std::uint32_t>(gcs::Rpc::ExecuteProcess),
      host.exec_body("run1", {{"CreateStdOutPipe", true}, {"CreateStdErrPipe", true}, {"OciProcess", process}}, 0, out,
                     err));
  const int out_fd = host.accept_port(out);
  const int err_fd = host.accept_port(err);
  REQUIRE(out_fd >= 0);
  REQUIRE(err_fd >= 0);
  const auto exec_reply = host.response(exec_id);
  INFO(host.agent_log());
  REQUIRE(exec_reply);
  REQUIRE((*exec_reply)["Result"] == 0);
  const std::uint32_t pid = (*exec_reply)["ProcessId"];
  CHECK(pid != init);
  const json waited = host.call(gcs::Rpc::WaitForProcess, wait_body("run1", pid));
  CHECK(waited["ExitCode"] == 3);
  CHECK(read_stream(out_fd) == "hello from exec\n");
  CHECK(read_stream(err_fd) == "oops\n");
  ::close(out_fd);
  ::close(err_fd);

  // A wait with a timeout on the still-running init times out.
  CHECK(host.call(gcs::Rpc::WaitForProcess, wait_body("run1", init, 50))["Result"] == hr(we::kTimeout));
  // No console to resize.
  json resize = base("run1");
  resize["ProcessId"] = init;
  resize["Height"] = 40;
  resize["Width"] = 100;
  CHECK(host.call(gcs::Rpc::ResizeConsole, resize)["Result"] == hr(we::kInvalidArgument));

  json query = base("run1");
  query["Query"] = R"({"PropertyTypes":["ProcessList","Statistics"]})";
  const json properties = host.call(gcs::Rpc::GetProperties, query);
  INFO(properties.dump());
  REQUIRE(properties["Result"] == 0);
  const json parsed = json::parse(properties["Properties"].get<std::string>());
  CHECK(parsed["ProcessList"] == json::array({{{"ProcessId", init}}}));
  CHECK(parsed["LCOWMetrics"].is_object());
  CHECK(parsed["LCOWMetrics"]["pids"]["current"] == 1);
  json null_query = base(std::string(gcs::kNullContainerId));
  null_query["Query"] = R"({"PropertyTypes":["ProcessList"]})";
  CHECK(host.call(gcs::Rpc::GetProperties, null_query)["Result"] == hr(we::kNotImplemented));

  const std::uint64_t wait_id =
      host.send(static_cast<std::uint32_t>(gcs::Rpc::WaitForProcess), wait_body("run1", init));
  // Signal without options = SIGKILL.
  json kill = base("run1");
  kill["ProcessId"] = init;
  kill["Options"] = nullptr;
  CHECK(host.call(gcs::Rpc::SignalProcess, kill)["Result"] == 0);
  const auto init_wait = host.response(wait_id);
  REQUIRE(init_wait);
  CHECK((*init_wait)["ExitCode"] == 128 + SIGKILL);
  const auto notification = host.notification();
  REQUIRE(notification);
  CHECK((*notification)["Type"] == "ForcedExit");
  // The init is gone: shutting it down again reports the container already stopped.
  CHECK(host.call(gcs::Rpc::ShutdownGraceful, base("run1"))["Result"] == hr(we::kSystemNotFound));
}

TEST_CASE("guest: SIGTERM through the bridge gives GracefulExit", "[guest][unit]") {
  GuestHost host;
  host.negotiate();
  host.create_container("term1", {"sh", "-c", "trap 'exit 0' TERM; echo ready; while :; do sleep 1 & wait $!; done"});
  const std::uint32_t out = host.listen_port();
  const std::uint64_t exec_id = host.send(static_cast<std::uint32_t>(gcs::Rpc::ExecuteProcess),
                                          host.exec_body("term1", {{"CreateStdOutPipe", true}}, 0, out, 0));
  const int out_fd = host.accept_port(out);
  REQUIRE(out_fd >= 0);
  const auto exec_reply = host.response(exec_id);
  REQUIRE(exec_reply);
  REQUIRE((*exec_reply)["Result"] == 0);
  const std::uint32_t pid = (*exec_reply)["ProcessId"];
  REQUIRE(read_stream(out_fd, 20s, "ready\n") == "ready\n");  // the trap is installed
  CHECK(host.call(gcs::Rpc::SignalProcess, signal_body("term1", pid, SIGTERM))["Result"] == 0);
  CHECK(host.call(gcs::Rpc::WaitForProcess, wait_body("term1", pid))["ExitCode"] == 0);
  ::close(out_fd);
  const auto notification = host.notification();
  REQUIRE(notification);
  CHECK((*notification)["ContainerId"] == "term1");
  CHECK((*notification)["Type"] == "GracefulExit");
}

TEST_CASE("guest: a console process echoes through its pty", "[guest][unit]") {
  GuestHost host;
  host.negotiate();
  host.create_container("tty1", {"sh", "-c", "read line; echo \"got:$line\"; exit 5"});
  const std::uint32_t in = host.listen_port();
  const std::uint32_t out = host.listen_port();
  const std::uint64_t exec_id = host.send(
      static_cast<std::uint32_t>(gcs::Rpc::ExecuteProcess),
      host.exec_body("tty1", {{"EmulateConsole", true}, {"CreateStdInPipe", true}, {"CreateStdOutPipe", true}}, in, out,
                     0));
  const int in_fd = host.accept_port(in);
  const int out_fd = host.accept_port(out);
  REQUIRE(in_fd >= 0);
  REQUIRE(out_fd >= 0);
  const auto exec_reply = host.response(exec_id);
  INFO(host.agent_log());
  REQUIRE(exec_reply);
  REQUIRE((*exec_reply)["Result"] == 0);
  const std::uint32_t pid = (*exec_reply)["ProcessId"];
  json resize = base("tty1");
  resize["ProcessId"] = pid;
  resize["Height"] = 30;
  resize["Width"] = 90;
  CHECK(host.call(gcs::Rpc::ResizeConsole, resize)["Result"] == 0);
  REQUIRE(::write(in_fd, "hello\n", 6) == 6);
  const std::string output = read_stream(out_fd, 20s, "got:hello");
  // The terminal echoes the input line (with CRLF), then the program's answer.
  CHECK_THAT(output, ContainsSubstring("hello\r\n"));
  CHECK_THAT(output, ContainsSubstring("got:hello"));
  CHECK(host.call(gcs::Rpc::WaitForProcess, wait_body("tty1", pid))["ExitCode"] == 5);
  ::close(in_fd);
  ::close(out_fd);
}

TEST_CASE("guest: a utility VM process (null container id) runs in the guest itself", "[guest][unit]") {
  GuestHost host;
  host.negotiate();
  const std::uint32_t in = host.listen_port();
  const std::uint32_t out = host.listen_port();
  const std::string id(gcs::kNullContainerId);
  const json parameters = {{"CommandLine", "read word; echo \"uvm $FOO $word\"; exit 7"},
                           {"Environment", {{"FOO", "bar"}, {"PATH", "/usr/bin:/bin"}}},
                           {"WorkingDirectory", "/"},
                           {"CreateStdInPipe", true},
                           {"CreateStdOutPipe", true}};
  const std::uint64_t exec_id =
      host.send(static_cast<std::uint32_t>(gcs::Rpc::ExecuteProcess), host.exec_body(id, parameters, in, out, 0));
  const int in_fd = host.accept_port(in);
  const int out_fd = host.accept_port(out);
  REQUIRE(in_fd >= 0);
  REQUIRE(out_fd >= 0);
  const auto exec_reply = host.response(exec_id);
  REQUIRE(exec_reply);
  REQUIRE((*exec_reply)["Result"] == 0);
  const std::uint32_t pid = (*exec_reply)["ProcessId"];
  REQUIRE(::write(in_fd, "baz\n", 4) == 4);
  ::shutdown(in_fd, SHUT_WR);  // the host's CloseStdin
  CHECK(read_stream(out_fd) == "uvm bar baz\n");
  CHECK(host.call(gcs::Rpc::WaitForProcess, wait_body(id, pid))["ExitCode"] == 7);
  CHECK(host.call(gcs::Rpc::SignalProcess, signal_body(id, 999999, SIGTERM))["Result"] == hr(we::kNotFound));
  ::close(in_fd);
  ::close(out_fd);
}

TEST_CASE("guest: runc failing to start the init is an error response with runc's message", "[guest][unit]") {
  GuestHost host;
  host.negotiate();
  host.create_container("bad1", {"/bin/no-such-binary"});
  const json reply = host.call(gcs::Rpc::ExecuteProcess, host.exec_body("bad1", json::object(), 0, 0, 0));
  CHECK(reply["Result"] != 0);
  CHECK_THAT(reply.value("ErrorMessage", ""), ContainsSubstring("no-such-binary"));
  // The container stays Created and can be deleted.
  CHECK(host.call(gcs::Rpc::DeleteContainerState, base("bad1"))["Result"] == 0);
  // Unknown ResourceType.
  json modify = base(std::string(gcs::kNullContainerId));
  modify["Request"] = {{"ResourceType", "VPMemDevice"}, {"RequestType", "Add"}, {"Settings", json::object()}};
  const json invalid = host.call(gcs::Rpc::ModifySettings, modify);
  CHECK(invalid["Result"] == hr(we::kInvalidArgument));
  CHECK_THAT(invalid.value("ErrorMessage", ""), ContainsSubstring("invalid ResourceType VPMemDevice"));
}

TEST_CASE("guest: protocol violations end the connection but not the agent which dials again", "[guest][unit]") {
  GuestHost host;
  host.negotiate();
  SECTION("garbage bytes") { host.send_raw(std::string(64, '\xff')); }
  SECTION("a header whose size is 5") {
    host.send_raw(std::string("\x01\x0b\x10\x10\x05\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00", 16));
  }
  REQUIRE(host.wait_closed());
  CHECK_FALSE(host.agent_exit(200ms).has_value());  // still running
  // The agent re-dials; the new connection must negotiate again.
  REQUIRE(host.reconnect());
  const json early = host.call(gcs::Rpc::DumpStacks, base(std::string(gcs::kNullContainerId)));
  CHECK(early["Result"] == hr(we::kNotImplemented));
  host.negotiate();
}

TEST_CASE("guest: a notification produced while no host is connected is sent after the next negotiation",
          "[guest][unit]") {
  GuestHost host;
  host.negotiate();
  host.create_container("late1", {"sh", "-c", "read x; exit 0"});
  const std::uint32_t in = host.listen_port();
  const std::uint64_t exec_id = host.send(static_cast<std::uint32_t>(gcs::Rpc::ExecuteProcess),
                                          host.exec_body("late1", {{"CreateStdInPipe", true}}, in, 0, 0));
  const int in_fd = host.accept_port(in);
  REQUIRE(in_fd >= 0);
  REQUIRE(host.response(exec_id));
  host.send_raw(std::string(16, '\0'));  // size 0: the agent drops the connection
  REQUIRE(host.wait_closed());
  ::close(in_fd);  // the init reads EOF and exits while no bridge is negotiated
  REQUIRE(host.reconnect());
  host.negotiate();
  const auto notification = host.notification();
  REQUIRE(notification);
  CHECK((*notification)["ContainerId"] == "late1");
  CHECK((*notification)["Type"] == "UnexpectedExit");
}

TEST_CASE("guest: ShutdownForced for the null id stops the agent without a response", "[guest][unit]") {
  GuestHost host;
  host.negotiate();
  host.create_container("sd1", {"sleep", "30"});
  start_init(host, "sd1", 0, 0, 0);
  const std::uint64_t id =
      host.send(static_cast<std::uint32_t>(gcs::Rpc::ShutdownForced), base(std::string(gcs::kNullContainerId)));
  REQUIRE(host.wait_closed());
  CHECK_FALSE(host.response(id, 0ms).has_value());
  const auto status = host.agent_exit(20s);
  INFO(host.agent_log());
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("guest: a CRI pod's containers share its network, IPC and UTS namespaces while any of them exists",
          "[guest][unit]") {
  GuestHost host;
  host.negotiate();
  const std::vector<std::string> print_namespaces = {"sh", "-c",
                                                     "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done"};
  const auto in_pod = [](const std::string& type, const std::string& pod) {
    return json{{"io.kubernetes.cri.container-type", type}, {"io.kubernetes.cri.sandbox-id", pod}};
  };
  host.create_container("p1", print_namespaces, kActivity, in_pod("sandbox", "podx"));
  host.create_container("p2", print_namespaces, kActivity, in_pod("container", "podx"));
  host.create_container("q1", print_namespaces, kActivity, in_pod("container", "pody"));
  host.create_container("s1", print_namespaces);
  // The spec runc got joins the pod's ns files; a container of no pod asks for new namespaces.
  const json p2_spec = json::parse(std::ifstream(host.gcs_root() + "/c/p2/config.json"));
  CHECK(p2_spec["linux"]["namespaces"][4]["path"] == host.gcs_root() + "/podns/podx/net");
  CHECK(p2_spec["linux"]["namespaces"][1]["path"] == host.gcs_root() + "/podns/podx/ipc");
  CHECK_FALSE(p2_spec["linux"]["namespaces"][0].contains("path"));  // pid: each container its own

  const auto lines = [&](const std::string& id) {
    std::vector<std::string> result;
    std::istringstream text(init_output(host, id));
    for (std::string line; std::getline(text, line);) result.push_back(line);
    REQUIRE(result.size() == 4);
    return result;
  };
  const auto p1 = lines("p1"), p2 = lines("p2"), q1 = lines("q1"), s1 = lines("s1");
  CHECK(p1[0].starts_with("net:["));
  for (int i = 0; i < 3; ++i) {  // net, ipc, uts
    CAPTURE(i);
    CHECK(p1[i] == p2[i]);
    CHECK(q1[i] != p1[i]);
    CHECK(s1[i] != p1[i]);
    CHECK(s1[i] != q1[i]);
  }
  // (Pid namespaces are not compared: each init has exited, and a freed namespace's inode number is reused.)
  CHECK(p1[0] != fs::read_symlink("/proc/self/ns/net").string());

  // The pod's namespaces outlive its first container, not its last.
  CHECK(host.call(gcs::Rpc::DeleteContainerState, base("p1"))["Result"] == 0);
  CHECK(fs::exists(host.gcs_root() + "/podns/podx/net"));
  CHECK(host.call(gcs::Rpc::DeleteContainerState, base("p2"))["Result"] == 0);
  CHECK_FALSE(fs::exists(host.gcs_root() + "/podns/podx"));
  CHECK(fs::exists(host.gcs_root() + "/podns/pody/net"));
  CHECK(host.call(gcs::Rpc::DeleteContainerState, base("q1"))["Result"] == 0);
  CHECK(host.call(gcs::Rpc::DeleteContainerState, base("s1"))["Result"] == 0);
  CHECK_FALSE(fs::exists(host.gcs_root() + "/podns/pody"));

  // A sandbox id that is no file name is refused before anything is made.
  const json bad = host.call(
      gcs::Rpc::Create,
      {{"ContainerId", "bad1"},
       {"ActivityId", kActivity},
       {"ContainerConfig",
        json{{"SchemaVersion", {{"Major", 2}, {"Minor", 1}}},
             {"OciBundlePath", host.gcs_root() + "/c/bad1"},
             {"OciSpecification",
              {{"process", {{"args", {"true"}}}}, {"annotations", {{"io.kubernetes.cri.sandbox-id", "../escape"}}}}}}
            .dump()}});
  CHECK(bad["Result"] == hr(we::kInvalidArgument));
  CHECK_THAT(bad.value("ErrorMessage", ""), ContainsSubstring("io.kubernetes.cri.sandbox-id"));
  CHECK_FALSE(fs::exists(host.gcs_root() + "/podns/escape"));
}
