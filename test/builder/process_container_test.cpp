// The process-container builder on rules the golden cases do not exercise: where each value comes from, which
// annotations win, what is dropped or refused and with which error kind.
#include <optional>
#include <string>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

#include "shimcore/builder/process_container.h"
#include "shimcore/builder/process_container_input.h"
#include "shimcore/errdefs.h"

namespace {

using Catch::Matchers::ContainsSubstring;
using nlohmann::json;
using shimcore::ErrorKind;
namespace builder = shimcore::builder;
namespace schema = shimcore::hcs::schema;

const std::string kRoot = R"(\\?\Volume{3e8f9d8a-1f1b-4c3d-9a8e-0123456789ab}\)";
const std::string kDumpKey = R"(Microsoft\Windows\Windows Error Reporting\LocalDumps)";

json base_spec() { return {{"ociVersion", "1.1.0"}, {"root", {{"path", kRoot}}}, {"windows", json::object()}}; }

builder::ProcessContainerHost test_host() {
  builder::ProcessContainerHost host;
  host.os_build = 20348;
  host.logical_processors = 4;
  host.file_exists = [](const std::string& path) { return path == R"(C:\ext\a.json)"; };
  host.read_file = [](const std::string& path) -> std::optional<std::string> {
    if (path == R"(C:\ext\a.json)") return R"({"device_category":{"name":"gpu"}})";
    return std::nullopt;
  };
  host.resolve_path = [](const std::string& path) -> std::optional<std::string> {
    if (path.find("missing") != std::string::npos) return std::nullopt;
    return builder::golden_resolve_path(path);
  };
  return host;
}

json build(const json& spec, builder::ProcessContainerHost host = test_host()) {
  builder::ProcessContainerRequest request;
  request.spec = spec;
  request.id = "ctr-1";
  return builder::build_process_container(request, host);
}

// The error kind and message of a build that must fail.
shimcore::Error build_error(const json& spec, builder::ProcessContainerHost host = test_host()) {
  try {
    build(spec, std::move(host));
  } catch (const shimcore::Error& error) {
    return error;
  }
  FAIL("the spec was accepted: " << spec.dump());
  return shimcore::Error(ErrorKind::Unknown, "");
}

json annotated(const json& annotations) {
  json spec = base_spec();
  spec["annotations"] = annotations;
  return spec;
}

}  // namespace

TEST_CASE("a minimal spec gives storage, an empty Processor and the WaitToKillServiceTimeout value only",
          "[builder][process]") {
  const json document = build(base_spec());
  CHECK(document == json::parse(R"({
    "Storage": {"Path": "\\\\?\\Volume{3e8f9d8a-1f1b-4c3d-9a8e-0123456789ab}\\"},
    "Processor": {},
    "RegistryChanges": {"AddValues": [{"Key": {"Hive": "System", "Name": "ControlSet001\\Control"},
      "Name": "WaitToKillServiceTimeout", "Type": "String", "StringValue": "2147483647"}]}})"));
}

TEST_CASE("resources come from the spec when no annotation overrides them", "[builder][process]") {
  json spec = base_spec();
  spec["windows"]["resources"] = {{"memory", {{"limit", 3 * 1024 * 1024 + 5}}},
                                  {"cpu", {{"shares", 300}}},
                                  {"storage", {{"iops", 7}, {"bps", 9000}}}};
  json document = build(spec);
  CHECK(document["Memory"] == json({{"SizeInMB", 3}}));  // bytes, rounded down to MB
  CHECK(document["Processor"] == json({{"Weight", 300}}));
  CHECK(document["Storage"]["QoS"] == json({{"IopsMaximum", 7}, {"BandwidthMaximum", 9000}}));

  // A set annotation wins; an unparsable one is ignored and the spec value applies.
  spec["annotations"] = {{"io.microsoft.container.memory.sizeinmb", "lots"},
                         {"io.microsoft.container.processor.weight", "50"},
                         {"io.microsoft.container.storage.qos.iopsmaximum", "0x10"}};
  document = build(spec);
  CHECK(document["Memory"] == json({{"SizeInMB", 3}}));
  CHECK(document["Processor"] == json({{"Weight", 50}}));
  CHECK(document["Storage"]["QoS"]["IopsMaximum"] == 7);
}

