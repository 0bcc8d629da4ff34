// Go's strconv parsing rules for annotation values.
#include "go_values.h"

#include <limits>

namespace shimcore::builder::go {
namespace {

// Decimal digits only, at least one; nullopt on anything else or on overflow past `limit`.
std::optional<std::uint64_t> parse_digits(std::string_view text, std::uint64_t limit) noexcept {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (limit - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace

std::optional<std::int32_t> parse_int32(std::string_view text) noexcept {
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  // The magnitude of INT32_MIN is one more than INT32_MAX.
  const std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()) + (negative ? 1 : 0);
  const auto magnitude = parse_digits(text, limit);
  if (!magnitude) return std::nullopt;
  const auto signed_magnitude = static_cast<std::int64_t>(*magnitude);
  return static_cast<std::int32_t>(negative ? -signed_magnitude : signed_magnitude);
}

std::optional<std::uint64_t> parse_uint64(std::string_view text) noexcept {
  return parse_digits(text, std::numeric_limits<std::uint64_t>::max());
}

std::optional<bool> parse_bool(std::string_view text) noexcept {
  if (text == "1" || text == "t" || text == "T" || text == "TRUE" || text == "true" || text == "True") return true;
  if (text == "0" || text == "f" || text == "F" || text == "FALSE" || text == "false" || text == "False") return false;
  return std::nullopt;
}

}  // namespace shimcore::builder::go
