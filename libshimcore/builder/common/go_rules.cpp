// Go's strconv, filepath (Windows), GUID and base64 rules as hcsshim's builders see them.
#include "builder/common/go_rules.h"

#include <array>
#include <cctype>
#include <cstddef>
#include <limits>

#include <fmt/format.h>

namespace shimcore::builder::detail {

namespace {

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

bool is_sep(char c) { return c == '\\' || c == '/'; }

}  // namespace

std::optional<bool> go_parse_bool(std::string_view text) {
  if (text == "1" || text == "t" || text == "T" || text == "TRUE" || text == "true" || text == "True") return true;
  if (text == "0" || text == "f" || text == "F" || text == "FALSE" || text == "false" || text == "False") return false;
  return std::nullopt;
}

std::optional<std::uint64_t> go_parse_uint(std::string_view text, int bits, int base) {
  if (text.empty()) return std::nullopt;
  const std::uint64_t max = bits >= 64 ? std::numeric_limits<std::uint64_t>::max() : (std::uint64_t{1} << bits) - 1;
  std::uint64_t value = 0;
  for (const char c : text) {
    const int digit = digit_value(c);
    if (digit >= base) return std::nullopt;
    const auto d = static_cast<std::uint64_t>(digit);
    if (value > (max - d) / static_cast<std::uint64_t>(base)) return std::nullopt;
    value = value * static_cast<std::uint64_t>(base) + d;
  }
  return value;
}

std::optional<std::int64_t> go_parse_int(std::string_view text, int bits) {
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  const auto magnitude = go_parse_uint(text, 64);
  if (!magnitude) return std::nullopt;
  const std::uint64_t limit = std::uint64_t{1} << (bits - 1);  // |min|; max is limit - 1
  if (negative) {
    if (*magnitude > limit) return std::nullopt;
    if (*magnitude == limit)
      return bits >= 64 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(limit);
    return -static_cast<std::int64_t>(*magnitude);
  }
  if (*magnitude >= limit) return std::nullopt;
  return static_cast<std::int64_t>(*magnitude);
}

namespace {

// The length of the valid UTF-8 sequence at text[i] and its code point; 0 when the bytes there are not valid UTF-8.
std::size_t utf8_sequence(std::string_view text, std::size_t i, char32_t& rune) {
  const auto lead = static_cast<unsigned char>(text[i]);
  std::size_t length = 0;
  if (lead < 0x80) {
    rune = lead;
    return 1;
  }
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    rune = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    rune = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    rune = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t j = 1; j < length; ++j) {
    const auto next = static_cast<unsigned char>(text[i + j]);
    if ((next & 0xc0) != 0x80) return 0;
    rune = (rune << 6) | (next & 0x3f);
  }
  const bool overlong = (length == 3 && rune < 0x800) || (length == 4 && rune < 0x10000);
  if (overlong || rune > 0x10ffff || (rune >= 0xd800 && rune <= 0xdfff)) return 0;
  return length;
}

// An approximation of unicode.IsPrint for runes above ASCII: C1 controls and the common format characters are not.
bool printable_rune(char32_t rune) {
  if (rune >= 0x80 && rune <= 0xa0) return false;
  if (rune == 0xad || rune == 0xfeff || (rune >= 0x200b && rune <= 0x200f) || (rune >= 0x2028 && rune <= 0x202e) ||
      (rune >= 0x2060 && rune <= 0x206f) || (rune >= 0xfff9 && rune <= 0xfffb)) {
    return false;
  }
  if ((rune & 0xfffe) == 0xfffe || (rune >= 0xe000 && rune <= 0xf8ff)) return false;  // noncharacters, private use
  return true;
}

}  // namespace

std::string go_quote(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    char32_t rune = 0;
    const std::size_t length = utf8_sequence(text, i, rune);
    if (length == 0) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    if (length == 1) {
      const char c = text[i];
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          if (rune < 0x20 || rune == 0x7f) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned>(rune));
          } else {
            out.push_back(c);
          }
      }
    } else if (printable_rune(rune)) {
      out.append(text.substr(i, length));
    } else if (rune < 0x10000) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(rune));
    } else {
      out += fmt::format("\\U{:08x}", static_cast<unsigned>(rune));
    }
    i += length;
  }
  out += "\"";
  return out;
}