TEST_CASE("the CPU count is clamped to the host; count, limit and weight exclude each other", "[builder][process]") {
  CHECK(build(annotated({{"io.microsoft.container.processor.count", "64"}}))["Processor"] == json({{"Count", 4}}));
  CHECK(build(annotated({{"io.microsoft.container.processor.count", "3"}}))["Processor"] == json({{"Count", 3}}));

  json spec = annotated({{"io.microsoft.container.processor.count", "2"}});
  spec["windows"]["resources"]["cpu"] = {{"shares", 10}};
  const auto error = build_error(spec);
  CHECK(error.kind() == ErrorKind::InvalidArgument);
  CHECK_THAT(error.what(), ContainsSubstring("Count: '2', Limit: '0', and Weight: '10' are mutually exclusive"));

  // Refused rather than handed to HCS: negative annotations and spec values beyond HCS's int32 fields.
  CHECK_THAT(build_error(annotated({{"io.microsoft.container.processor.limit", "-1"}})).what(),
             ContainsSubstring("io.microsoft.container.processor.limit"));
  json huge = base_spec();
  huge["windows"]["resources"]["cpu"] = {{"count", 4294967297ULL}};
  CHECK_THAT(build_error(huge).what(), ContainsSubstring("spec.windows.resources.cpu.count = 4294967297"));
}

TEST_CASE("a spec value of the wrong type is refused naming its path", "[builder][process]") {
  json spec = base_spec();
  spec["windows"]["resources"]["cpu"] = {{"maximum", "5000"}};
  const auto error = build_error(spec);
  CHECK(error.kind() == ErrorKind::InvalidArgument);
  CHECK_THAT(error.what(), ContainsSubstring("spec.windows.resources.cpu.maximum"));
  CHECK_THAT(error.what(), ContainsSubstring("string \"5000\""));
  CHECK(build_error(json::array()).kind() == ErrorKind::InvalidArgument);
}

TEST_CASE("process dumps default to 10 full dumps and refuse bad type or count", "[builder][process]") {
  const json document = build(annotated({{"io.microsoft.container.processdumplocation", R"(C:\d\{CONTAINER_ID})"}}));
  const json& values = document["RegistryChanges"]["AddValues"];
  REQUIRE(values.size() == 4);
  CHECK(values[1]["StringValue"] == R"(C:\d\ctr-1)");
  CHECK(values[2] == json({{"Key", {{"Hive", "Software"}, {"Name", kDumpKey}}},
                           {"Name", "DumpType"},
                           {"Type", "DWord"},
                           {"DWordValue", 2}}));
  CHECK(values[3]["DWordValue"] == 10);

  // An empty location means no dumps; bad settings are errors only when dumps are on.
  CHECK(build(annotated({{"io.microsoft.container.processdumplocation", ""},
                         {"io.microsoft.wcow.processdumptype", "huge"}}))["RegistryChanges"]["AddValues"]
            .size() == 1);
  CHECK_THAT(build_error(annotated({{"io.microsoft.container.processdumplocation", "C:\\d"},
                                    {"io.microsoft.wcow.processdumptype", "huge"}}))
                 .what(),
             ContainsSubstring("io.microsoft.wcow.processdumptype"));
  CHECK(build_error(annotated({{"io.microsoft.container.processdumplocation", "C:\\d"},
                               {"io.microsoft.wcow.processdumpcount", "0"}}))
            .kind() == ErrorKind::InvalidArgument);
}

