// containerd's identifier rules (pkg/identifiers) for task, exec and sandbox ids, checked where requests come in.
#pragma once

#include <string_view>

namespace shimcore::oci {

// containerd's limit: an id is also a path component and part of a socket name.
inline constexpr std::size_t kMaxIdentifierLength = 76;

// Throws Error(InvalidArgument) unless `id` is 1..76 characters of [A-Za-z0-9] runs joined by single '.', '_' or '-'
// (containerd's ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$). `what` names the field in the message ("task id").
void validate_identifier(std::string_view what, std::string_view id);

// Throws Error(InvalidArgument) unless `bundle` is an absolute path without control characters: the shim writes it
// into files `delete` reads back, and containerd always sends an absolute one.
void validate_bundle_path(std::string_view what, std::string_view bundle);

}  // namespace shimcore::oci
