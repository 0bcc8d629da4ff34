// Registry values carried by an annotation as JSON, read with hcsshim's rules (oci.parseRegistryValues).
#pragma once

#include <string_view>
#include <vector>

#include "shimcore/hcs/schema/common.h"

namespace shimcore::builder {

// Decodes `text` as Go's encoding/json decodes a []RegistryValue (member names matched case-insensitively, null
// leaves a field unset, any type mismatch fails the whole value) and keeps only the entries hcsshim keeps: a key with
// a known hive and a name, a value name, a known type, at most one value set, and a permitted place (Software, or
// System under CurrentControlSet\Services, CurrentControlSet\Policies or Software). A value that does not decode
// gives no entries: hcsshim only logs it. Negative Go int32 numbers become the same bits in HCS's unsigned fields.
std::vector<hcs::schema::RegistryValue> parse_registry_annotation(std::string_view text);

}  // namespace shimcore::builder
