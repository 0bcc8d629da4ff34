// Wire compatibility of the project's .proto files with containerd 2.1: decode bytes containerd really sends or
// expects (captured in containerd-shim-contract.md) and check that encoding gives back the same bytes.
#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "containerd/events/task.pb.h"
#include "containerd/services/ttrpc/events/v1/events.pb.h"
#include "containerd/task/v3/shim.pb.h"
#include "containerd/types/runc/options/oci.pb.h"
#include "containerd/types/runtimeoptions/v1/api.pb.h"
#include "google/rpc/status.pb.h"
#include "ttrpc/request.pb.h"

namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int value : values) out.push_back(static_cast<char>(value));
  return out;
}

// Serializes deterministically, as the Go encoder does for these messages (fields in number order, no maps).
template <typename Message>
std::string encode(const Message& message) {
  std::string out;
  REQUIRE(message.SerializeToString(&out));
  return out;
}

}  // namespace

TEST_CASE("DeleteResponse printed by the runc shim's `delete`", "[proto]") {
  // The 21 bytes containerd-shim-runc-v2 printed for {pid:20086, exit_status:137, exited_at:{...}}.
  const std::string wire = bytes({0x08, 0xf6, 0x9c, 0x01, 0x10, 0x89, 0x01, 0x1a, 0x0c, 0x08, 0xc7,
                                  0xf3, 0xa9, 0xd8, 0x06, 0x10, 0xb9, 0x93, 0xe2, 0xa7, 0x03});
  containerd::task::v3::DeleteResponse response;
  REQUIRE(response.ParseFromString(wire));
  CHECK(response.pid() == 20086);
  CHECK(response.exit_status() == 137);
  REQUIRE(response.has_exited_at());
  CHECK(response.exited_at().seconds() == 1795848647);
  CHECK(response.exited_at().nanos() == 888703417);
  CHECK(encode(response) == wire);
}

TEST_CASE("an empty DeleteResponse is zero bytes, which containerd reads as pid 0 status 0", "[proto]") {
  containerd::task::v3::DeleteResponse response;
  CHECK(encode(response).empty());
  REQUIRE(response.ParseFromString(""));
  CHECK(response.pid() == 0);
  CHECK(response.exit_status() == 0);
}

