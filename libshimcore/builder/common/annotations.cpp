// Annotation expansion and conflicts, hvsocket service tables and assigned devices, shared by the builders.
#include "builder/common/annotations.h"

#include <array>
#include <cctype>
#include <random>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shimcore/errdefs.h"

namespace shimcore::builder {

std::string random_guid() {
  std::random_device device;
  std::array<unsigned char, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 4) {
    const unsigned int word = device();
    for (std::size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<unsigned char>((word >> (8 * j)) & 0xff);
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string text;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
    text += fmt::format("{:02x}", bytes[i]);
  }
  return text;
}

}  // namespace shimcore::builder

namespace shimcore::builder::detail {

void process_annotations(Annotations& annotations, std::vector<std::string>& warnings) {
  std::vector<std::string> conflicts;
  // The only expansion hcsshim defines. The value is copied verbatim (no normalisation: "True" stays "True").
  static constexpr std::array<const char*, 4> kUnsafeExpansion = {
      keys::kWcowDisableGmsa, keys::kDisableWritableFileShares, keys::kVsmbNoDirectMap,
      keys::kDisableHostProcessContainer};
  if (const auto found = annotations.find(keys::kDisableUnsafeOperations); found != annotations.end()) {
    const std::string value = found->second;
    for (const char* expanded : kUnsafeExpansion) {
      const auto existing = annotations.find(expanded);
      if (existing != annotations.end() && existing->second != value) {
        conflicts.push_back(fmt::format("annotation expansion conflict: {:?} = {:?} and {:?} = {:?}",
                                        keys::kDisableUnsafeOperations, value, expanded, existing->second));
        continue;
      }
      annotations[expanded] = value;
    }
  }

  const AnnotationReader reader(annotations, warnings);
  if (reader.get_bool(keys::kDisableHostProcessContainer, false) &&
      reader.get_bool(keys::kHostProcessContainer, false)) {
    conflicts.push_back(
        fmt::format("specified annotations conflict: host process container annotations {:?} = {:?} and {:?} = {:?}",
                    keys::kDisableHostProcessContainer, annotations[keys::kDisableHostProcessContainer],
                    keys::kHostProcessContainer, annotations[keys::kHostProcessContainer]));
  }
  if (conflicts.empty()) return;
  std::string message;
  for (const std::string& conflict : conflicts) {
    if (!message.empty()) message += "\n";
    message += conflict;
  }
  throw Error(ErrorKind::InvalidArgument, message);
}

namespace {

bool equal_fold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// Go's json.Unmarshal into HvSocketServiceConfig: an object (or null) whose members match the field names
// case-insensitively; unknown members are ignored, a member of the wrong type fails the whole value.
std::optional<hcs::schema::HvSocketServiceConfig> decode_service_config(const std::string& text) {
  nlohmann::ordered_json json;
  try {
    json = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  hcs::schema::HvSocketServiceConfig config;
  if (json.is_null()) return config;
  if (!json.is_object()) return std::nullopt;
  bool type_error = false;
  std::string bind;
  std::string connect;
  bool wildcard = false;
  bool disabled = false;
  for (const auto& [name, value] : json.items()) {
    std::string* text_field = nullptr;
    bool* bool_field = nullptr;
    if (equal_fold(name, "BindSecurityDescriptor")) text_field = &bind;
    if (equal_fold(name, "ConnectSecurityDescriptor")) text_field = &connect;
    if (equal_fold(name, "AllowWildcardBinds")) bool_field = &wildcard;
    if (equal_fold(name, "Disabled")) bool_field = &disabled;
    if (value.is_null()) continue;
    if (text_field != nullptr) {
      if (value.is_string()) {
        *text_field = value.get<std::string>();
      } else {
        type_error = true;
      }
    } else if (bool_field != nullptr) {
      if (value.is_boolean()) {
        *bool_field = value.get<bool>();
      } else {
        type_error = true;
      }
    }
  }
  if (type_error) return std::nullopt;
  config.bind_security_descriptor = non_zero(bind);
  config.connect_security_descriptor = non_zero(connect);
  config.allow_wildcard_binds = non_zero(wildcard);
  config.disabled = non_zero(disabled);
  return config;
}

}  // namespace

std::map<std::string, hcs::schema::HvSocketServiceConfig> parse_hv_socket_service_table(
    const Annotations& annotations, std::vector<std::string>& warnings) {
  std::map<std::string, hcs::schema::HvSocketServiceConfig> table;
  const std::string_view prefix = keys::kHvSocketServiceTablePrefix;
  for (const auto& [key, value] : annotations) {
    if (!key.starts_with(prefix)) continue;
    const auto guid = go_parse_guid(std::string_view(key).substr(prefix.size()));
    if (!guid) {
      warnings.push_back(fmt::format("annotation {}: invalid GUID for a Hyper-V socket service configuration", key));
      continue;
    }
    auto config = decode_service_config(value);
    if (!config) {
      warnings.push_back(
          fmt::format("annotation {} value {:?} could not be parsed as HvSocketServiceConfig; ignored", key, value));
      continue;
    }
    if (table.contains(*guid)) {
      warnings.push_back(
          fmt::format("annotation {} overwrites the Hyper-V socket service configuration of {}", key, *guid));
    }
    table[*guid] = *config;
  }
  return table;
}

std::vector<VpciFunction> vpci_functions(const std::vector<WindowsDevice>& devices,
                                         std::vector<std::string>& warnings) {
  std::vector<VpciFunction> functions;
  for (const WindowsDevice& device : devices) {
    if (device.id_type != "vpci-instance-id" && device.id_type != "vpci" && device.id_type != "gpu") {
      warnings.push_back(
          fmt::format("device {:?} of type {:?} is not a vPCI device type; skipped", device.id, device.id_type));
      continue;
    }
    // A last path element that is a 16-bit number is the virtual-function index.
    VpciFunction function{device.id, 0};
    if (const auto index = go_parse_uint(winpath::base(device.id), 16)) {
      function.instance_path = winpath::dir(device.id);
      function.virtual_function = static_cast<std::uint16_t>(*index);
    }
    functions.push_back(function);
  }
  return functions;
}

}  // namespace shimcore::builder::detail
