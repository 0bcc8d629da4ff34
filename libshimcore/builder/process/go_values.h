// Go's strconv parsing rules (ParseInt, ParseUint, ParseBool) for annotation values, so that what hcsshim accepts
// and ignores is decided the same way here.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace shimcore::builder::go {

// strconv.ParseInt(text, 10, 32): optional sign, decimal digits only, within int32.
std::optional<std::int32_t> parse_int32(std::string_view text) noexcept;
// strconv.ParseUint(text, 10, 64): decimal digits only (no sign), within uint64.
std::optional<std::uint64_t> parse_uint64(std::string_view text) noexcept;
// strconv.ParseBool: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False.
std::optional<bool> parse_bool(std::string_view text) noexcept;

}  // namespace shimcore::builder::go
