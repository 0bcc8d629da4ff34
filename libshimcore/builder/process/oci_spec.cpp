// Reads the builder's view of an OCI runtime spec, with Go encoding/json's type rules.
#include "oci_spec.h"

#include <limits>
#include <string_view>

#include "shimcore/errdefs.h"

namespace shimcore::builder {
namespace {

using nlohmann::json;

std::string describe(const json& value) {
  switch (value.type()) {
    case json::value_t::string: {
      std::string text = value.get_ref<const std::string&>();
      if (text.size() > 64) text = text.substr(0, 64) + "...";
      return "string " + json(text).dump(-1, ' ', false, json::error_handler_t::replace);
    }
    case json::value_t::boolean: return value.get<bool>() ? "boolean true" : "boolean false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "number " + value.dump();
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    default: return "null";
  }
}

[[noreturn]] void type_mismatch(const std::string& path, std::string_view expected, const json& actual) {
  throw make_error(ErrorKind::InvalidArgument, "invalid OCI spec: {}: expected {}, got {}", path, expected,
                   describe(actual));
}

// The member `key` of `object`, or nullptr when it is absent or null.
const json* member(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// An object-valued member, or nullptr when absent or null.
const json* object_member(const json& object, const char* key, const std::string& path) {
  const json* value = member(object, key);
  if (value != nullptr && !value->is_object()) type_mismatch(path, "an object", *value);
  return value;
}

std::string string_member(const json& object, const char* key, const std::string& path) {
  const json* value = member(object, key);
  if (value == nullptr) return {};
  if (!value->is_string()) type_mismatch(path, "a string", *value);
  return value->get<std::string>();
}

bool bool_member(const json& object, const char* key, const std::string& path) {
  const json* value = member(object, key);
  if (value == nullptr) return false;
  if (!value->is_boolean()) type_mismatch(path, "a boolean", *value);
  return value->get<bool>();
}

// An unsigned integer member no larger than `max` (Go rejects fractions, exponents, negatives and overflow).
std::optional<std::uint64_t> unsigned_member(const json& object, const char* key, const std::string& path,
                                             std::uint64_t max) {
  const json* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  const auto expected =
      max == std::numeric_limits<std::uint64_t>::max() ? "an unsigned 64-bit integer" : "an unsigned 16-bit integer";
  // Parsed text stores non-negative integers as unsigned, documents built in C++ may hold them as signed.
  if (value->is_number_unsigned() || (value->is_number_integer() && value->get<std::int64_t>() >= 0)) {
    const auto number = value->get<std::uint64_t>();
    if (number > max) type_mismatch(path, expected, *value);
    return number;
  }
  type_mismatch(path, expected, *value);  // negative, fractional or not a number: Go's decoder refuses them
}

std::optional<std::vector<std::string>> string_array_member(const json& object, const char* key,
                                                            const std::string& path) {
  const json* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_array()) type_mismatch(path, "an array of strings", *value);
  std::vector<std::string> strings;
  strings.reserve(value->size());
  for (std::size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (item.is_null()) {
      strings.emplace_back();  // Go leaves the element at its zero value
    } else if (item.is_string()) {
      strings.push_back(item.get<std::string>());
    } else {
      type_mismatch(path + "[" + std::to_string(i) + "]", "a string", item);
    }
  }
  return strings;
}

// An array of objects; null elements read as empty objects (Go's zero value).
std::vector<const json*> object_array_member(const json& object, const char* key, const std::string& path) {
  static const json kEmptyObject = json::object();
  std::vector<const json*> items;
  const json* value = member(object, key);
  if (value == nullptr) return items;
  if (!value->is_array()) type_mismatch(path, "an array", *value);
  for (std::size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (item.is_null()) {
      items.push_back(&kEmptyObject);
    } else if (item.is_object()) {
      items.push_back(&item);
    } else {
      type_mismatch(path + "[" + std::to_string(i) + "]", "an object", item);
    }
  }
  return items;
}

void read_windows(const json& windows, OciSpec& spec) {
  spec.has_windows = true;
  if (const json* resources = object_member(windows, "resources", "spec.windows.resources")) {
    constexpr auto kU64 = std::numeric_limits<std::uint64_t>::max();
    constexpr auto kU16 = std::numeric_limits<std::uint16_t>::max();
    if (const json* cpu = object_member(*resources, "cpu", "spec.windows.resources.cpu")) {
      spec.cpu_count = unsigned_member(*cpu, "count", "spec.windows.resources.cpu.count", kU64);
      if (auto shares = unsigned_member(*cpu, "shares", "spec.windows.resources.cpu.shares", kU16)) {
        spec.cpu_shares = static_cast<std::uint16_t>(*shares);
      }
      if (auto maximum = unsigned_member(*cpu, "maximum", "spec.windows.resources.cpu.maximum", kU16)) {
        spec.cpu_maximum = static_cast<std::uint16_t>(*maximum);
      }
    }
    if (const json* memory = object_member(*resources, "memory", "spec.windows.resources.memory")) {
      spec.memory_limit = unsigned_member(*memory, "limit", "spec.windows.resources.memory.limit", kU64);
    }
    if (const json* storage = object_member(*resources, "storage", "spec.windows.resources.storage")) {
      spec.storage_iops = unsigned_member(*storage, "iops", "spec.windows.resources.storage.iops", kU64);
      spec.storage_bps = unsigned_member(*storage, "bps", "spec.windows.resources.storage.bps", kU64);
    }
  }
  if (const json* network = object_member(windows, "network", "spec.windows.network")) {
    OciWindowsNetwork result;
    if (auto endpoints = string_array_member(*network, "endpointList", "spec.windows.network.endpointList")) {
      result.endpoint_list = std::move(*endpoints);
    }
    result.allow_unqualified_dns_query =
        bool_member(*network, "allowUnqualifiedDNSQuery", "spec.windows.network.allowUnqualifiedDNSQuery");
    result.dns_search_list = string_array_member(*network, "DNSSearchList", "spec.windows.network.DNSSearchList");
    result.network_shared_container_name =
        string_member(*network, "networkSharedContainerName", "spec.windows.network.networkSharedContainerName");
    result.network_namespace = string_member(*network, "networkNamespace", "spec.windows.network.networkNamespace");
    spec.network = std::move(result);
  }
  if (const json* credential_spec = member(windows, "credentialSpec");
      credential_spec && credential_spec->is_string()) {
    spec.credential_spec = credential_spec->get<std::string>();
  }
  const auto devices = object_array_member(windows, "devices", "spec.windows.devices");
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const std::string path = "spec.windows.devices[" + std::to_string(i) + "]";
    spec.devices.push_back(
        {string_member(*devices[i], "id", path + ".id"), string_member(*devices[i], "idType", path + ".idType")});
  }
  spec.has_hyperv = object_member(windows, "hyperv", "spec.windows.hyperv") != nullptr;
}

}  // namespace

