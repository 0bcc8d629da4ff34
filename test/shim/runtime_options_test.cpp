// Runtime options: protobuf and CRI TOML forms onto one typed structure, errors, warnings, persistence in the bundle.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <google/protobuf/any.pb.h>

#include "containerd/types/runtimeoptions/v1/api.pb.h"
#include "shimcore/errdefs.h"
#include "shimcore/shim/runtime_options.h"
#include "test_util.h"

using Catch::Matchers::ContainsSubstring;
using shimcore::ErrorKind;
using shimcore::shim::parse_runtime_options;
using shimcore::shim::parse_runtime_options_toml;
using shimcore::shim::RuntimeOptions;
namespace v1 = containerd::runhcs::v1;

namespace {

std::string any_bytes(const std::string& type_url, const std::string& value) {
  google::protobuf::Any any;
  any.set_type_url(type_url);
  any.set_value(value);
  return any.SerializeAsString();
}

std::string cri_toml_any(const std::string& body) {
  runtimeoptions::v1::Options cri;
  cri.set_config_body(body);
  return any_bytes("runtimeoptions.v1.Options", cri.SerializeAsString());
}

// The error parse_runtime_options throws for `bytes`, or "" when it does not throw.
std::string error_of(const std::string& bytes, ErrorKind expected = ErrorKind::InvalidArgument) {
  try {
    parse_runtime_options(bytes);
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == expected);
    return error.what();
  }
  return {};
}

}  // namespace

TEST_CASE("empty stdin means default options", "[shim][options]") {
  const auto parsed = parse_runtime_options("");
  CHECK(parsed.warnings.empty());
  CHECK(parsed.options.SerializeAsString().empty());
  // A CRI Any with neither body nor path is defaults too.
  CHECK(parse_runtime_options(any_bytes("runtimeoptions.v1.Options", "")).options.SerializeAsString().empty());
}

TEST_CASE("a containerd.runhcs.v1.Options Any is taken as is", "[shim][options]") {
  RuntimeOptions sent;
  sent.set_debug(true);
  sent.set_debug_type(v1::Options::ETW);
  sent.set_sandbox_isolation(v1::Options::HYPERVISOR);
  sent.set_vm_memory_size_in_mb(2048);
  sent.set_log_level("warn");
  (*sent.mutable_default_container_annotations())["io.microsoft.container.processdumplocation"] = "C:\\dumps";
  for (const std::string url : {"containerd.runhcs.v1.Options", "type.googleapis.com/containerd.runhcs.v1.Options"}) {
    CAPTURE(url);
    const auto parsed = parse_runtime_options(any_bytes(url, sent.SerializeAsString()));
    CHECK(parsed.warnings.empty());
    CHECK(parsed.options.SerializeAsString() == sent.SerializeAsString());
  }
  CHECK_THAT(error_of(any_bytes("containerd.runhcs.v1.Options", "\xff\xff")), ContainsSubstring("does not parse"));
}

TEST_CASE("CRI's TOML table maps onto the runhcs fields by their Go names", "[shim][options]") {
  // As containerd's CRI writes config_body (go-toml v2 Marshal of the runtime's `options` table).
  const std::string body = R"(BootFilesRootPath = 'C:\ContainerPlat\LinuxBootFiles'
Debug = true
DebugType = 2
DefaultContainerScratchSizeInGb = 30
DefaultVmScratchSizeInGb = 40
GPUVHDPath = 'C:\gpu.vhdx'
IoRetryTimeoutInSec = 5
LogLevel = 'trace'
NCProxyAddr = '\\.\pipe\ncproxy'
NoInheritHostTimezone = true
RegistryRoot = 'C:\registry'
SandboxImage = 'mcr.microsoft.com/oss/kubernetes/pause:3.9'
SandboxIsolation = 1
SandboxPlatform = 'windows/amd64'
ScaleCpuLimitsToSandbox = true
ScrubLogs = false
ShareScratch = true
VmMemorySizeInMb = 1024
VmProcessorCount = 4

[DefaultContainerAnnotations]
'io.microsoft.virtualmachine.computetopology.processor.count' = '2'
)";
  const auto parsed = parse_runtime_options(cri_toml_any(body));
  CHECK(parsed.warnings.empty());
  const RuntimeOptions& options = parsed.options;
  CHECK(options.boot_files_root_path() == "C:\\ContainerPlat\\LinuxBootFiles");
  CHECK(options.debug());
  CHECK(options.debug_type() == v1::Options::ETW);
  CHECK(options.default_container_scratch_size_in_gb() == 30);
  CHECK(options.default_vm_scratch_size_in_gb() == 40);
  CHECK(options.gpuvhdpath() == "C:\\gpu.vhdx");
  CHECK(options.io_retry_timeout_in_sec() == 5);
  CHECK(options.log_level() == "trace");
  CHECK(options.ncproxyaddr() == "\\\\.\\pipe\\ncproxy");
  CHECK(options.no_inherit_host_timezone());
  CHECK(options.registry_root() == "C:\\registry");
  CHECK(options.sandbox_image() == "mcr.microsoft.com/oss/kubernetes/pause:3.9");
  CHECK(options.sandbox_isolation() == v1::Options::HYPERVISOR);
  CHECK(options.sandbox_platform() == "windows/amd64");
  CHECK(options.scale_cpu_limits_to_sandbox());
  REQUIRE(options.has_scrub_logs());  // presence matters: explicitly off
  CHECK_FALSE(options.scrub_logs());
  CHECK(options.share_scratch());
  CHECK(options.vm_memory_size_in_mb() == 1024);
  CHECK(options.vm_processor_count() == 4);
  REQUIRE(options.default_container_annotations().size() == 1);
  CHECK(options.default_container_annotations().at("io.microsoft.virtualmachine.computetopology.processor.count") ==
        "2");
}

