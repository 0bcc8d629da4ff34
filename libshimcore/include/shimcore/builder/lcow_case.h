// LCOW builders driven by a golden-case input.json (../shared/golden/README.md): what the parity tests and hcsdoc run.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shimcore/builder/lcow.h"

namespace shimcore::builder::lcow {

enum class Pipeline { Legacy, V2 };

// "legacy" / "v2"; anything else is Error(InvalidArgument).
Pipeline parse_pipeline(const std::string& name);

struct CaseOutput {
  nlohmann::json document;  // the ComputeSystem document as hcsshim serialises it
  SandboxOptions sandbox_options;
  std::vector<std::string> warnings;
};

// Runs one case: annotations, devices, shimOptions (Go field names), legacyVPMemCountOverride (legacy only),
// legacyWindowsResources (legacy only, OCI windows.resources), bootFiles (the only files the probe reports),
// bundleDir and host (osBuild, logicalProcessorCount, goarch, goRuntimeNumCPU) from `input`; owner "test-owner"
// unless the input names one. Throws shimcore::Error when the pipeline rejects the input, or when the input itself
// is malformed.
CaseOutput run_case(const nlohmann::json& input, Pipeline pipeline);

// The document only.
nlohmann::json build_from_case(const nlohmann::json& input, Pipeline pipeline);

}  // namespace shimcore::builder::lcow
