// HCS schema v2 types shared by virtual machines and containers: Version, registry changes, storage QoS, hvsocket.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shimcore/hcs/schema/json_support.h"

namespace shimcore::hcs::schema {

// Schema version of a document (hcsshim: {2,1}, {2,5} for confidential VMs) or of a VM's virtual hardware.
struct Version {
  std::optional<std::int32_t> major;
  std::optional<std::int32_t> minor;
  bool operator==(const Version&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Version);

enum class RegistryHive : std::uint8_t { System, Software, Security, Sam };
constexpr EnumSpec<RegistryHive, 4> enum_spec(RegistryHive) {
  return {"RegistryHive",
          {{{RegistryHive::System, "System"},
            {RegistryHive::Software, "Software"},
            {RegistryHive::Security, "Security"},
            {RegistryHive::Sam, "Sam"}}}};
}

enum class RegistryValueType : std::uint8_t {
  None,
  String,
  ExpandedString,
  MultiString,
  Binary,
  DWord,
  QWord,
  CustomType,
};
constexpr EnumSpec<RegistryValueType, 8> enum_spec(RegistryValueType) {
  return {"RegistryValueType",
          {{{RegistryValueType::None, "None"},
            {RegistryValueType::String, "String"},
            {RegistryValueType::ExpandedString, "ExpandedString"},
            {RegistryValueType::MultiString, "MultiString"},
            {RegistryValueType::Binary, "Binary"},
            {RegistryValueType::DWord, "DWord"},
            {RegistryValueType::QWord, "QWord"},
            {RegistryValueType::CustomType, "CustomType"}}}};
}

// A key relative to a hive of the guest's (or silo's) registry, e.g. System + "CurrentControlSet\Services\gns".
struct RegistryKey {
  std::optional<RegistryHive> hive;
  std::optional<std::string> name;
  std::optional<bool> is_volatile;  // JSON "Volatile"
  bool operator==(const RegistryKey&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(RegistryKey);

// One value to write. Widths as HCS documents them (hcsshim declares the numbers int32).
struct RegistryValue {
  std::optional<RegistryKey> key;
  std::optional<std::string> name;
  std::optional<RegistryValueType> type;  // JSON "Type"
  std::optional<std::string> string_value;
  std::optional<std::string> binary_value;  // base64, as Go encodes []byte
  std::optional<std::uint32_t> dword_value;
  std::optional<std::uint64_t> qword_value;
  std::optional<std::uint32_t> custom_type;
  bool operator==(const RegistryValue&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(RegistryValue);

// Registry edits applied when the VM or silo starts (e.g. WaitToKillServiceTimeout for Argon containers).
struct RegistryChanges {
  std::vector<RegistryValue> add_values;
  std::vector<RegistryKey> delete_keys;
  bool operator==(const RegistryChanges&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(RegistryChanges);

// Storage I/O caps for a VM or a container's storage. HCS documents uint64, hcsshim declares int32 and passes negative
// annotation values through, so both ranges are needed: int64.
struct StorageQoS {
  std::optional<std::int64_t> iops_maximum;
  std::optional<std::int64_t> bandwidth_maximum;
  bool operator==(const StorageQoS&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(StorageQoS);

// Access rules of one hvsocket service GUID (SDDL strings).
struct HvSocketServiceConfig {
  std::optional<std::string> bind_security_descriptor;
  std::optional<std::string> connect_security_descriptor;
  std::optional<bool> allow_wildcard_binds;
  std::optional<bool> disabled;
  bool operator==(const HvSocketServiceConfig&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(HvSocketServiceConfig);

// Default hvsocket rules plus the per-service table, keyed by service GUID.
struct HvSocketSystemConfig {
  std::optional<std::string> default_bind_security_descriptor;
  std::optional<std::string> default_connect_security_descriptor;
  std::map<std::string, HvSocketServiceConfig> service_table;
  bool operator==(const HvSocketSystemConfig&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(HvSocketSystemConfig);

}  // namespace shimcore::hcs::schema