TEST_CASE("TOML keys: exact Go names, then case-insensitive as go-toml; enums by number or name", "[shim][options]") {
  const auto parsed = parse_runtime_options_toml("debug = true\nsandboxisolation = 'HYPERVISOR'\nDEBUGTYPE = 1\n");
  CHECK(parsed.warnings.empty());
  CHECK(parsed.options.debug());
  CHECK(parsed.options.sandbox_isolation() == v1::Options::HYPERVISOR);
  CHECK(parsed.options.debug_type() == v1::Options::FILE);
}

TEST_CASE("the Go field names are protoc-gen-go's", "[shim][options]") {
  std::vector<std::string> names;
  const auto* descriptor = RuntimeOptions::descriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    names.push_back(shimcore::shim::go_field_name(descriptor->field(i)->name()));
  }
  CHECK(names == std::vector<std::string>{"Debug",
                                          "DebugType",
                                          "RegistryRoot",
                                          "SandboxImage",
                                          "SandboxPlatform",
                                          "SandboxIsolation",
                                          "BootFilesRootPath",
                                          "VmProcessorCount",
                                          "VmMemorySizeInMb",
                                          "GPUVHDPath",
                                          "ScaleCpuLimitsToSandbox",
                                          "DefaultContainerScratchSizeInGb",
                                          "DefaultVmScratchSizeInGb",
                                          "ShareScratch",
                                          "NCProxyAddr",
                                          "LogLevel",
                                          "IoRetryTimeoutInSec",
                                          "DefaultContainerAnnotations",
                                          "NoInheritHostTimezone",
                                          "ScrubLogs"});
  CHECK(shimcore::shim::go_field_name("_x_1y") == "XX_1Y");  // a leading underscore becomes X
}

TEST_CASE("unknown TOML keys are warnings, not errors", "[shim][options]") {
  const auto parsed = parse_runtime_options(cri_toml_any("Debug = true\nKernel = '/vmlinux'\n[Extra]\nx = 1\n"));
  CHECK(parsed.options.debug());
  REQUIRE(parsed.warnings.size() == 2);
  CHECK_THAT(parsed.warnings[0], ContainsSubstring("\"Extra\"") && ContainsSubstring("line 3"));
  CHECK_THAT(parsed.warnings[1], ContainsSubstring("\"Kernel\"") && ContainsSubstring("line 2"));
}

TEST_CASE("a TOML syntax error is InvalidArgument with its line", "[shim][options]") {
  const std::string message = error_of(cri_toml_any("Debug = true\nVmProcessorCount = = 2\n"));
  CHECK_THAT(message, ContainsSubstring("TOML syntax error at line 2"));
  CHECK_THAT(error_of(cri_toml_any("[a\n")), ContainsSubstring("line 1"));
}

TEST_CASE("a value of the wrong type is InvalidArgument naming the key", "[shim][options]") {
  CHECK_THAT(error_of(cri_toml_any("Debug = 'yes'\n")),
             ContainsSubstring("\"Debug\" (line 1) must be a boolean, not a string"));
  CHECK_THAT(error_of(cri_toml_any("SandboxImage = 3\n")), ContainsSubstring("\"SandboxImage\""));
  CHECK_THAT(error_of(cri_toml_any("\nVmProcessorCount = 2.5\n")),
             ContainsSubstring("\"VmProcessorCount\" (line 2) must be an integer, not a float"));
  CHECK_THAT(error_of(cri_toml_any("VmMemorySizeInMb = 4294967296\n")),
             ContainsSubstring("\"VmMemorySizeInMb\"") && ContainsSubstring("out of range"));
  CHECK_THAT(error_of(cri_toml_any("SandboxIsolation = 7\n")),
             ContainsSubstring("\"SandboxIsolation\"") && ContainsSubstring("HYPERVISOR = 1"));
  CHECK_THAT(error_of(cri_toml_any("DebugType = true\n")), ContainsSubstring("\"DebugType\""));
  CHECK_THAT(error_of(cri_toml_any("[DefaultContainerAnnotations]\na = 1\n")),
             ContainsSubstring("\"DefaultContainerAnnotations.a\""));
  CHECK_THAT(error_of(cri_toml_any("DefaultContainerAnnotations = 'x'\n")),
             ContainsSubstring("\"DefaultContainerAnnotations\""));
  CHECK_THAT(error_of(cri_toml_any("LogLevel = 'loud'\n")), ContainsSubstring("LogLevel \"loud\""));
}