TEST_CASE("ttrpc Request frame for Task.Connect from containerd", "[proto][ttrpc]") {
  // A 10-byte ttrpc header (length 0x55, stream 1, type Request, flags 0) then the Request message.
  const std::string frame = bytes({0x00, 0x00, 0x00, 0x55, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x0a, 0x17}) +
                            "containerd.task.v3.Task" + bytes({0x12, 0x07}) + "Connect" +
                            bytes({0x1a, 0x04, 0x0a, 0x02}) + "t1" +
                            bytes({0x20, 0x80, 0xa8, 0xd6, 0xb9, 0x07, 0x2a, 0x25, 0x0a, 0x1a}) +
                            "containerd-namespace-ttrpc" + bytes({0x12, 0x07}) + "default";
  REQUIRE(frame.size() == 95);
  const std::string payload = frame.substr(10);
  REQUIRE(payload.size() == 0x55);

  ttrpc::Request request;
  REQUIRE(request.ParseFromString(payload));
  CHECK(request.service() == "containerd.task.v3.Task");
  CHECK(request.method() == "Connect");
  CHECK(request.timeout_nano() == 2'000'000'000);
  REQUIRE(request.metadata_size() == 1);
  CHECK(request.metadata(0).key() == "containerd-namespace-ttrpc");
  CHECK(request.metadata(0).value() == "default");
  containerd::task::v3::ConnectRequest connect;
  REQUIRE(connect.ParseFromString(request.payload()));
  CHECK(connect.id() == "t1");
  CHECK(encode(request) == payload);
}

TEST_CASE("ttrpc Response frames: success omits status, errors carry google.rpc.Status", "[proto][ttrpc]") {
  SECTION("OK with ConnectResponse{shim_pid:100, task_pid:101}") {
    const std::string payload = bytes({0x12, 0x04, 0x08, 0x64, 0x10, 0x65});
    ttrpc::Response response;
    REQUIRE(response.ParseFromString(payload));
    CHECK_FALSE(response.has_status());
    containerd::task::v3::ConnectResponse connect;
    REQUIRE(connect.ParseFromString(response.payload()));
    CHECK(connect.shim_pid() == 100);
    CHECK(connect.task_pid() == 101);
    CHECK(connect.version().empty());
    CHECK(encode(response) == payload);
  }
  SECTION("NotFound") {
    const std::string payload = bytes({0x0a, 0x15, 0x08, 0x05, 0x12, 0x11}) + "task t1 not found";
    ttrpc::Response response;
    REQUIRE(response.ParseFromString(payload));
    REQUIRE(response.has_status());
    CHECK(response.status().code() == 5);
    CHECK(response.status().message() == "task t1 not found");
    CHECK(response.payload().empty());
    CHECK(encode(response) == payload);
  }
}

TEST_CASE("Events/Forward request for /tasks/start, byte for byte", "[proto][events]") {
  containerd::events::TaskStart start;
  start.set_container_id("t1");
  start.set_pid(7);
  CHECK(encode(start) == bytes({0x0a, 0x02, 't', '1', 0x10, 0x07}));

  containerd::services::events::ttrpc::v1::ForwardRequest forward;
  auto* envelope = forward.mutable_envelope();
  envelope->mutable_timestamp()->set_seconds(1);
  envelope->set_namespace_("default");
  envelope->set_topic("/tasks/start");
  envelope->mutable_event()->set_type_url("containerd.events.TaskStart");
  envelope->mutable_event()->set_value(encode(start));

  // Hand-assembled: ForwardRequest.envelope(1) { timestamp(1){seconds:1} namespace(2) topic(3) event(4) Any{
  // type_url(1) value(2) } }.
  const std::string any = bytes({0x0a, 0x1b}) + "containerd.events.TaskStart" + bytes({0x12, 0x06}) + encode(start);
  const std::string envelope_bytes = bytes({0x0a, 0x02, 0x08, 0x01, 0x12, 0x07}) + "default" + bytes({0x1a, 0x0c}) +
                                     "/tasks/start" + bytes({0x22, static_cast<int>(any.size())}) + any;
  const std::string expected = bytes({0x0a, static_cast<int>(envelope_bytes.size())}) + envelope_bytes;
  CHECK(expected.size() == 68);
  CHECK(encode(forward) == expected);
}

TEST_CASE("runtime options on `start` stdin from ctr --runtime-config-path", "[proto][options]") {
  // containerd sent 74 bytes for a 43-character path: Any{type_url, value: runtimeoptions.v1.Options{config_path}}.
  const std::string path = "/etc/containerd/shimcore/runtime-confx.toml";
  REQUIRE(path.size() == 43);
  runtimeoptions::v1::Options options;
  options.set_config_path(path);
  google::protobuf::Any any;
  any.set_type_url("runtimeoptions.v1.Options");
  any.set_value(encode(options));
  const std::string wire = encode(any);
  CHECK(wire.size() == 74);
  CHECK(wire.substr(0, 2) == bytes({0x0a, 0x19}));
  CHECK(wire.substr(27, 4) == bytes({0x12, 0x2d, 0x12, 0x2b}));  // value: 45 bytes, config_path is field 2

  google::protobuf::Any decoded;
  REQUIRE(decoded.ParseFromString(wire));
  runtimeoptions::v1::Options decoded_options;
  REQUIRE(decoded_options.ParseFromString(decoded.value()));
  CHECK(decoded_options.config_path() == path);
  CHECK(decoded_options.config_body().empty());
}

TEST_CASE("CRI's task options for a container of a shim sandbox", "[proto][options]") {
  // runc.v1.Options{task_api_address(12): "ttrpc+unix:///run/s/c.sock", task_api_version(13): 3}, hand-assembled.
  const std::string address = "ttrpc+unix:///run/s/c.sock";
  const std::string wire = bytes({0x62, static_cast<int>(address.size())}) + address + bytes({0x68, 0x03});
  containerd::runc::v1::Options options;
  REQUIRE(options.ParseFromString(wire));
  CHECK(options.task_api_address() == address);
  CHECK(options.task_api_version() == 3);
  CHECK(options.binary_name().empty());
  CHECK(encode(options) == wire);
}
