// The HCS schema types: exact JSON names, omission of absent fields, and errors of the right kind for bad input.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "shimcore/hcs/schema/schema.h"

namespace {

namespace schema = shimcore::hcs::schema;
using Catch::Matchers::ContainsSubstring;
using schema::Json;
using shimcore::ErrorKind;

struct Failure {
  ErrorKind kind;
  std::string message;
};

// The shimcore::Error `action` throws, if any. Any other exception escapes and fails the test.
template <typename Action>
std::optional<Failure> failure_of(Action&& action) {
  try {
    action();
  } catch (const shimcore::Error& error) {
    return Failure{error.kind(), error.what()};
  }
  return std::nullopt;
}

// Parses `text` as a ComputeSystem and returns the InvalidArgument message it must fail with.
std::string compute_system_error(const std::string& text) {
  const auto failure = failure_of([&] { schema::parse_compute_system(text); });
  REQUIRE(failure.has_value());
  CHECK(failure->kind == ErrorKind::InvalidArgument);
  return failure->message;
}

// An LCOW-like utility VM document exercising the names that differ from a naive spelling.
schema::ComputeSystem lcow_like_document() {
  schema::ComputeSystem system;
  system.owner = "containerd-shim-lcow-v2";
  system.schema_version = schema::Version{2, 1};
  system.should_terminate_on_last_handle_closed = true;

  auto& vm = system.virtual_machine.emplace();
  vm.stop_on_reset = true;
  auto& kernel = vm.chipset.emplace().linux_kernel_direct.emplace();
  kernel.kernel_file_path = R"(C:\boot\vmlinux)";
  kernel.init_rd_path = R"(C:\boot\initrd.img)";
  kernel.kernel_cmd_line = "console=ttyS0";

  auto& topology = vm.compute_topology.emplace();
  auto& memory = topology.memory.emplace();
  memory.size_in_mb = 1024;
  memory.backing = schema::MemoryBackingType::Virtual;
  memory.allow_overcommit = true;
  memory.low_mmio_gap_in_mb = 256;
  memory.high_mmio_base_in_mb = 1024;
  memory.high_mmio_gap_in_mb = 4096;
  memory.slit_type = schema::VirtualSlitType::FirmwareFallbackMeasured;
  auto& processor = topology.processor.emplace();
  processor.count = 2;
  processor.cpu_group.emplace().id = "e0c4b1d6-2b1c-4d0e-9f5a-0123456789ab";
  auto& numa_processors = processor.numa_processors_settings.emplace();
  numa_processors.count_per_node.emplace().max = 4;
  numa_processors.node_per_socket = 1;
  auto& numa = topology.numa.emplace();
  numa.virtual_node_count = 2;
  numa.preferred_physical_nodes = {0, 1};
  auto& setting = numa.settings.emplace_back();
  setting.virtual_node_number = 0;
  setting.physical_node_number = 1;
  setting.count_of_processors = 2;
  setting.count_of_memory_blocks = 512;
  setting.memory_backing_type = schema::MemoryBackingType::Physical;

  auto& devices = vm.devices.emplace();
  auto& rootfs = devices.scsi["df6d0690-79e5-55b6-a5ec-c1e2f77f580a"].attachments["0"];
  rootfs.type = "VirtualDisk";
  rootfs.path = R"(C:\boot\rootfs.vhd)";
  rootfs.read_only = true;
  devices.scsi["0110f83b-de10-5172-a266-78bca56bf50a"];  // an empty controller, declared for hot-add
  auto& pmem = devices.virtual_pmem.emplace();
  pmem.maximum_count = 64;
  pmem.maximum_size_bytes = 4294967296;
  auto& hvsocket = devices.hv_socket.emplace().hv_socket_config.emplace();
  hvsocket.default_bind_security_descriptor = "D:P(A;;FA;;;SY)(A;;FA;;;BA)";
  auto& service = hvsocket.service_table["0000abcd-facb-11e6-bd58-64006a7986d3"];
  service.bind_security_descriptor = "D:P(A;;FA;;;WD)";
  service.allow_wildcard_binds = true;
  devices.plan9.emplace();
  auto& function = devices.virtual_pci["7f1c2b3a-0000-4000-8000-000000000001"].functions.emplace_back();
  function.device_instance_path = R"(PCIP\VEN_10DE&DEV_1EB8)";
  function.virtual_function = 1;

  auto& qos = vm.storage_qos.emplace();
  qos.iops_maximum = 1000;
  qos.bandwidth_maximum = 100000;
  return system;
}

constexpr const char* kLcowLikeJson = R"json({
  "Owner": "containerd-shim-lcow-v2",
  "SchemaVersion": {"Major": 2, "Minor": 1},
  "ShouldTerminateOnLastHandleClosed": true,
  "VirtualMachine": {
    "StopOnReset": true,
    "Chipset": {"LinuxKernelDirect": {"KernelFilePath": "C:\\boot\\vmlinux", "InitRdPath": "C:\\boot\\initrd.img",
                                      "KernelCmdLine": "console=ttyS0"}},
    "ComputeTopology": {
      "Memory": {"SizeInMB": 1024, "Backing": "Virtual", "AllowOvercommit": true, "LowMmioGapInMB": 256,
                 "HighMmioBaseInMB": 1024, "HighMmioGapInMB": 4096, "SlitType": "FirmwareFallbackMeasured"},
      "Processor": {"Count": 2, "CpuGroup": {"Id": "e0c4b1d6-2b1c-4d0e-9f5a-0123456789ab"},
                    "NumaProcessorsSettings": {"count_per_node": {"max": 4}, "node_per_socket": 1}},
      "Numa": {"VirtualNodeCount": 2, "PreferredPhysicalNodes": [0, 1],
               "Settings": [{"VirtualNodeNumber": 0, "PhysicalNodeNumber": 1, "CountOfProcessors": 2,
                             "CountOfMemoryBlocks": 512, "MemoryBackingType": "Physical"}]}
    },
    "Devices": {
      "Scsi": {
        "df6d0690-79e5-55b6-a5ec-c1e2f77f580a": {
          "Attachments": {"0": {"Type": "VirtualDisk", "Path": "C:\\boot\\rootfs.vhd", "ReadOnly": true}}},
        "0110f83b-de10-5172-a266-78bca56bf50a": {}
      },
      "VirtualPMem": {"MaximumCount": 64, "MaximumSizeBytes": 4294967296},
      "HvSocket": {"HvSocketConfig": {
        "DefaultBindSecurityDescriptor": "D:P(A;;FA;;;SY)(A;;FA;;;BA)",
        "ServiceTable": {"0000abcd-facb-11e6-bd58-64006a7986d3": {"BindSecurityDescriptor": "D:P(A;;FA;;;WD)",
                                                                  "AllowWildcardBinds": true}}}},
      "Plan9": {},
      "VirtualPci": {"7f1c2b3a-0000-4000-8000-000000000001": {
        "Functions": [{"DeviceInstancePath": "PCIP\\VEN_10DE&DEV_1EB8", "VirtualFunction": 1}]}}
    },
    "StorageQoS": {"IopsMaximum": 1000, "BandwidthMaximum": 100000}
  }
})json";

}  // namespace

