// JSON mapping for the HCS schema types: absent fields are not written, and read errors name the JSON path.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "shimcore/errdefs.h"

namespace shimcore::hcs::schema {

using Json = nlohmann::json;

// Conventions of every schema struct in this namespace (they mirror hcsshim's `omitempty` on every field):
//  - a member is std::optional, a std::vector, a std::map<std::string, T> or a raw Json (for HCS "Any" fields);
//  - std::nullopt, an empty container and a null Json are absent and are not written; a present optional is written
//    even when it holds false/0/"" (Go would drop those, so builders leave such fields unset to match hcsshim);
//  - a JSON null reads as absent; unknown members are ignored (as Go's encoding/json does), so the golden
//    round-trip tests are what proves a field is modelled;
//  - integers must be JSON integers (no fraction, no exponent) within the member's range.

// A document that does not match the schema: a shimcore::Error of kind InvalidArgument whose message names the JSON
// path of the offending value (e.g. `$.VirtualMachine.Devices.Scsi["0"].Attachments`). The path grows while the
// error unwinds through the enclosing objects, maps and arrays.
class SchemaError : public Error {
 public:
  explicit SchemaError(std::string reason);

  const char* what() const noexcept override { return message_.c_str(); }
  // "$" for the document root.
  const std::string& path() const noexcept { return path_; }
  const std::string& reason() const noexcept { return reason_; }

  void prepend_field(std::string_view name);  // .Name
  void prepend_key(std::string_view key);     // ["key"] (map entry)
  void prepend_index(std::size_t index);      // [3]
  // Names the document type in the message ("ComputeSystem"); set once by the parse_* entry points.
  void set_document(std::string_view document);

 private:
  void render();

