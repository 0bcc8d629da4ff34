// SchemaError and the JSON text entry point shared by the schema parse_* functions.
#include "shimcore/hcs/schema/json_support.h"

#include <fmt/format.h>

namespace shimcore::hcs::schema {

SchemaError::SchemaError(std::string reason) : Error(ErrorKind::InvalidArgument, reason), reason_(std::move(reason)) {
  render();
}

void SchemaError::prepend_field(std::string_view name) {
  path_.insert(1, fmt::format(".{}", name));
  render();
}

void SchemaError::prepend_key(std::string_view key) {
  path_.insert(1, fmt::format("[{}]", Json(key).dump(-1, ' ', false, Json::error_handler_t::replace)));
  render();
}

void SchemaError::prepend_index(std::size_t index) {
  path_.insert(1, fmt::format("[{}]", index));
  render();
}

void SchemaError::set_document(std::string_view document) {
  document_ = document;
  render();
}

void SchemaError::render() {
  message_ = document_.empty() ? fmt::format("invalid JSON at {}: {}", path_, reason_)
                               : fmt::format("invalid {} document at {}: {}", document_, path_, reason_);
}

namespace detail {
namespace {

// Deepest array/object nesting in `text`, counted lexically (brackets inside strings do not count). Stops early once
// the limit is passed; malformed text is left for the parser to reject.
std::size_t nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

Json parse_json_text(std::string_view text, std::string_view document) {
  if (nesting_depth(text, kMaxNesting) > kMaxNesting) {
    SchemaError error(fmt::format("malformed JSON: nested deeper than {} levels", kMaxNesting));
    error.set_document(document);
    throw error;
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& parse_error) {
    SchemaError error(fmt::format("malformed JSON: {}", parse_error.what()));
    error.set_document(document);
    throw error;
  }
}

std::string describe(const Json& value) {
  if (value.is_object() || value.is_array() || value.is_null()) return value.type_name();
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  constexpr std::size_t kMaxShown = 64;
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return fmt::format("{} {}", value.type_name(), text);
}

void throw_type_mismatch(std::string_view expected, const Json& actual) {
  throw SchemaError(fmt::format("expected {}, got {}", expected, describe(actual)));
}

void throw_out_of_range(std::string_view type, const Json& actual) {
  throw SchemaError(fmt::format("{} is out of range for {}", describe(actual), type));
}

void throw_unknown_enum(std::string_view type, std::string_view text, std::string_view allowed) {
  throw SchemaError(fmt::format("unknown {} value {} (expected one of: {})", type,
                                Json(text).dump(-1, ' ', false, Json::error_handler_t::replace), allowed));
}

void throw_unnamed_enum(std::string_view type, long long value) {
  throw SchemaError(fmt::format("{} value {} has no HCS spelling", type, value));
}

}  // namespace detail
}  // namespace shimcore::hcs::schema