TEST_CASE("a hand-built LCOW-like document serialises to the exact HCS JSON", "[hcs][schema]") {
  const schema::ComputeSystem system = lcow_like_document();
  const Json expected = Json::parse(kLcowLikeJson);
  const Json actual = system;
  INFO("JSON patch from expected to ours: " << Json::diff(expected, actual).dump(2));
  REQUIRE(actual == expected);
  REQUIRE(schema::parse_compute_system(kLcowLikeJson) == system);

  // The spellings a naive mapping gets wrong, checked in the compact text itself.
  const std::string text = schema::to_json_text(system);
  CHECK_THAT(text, ContainsSubstring(R"("LowMmioGapInMB":256)"));
  CHECK_THAT(text, ContainsSubstring(R"("HighMmioBaseInMB":1024)"));
  CHECK_THAT(text, ContainsSubstring(R"("HighMmioGapInMB":4096)"));
  CHECK_THAT(text, ContainsSubstring(R"({"Path":"C:\\boot\\rootfs.vhd","ReadOnly":true,"Type":"VirtualDisk"})"));
  CHECK_THAT(text, ContainsSubstring(R"("count_per_node":{"max":4},"node_per_socket":1)"));
  CHECK_THAT(text, ContainsSubstring(R"("ServiceTable":{"0000abcd-facb-11e6-bd58-64006a7986d3":)"));
  CHECK_THAT(text, ContainsSubstring(R"("VirtualPMem":{)"));
  CHECK_THAT(text, ContainsSubstring(R"("StorageQoS":{)"));
  CHECK_THAT(text, !ContainsSubstring("LowMMIO") && !ContainsSubstring("Type_") && !ContainsSubstring("CountPerNode"));
}

