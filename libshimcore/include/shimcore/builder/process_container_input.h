// Reads a process-container case in the golden input.json format (parity/golden/wcow/process-container) for hcsdoc
// and the parity tests.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "shimcore/builder/process_container.h"

namespace shimcore::builder {

struct ProcessContainerCase {
  ProcessContainerRequest request;
  ProcessContainerHost host;
};

// The input fields: `spec` (OCI spec), `id`, `owner`, `bundle` (optional), `networkNamespace`,
// `mountedLayers` [{LayerID, MountedPath}], `host` {osBuild, activeProcessorCount (what process isolation clamps to;
// hcsLogicalProcessorCount when absent)}, and optionally `files` {host path: content}, the host files that exist (for
// device extensions). Mount sources resolve as on the host the golden documents were made on
// (golden_resolve_path). Throws Error(InvalidArgument) naming a missing or mistyped field.
ProcessContainerCase read_process_container_input(const nlohmann::json& input);

// How the golden host resolved mount sources, with its volume GUIDs replaced by placeholders: a drive-letter path
// X:\rest becomes \\?\Volume{00000000-0000-0000-0000-0000000000NN}\rest, NN = the upper-case letter's code in hex
// (43 for C:). Other paths are returned unchanged.
std::optional<std::string> golden_resolve_path(const std::string& path);

}  // namespace shimcore::builder
