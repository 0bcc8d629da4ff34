// Registry values from an annotation, decoded and filtered as hcsshim does.
#include "registry_annotation.h"

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace shimcore::builder {
namespace {

using nlohmann::ordered_json;  // member order matters: with two spellings of one field, Go keeps the last
namespace schema = hcs::schema;

// Any decoding failure; the whole annotation is then ignored.
struct DecodeFailure {};

// Go's RegistryKey / RegistryValue, with Go's zero values.
struct GoKey {
  std::string hive;
  std::string name;
  bool is_volatile = false;
};
struct GoValue {
  std::optional<GoKey> key;
  std::string name;
  std::string type;
  std::string string_value;
  std::string binary_value;
  std::int32_t dword_value = 0;
  std::int32_t qword_value = 0;
  std::int32_t custom_type = 0;
};

// bytes.EqualFold folding for field-name matching: ASCII case, plus the two non-ASCII letters that fold to ASCII
// (U+017F long s, U+212A Kelvin sign).
std::string fold(std::string_view text) {
  std::string folded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0xC5 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0xBF) {
      folded += 's';
      i += 1;
    } else if (c == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x84 &&
               static_cast<unsigned char>(text[i + 2]) == 0xAA) {
      folded += 'k';
      i += 2;
    } else {
      folded += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
  }
  return folded;
}

// The index in `names` of the field a JSON member name selects (exact spelling first, then folded), or -1.
template <std::size_t N>
int find_field(const std::string& key, const std::array<std::string_view, N>& names) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == key) return static_cast<int>(i);
  }
  const std::string folded = fold(key);
  for (std::size_t i = 0; i < N; ++i) {
    if (fold(names[i]) == folded) return static_cast<int>(i);
  }
  return -1;
}

void decode(const ordered_json& json, std::string& out) {
  if (json.is_null()) return;
  if (!json.is_string()) throw DecodeFailure{};
  out = json.get<std::string>();
}

void decode(const ordered_json& json, bool& out) {
  if (json.is_null()) return;
  if (!json.is_boolean()) throw DecodeFailure{};
  out = json.get<bool>();
}

void decode(const ordered_json& json, std::int32_t& out) {
  if (json.is_null()) return;
  if (json.is_number_unsigned()) {
    const auto value = json.get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) throw DecodeFailure{};
    out = static_cast<std::int32_t>(value);
  } else if (json.is_number_integer()) {
    const auto value = json.get<std::int64_t>();
    if (value < std::numeric_limits<std::int32_t>::min() || value > std::numeric_limits<std::int32_t>::max()) {
      throw DecodeFailure{};
    }
    out = static_cast<std::int32_t>(value);
  } else {
    throw DecodeFailure{};  // Go refuses fractions and exponents for integer fields
  }
}

void decode(const ordered_json& json, GoKey& key) {
  if (!json.is_object()) throw DecodeFailure{};
  static constexpr std::array<std::string_view, 3> kNames{"Hive", "Name", "Volatile"};
  for (const auto& [name, value] : json.items()) {
    switch (find_field(name, kNames)) {
      case 0: decode(value, key.hive); break;
      case 1: decode(value, key.name); break;
      case 2: decode(value, key.is_volatile); break;
      default: break;  // unknown members are ignored
    }
  }
}

void decode(const ordered_json& json, GoValue& entry) {
  if (json.is_null()) return;
  if (!json.is_object()) throw DecodeFailure{};
  static constexpr std::array<std::string_view, 8> kNames{"Key",         "Name",       "Type",       "StringValue",
                                                          "BinaryValue", "DWordValue", "QWordValue", "CustomType"};
  for (const auto& [name, value] : json.items()) {
    switch (find_field(name, kNames)) {
      case 0:
        if (value.is_null()) {
          entry.key.reset();  // null sets a Go pointer to nil
        } else {
          if (!entry.key) entry.key.emplace();
          decode(value, *entry.key);
        }
        break;
      case 1: decode(value, entry.name); break;
      case 2: decode(value, entry.type); break;
      case 3: decode(value, entry.string_value); break;
      case 4: decode(value, entry.binary_value); break;
      case 5: decode(value, entry.dword_value); break;
      case 6: decode(value, entry.qword_value); break;
      case 7: decode(value, entry.custom_type); break;
      default: break;
    }
  }
}

std::string ascii_lower(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lowered;
}

// The places hcsshim lets an annotation write: changing arbitrary keys could change how the silo behaves.
bool permitted(const GoKey& key) {
  const std::string name = ascii_lower(key.name);
  if (key.hive == "Software") return true;
  if (key.hive != "System") return false;
  return name.starts_with("currentcontrolset\\services") || name.starts_with("currentcontrolset\\policies") ||
         name.starts_with("software");
}

std::optional<schema::RegistryValue> keep(const GoValue& entry) {
  if (!entry.key) return std::nullopt;
  const auto hive = schema::enum_from_string<schema::RegistryHive>(entry.key->hive);
  if (!hive || entry.key->name.empty() || entry.name.empty()) return std::nullopt;
  const auto type = schema::enum_from_string<schema::RegistryValueType>(entry.type);
  if (!type) return std::nullopt;
  const int values_set = int{!entry.string_value.empty()} + int{!entry.binary_value.empty()} +
                         int{entry.dword_value != 0} + int{entry.qword_value != 0};
  if (values_set > 1 || !permitted(*entry.key)) return std::nullopt;

  schema::RegistryValue value;
  value.key = schema::RegistryKey{};
  value.key->hive = hive;
  value.key->name = entry.key->name;
  if (entry.key->is_volatile) value.key->is_volatile = true;
  value.name = entry.name;
  value.type = type;
  if (!entry.string_value.empty()) value.string_value = entry.string_value;
  if (!entry.binary_value.empty()) value.binary_value = entry.binary_value;
  if (entry.dword_value != 0) value.dword_value = static_cast<std::uint32_t>(entry.dword_value);
  if (entry.qword_value != 0)
    value.qword_value = static_cast<std::uint64_t>(static_cast<std::int64_t>(entry.qword_value));
  if (entry.custom_type != 0) value.custom_type = static_cast<std::uint32_t>(entry.custom_type);
  return value;
}

}  // namespace

std::vector<schema::RegistryValue> parse_registry_annotation(std::string_view text) {
  std::vector<schema::RegistryValue> values;
  if (text.empty()) return values;
  std::vector<GoValue> entries;
  try {
    const ordered_json json = ordered_json::parse(text);
    if (json.is_null()) return values;
    if (!json.is_array()) return values;
    for (const ordered_json& item : json) {
      GoValue entry;
      decode(item, entry);
      entries.push_back(std::move(entry));
    }
  } catch (const DecodeFailure&) {
    return values;
  } catch (const ordered_json::exception&) {
    return values;
  }
  for (const GoValue& entry : entries) {
    if (auto value = keep(entry)) values.push_back(std::move(*value));
  }
  return values;
}

}  // namespace shimcore::builder