TEST_CASE("absent optional fields and empty containers are not written", "[hcs][schema]") {
  CHECK(schema::to_json_text(schema::ComputeSystem{}) == "{}");

  schema::ComputeSystem system;
  system.virtual_machine.emplace().stop_on_reset = false;  // present, so written even though false
  system.virtual_machine->devices.emplace().scsi["c"];     // a controller with no attachments is an empty object
  system.virtual_machine->devices->plan9.emplace();
  CHECK(Json(system) ==
        Json::parse(R"({"VirtualMachine":{"StopOnReset":false,"Devices":{"Scsi":{"c":{}},"Plan9":{}}}})"));

  schema::Container container;
  container.storage.emplace().layers.clear();  // empty vector: omitted
  container.registry_changes.emplace();        // empty struct: {}
  CHECK(schema::to_json_text(container) == R"({"RegistryChanges":{},"Storage":{}})");

  schema::ModifySettingRequest request;
  request.resource_path = "VirtualMachine/Devices/Plan9/Shares";
  request.request_type = schema::ModifyRequestType::Add;
  CHECK(schema::to_json_text(request) ==
        R"({"RequestType":"Add","ResourcePath":"VirtualMachine/Devices/Plan9/Shares"})");
}

TEST_CASE("null reads as absent and unknown members are ignored", "[hcs][schema]") {
  const auto system = schema::parse_compute_system(
      R"({"Owner":null,"HostedSystem":null,"VirtualMachine":{"StopOnReset":true,"NotAnHcsField":[1,2]}})");
  CHECK_FALSE(system.owner.has_value());
  CHECK(system.hosted_system.is_null());
  CHECK(schema::to_json_text(system) == R"({"VirtualMachine":{"StopOnReset":true}})");
}

TEST_CASE("malformed JSON is InvalidArgument", "[hcs][schema][errors]") {
  const auto text = GENERATE(as<std::string>{}, "", "{", R"({"Owner":"x",})", "{} trailing", "nul", R"({"a":1e400})",
                             "// comment\n{}", "\xff\xfe");
  CAPTURE(text);
  CHECK_THAT(compute_system_error(text),
             ContainsSubstring("invalid ComputeSystem document") && ContainsSubstring("malformed JSON"));
}

TEST_CASE("nesting beyond the limit is rejected before parsing", "[hcs][schema][errors]") {
  const std::string deep = R"({"HostedSystem":)" + std::string(500, '[') + std::string(500, ']') + "}";
  CHECK_THAT(compute_system_error(deep), ContainsSubstring("nested deeper than"));
  // Brackets inside strings do not count.
  const std::string in_string = R"({"Owner":")" + std::string(500, '[') + R"("})";
  CHECK(schema::parse_compute_system(in_string).owner == std::string(500, '['));
}

