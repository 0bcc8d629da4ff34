// Go's parsing and path rules as hcsshim relies on them (strconv, filepath on Windows, go-winio GUIDs), for builders.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shimcore::builder::detail {

// strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False.
std::optional<bool> go_parse_bool(std::string_view text);
// strconv.ParseInt(text, 10, bits): an optional sign, decimal digits, in range.
std::optional<std::int64_t> go_parse_int(std::string_view text, int bits);
// strconv.ParseUint(text, base, bits): digits of the base only (no sign, no prefix), in range.
std::optional<std::uint64_t> go_parse_uint(std::string_view text, int bits, int base = 10);

// fmt's %q of a string (strconv.Quote): double quotes, Go escapes for quotes, backslashes and non-printable runes.
std::string go_quote(std::string_view text);

// go-winio guid.FromString, answered in the canonical lowercase form guid.String() prints.
std::optional<std::string> go_parse_guid(std::string_view text);
// winio.VsockServiceID(port): the hvsocket service GUID of a vsock port.
std::string vsock_service_id(std::uint32_t port);

// Go's path/filepath with Windows rules (both separators, volume names), so that documents carry the paths hcsshim
// would write whatever platform builds them.
namespace winpath {
std::string volume_name(std::string_view path);
bool is_abs(std::string_view path);
std::string clean(std::string_view path);
std::string join(std::string_view base, std::string_view element);
std::string base(std::string_view path);
std::string dir(std::string_view path);
std::string ext(std::string_view path);
// filepath.Abs with the working directory given rather than read from the process.
std::string abs(std::string_view path, std::string_view working_directory);
// The same file as Windows would see it (case-insensitive, separators normalised).
std::string comparable(std::string_view path);
}  // namespace winpath

// SHA-256 of bytes (the security-policy digest hcsshim passes as SNP launch data).
std::string sha256(std::string_view bytes);
// base64.StdEncoding: encode, and DecodeString (padding required; CR and LF ignored; bits left over before the
// padding accepted, as StdEncoding is not Strict).
std::string base64_encode(std::string_view bytes);
struct Base64Decoded {
  std::string bytes;
  std::optional<std::size_t> corrupt_at;  // set on failure: the offset Go's CorruptInputError names
};
Base64Decoded base64_decode(std::string_view text);

using Annotations = std::map<std::string, std::string>;

// hcsshim's lenient annotation readers (internal/oci/annotations.go): a present value that does not parse is a
// warning and the default applies.
class AnnotationReader {
 public:
  AnnotationReader(const Annotations& annotations, std::vector<std::string>& warnings)
      : annotations_(annotations), warnings_(warnings) {}

  bool has(const std::string& key) const { return annotations_.contains(key); }
  std::string get_string(const std::string& key, std::string fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::optional<bool> get_nullable_bool(const std::string& key) const;
  std::int32_t get_int32(const std::string& key, std::int32_t fallback) const;
  std::uint32_t get_uint32(const std::string& key, std::uint32_t fallback) const;
  std::uint64_t get_uint64(const std::string& key, std::uint64_t fallback) const;
  // Comma lists: one bad element makes the whole list the default (the uint32 form does so without a warning).
  std::vector<std::uint32_t> get_uint32_list(const std::string& key, std::vector<std::uint32_t> fallback) const;
  std::vector<std::uint64_t> get_uint64_list(const std::string& key, std::vector<std::uint64_t> fallback) const;

  void warn(std::string message) const { warnings_.push_back(std::move(message)); }

 private:
  void warn_unparsable(const std::string& key, const std::string& value, std::string_view expected) const;

  const Annotations& annotations_;
  std::vector<std::string>& warnings_;
};

}  // namespace shimcore::builder::detail
