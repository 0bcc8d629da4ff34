// containerd's identifier rules, without a regex engine: runs of alphanumerics separated by single separators.
#include "shimcore/oci/identifiers.h"

#include "shimcore/errdefs.h"

#include <fmt/format.h>

#include <string>

namespace shimcore::oci {
namespace {

bool alphanumeric(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool separator(char c) { return c == '.' || c == '_' || c == '-'; }

}  // namespace

void validate_identifier(std::string_view what, std::string_view id) {
  if (id.empty()) throw make_error(ErrorKind::InvalidArgument, "{} must not be empty", what);
  if (id.size() > kMaxIdentifierLength) {
    throw make_error(ErrorKind::InvalidArgument, "{} is {} characters, longer than {}", what, id.size(),
                     kMaxIdentifierLength);
  }
  // The first character must be alphanumeric, a separator must be followed by one, and so must the last.
  bool after_separator = true;
  bool valid = true;
  for (const char c : id) {
    if (alphanumeric(c)) {
      after_separator = false;
    } else if (separator(c) && !after_separator) {
      after_separator = true;
    } else {
      valid = false;
      break;
    }
  }
  if (!valid || after_separator) {
    // The id may hold control characters: quote it escaped so the message stays one line.
    std::string quoted;
    for (const char c : id.substr(0, 80)) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\') {
        quoted += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
      } else {
        quoted += c;
      }
    }
    throw make_error(ErrorKind::InvalidArgument,
                     "{} \"{}\" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$ (containerd's identifiers)", what,
                     quoted);
  }
}

void validate_bundle_path(std::string_view what, std::string_view bundle) {
  if (bundle.empty() || bundle.front() != '/') {
    throw make_error(ErrorKind::InvalidArgument, "{} \"{}\" must be an absolute path", what, bundle);
  }
  for (const char c : bundle) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      throw make_error(ErrorKind::InvalidArgument, "{} must not contain control characters", what);
    }
  }
}

}  // namespace shimcore::oci