TEST_CASE("a value of the wrong type names its JSON path", "[hcs][schema][errors]") {
  CHECK_THAT(compute_system_error("[]"), ContainsSubstring("at $: expected object, got array"));
  CHECK_THAT(compute_system_error(R"({"VirtualMachine":{"ComputeTopology":{"Memory":{"SizeInMB":"1024"}}}})"),
             ContainsSubstring("at $.VirtualMachine.ComputeTopology.Memory.SizeInMB: expected uint64, got string "
                               "\"1024\""));
  CHECK_THAT(
      compute_system_error(R"({"VirtualMachine":{"Devices":{"Scsi":{"ctl":{"Attachments":{"0":{"ReadOnly":1}}}}}}})"),
      ContainsSubstring(R"(at $.VirtualMachine.Devices.Scsi["ctl"].Attachments["0"].ReadOnly: expected boolean)"));
  CHECK_THAT(compute_system_error(R"({"Container":{"MappedDirectories":[{},{"HostPath":7}]}})"),
             ContainsSubstring("at $.Container.MappedDirectories[1].HostPath: expected string, got number 7"));
  CHECK_THAT(compute_system_error(R"({"VirtualMachine":{"Devices":{"Plan9":[]}}})"),
             ContainsSubstring("at $.VirtualMachine.Devices.Plan9: expected object, got array"));
  CHECK_THAT(compute_system_error(R"({"Container":{"Networking":{"NetworkAdapters":"ep-1"}}})"),
             ContainsSubstring("at $.Container.Networking.NetworkAdapters: expected array"));
  CHECK_THAT(compute_system_error(R"({"VirtualMachine":{"ComputeTopology":{"Processor":{"Count":2.0}}}})"),
             ContainsSubstring("at $.VirtualMachine.ComputeTopology.Processor.Count: expected uint32, got number"));
}

TEST_CASE("integers must fit the HCS width", "[hcs][schema][errors]") {
  CHECK_THAT(compute_system_error(R"({"VirtualMachine":{"Devices":{"VirtualPMem":{"MaximumCount":256}}}})"),
             ContainsSubstring("VirtualPMem.MaximumCount: number 256 is out of range for uint8"));
  CHECK_THAT(compute_system_error(R"({"VirtualMachine":{"ComputeTopology":{"Memory":{"SizeInMB":-1}}}})"),
             ContainsSubstring("Memory.SizeInMB: number -1 is out of range for uint64"));
  CHECK_THAT(compute_system_error(R"({"SchemaVersion":{"Major":2147483648}})"),
             ContainsSubstring("at $.SchemaVersion.Major: number 2147483648 is out of range for int32"));

  // The extremes survive a round trip unchanged.
  const auto system = schema::parse_compute_system(
      R"({"SchemaVersion":{"Major":-2147483648,"Minor":2147483647},
          "VirtualMachine":{"ComputeTopology":{"Memory":{"SizeInMB":18446744073709551615}}}})");
  CHECK(system.schema_version->major == std::numeric_limits<std::int32_t>::min());
  CHECK(system.virtual_machine->compute_topology->memory->size_in_mb == std::numeric_limits<std::uint64_t>::max());
  CHECK_THAT(schema::to_json_text(system), ContainsSubstring("18446744073709551615"));
}

TEST_CASE("unknown enum strings are InvalidArgument, not a default", "[hcs][schema][errors]") {
  CHECK_THAT(compute_system_error(R"({"Container":{"RegistryChanges":{"AddValues":[
                 {"Key":{"Hive":"System","Name":"x"},"Type":"DWord"},
                 {"Key":{"Hive":"System","Name":"y"},"Type":"Dword"}]}}})"),
             ContainsSubstring(R"(at $.Container.RegistryChanges.AddValues[1].Type: unknown RegistryValueType value )"
                               R"("Dword" (expected one of: None, String, ExpandedString, MultiString, Binary, DWord, )"
                               R"(QWord, CustomType))"));
  CHECK_THAT(compute_system_error(R"({"VirtualMachine":{"ComputeTopology":{"Memory":{"Backing":"physical"}}}})"),
             ContainsSubstring("Memory.Backing: unknown MemoryBackingType value \"physical\""));
  CHECK_THAT(compute_system_error(R"({"VirtualMachine":{"Chipset":{"Uefi":{"BootThis":{"DeviceType":7}}}}})"),
             ContainsSubstring("Uefi.BootThis.DeviceType: expected UefiBootDevice, got number 7"));

  const auto failure = failure_of([] { schema::parse_modify_setting_request(R"({"RequestType":"Delete"})"); });
  REQUIRE(failure.has_value());
  CHECK(failure->kind == ErrorKind::InvalidArgument);
  CHECK_THAT(failure->message, ContainsSubstring("invalid ModifySettingRequest document at $.RequestType: unknown "
                                                 "ModifyRequestType value \"Delete\""));

  CHECK(schema::to_string(schema::RegistryHive::Sam) == "Sam");
  CHECK(schema::enum_from_string<schema::UefiBootDevice>("VmbFs") == schema::UefiBootDevice::VmbFs);
  CHECK_FALSE(schema::enum_from_string<schema::UefiBootDevice>("vmbfs").has_value());
  // A value outside the enumeration cannot be written.
  schema::RegistryKey key;
  key.hive = static_cast<schema::RegistryHive>(42);
  const auto unnamed = failure_of([&] { schema::to_json_text(key); });
  REQUIRE(unnamed.has_value());
  CHECK(unnamed->kind == ErrorKind::InvalidArgument);
}