std::optional<std::string> go_parse_guid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  if (text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-') return std::nullopt;
  std::string canonical;
  canonical.reserve(36);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      canonical.push_back('-');
      continue;
    }
    if (digit_value(text[i]) >= 16) return std::nullopt;
    canonical.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
  }
  return canonical;
}

std::string vsock_service_id(std::uint32_t port) { return fmt::format("{:08x}-facb-11e6-bd58-64006a7986d3", port); }

namespace winpath {

namespace {

std::size_t volume_length(std::string_view path) {
  if (path.size() >= 2 && path[1] == ':') return 2;
  if (path.size() < 2 || !is_sep(path[0]) || !is_sep(path[1])) return 0;
  // \\host\share (UNC) or \\.\device, \\?\device: the volume runs to the end of the second element.
  std::size_t i = 2;
  while (i < path.size() && !is_sep(path[i])) ++i;
  if (i == 2) return 0;
  if (i >= path.size()) return path.size();
  ++i;
  const std::size_t share = i;
  while (i < path.size() && !is_sep(path[i])) ++i;
  return i == share ? share - 1 : i;
}

std::string from_slash(std::string text) {
  for (char& c : text) {
    if (c == '/') c = '\\';
  }
  return text;
}

}  // namespace

std::string volume_name(std::string_view path) { return from_slash(std::string(path.substr(0, volume_length(path)))); }

bool is_abs(std::string_view path) {
  const std::size_t length = volume_length(path);
  if (length == 0) return false;
  if (is_sep(path[0])) return true;  // UNC and device paths
  path.remove_prefix(length);
  return !path.empty() && is_sep(path[0]);
}

std::string clean(std::string_view original) {
  const std::size_t vol_length = volume_length(original);
  const std::string_view volume = original.substr(0, vol_length);
  const std::string_view path = original.substr(vol_length);
  if (path.empty()) {
    if (vol_length > 1 && is_sep(original[0]) && is_sep(original[1])) return from_slash(std::string(original));
    return std::string(original) + ".";
  }
  const bool rooted = is_sep(path[0]);
  std::string out;
  std::size_t r = 0;
  std::size_t dotdot = 0;
  if (rooted) {
    out.push_back('\\');
    r = 1;
    dotdot = 1;
  }
  const std::size_t n = path.size();
  while (r < n) {
    if (is_sep(path[r])) {
      ++r;
    } else if (path[r] == '.' && (r + 1 == n || is_sep(path[r + 1]))) {
      ++r;
    } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || is_sep(path[r + 2]))) {
      r += 2;
      if (out.size() > dotdot) {
        out.pop_back();
        while (out.size() > dotdot && !is_sep(out.back())) out.pop_back();
        if (out.size() > dotdot && is_sep(out.back())) out.pop_back();
      } else if (!rooted) {
        if (!out.empty()) out.push_back('\\');
        out += "..";
        dotdot = out.size();
      }
    } else {
      if ((rooted && out.size() != 1) || (!rooted && !out.empty())) out.push_back('\\');
      while (r < n && !is_sep(path[r])) out.push_back(path[r++]);
    }
  }
  if (out.empty()) out = ".";
  return from_slash(std::string(volume) + out);
}

std::string join(std::string_view base_path, std::string_view element) {
  if (base_path.empty() && element.empty()) return "";
  if (base_path.empty()) return clean(element);
  if (element.empty()) return clean(base_path);
  return clean(std::string(base_path) + "\\" + std::string(element));
}

std::string base(std::string_view path) {
  if (path.empty()) return ".";
  while (!path.empty() && is_sep(path.back())) path.remove_suffix(1);
  path.remove_prefix(volume_length(path));
  std::size_t i = path.size();
  while (i > 0 && !is_sep(path[i - 1])) --i;
  path.remove_prefix(i);
  if (path.empty()) return "\\";
  return std::string(path);
}

std::string dir(std::string_view path) {
  const std::size_t vol_length = volume_length(path);
  std::size_t i = path.size();
  while (i > vol_length && !is_sep(path[i - 1])) --i;
  std::string directory = clean(path.substr(vol_length, i - vol_length));
  if (directory == "." && vol_length > 2) return from_slash(std::string(path.substr(0, vol_length)));
  return from_slash(std::string(path.substr(0, vol_length))) + directory;
}

