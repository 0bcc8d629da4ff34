// GCS bridge wire protocol: header bytes, identifiers, the decoder's limits, and the message bodies' JSON shapes as
// hcsshim's host and Linux guest write them (hcs-api-and-schema.md §C).
#include <string>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "shimcore/errdefs.h"
#include "shimcore/gcs/messages.h"
#include "shimcore/gcs/protocol.h"

using namespace shimcore;
using namespace shimcore::gcs;
using Catch::Matchers::ContainsSubstring;

namespace {

ErrorKind kind_of_failure(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::Unknown;
}

}  // namespace

TEST_CASE("bridge header is 16 little-endian bytes: type, total size, id") {
  const std::string message =
      encode_message(static_cast<std::uint32_t>(Rpc::NegotiateProtocol), 0x0102030405060708, "{}", BodyEnding::Newline);
  const std::string expected_header(
      "\x01\x0b\x10\x10"  // 0x10100b01
      "\x13\x00\x00\x00"  // 16 + 2 + '\n'
      "\x08\x07\x06\x05\x04\x03\x02\x01",
      16);
  CHECK(message.substr(0, 16) == expected_header);
  CHECK(message.substr(16) == "{}\n");
  CHECK(encode_message(kContainerNotification, 0, "{}", BodyEnding::None).size() == 18);
}

TEST_CASE("identifiers: response = request with class 2; unknown ids are named in hex") {
  CHECK(response_type(Rpc::Create) == 0x20100101u);
  CHECK(response_type(Rpc::DeleteContainerState) == 0x20100d01u);
  CHECK(rpc_of(0x20100601u) == Rpc::WaitForProcess);
  CHECK(rpc_of(0x10100a01u) == Rpc::ModifySettings);
  CHECK_FALSE(rpc_of(0x20101001u).has_value());
  CHECK_FALSE(rpc_of(kContainerNotification).has_value());
  CHECK(message_class(kContainerNotification) == MessageClass::Notification);
  CHECK(describe_type(0x20100501u) == "ExecuteProcessResponse");
  CHECK(describe_type(0x12345678u) == "0x12345678");
}

TEST_CASE("decoder reassembles messages from any chunking") {
  std::string stream = encode_message(0x20100101u, 7, R"({"Result":0})", BodyEnding::None) +
                       encode_message(kContainerNotification, 0, R"({"ContainerId":"c"})", BodyEnding::Newline) +
                       encode_message(0x20100201u, 9, "", BodyEnding::None);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{16}, stream.size()}) {
    MessageDecoder decoder;
    for (std::size_t at = 0; at < stream.size(); at += chunk) decoder.feed(std::string_view(stream).substr(at, chunk));
    auto first = decoder.next();
    REQUIRE(first);
    CHECK(first->header == MessageHeader{0x20100101u, 28, 7});
    CHECK(first->body == R"({"Result":0})");
    auto second = decoder.next();
    REQUIRE(second);
    CHECK(second->header.id == 0);
    CHECK(second->body == "{\"ContainerId\":\"c\"}\n");
    auto third = decoder.next();
    REQUIRE(third);
    CHECK(third->body.empty());
    CHECK_FALSE(decoder.next());
    CHECK_FALSE(decoder.mid_message());
    CHECK_FALSE(decoder.failed());
  }
}

TEST_CASE("decoder fails on a size below the header or above the limit, without buffering it") {
  SECTION("size 15") {
    MessageDecoder decoder;
    auto header = encode_header({0x20100101u, 15, 1});
    decoder.feed(std::span<const std::uint8_t>(header));
    CHECK(decoder.failed());
    CHECK_THAT(decoder.error(), ContainsSubstring("15 bytes"));
    CHECK_FALSE(decoder.next());
  }
  SECTION("64 KiB + 1 on the host; accepted by a guest-sized decoder") {
    auto header = encode_header({0x10100101u, kMaxMessageSize + 1, 1});
    MessageDecoder host;
    host.feed(std::span<const std::uint8_t>(header));
    host.feed(std::string(100, 'x'));
    CHECK(host.failed());
    MessageDecoder guest(kGuestMaxMessageSize);
    guest.feed(std::span<const std::uint8_t>(header));
    CHECK_FALSE(guest.failed());
    CHECK(guest.mid_message());
  }
  SECTION("encode refuses what the peer would refuse") {
    CHECK(kind_of_failure([] {
            encode_message(0x10100101u, 1, std::string(kMaxMessageSize - 16, 'x'), BodyEnding::Newline);
          }) == ErrorKind::ResourceExhausted);
    CHECK(encode_message(0x10100101u, 1, std::string(kMaxMessageSize - 16, 'x'), BodyEnding::None).size() ==
          kMaxMessageSize);
  }
}

TEST_CASE("negotiate: the Linux guest's capabilities omit false values") {
  NegotiateProtocolResponse response;
  response.version = 4;
  response.capabilities = GcsCapabilities::linux_guest();
  CHECK(encode_body(response) ==
        R"({"Capabilities":{"GuestDefinedCapabilities":{"DeleteContainerStateSupported":true,)"
        R"("DumpStacksSupported":true,"NamespaceAddRequestSupported":true,"SignalProcessSupported":true},)"
        R"("RuntimeOsType":"Linux","SupportedSchemaVersions":[{"Major":2,"Minor":1}]},"Result":0,"Version":4})");
  auto decoded = decode<NegotiateProtocolResponse>(encode_body(response) + "\n");
  CHECK(decoded.version == 4);
  CHECK(decoded.capabilities.runtime_os_type == "Linux");
  CHECK(decoded.capabilities.guest_capability("SignalProcessSupported"));
  CHECK_FALSE(decoded.capabilities.guest_capability("LogForwardingSupported"));
}