TEST_CASE("every parse entry point reports InvalidArgument with its document name", "[hcs][schema][errors]") {
  using Parse = void (*)(std::string_view);
  const auto row = GENERATE(table<Parse, std::string>({
      {[](std::string_view text) { schema::parse_compute_system(text); }, "ComputeSystem"},
      {[](std::string_view text) { schema::parse_hosted_system(text); }, "HostedSystem"},
      {[](std::string_view text) { schema::parse_container(text); }, "Container"},
      {[](std::string_view text) { schema::parse_process_parameters(text); }, "ProcessParameters"},
      {[](std::string_view text) { schema::parse_process_status(text); }, "ProcessStatus"},
      {[](std::string_view text) { schema::parse_process_modify_request(text); }, "ProcessModifyRequest"},
      {[](std::string_view text) { schema::parse_modify_setting_request(text); }, "ModifySettingRequest"},
      {[](std::string_view text) { schema::parse_properties(text); }, "Properties"},
      {[](std::string_view text) { schema::parse_property_query(text); }, "PropertyQuery"},
      {[](std::string_view text) { schema::parse_system_query(text); }, "SystemQuery"},
      {[](std::string_view text) { schema::parse_service_properties(text); }, "ServiceProperties"},
      {[](std::string_view text) { schema::parse_processor_topology(text); }, "ProcessorTopology"},
      {[](std::string_view text) { schema::parse_result_error(text); }, "ResultError"},
      {[](std::string_view text) { schema::parse_system_exit_status(text); }, "SystemExitStatus"},
  }));
  // Named copies, not structured bindings: clang 14 cannot capture bindings in lambdas.
  const Parse parse = std::get<0>(row);
  const std::string document = std::get<1>(row);
  CAPTURE(document);
  for (const std::string text : {"{", "\"text\"", "42", "[{}]"}) {
    CAPTURE(text);
    const auto failure = failure_of([&] { parse(text); });
    REQUIRE(failure.has_value());
    CHECK(failure->kind == ErrorKind::InvalidArgument);
    CHECK_THAT(failure->message, ContainsSubstring("invalid " + document + " document at $"));
  }
  CHECK_FALSE(failure_of([&] { parse("{}"); }).has_value());
}

TEST_CASE("validate requires exactly one of Container, VirtualMachine, HostedSystem", "[hcs][schema][errors]") {
  const auto validate_error = [](const std::string& text) {
    const auto failure = failure_of([&] { schema::validate(schema::parse_compute_system(text)); });
    REQUIRE(failure.has_value());
    CHECK(failure->kind == ErrorKind::InvalidArgument);
    return failure->message;
  };
  CHECK_THAT(validate_error(R"({"Owner":"x"})"), ContainsSubstring("found none"));
  CHECK_THAT(validate_error(R"({"HostedSystem":null})"), ContainsSubstring("found none"));
  CHECK_THAT(validate_error(R"({"Container":{},"VirtualMachine":{}})"),
             ContainsSubstring("exactly one of Container, VirtualMachine, HostedSystem must be set, found Container "
                               "and VirtualMachine"));
  CHECK_THAT(validate_error(R"({"Container":{},"VirtualMachine":{},"HostedSystem":{}})"),
             ContainsSubstring("found Container and VirtualMachine and HostedSystem"));

  CHECK_NOTHROW(schema::validate(schema::parse_compute_system(R"({"Container":{}})")));
  CHECK_NOTHROW(schema::validate(schema::parse_compute_system(R"({"VirtualMachine":{}})")));
  const auto hosted = schema::parse_compute_system(
      R"({"HostingSystemId":"uvm","HostedSystem":{"SchemaVersion":{"Major":2,"Minor":1},
          "Container":{"Storage":{"Path":"C:\\c\\0"}}}})");
  CHECK_NOTHROW(schema::validate(hosted));
  const auto typed = hosted.hosted_system.get<schema::HostedSystem>();
  CHECK(typed.container->storage->path == R"(C:\c\0)");
}

