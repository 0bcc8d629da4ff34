// LCOW utility-VM documents: hcsshim's legacy (V1) and V2 sandbox pipelines as pure functions over injected inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shimcore/builder/common.h"
#include "shimcore/hcs/schema/compute_system.h"

namespace shimcore::builder::lcow {

// The security-policy settings of a confidential sandbox (V2's ConfidentialConfig).
struct ConfidentialConfig {
  std::string security_policy;  // base64 JSON or Rego
  std::string security_policy_enforcer;
  std::string uvm_reference_info_file;
  std::string uvm_hash_envelope_reference_info_file;
  bool operator==(const ConfidentialConfig&) const = default;
};

// What the shim needs beyond the document (containers, Plan9, networking, the Platform RPC, VM statistics).
struct SandboxOptions {
  bool no_writable_file_shares = false;
  bool enable_scratch_encryption = false;
  bool policy_based_routing = false;
  std::string architecture;              // "amd64" or "arm64"; the legacy path has no platform and leaves it empty
  bool fully_physically_backed = false;  // the VM's memory is physically backed (!AllowOvercommit)
  std::optional<ConfidentialConfig> confidential;
  bool operator==(const SandboxOptions&) const = default;
};

struct BuildResult {
  hcs::schema::ComputeSystem document;
  SandboxOptions sandbox_options;
  std::vector<StagedFile> staged_files;  // confidential VMs: the VMGS and dm-verity VHD copies in the bundle
  std::vector<std::string> warnings;     // annotation values that did not parse, ignored devices, ...
};

// OCI windows.resources (shared with the WCOW builder).
using builder::WindowsResources;

// The legacy input: the pause container's OCI spec (annotations, windows.devices, windows.resources).
struct LegacySpec {
  Annotations annotations;
  std::vector<WindowsDevice> devices;
  std::optional<WindowsResources> resources;
};

// Process-wide settings the V1 shim's document depends on (its logger): GCS -loglevel, and -scrub-logs=false when
// the shim itself does not scrub.
struct LegacyProcess {
  std::string log_level = "info";
  bool scrub_logs = true;
};

// The V2 input: the sandbox spec {annotations, devices} of the sandbox bundle's config.json.
struct SandboxSpec {
  Annotations annotations;
  std::vector<WindowsDevice> devices;
};

// hcsshim's V1 path: UpdateSpecFromOptions → ProcessAnnotations → SpecToUVMCreateOpts → VerifyOptions →
// MakeLCOWDoc / the SNP document (internal/oci/uvm.go, internal/uvm/create_lcow.go). Absent options are allowed.
// Throws shimcore::Error (InvalidArgument, or NotFound for missing boot files) where hcsshim fails.
BuildResult build_legacy(const LegacySpec& spec, const std::optional<RuntimeOptions>& options, const std::string& owner,
                         const std::string& bundle, const BuildEnvironment& environment,
                         const LegacyProcess& process = {});

// hcsshim's V2 path: internal/builder/vm/lcow BuildSandboxConfig. Options are mandatory, as is a linux/amd64 or
// linux/arm64 platform; vPMem, ncproxy, kernel drivers and vPMem no-multimapping are refused.
BuildResult build_v2(const SandboxSpec& spec, const std::optional<RuntimeOptions>& options, const std::string& owner,
                     const std::string& bundle, const BuildEnvironment& environment);

}  // namespace shimcore::builder::lcow
