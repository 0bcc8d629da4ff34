// The WCOW utility-VM builder driven by a golden-case input.json (parity/golden/README.md "wcow/uvm").
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shimcore/builder/wcow.h"

namespace shimcore::builder::wcow {

struct CaseOutput {
  nlohmann::json document;  // the ComputeSystem document as hcsshim serialises it
  UvmSettings settings;
  std::vector<std::string> warnings;
};

// Runs one case: annotations, shimOptions (Go field names), bootFiles (OSFilesPath, OSRelativeBootDirPath,
// ScratchVHDPath), windowsResources (optional, OCI windows.resources), id ("test-parity@vm" unless given), owner
// ("test-owner" unless given), existingPaths (optional: the only paths the file probe reports; none otherwise) and
// host (osBuild, hcsLogicalProcessorCount, goRuntimeNumCPU or else activeProcessorCount, goarch). Throws
// shimcore::Error when the pipeline rejects the input, or when the input itself is malformed.
CaseOutput run_case(const nlohmann::json& input);

// The document only.
nlohmann::json build_from_case(const nlohmann::json& input);

}  // namespace shimcore::builder::wcow