TEST_CASE("execute process: ProcessParameters travel as a JSON string, ports as numbers") {
  // The host frame as hcsshim writes it for an exec with stdout and stderr pipes.
  const std::string host_body =
      R"({"ContainerId":"c1","ActivityId":"00000000-0000-0000-0000-000000000000","Settings":{"ProcessParameters":)"
      R"("{\"CreateStdOutPipe\":true,\"CreateStdErrPipe\":true,\"OciProcess\":{\"args\":[\"sh\"],\"cwd\":\"/\"}}",)"
      R"("VsockStdioRelaySettings":{"StdOut":1073741825,"StdErr":1073741826}}})"
      "\n";
  auto request = decode<ExecuteProcessRequest>(host_body);
  CHECK(request.base.container_id == "c1");
  CHECK(request.parameters.create_stdout_pipe);
  CHECK_FALSE(request.parameters.create_stdin_pipe);
  REQUIRE(request.parameters.oci_process);
  CHECK((*request.parameters.oci_process)["args"][0] == "sh");
  CHECK(request.stdio.stdin_port == 0);
  CHECK(request.stdio.stdout_port == kFirstStdioPort);
  CHECK(request.stdio.stderr_port == kFirstStdioPort + 1);
  // Our encoding decodes to the same values.
  auto again = decode<ExecuteProcessRequest>(encode_body(request));
  CHECK(again.stdio.stderr_port == request.stdio.stderr_port);
  CHECK(again.parameters.oci_process == request.parameters.oci_process);
  CHECK(nlohmann::json::parse(encode_body(request))["Settings"]["ProcessParameters"].is_string());
}

TEST_CASE("container notification and signal shapes") {
  ContainerNotification note;
  note.base.container_id = "c1";
  note.type = "ForcedExit";
  CHECK(encode_body(note) ==
        R"({"ActivityId":"00000000-0000-0000-0000-000000000000","ContainerId":"c1","Operation":"None",)"
        R"("Result":0,"Type":"ForcedExit"})");
  SignalProcessRequest kill;
  kill.process_id = 12;
  CHECK(nlohmann::json::parse(encode_body(kill))["Options"].is_null());
  CHECK_FALSE(decode<SignalProcessRequest>(encode_body(kill)).signal);
  kill.signal = 15;
  CHECK(decode<SignalProcessRequest>(encode_body(kill)).signal == 15);
}

TEST_CASE("modify settings and resource settings use hcsshim's Go names") {
  ModifySettingsRequest request;
  request.base.container_id = std::string(kNullContainerId);
  request.resource_type = std::string(kResourceCombinedLayers);
  request.settings = CombinedLayers{"c1", "/run/gcs/c/c1/rootfs", {"/run/mounts/plan9/0"}, "/run/scratch/c1"};
  auto decoded = decode<ModifySettingsRequest>(encode_body(request));
  CHECK(decoded.request_type == "Add");
  CHECK(decoded.settings.dump() ==
        R"({"ContainerID":"c1","ContainerRootPath":"/run/gcs/c/c1/rootfs","Layers":[{"Path":"/run/mounts/plan9/0"}],)"
        R"("ScratchPath":"/run/scratch/c1"})");
  auto layers = decoded.settings.get<CombinedLayers>();
  CHECK(layers.layers == std::vector<std::string>{"/run/mounts/plan9/0"});
  auto share =
      nlohmann::json::parse(R"({"MountPath":"/run/mounts/plan9/1","Port":564,"ShareName":"1"})").get<MappedDirectory>();
  CHECK(share.share_name == "1");
  CHECK_FALSE(share.read_only);
}

TEST_CASE("bad bodies are InvalidArgument naming the field") {
  CHECK(kind_of_failure([] { decode<ResponseBase>("not json"); }) == ErrorKind::InvalidArgument);
  CHECK(kind_of_failure([] { decode<ResponseBase>("[1]"); }) == ErrorKind::InvalidArgument);
  CHECK(kind_of_failure([] { decode<ResponseBase>(R"({"Result":"x"})"); }) == ErrorKind::InvalidArgument);
  CHECK(kind_of_failure([] { decode<WaitForProcessRequest>(R"({"ProcessId":-1})"); }) == ErrorKind::InvalidArgument);
  CHECK(kind_of_failure([] { decode<ResizeConsoleRequest>(R"({"Height":65536})"); }) == ErrorKind::InvalidArgument);
  CHECK(kind_of_failure([] { decode<CreateRequest>(R"({"ContainerConfig":"{bad"})"); }) == ErrorKind::InvalidArgument);
  CHECK(kind_of_failure([] { decode<ModifySettingsRequest>(R"({"Request":{"RequestType":"Drop"}})"); }) ==
        ErrorKind::InvalidArgument);
  try {
    decode<ExecuteProcessRequest>(R"({"Settings":{"ProcessParameters":"{\"CommandArgs\":[1]}"}})");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), ContainsSubstring("CommandArgs"));
  }
  // Absent and null fields are Go zero values.
  auto base = decode<ResponseBase>(R"({"Result":null})");
  CHECK(base.result == 0);
  CHECK(decode<ResponseBase>(R"({"Result":-2147024809,"ErrorMessage":"bad"})").result ==
        static_cast<std::int32_t>(wire_error::kInvalidArgument));
}