TEST_CASE("ModifySettingRequest keeps Settings and GuestRequest as JSON", "[hcs][schema]") {
  constexpr const char* kText = R"({
    "ResourcePath": "VirtualMachine/Devices/Scsi/df6d0690-79e5-55b6-a5ec-c1e2f77f580a/Attachments/1",
    "RequestType": "Add",
    "Settings": {"Type": "VirtualDisk", "Path": "C:\\scratch.vhdx"},
    "GuestRequest": {"ResourceType": "MappedVirtualDisk", "RequestType": "Add",
                     "Settings": {"MountPath": "/run/mounts/m1", "Lun": 1, "Controller": 0}}
  })";
  const auto request = schema::parse_modify_setting_request(kText);
  CHECK(request.request_type == schema::ModifyRequestType::Add);
  CHECK(Json(request) == Json::parse(kText));
  const auto attachment = request.settings.get<schema::Attachment>();
  CHECK(attachment.type == "VirtualDisk");
  const auto guest = request.guest_request.get<schema::GuestModifySettingRequest>();
  CHECK(guest.resource_type == "MappedVirtualDisk");
  CHECK(guest.settings.at("Lun") == 1);

  // A bare number as Settings (Memory/SizeInMB) is fine too.
  const auto resize = schema::parse_modify_setting_request(
      R"({"ResourcePath":"VirtualMachine/ComputeTopology/Memory/SizeInMB","RequestType":"Update","Settings":2048})");
  CHECK(resize.settings == 2048);

  // Reading Settings as the wrong type is a schema error too, with a path relative to Settings.
  const auto failure = failure_of([&] { Json::parse(R"({"ReadOnly":"yes"})").get<schema::Attachment>(); });
  REQUIRE(failure.has_value());
  CHECK(failure->kind == ErrorKind::InvalidArgument);
  CHECK_THAT(failure->message, ContainsSubstring("invalid JSON at $.ReadOnly: expected boolean"));
}

TEST_CASE("result, exit and process documents round-trip", "[hcs][schema]") {
  const auto result = schema::parse_result_error(
      R"({"Error":-2147024891,"ErrorMessage":"","Attribution":[{"OperationFailure":{"Detail":"Construct"}}],
          "ErrorEvents":[{"Message":"The data is invalid.","Provider":"17103e3f-3c6e-4677-bb17-3b267eb5be57",
                          "EventId":11000,"Data":[{"Type":"String","Value":"%%2147942413"}]}]})");
  CHECK(result.error == -2147024891);
  CHECK(result.error_message == "");  // present and empty: kept
  CHECK(result.attribution.at(0).operation_failure->detail == "Construct");
  CHECK(result.error_events.at(0).event_id == 11000);
  CHECK(schema::parse_result_error(schema::to_json_text(result)) == result);

  const auto exit = schema::parse_system_exit_status(
      R"({"Status":-1070136058,"ExitType":"UnexpectedExit",
          "Attribution":[{"SystemExit":{"Detail":"UnexpectedExit","Initiator":"Internal"}},
                         {"WorkerExit":{"ExitCode":3221225477,"Type":"Crash"}},{"InjectNonMaskableInterrupt":{}}]})");
  CHECK(exit.exit_type == "UnexpectedExit");
  CHECK(exit.attribution.at(1).worker_exit->exit_code == 3221225477U);
  CHECK(exit.attribution.at(2).inject_non_maskable_interrupt.has_value());
  CHECK(schema::parse_system_exit_status(schema::to_json_text(exit)) == exit);

  const auto status =
      schema::parse_process_status(R"({"ProcessId":4242,"Exited":true,"ExitCode":4294967295,"LastWaitResult":0})");
  CHECK(status.exit_code == 4294967295U);
  CHECK(status.last_wait_result == 0);

  const auto parameters = schema::parse_process_parameters(
      R"({"CommandLine":"cmd /c echo hi","WorkingDirectory":"C:\\","Environment":{"PATH":"C:\\Windows"},
          "EmulateConsole":true,"CreateStdInPipe":true,"CreateStdOutPipe":true,"ConsoleSize":[24,80]})");
  CHECK(parameters.console_size == std::vector<std::uint16_t>{24, 80});
  CHECK(parameters.environment.at("PATH") == R"(C:\Windows)");
  CHECK(schema::parse_process_parameters(schema::to_json_text(parameters)) == parameters);

  const auto modify =
      schema::parse_process_modify_request(R"({"Operation":"CloseHandle","CloseHandle":{"Handle":"StdIn"}})");
  CHECK(modify.close_handle->handle == schema::StdioHandle::StdIn);
}