  std::string reason_;
  std::string document_;
  std::string path_ = "$";
  std::string message_;
};

// Closed HCS string enumerations. Each enum E declares, next to it, `constexpr EnumSpec<E, N> enum_spec(E)` listing
// every value with its HCS spelling; reading any other string is a SchemaError.
template <typename E, std::size_t N>
struct EnumSpec {
  std::string_view type_name;
  std::array<std::pair<E, std::string_view>, N> values;
};

template <typename E>
concept SchemaEnum = std::is_enum_v<E> && requires(E value) {
  enum_spec(value);
};

// The HCS spelling of `value`; empty for a value outside the enumeration (a cast from an arbitrary integer).
template <SchemaEnum E>
constexpr std::string_view to_string(E value) noexcept {
  for (const auto& [candidate, name] : enum_spec(E{}).values) {
    if (candidate == value) return name;
  }
  return {};
}

// The enumerator spelled `text` (exact, case-sensitive as HCS), or nullopt.
template <SchemaEnum E>
constexpr std::optional<E> enum_from_string(std::string_view text) noexcept {
  for (const auto& [candidate, name] : enum_spec(E{}).values) {
    if (name == text) return candidate;
  }
  return std::nullopt;
}

namespace detail {

// Documents deeper than this are rejected before they are parsed: HCS documents nest about ten levels, and a bound
// keeps the recursive serialiser and comparisons far from the stack limit whatever the input.
inline constexpr std::size_t kMaxNesting = 128;

// Parses `text` as one JSON value (no comments, no trailing content) and turns every failure into a SchemaError
// naming `document`.
Json parse_json_text(std::string_view text, std::string_view document);

// "string \"abc\"", "number 1.5", "object", ... for error messages.
std::string describe(const Json& value);
[[noreturn]] void throw_type_mismatch(std::string_view expected, const Json& actual);
[[noreturn]] void throw_out_of_range(std::string_view type, const Json& actual);
[[noreturn]] void throw_unknown_enum(std::string_view type, std::string_view text, std::string_view allowed);
[[noreturn]] void throw_unnamed_enum(std::string_view type, long long value);

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsVector : std::false_type {};
template <typename T, typename A>
struct IsVector<std::vector<T, A>> : std::true_type {};
template <typename T>
struct IsStringMap : std::false_type {};
template <typename T, typename C, typename A>
struct IsStringMap<std::map<std::string, T, C, A>> : std::true_type {};

// Every member of a schema struct can be absent (see the conventions above).
template <typename M>
concept OptionalMember = IsOptional<M>::value || IsVector<M>::value || IsStringMap<M>::value || std::same_as<M, Json>;

// One member of a schema struct and its exact HCS JSON name.
template <typename T, typename M>
struct Field {
  std::string_view name;
  M T::*member;
};

template <typename T, OptionalMember M>
constexpr Field<T, M> field(std::string_view name, M T::*member) {
  return {name, member};
}

template <typename T>
constexpr std::string_view integer_name() {
  if constexpr (std::is_signed_v<T>) {
    return sizeof(T) == 1 ? "int8" : sizeof(T) == 2 ? "int16" : sizeof(T) == 4 ? "int32" : "int64";
  } else {
    return sizeof(T) == 1 ? "uint8" : sizeof(T) == 2 ? "uint16" : sizeof(T) == 4 ? "uint32" : "uint64";
  }
}

// ---- reading ----

inline void read_value(const Json& json, std::string& out) {
  if (!json.is_string()) throw_type_mismatch("string", json);
  out = json.get_ref<const std::string&>();
}

inline void read_value(const Json& json, bool& out) {
  if (!json.is_boolean()) throw_type_mismatch("boolean", json);
  out = json.get<bool>();
}

inline void read_value(const Json& json, double& out) {
  if (!json.is_number()) throw_type_mismatch("number", json);
  out = json.get<double>();
}

// Any-typed fields keep the sub-document as it is.
inline void read_value(const Json& json, Json& out) { out = json; }

template <std::integral T>
requires(!std::same_as<T, bool>) void read_value(const Json& json, T& out) {
  if (json.is_number_unsigned()) {
    const auto value = json.get<std::uint64_t>();
    if (!std::in_range<T>(value)) throw_out_of_range(integer_name<T>(), json);
    out = static_cast<T>(value);
  } else if (json.is_number_integer()) {
    const auto value = json.get<std::int64_t>();
    if (!std::in_range<T>(value)) throw_out_of_range(integer_name<T>(), json);
    out = static_cast<T>(value);
  } else {
    throw_type_mismatch(integer_name<T>(), json);
  }
}

template <SchemaEnum E>
void read_value(const Json& json, E& out) {
  if (!json.is_string()) throw_type_mismatch(enum_spec(E{}).type_name, json);
  const auto& text = json.get_ref<const std::string&>();
  if (const auto value = enum_from_string<E>(text)) {
    out = *value;
    return;
  }
  std::string allowed;
  for (const auto& [value, name] : enum_spec(E{}).values) {
    if (!allowed.empty()) allowed += ", ";
    allowed += name;
  }
  throw_unknown_enum(enum_spec(E{}).type_name, text, allowed);
}

// Schema structs: their own from_json, found by argument-dependent lookup.
template <typename T>
void read_value(const Json& json, T& out) {
  from_json(json, out);
}

template <typename T>
void read_value(const Json& json, std::optional<T>& out) {
  read_value(json, out.emplace());
}

template <typename T, typename A>
void read_value(const Json& json, std::vector<T, A>& out) {
  if (!json.is_array()) throw_type_mismatch("array", json);
  out.clear();
  out.reserve(json.size());
  for (std::size_t index = 0; index < json.size(); ++index) {
    try {
      read_value(json[index], out.emplace_back());
    } catch (SchemaError& error) {
      error.prepend_index(index);
      throw;
    }
  }
}

template <typename T, typename C, typename A>
void read_value(const Json& json, std::map<std::string, T, C, A>& out) {
  if (!json.is_object()) throw_type_mismatch("object", json);
  out.clear();
  for (const auto& [key, value] : json.get_ref<const Json::object_t&>()) {
    try {
      read_value(value, out[key]);
    } catch (SchemaError& error) {
      error.prepend_key(key);
      throw;
    }
  }
}

template <typename T, typename M>
void read_field(const Json& object, const Field<T, M>& field, T& out) {
  const auto found = object.find(field.name);
  if (found == object.end() || found->is_null()) return;
  try {
    read_value(*found, out.*field.member);
  } catch (SchemaError& error) {
    error.prepend_field(field.name);
    throw;
  }
}

template <typename T, typename... M>
void read_object(const Json& json, T& out, const std::tuple<Field<T, M>...>& fields) {
  if (!json.is_object()) throw_type_mismatch("object", json);
  out = T{};
  std::apply([&](const auto&... each) { (read_field(json, each, out), ...); }, fields);
}

// ---- writing ----

inline Json write_value(const std::string& value) { return value; }
inline Json write_value(bool value) { return value; }
inline Json write_value(double value) { return value; }
inline Json write_value(const Json& value) { return value; }

template <std::integral T>
requires(!std::same_as<T, bool>) Json write_value(const T& value) { return value; }

template <SchemaEnum E>
Json write_value(const E& value) {
  const std::string_view name = to_string(value);
  if (name.empty()) throw_unnamed_enum(enum_spec(E{}).type_name, static_cast<long long>(value));
  return std::string(name);
}

template <typename T>
Json write_value(const T& value) {
  Json json;
  to_json(json, value);
  return json;
}

template <typename T>
Json write_value(const std::optional<T>& value) {
  return write_value(*value);
}

template <typename T, typename A>
Json write_value(const std::vector<T, A>& values) {
  Json json = Json::array();
  for (const auto& value : values) json.push_back(write_value(value));
  return json;
}

template <typename T, typename C, typename A>
Json write_value(const std::map<std::string, T, C, A>& values) {
  Json json = Json::object();
  for (const auto& [key, value] : values) json[key] = write_value(value);
  return json;
}

template <typename M>
bool is_absent(const M& member) {
  if constexpr (IsOptional<M>::value) {
    return !member.has_value();
  } else if constexpr (std::same_as<M, Json>) {
    return member.is_null();
  } else {
    return member.empty();
  }
}

template <typename T, typename... M>
void write_object(Json& json, const T& value, const std::tuple<Field<T, M>...>& fields) {
  json = Json::object();
  std::apply(
      [&](const auto&... each) {
        ((is_absent(value.*each.member) ? void() : void(json[each.name] = write_value(value.*each.member))), ...);
      },
      fields);
}

// The body of every parse_* entry point: JSON text -> T, every failure a SchemaError naming `document` and the path.
template <typename T>
T parse_document(std::string_view text, std::string_view document) {
  const Json json = parse_json_text(text, document);
  try {
    T value;
    read_value(json, value);
    return value;
  } catch (SchemaError& error) {
    error.set_document(document);
    throw;
  } catch (const Json::exception& error) {
    // Not expected (values are type-checked before they are read), but nlohmann errors must never escape.
    SchemaError wrapped(error.what());
    wrapped.set_document(document);
    throw wrapped;
  }
}

}  // namespace detail

// Serialises any schema value (struct, enum, container) to JSON text, compact as HCS takes it.
template <typename T>
std::string to_json_text(const T& value) {
  return detail::write_value(value).dump();
}

}  // namespace shimcore::hcs::schema

// Declares the ADL to_json/from_json pair of one schema struct (inside namespace shimcore::hcs::schema, after the
// struct). from_json throws SchemaError; to_json throws only for an enum member holding an unnamed value.
#define SHIMCORE_HCS_SCHEMA_JSON(Type)                     \
  void to_json(::nlohmann::json& json, const Type& value); \
  void from_json(const ::nlohmann::json& json, Type& value)

// Defines that pair from the struct's field list, each field given as
// `::shimcore::hcs::schema::detail::field("JsonName", &Type::member)`.
#define SHIMCORE_HCS_SCHEMA_DEFINE(Type, ...)                                                 \
  void to_json(::nlohmann::json& json, const Type& value) {                                   \
    ::shimcore::hcs::schema::detail::write_object(json, value, std::make_tuple(__VA_ARGS__)); \
  }                                                                                           \
  void from_json(const ::nlohmann::json& json, Type& value) {                                 \
    ::shimcore::hcs::schema::detail::read_object(json, value, std::make_tuple(__VA_ARGS__));  \
  }
