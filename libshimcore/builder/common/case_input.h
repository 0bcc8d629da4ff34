// Reading golden-case input.json files (parity/golden/README.md): typed members, errors as InvalidArgument.
#pragma once

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "builder/common/go_rules.h"
#include "shimcore/builder/common.h"
#include "shimcore/errdefs.h"

namespace shimcore::builder::detail::case_input {

using Json = nlohmann::json;

[[noreturn]] inline void bad_input(const std::string& what) {
  throw Error(ErrorKind::InvalidArgument, "golden case input: " + what);
}

inline const Json* member(const Json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  const auto found = object.find(name);
  if (found == object.end() || found->is_null()) return nullptr;
  return &*found;
}

inline std::string string_member(const Json& object, const char* name, std::string fallback = {}) {
  const Json* value = member(object, name);
  if (value == nullptr) return fallback;
  if (!value->is_string()) bad_input(fmt::format("{} must be a string", name));
  return value->get<std::string>();
}

template <typename T>
T integer_member(const Json& object, const char* name, T fallback) {
  const Json* value = member(object, name);
  if (value == nullptr) return fallback;
  if (!value->is_number_integer()) bad_input(fmt::format("{} must be an integer", name));
  try {
    return value->get<T>();
  } catch (const Json::exception&) {
    bad_input(fmt::format("{} is out of range", name));
  }
}

inline Annotations string_map(const Json* value, const char* name) {
  Annotations map;
  if (value == nullptr) return map;
  if (!value->is_object()) bad_input(fmt::format("{} must be an object of strings", name));
  for (const auto& [key, entry] : value->items()) {
    if (!entry.is_string()) bad_input(fmt::format("{}.{} must be a string", name, key));
    map[key] = entry.get<std::string>();
  }
  return map;
}

// `shimOptions`: runhcs Options by Go field name, or null for none.
inline std::optional<RuntimeOptions> runtime_options_of(const Json& input) {
  const Json* shim = member(input, "shimOptions");
  if (shim == nullptr) return std::nullopt;
  if (!shim->is_object()) bad_input("shimOptions must be an object or null");
  RuntimeOptions options;
  options.sandbox_platform = string_member(*shim, "SandboxPlatform");
  options.boot_files_root_path = string_member(*shim, "BootFilesRootPath");
  options.vm_processor_count = integer_member<std::int32_t>(*shim, "VmProcessorCount", 0);
  options.vm_memory_size_in_mb = integer_member<std::int32_t>(*shim, "VmMemorySizeInMb", 0);
  options.default_container_annotations =
      string_map(member(*shim, "DefaultContainerAnnotations"), "DefaultContainerAnnotations");
  options.ncproxy_addr = string_member(*shim, "NCProxyAddr");
  options.log_level = string_member(*shim, "LogLevel");
  if (const Json* scrub = member(*shim, "ScrubLogs")) {
    if (!scrub->is_boolean()) bad_input("ScrubLogs must be a boolean");
    options.scrub_logs = scrub->get<bool>();
  }
  return options;
}

}  // namespace shimcore::builder::detail::case_input