TEST_CASE("other Any types and garbage are refused", "[shim][options]") {
  CHECK_THAT(error_of(any_bytes("containerd.runc.v1.Options", "")),
             ContainsSubstring("unsupported runtime options type \"containerd.runc.v1.Options\""));
  CHECK_THAT(error_of(std::string("\xff\xff\xff", 3)), ContainsSubstring("not a serialized google.protobuf.Any"));
}

TEST_CASE("config_path names a TOML file (ctr --runtime-config-path)", "[shim][options]") {
  shimcore::testing::TempDir dir("shimcore-options-");
  const auto path = dir.path / "runtime.toml";
  std::ofstream(path) << "VmProcessorCount = 3\n";
  runtimeoptions::v1::Options cri;
  cri.set_config_path(path.string());
  CHECK(parse_runtime_options(any_bytes("runtimeoptions.v1.Options", cri.SerializeAsString()))
            .options.vm_processor_count() == 3);
  cri.set_config_path((dir.path / "missing.toml").string());
  CHECK_THAT(error_of(any_bytes("runtimeoptions.v1.Options", cri.SerializeAsString())),
             ContainsSubstring("missing.toml"));
}

TEST_CASE("the bundle keeps the parsed options for serve", "[shim][options]") {
  shimcore::testing::TempDir bundle("shimcore-options-");
  CHECK(shimcore::shim::load_runtime_options(bundle.path).SerializeAsString().empty());  // none saved: defaults
  const auto parsed = parse_runtime_options(cri_toml_any("LogLevel = 'debug'\nVmMemorySizeInMb = 512\n"));
  shimcore::shim::save_runtime_options(bundle.path, parsed.options);
  const RuntimeOptions loaded = shimcore::shim::load_runtime_options(bundle.path);
  CHECK(loaded.log_level() == "debug");
  CHECK(loaded.vm_memory_size_in_mb() == 512);
  // One format: the file is an Any of the runhcs type.
  std::ifstream in(bundle.path / shimcore::shim::kRuntimeOptionsFile, std::ios::binary);
  google::protobuf::Any any;
  REQUIRE(any.ParseFromIstream(&in));
  CHECK(any.type_url() == "containerd.runhcs.v1.Options");
}

TEST_CASE("the daemon's log level: LogLevel over Debug over the -debug flag", "[shim][options]") {
  using shimcore::shim::LogLevel;
  using shimcore::shim::runtime_log_level;
  RuntimeOptions options;
  CHECK(runtime_log_level(options, false) == LogLevel::Info);
  CHECK(runtime_log_level(options, true) == LogLevel::Debug);
  options.set_debug(true);
  CHECK(runtime_log_level(options, false) == LogLevel::Debug);
  options.set_log_level("Error");
  CHECK(runtime_log_level(options, true) == LogLevel::Error);
}

TEST_CASE("non-ASCII: fine in strings and comments, refused where toml++ 3.3 would misbehave", "[shim][options]") {
  const auto parsed = parse_runtime_options_toml(
      "# Grüße\nSandboxImage = 'café/ïmage'\nRegistryRoot = \"Ω\"\n"
      "LogLevel = '''\ninfo'''\n");
  CHECK(parsed.options.sandbox_image() == "café/ïmage");
  CHECK(parsed.options.registry_root() == "Ω");
  CHECK(parsed.options.log_level() == "info");
  // Found by fuzz_runtime_options (and upstream as marzer/tomlplusplus#190, #295): UB inside toml++ 3.3.
  CHECK_THAT(error_of(cri_toml_any("Lr.\xc4\x92{")),
             ContainsSubstring("line 1, column 4: a non-ASCII character outside a string or comment"));
  CHECK_THAT(error_of(cri_toml_any("\xcc\xaa")), ContainsSubstring("non-ASCII"));
  CHECK_THAT(error_of(cri_toml_any("SandboxImage = \"\"\"\\\n\xc2\xa7\"\"\"\n")),
             ContainsSubstring("line 2") && ContainsSubstring("after a backslash"));
  CHECK_THAT(error_of(cri_toml_any("Debug =-'Cn\xc3\x8b")), ContainsSubstring("a quote that starts no string"));
  CHECK_THAT(error_of(cri_toml_any("VmProcessorCount = 1.'\xc3\x8b'")), ContainsSubstring("non-ASCII"));
  CHECK_THAT(error_of(cri_toml_any("SandboxImage = \"\"\"x\\\t\xef\xb6\xbf\"\"\"")),
             ContainsSubstring("after a backslash"));
  CHECK(parse_runtime_options_toml("SandboxImage = \"\"\"a\\\n  b\"\"\"\nDebug = true\n").options.sandbox_image() ==
        "ab");
  // Multi-line strings with quotes inside and escapes end where TOML says.
  CHECK(parse_runtime_options_toml("SandboxImage = \"\"\"a\\\"\"\"\"\"\nDebug = true\n").options.debug());
}