TEST_CASE("test registry values are decoded as Go does and filtered as hcsshim does", "[builder][process]") {
  const std::string values = R"([
    {"key": {"hive": "System", "name": "CurrentControlSet\\Services\\svc"}, "name": "A", "type": "DWord",
     "dwordvalue": -1},
    {"Key": {"Hive": "System", "Name": "ControlSet001\\Control"}, "Name": "B", "Type": "String", "StringValue": "x"},
    {"Key": {"Hive": "Software", "Name": "k"}, "Name": "C", "Type": "String", "StringValue": "x", "DWordValue": 1},
    {"Key": {"Hive": "Software", "Name": "k"}, "Name": "D", "Type": "Text"},
    {"Key": {"Hive": "software", "Name": "k"}, "Name": "E", "Type": "None"},
    null
  ])";
  const json document = build(annotated({{"io.microsoft.container.wcow.test-registry-annotation", values}}));
  const json& added = document["RegistryChanges"]["AddValues"];
  REQUIRE(added.size() == 2);  // only A: B is outside the permitted keys, C sets two values, D/E bad type/hive
  CHECK(added[1] == json({{"Key", {{"Hive", "System"}, {"Name", R"(CurrentControlSet\Services\svc)"}}},
                          {"Name", "A"},
                          {"Type", "DWord"},
                          {"DWordValue", 4294967295U}}));

  // One mistyped member makes Go's decoder fail, and hcsshim then ignores the whole annotation.
  const std::string mistyped = R"([{"Key": {"Hive": "Software", "Name": "k"}, "Name": "F", "Type": "DWord",
    "DWordValue": 1.5}])";
  CHECK(build(annotated(
            {{"io.microsoft.container.wcow.test-registry-annotation", mistyped}}))["RegistryChanges"]["AddValues"]
            .size() == 1);
}

TEST_CASE("mounts: pipes, read-only, dropped and refused mounts", "[builder][process]") {
  json spec = base_spec();
  spec["mounts"] = json::array({
      {{"destination", R"(C:\a)"}, {"source", R"(D:\data)"}, {"options", {"RO"}}},
      {{"destination", R"(C:\dropped)"}, {"source", R"(\\.\pipe\p)"}},         // pipe to a directory: dropped
      {{"destination", R"(\\.\pipe\c)"}, {"source", R"(E:\dir)"}},             // directory to a pipe name: a directory
      {{"destination", R"(\\.\pipe\uvm)"}, {"source", R"(uvm://\\.\pipe\x)"}}  // a VM pipe without a VM: dropped
  });
  const json document = build(spec);
  CHECK(document["MappedDirectories"] ==
        json::parse(R"([{"HostPath": "\\\\?\\Volume{00000000-0000-0000-0000-000000000044}\\data",
                          "ContainerPath": "C:\\a", "ReadOnly": true},
                         {"HostPath": "\\\\?\\Volume{00000000-0000-0000-0000-000000000045}\\dir",
                          "ContainerPath": "\\\\.\\pipe\\c"}])"));
  CHECK_FALSE(document.contains("MappedPipes"));

  json empty_source = base_spec();
  empty_source["mounts"] = json::array({{{"destination", R"(C:\a)"}}});
  CHECK_THAT(build_error(empty_source).what(), ContainsSubstring("spec.mounts[0]"));

  json missing = base_spec();
  missing["mounts"] = json::array({{{"destination", R"(C:\a)"}, {"source", R"(C:\missing)"}}});
  CHECK(build_error(missing).kind() == ErrorKind::NotFound);
}

TEST_CASE("devices by location path, and device extensions from host files", "[builder][process]") {
  json spec = base_spec();
  spec["windows"]["devices"] = json::array({{{"id", "PCIROOT(0)"}, {"idType", "vpci-location-path"}}});
  CHECK(build(spec)["AssignedDevices"] == json::array({{{"Type", "DeviceInstance"}, {"LocationPath", "PCIROOT(0)"}}}));
  spec["windows"]["devices"] = json::array({{{"id", "x"}, {"idType", "gpu"}}});
  CHECK_THAT(build_error(spec).what(), ContainsSubstring("unsupported type gpu"));

  const json extended = annotated({{"io.microsoft.container.wcow.deviceextensions", R"(C:\ext\a.json)"}});
  CHECK(build(extended)["AdditionalDeviceNamespace"] ==
        json::parse(R"({"device_extension": [{"device_category": {"name": "gpu"}}]})"));
  auto old_host = test_host();
  old_host.os_build = 19041;
  CHECK(build_error(extended, old_host).kind() == ErrorKind::FailedPrecondition);
  CHECK(build_error(annotated({{"io.microsoft.container.wcow.deviceextensions", R"(C:\ext\a.json,C:\ext\b.json)"}}))
            .kind() == ErrorKind::NotFound);
}