std::string ext(std::string_view path) {
  for (std::size_t i = path.size(); i > 0 && !is_sep(path[i - 1]); --i) {
    if (path[i - 1] == '.') return std::string(path.substr(i - 1));
  }
  return "";
}

std::string abs(std::string_view path, std::string_view working_directory) {
  if (is_abs(path)) return clean(path);
  if (working_directory.empty()) return clean(path.empty() ? std::string_view(".") : path);
  if (volume_length(path) != 0) return clean(path);  // C:relative: the drive's own directory is unknown
  if (!path.empty() && is_sep(path[0])) return clean(volume_name(working_directory) + std::string(path));
  return join(working_directory, path);
}

std::string comparable(std::string_view path) {
  std::string text = clean(path);
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace winpath

namespace {

constexpr std::array<std::uint32_t, 64> kSha256Rounds = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void sha256_block(std::array<std::uint32_t, 8>& h, const unsigned char* block) {
  std::array<std::uint32_t, 64> w{};
  for (std::size_t i = 0; i < 16; ++i) {
    w[i] = (std::uint32_t{block[4 * i]} << 24) | (std::uint32_t{block[4 * i + 1]} << 16) |
           (std::uint32_t{block[4 * i + 2]} << 8) | std::uint32_t{block[4 * i + 3]};
  }
  for (std::size_t i = 16; i < 64; ++i) {
    const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  std::array<std::uint32_t, 8> v = h;
  for (std::size_t i = 0; i < 64; ++i) {
    const std::uint32_t s1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
    const std::uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
    const std::uint32_t t1 = v[7] + s1 + ch + kSha256Rounds[i] + w[i];
    const std::uint32_t s0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
    const std::uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
    const std::uint32_t t2 = s0 + maj;
    v = {t1 + t2, v[0], v[1], v[2], v[3] + t1, v[4], v[5], v[6]};
  }
  for (std::size_t i = 0; i < 8; ++i) h[i] += v[i];
}

constexpr std::string_view kBase64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string sha256(std::string_view bytes) {
  std::array<std::uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string message(bytes);
  const std::uint64_t bit_length = static_cast<std::uint64_t>(bytes.size()) * 8;
  message.push_back(static_cast<char>(0x80));
  while (message.size() % 64 != 56) message.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8) message.push_back(static_cast<char>((bit_length >> shift) & 0xff));
  for (std::size_t offset = 0; offset < message.size(); offset += 64) {
    sha256_block(h, reinterpret_cast<const unsigned char*>(message.data() + offset));
  }
  std::string digest;
  for (const std::uint32_t word : h) {
    for (int shift = 24; shift >= 0; shift -= 8) digest.push_back(static_cast<char>((word >> shift) & 0xff));
  }
  return digest;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                            (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                            std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kBase64Alphabet[(n >> shift) & 0x3f]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) n |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out.push_back(kBase64Alphabet[(n >> 18) & 0x3f]);
    out.push_back(kBase64Alphabet[(n >> 12) & 0x3f]);
    out.push_back(rest == 2 ? kBase64Alphabet[(n >> 6) & 0x3f] : '=');
    out.push_back('=');
  }
  return out;
}

// Go's encoding/base64 Decode, quantum by quantum (decodeQuantum), so that a bad input fails at the byte Go names.
Base64Decoded base64_decode(std::string_view src) {
  Base64Decoded result;
  const auto newline = [](char c) { return c == '\n' || c == '\r'; };
  std::size_t si = 0;
  while (si < src.size()) {
    std::uint32_t quantum[4] = {0, 0, 0, 0};
    std::size_t length = 4;  // symbols in this quantum
    bool done = false;
    for (std::size_t j = 0; j < 4; ++j) {
      if (si == src.size()) {
        if (j == 0) return result;
        result.corrupt_at = si - j;  // a final quantum cut short (StdEncoding pads)
        return result;
      }
      const char in = src[si++];
      if (const std::size_t value = kBase64Alphabet.find(in); value != std::string_view::npos) {
        quantum[j] = static_cast<std::uint32_t>(value);
        continue;
      }
      if (newline(in)) {
        --j;
        continue;
      }
      if (in != '=' || j < 2) {
        result.corrupt_at = si - 1;  // not a symbol, or padding too early
        return result;
      }
      if (j == 2) {  // "==" expected: the second one, after any newlines
        while (si < src.size() && newline(src[si])) ++si;
        if (si == src.size()) {
          result.corrupt_at = src.size();
          return result;
        }
        if (src[si] != '=') {
          result.corrupt_at = si - 1;
          return result;
        }
        ++si;
      }
      while (si < src.size() && newline(src[si])) ++si;
      if (si < src.size()) result.corrupt_at = si;  // data after the padding
      length = j;
      done = true;
      break;
    }
    const std::uint32_t n = quantum[0] << 18 | quantum[1] << 12 | quantum[2] << 6 | quantum[3];
    result.bytes.push_back(static_cast<char>((n >> 16) & 0xff));
    if (length >= 3) result.bytes.push_back(static_cast<char>((n >> 8) & 0xff));
    if (length == 4) result.bytes.push_back(static_cast<char>(n & 0xff));
    if (done || result.corrupt_at) return result;
  }
  return result;
}

void AnnotationReader::warn_unparsable(const std::string& key, const std::string& value,
                                       std::string_view expected) const {
  warnings_.push_back(
      fmt::format("annotation {} value {:?} could not be parsed as {}; the default applies", key, value, expected));
}

std::string AnnotationReader::get_string(const std::string& key, std::string fallback) const {
  const auto found = annotations_.find(key);
  return found == annotations_.end() ? fallback : found->second;
}

bool AnnotationReader::get_bool(const std::string& key, bool fallback) const {
  const auto found = annotations_.find(key);
  if (found == annotations_.end()) return fallback;
  if (const auto value = go_parse_bool(found->second)) return *value;
  warn_unparsable(key, found->second, "bool");
  return fallback;
}

std::optional<bool> AnnotationReader::get_nullable_bool(const std::string& key) const {
  const auto found = annotations_.find(key);
  if (found == annotations_.end()) return std::nullopt;
  if (const auto value = go_parse_bool(found->second)) return *value;
  warn_unparsable(key, found->second, "bool");
  return std::nullopt;
}

std::int32_t AnnotationReader::get_int32(const std::string& key, std::int32_t fallback) const {
  const auto found = annotations_.find(key);
  if (found == annotations_.end()) return fallback;
  if (const auto value = go_parse_int(found->second, 32)) return static_cast<std::int32_t>(*value);
  warn_unparsable(key, found->second, "int32");
  return fallback;
}

std::uint32_t AnnotationReader::get_uint32(const std::string& key, std::uint32_t fallback) const {
  const auto found = annotations_.find(key);
  if (found == annotations_.end()) return fallback;
  if (const auto value = go_parse_uint(found->second, 32)) return static_cast<std::uint32_t>(*value);
  warn_unparsable(key, found->second, "uint32");
  return fallback;
}

std::uint64_t AnnotationReader::get_uint64(const std::string& key, std::uint64_t fallback) const {
  const auto found = annotations_.find(key);
  if (found == annotations_.end()) return fallback;
  if (const auto value = go_parse_uint(found->second, 64)) return *value;
  warn_unparsable(key, found->second, "uint64");
  return fallback;
}

namespace {

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
}

}  // namespace

std::vector<std::uint32_t> AnnotationReader::get_uint32_list(const std::string& key,
                                                             std::vector<std::uint32_t> fallback) const {
  const auto found = annotations_.find(key);
  if (found == annotations_.end() || found->second.empty()) return fallback;
  std::vector<std::uint32_t> values;
  for (const std::string_view part : split_commas(found->second)) {
    const auto value = go_parse_uint(part, 32);
    if (!value) return fallback;
    values.push_back(static_cast<std::uint32_t>(*value));
  }
  return values;
}

std::vector<std::uint64_t> AnnotationReader::get_uint64_list(const std::string& key,
                                                             std::vector<std::uint64_t> fallback) const {
  const auto found = annotations_.find(key);
  if (found == annotations_.end() || found->second.empty()) return fallback;
  std::vector<std::uint64_t> values;
  for (const std::string_view part : split_commas(found->second)) {
    const auto value = go_parse_uint(part, 64);
    if (!value) {
      warn_unparsable(key, found->second, "comma-separated uint64 list");
      return fallback;
    }
    values.push_back(*value);
  }
  return values;
}

}  // namespace shimcore::builder::detail
