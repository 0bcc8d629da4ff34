// Golden-case inputs (the wcow/uvm input.json schema) turned into builder inputs: host, file probe, options, spec.
#include "shimcore/builder/wcow_case.h"

#include <memory>
#include <set>

#include <fmt/format.h>

#include "builder/common/case_input.h"
#include "builder/common/go_rules.h"
#include "shimcore/errdefs.h"

namespace shimcore::builder::wcow {

namespace {

using namespace shimcore::builder::detail::case_input;

template <typename T>
std::optional<T> optional_integer(const Json* object, const char* name) {
  if (object == nullptr || member(*object, name) == nullptr) return std::nullopt;
  return integer_member<T>(*object, name, T{});
}

std::optional<WindowsResources> resources_of(const Json& input) {
  const Json* resources = member(input, "windowsResources");
  if (resources == nullptr) return std::nullopt;
  const Json* cpu = member(*resources, "cpu");
  const Json* memory = member(*resources, "memory");
  const Json* storage = member(*resources, "storage");
  WindowsResources out;
  out.cpu_count = optional_integer<std::uint64_t>(cpu, "count");
  out.cpu_shares = optional_integer<std::uint16_t>(cpu, "shares");
  out.cpu_maximum = optional_integer<std::uint16_t>(cpu, "maximum");
  out.memory_limit = optional_integer<std::uint64_t>(memory, "limit");
  out.storage_iops = optional_integer<std::uint64_t>(storage, "iops");
  out.storage_bps = optional_integer<std::uint64_t>(storage, "bps");
  return out;
}

BootFiles boot_files_of(const Json& input) {
  const Json* boot = member(input, "bootFiles");
  if (boot == nullptr) bad_input("bootFiles is required");
  return BootFiles{string_member(*boot, "OSFilesPath"), string_member(*boot, "OSRelativeBootDirPath"),
                   string_member(*boot, "ScratchVHDPath")};
}

BuildEnvironment environment_of(const Json& input) {
  BuildEnvironment environment;
  const Json* host = member(input, "host");
  if (host == nullptr) bad_input("host is required");
  environment.host.os_build = integer_member<std::uint32_t>(*host, "osBuild", 0);
  environment.host.logical_processors = integer_member<std::uint32_t>(*host, "hcsLogicalProcessorCount", 0);
  // Go's runtime.NumCPU: the processors the shim may run on.
  environment.host.active_processors = integer_member<std::uint32_t>(
      *host, "goRuntimeNumCPU", integer_member<std::uint32_t>(*host, "activeProcessorCount", 0));
  environment.host.architecture = string_member(*host, "goarch", "amd64");
  environment.host.product_type = string_member(*host, "productType", "Server");

  // The probe reports exactly the paths the case lists (none in the public cases).
  auto known = std::make_shared<std::set<std::string>>();
  if (const Json* paths = member(input, "existingPaths")) {
    if (!paths->is_array()) bad_input("existingPaths must be an array");
    for (const Json& path : *paths) {
      if (!path.is_string()) bad_input("existingPaths must hold strings");
      known->insert(detail::winpath::comparable(path.get<std::string>()));
    }
  }
  environment.file_exists = [known](const std::string& path) {
    return known->contains(detail::winpath::comparable(path));
  };
  return environment;
}

}  // namespace

CaseOutput run_case(const Json& input) {
  if (!input.is_object()) bad_input("the case must be a JSON object");
  const BuildEnvironment environment = environment_of(input);
  const UvmSpec spec{string_map(member(input, "annotations"), "annotations"), resources_of(input)};
  BuildResult result = build_uvm(spec, runtime_options_of(input), string_member(input, "id", "test-parity@vm"),
                                 string_member(input, "owner", "test-owner"), boot_files_of(input), environment);
  CaseOutput output;
  output.document = result.document;
  output.settings = result.settings;
  output.warnings = std::move(result.warnings);
  return output;
}

Json build_from_case(const Json& input) { return run_case(input).document; }

}  // namespace shimcore::builder::wcow