OciSpec read_oci_spec(const json& document) {
  if (!document.is_object()) type_mismatch("spec", "an object", document);
  OciSpec spec;

  if (const json* annotations = object_member(document, "annotations", "spec.annotations")) {
    for (const auto& [key, value] : annotations->items()) {
      if (value.is_null()) {
        spec.annotations[key] = "";
      } else if (value.is_string()) {
        spec.annotations[key] = value.get<std::string>();
      } else {
        type_mismatch("spec.annotations[" + json(key).dump(-1, ' ', false, json::error_handler_t::replace) + "]",
                      "a string", value);
      }
    }
  }
  spec.hostname = string_member(document, "hostname", "spec.hostname");
  if (const json* root = object_member(document, "root", "spec.root")) {
    spec.has_root = true;
    spec.root_path = string_member(*root, "path", "spec.root.path");
    spec.root_readonly = bool_member(*root, "readonly", "spec.root.readonly");
  }
  const auto mounts = object_array_member(document, "mounts", "spec.mounts");
  for (std::size_t i = 0; i < mounts.size(); ++i) {
    const std::string path = "spec.mounts[" + std::to_string(i) + "]";
    OciMount mount;
    mount.destination = string_member(*mounts[i], "destination", path + ".destination");
    mount.type = string_member(*mounts[i], "type", path + ".type");
    mount.source = string_member(*mounts[i], "source", path + ".source");
    if (auto options = string_array_member(*mounts[i], "options", path + ".options")) mount.options = *options;
    spec.mounts.push_back(std::move(mount));
  }
  spec.has_linux = object_member(document, "linux", "spec.linux") != nullptr;
  if (const json* windows = object_member(document, "windows", "spec.windows")) read_windows(*windows, spec);
  return spec;
}

}  // namespace shimcore::builder