TEST_CASE("property documents round-trip, with LCOWMetrics kept as JSON", "[hcs][schema]") {
  constexpr const char* kProperties = R"({
    "Id": "uvm-1", "SystemType": "VirtualMachine", "RuntimeOsType": "Linux", "Owner": "containerd-shim-lcow-v2",
    "RuntimeId": "0f0e0d0c-0b0a-0908-0706-050403020100", "State": "Running",
    "Statistics": {"Timestamp": "2026-08-20T01:05:49.1234567Z", "Uptime100ns": 123456789012,
                   "Processor": {"TotalRuntime100ns": 5000000000}, "Memory": {"MemoryUsageCommitBytes": 8589934592}},
    "ProcessList": [{"ProcessId": 4, "ImageName": "System", "MemoryWorkingSetPrivateBytes": 5368709120}],
    "Memory": {"VirtualNodeCount": 1, "VirtualMachineMemory": {"AssignedMemory": 1073741824}},
    "GuestConnectionInfo": {"SupportedSchemaVersions": [{"Major": 2, "Minor": 1}], "ProtocolVersion": 4,
                            "GuestDefinedCapabilities": {"SignalProcessSupported": true}},
    "PropertyResponses": {"Memory": {"Response": {"any": ["thing"]}},
                          "CpuGroup": {"Error": {"Error": -2147467263, "ErrorMessage": "Not implemented"}}},
    "LCOWMetrics": {"memory": {"usage": {"usage": 1234}}, "pids": {"current": 3}}
  })";
  const auto properties = schema::parse_properties(kProperties);
  CHECK(properties.process_list.at(0).memory_working_set_private_bytes == 5368709120U);
  CHECK(properties.lcow_metrics.at("pids").at("current") == 3);
  CHECK(Json(properties) == Json::parse(kProperties));

  const auto list = schema::parse_properties_list(R"([{"Id":"a"},{"Id":"b","State":"Stopped"}])");
  REQUIRE(list.size() == 2);
  CHECK(list[1].state == "Stopped");

  const auto service = schema::parse_service_properties(
      R"({"Properties":[{"LogicalProcessorCount":2,"LogicalProcessors":[
            {"LpIndex":0,"NodeNumber":0,"PackageId":0,"CoreId":0,"RootVpIndex":0},
            {"LpIndex":1,"NodeNumber":0,"PackageId":0,"CoreId":1,"RootVpIndex":-1}]}]})");
  REQUIRE(service.properties.size() == 1);
  const auto topology = service.properties[0].get<schema::ProcessorTopology>();
  CHECK(topology.logical_processor_count == 2U);
  CHECK(topology.logical_processors.at(1).root_vp_index == -1);

  const auto query = schema::parse_property_query(R"({"PropertyTypes":["Memory","ProcessList"],"Queries":{"x":null}})");
  CHECK(query.property_types.size() == 2);
  CHECK(Json(query) == Json::parse(R"({"PropertyTypes":["Memory","ProcessList"],"Queries":{"x":null}})"));
}
