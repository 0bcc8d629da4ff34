// Golden-case inputs (the LCOW input.json schema) turned into builder inputs: host, file probe, options, specs.
#include "shimcore/builder/lcow_case.h"

#include <memory>
#include <set>

#include <fmt/format.h>

#include "builder/common/case_input.h"
#include "builder/lcow/shared.h"
#include "shimcore/errdefs.h"

namespace shimcore::builder::lcow {

namespace {

using namespace shimcore::builder::detail::case_input;

std::vector<WindowsDevice> devices_of(const Json& input) {
  std::vector<WindowsDevice> devices;
  const Json* list = member(input, "devices");
  if (list == nullptr) return devices;
  if (!list->is_array()) bad_input("devices must be an array");
  for (const Json& device : *list) {
    devices.push_back(WindowsDevice{string_member(device, "id"), string_member(device, "idType")});
  }
  return devices;
}

std::optional<WindowsResources> resources_of(const Json& input) {
  const Json* resources = member(input, "legacyWindowsResources");
  if (resources == nullptr) return std::nullopt;
  WindowsResources out;
  const auto optional_u64 = [](const Json* object, const char* name) -> std::optional<std::uint64_t> {
    if (object == nullptr || member(*object, name) == nullptr) return std::nullopt;
    return integer_member<std::uint64_t>(*object, name, 0);
  };
  const auto optional_u16 = [](const Json* object, const char* name) -> std::optional<std::uint16_t> {
    if (object == nullptr || member(*object, name) == nullptr) return std::nullopt;
    return integer_member<std::uint16_t>(*object, name, 0);
  };
  const Json* cpu = member(*resources, "cpu");
  const Json* memory = member(*resources, "memory");
  const Json* storage = member(*resources, "storage");
  out.cpu_count = optional_u64(cpu, "count");
  out.cpu_shares = optional_u16(cpu, "shares");
  out.cpu_maximum = optional_u16(cpu, "maximum");
  out.memory_limit = optional_u64(memory, "limit");
  out.storage_iops = optional_u64(storage, "iops");
  out.storage_bps = optional_u64(storage, "bps");
  return out;
}

BuildEnvironment environment_of(const Json& input) {
  BuildEnvironment environment;
  const Json* host = member(input, "host");
  if (host == nullptr) bad_input("host is required");
  environment.host.os_build = integer_member<std::uint32_t>(*host, "osBuild", 0);
  environment.host.logical_processors = integer_member<std::uint32_t>(*host, "logicalProcessorCount", 0);
  environment.host.active_processors = integer_member<std::uint32_t>(*host, "goRuntimeNumCPU", 0);
  environment.host.architecture = string_member(*host, "goarch", "amd64");
  environment.host.product_type = string_member(*host, "productType", "Server");
  environment.default_boot_files_path =
      string_member(input, "defaultBootFilesPath", environment.default_boot_files_path);

  // The probe sees the boot-files folder and exactly the files the case lists in it.
  auto known = std::make_shared<std::set<std::string>>();
  if (const Json* boot = member(input, "bootFiles")) {
    const std::string dir = string_member(*boot, "dir");
    if (!dir.empty()) known->insert(detail::winpath::comparable(dir));
    if (const Json* files = member(*boot, "files")) {
      if (!files->is_array()) bad_input("bootFiles.files must be an array");
      for (const Json& file : *files) {
        if (!file.is_string()) bad_input("bootFiles.files must hold strings");
        known->insert(detail::winpath::comparable(detail::winpath::join(dir, file.get<std::string>())));
      }
    }
  }
  environment.file_exists = [known](const std::string& path) {
    return known->contains(detail::winpath::comparable(path));
  };
  return environment;
}

}  // namespace

Pipeline parse_pipeline(const std::string& name) {
  if (name == "legacy") return Pipeline::Legacy;
  if (name == "v2") return Pipeline::V2;
  throw Error(ErrorKind::InvalidArgument, fmt::format("unknown LCOW pipeline {:?} (legacy or v2)", name));
}

CaseOutput run_case(const Json& input, Pipeline pipeline) {
  if (!input.is_object()) bad_input("the case must be a JSON object");
  const BuildEnvironment environment = environment_of(input);
  const std::optional<RuntimeOptions> options = runtime_options_of(input);
  const std::string owner = string_member(input, "owner", "test-owner");
  const std::string bundle = string_member(input, "bundleDir");
  Annotations annotations = string_map(member(input, "annotations"), "annotations");
  const std::vector<WindowsDevice> devices = devices_of(input);

  BuildResult result;
  if (pipeline == Pipeline::Legacy) {
    // hcsshim's parity tests force the vPMem count on the legacy side (V2 has no vPMem).
    if (const Json* vpmem = member(input, "legacyVPMemCountOverride")) {
      if (!vpmem->is_string()) bad_input("legacyVPMemCountOverride must be a string or null");
      annotations[detail::keys::kVpmemCount] = vpmem->get<std::string>();
    }
    result = build_legacy(LegacySpec{annotations, devices, resources_of(input)}, options, owner, bundle, environment);
  } else {
    result = build_v2(SandboxSpec{annotations, devices}, options, owner, bundle, environment);
  }
  CaseOutput output;
  output.document = result.document;
  output.sandbox_options = result.sandbox_options;
  output.warnings = std::move(result.warnings);
  return output;
}

Json build_from_case(const Json& input, Pipeline pipeline) { return run_case(input, pipeline).document; }

}  // namespace shimcore::builder::lcow