TEST_CASE("what the process kind cannot build is refused with a kind that says why", "[builder][process]") {
  CHECK(build_error(annotated({{"microsoft.com/hostprocess-container", "true"}})).kind() == ErrorKind::Unimplemented);
  CHECK(build_error(annotated({{"microsoft.com/hostprocess-container", "true"},
                               {"io.microsoft.disable-unsafe-operations", "true"}}))
            .kind() == ErrorKind::InvalidArgument);  // enabling and disabling host-process containers conflict

  json hyperv = base_spec();
  hyperv["windows"]["hyperv"] = json::object();
  CHECK_THAT(build_error(hyperv).what(), ContainsSubstring("spec.windows.hyperv"));
  json linux_spec = base_spec();
  linux_spec["linux"] = json::object();
  CHECK(build_error(linux_spec).kind() == ErrorKind::InvalidArgument);
  json no_windows = base_spec();
  no_windows.erase("windows");
  CHECK_THAT(build_error(no_windows).what(), ContainsSubstring("Windows section is missing"));
  json no_root = base_spec();
  no_root["root"]["path"] = "";
  CHECK_THAT(build_error(no_root).what(), ContainsSubstring("spec.root.path is empty"));

  auto rs4 = test_host();
  rs4.os_build = 17134;
  CHECK(build_error(base_spec(), rs4).kind() == ErrorKind::FailedPrecondition);
}

TEST_CASE("gMSA: the credential guard instance is written only for a string credential spec, unless disabled",
          "[builder][process]") {
  json spec = base_spec();
  spec["windows"]["credentialSpec"] = "{}";
  builder::ProcessContainerRequest request;
  request.spec = spec;
  request.id = "ctr-1";
  request.credential_guard = schema::ContainerCredentialGuardState{"cookie", "rpc", "ALPC", "{}"};
  json document = builder::build_process_container(request, test_host());
  CHECK(document["ContainerCredentialGuard"] ==
        json({{"Cookie", "cookie"}, {"RpcEndpoint", "rpc"}, {"Transport", "ALPC"}, {"CredentialSpec", "{}"}}));

  request.spec["windows"]["credentialSpec"] = json::object();  // not a string: hcsshim ignores it
  document = builder::build_process_container(request, test_host());
  CHECK_FALSE(document.contains("ContainerCredentialGuard"));

  spec["annotations"] = {{"io.microsoft.disable-unsafe-operations", "true"}};  // expands to gmsa.disable
  CHECK(build_error(spec).kind() == ErrorKind::PermissionDenied);
}

TEST_CASE("root paths: hcsshim's volume GUID pattern, trailing backslash added", "[builder][process]") {
  const auto root_of = [](const std::string& path) {
    json spec = base_spec();
    spec["root"]["path"] = path;
    return build(spec)["Storage"]["Path"].get<std::string>();
  };
  CHECK(root_of(R"(\\?\Volume{3e8f9d8a-1f1b-4c3d-9a8e-0123456789ab})") == kRoot);
  // The pattern's opening brace is optional and its closing one may be doubled.
  CHECK(root_of(R"(\\?\Volume3e8f9d8a-1f1b-4c3d-9a8e-0123456789ab}\)") ==
        R"(\\?\Volume3e8f9d8a-1f1b-4c3d-9a8e-0123456789ab}\)");
  json spec = base_spec();
  spec["root"]["path"] = R"(\\?\Volume{3e8f9d8a-1f1b-4c3d-9a8e-0123456789ab)";
  CHECK(build_error(spec).kind() == ErrorKind::InvalidArgument);
}

TEST_CASE("networking: present with windows.network, even when empty", "[builder][process]") {
  json spec = base_spec();
  spec["windows"]["network"] = json::object();
  CHECK(build(spec)["Networking"] == json::object());
  spec["windows"]["network"] = {{"DNSSearchList", {"a", "b"}}, {"endpointList", {"e"}}};
  CHECK(build(spec)["Networking"] == json({{"DnsSearchList", "a,b"}}));
}
