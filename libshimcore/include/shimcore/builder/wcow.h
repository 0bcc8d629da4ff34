// WCOW utility-VM documents: hcsshim's V1 path (SpecToUVMCreateOpts → create_wcow.go) as a pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shimcore/builder/common.h"
#include "shimcore/hcs/schema/compute_system.h"

namespace shimcore::builder::wcow {

// uvm.VmbFSFiles: the utility VM's OS layer (shared read-only over VSMB as "os" and booted through UEFI from it) and
// the scratch VHD the VM boots with on SCSI 0:0. The caller resolves them from the image layers.
struct BootFiles {
  std::string os_files_path;              // <UtilityVM layer>\UtilityVM\Files
  std::string os_relative_boot_dir_path;  // \EFI\Microsoft\Boot
  std::string scratch_vhd_path;
};

// The pause container's OCI spec as the V1 path reads it.
struct UvmSpec {
  Annotations annotations;
  std::optional<WindowsResources> resources;
};

// What the shim needs beyond the document: settings consumed when the VM runs (VSMB shares, log forwarding, GCS).
struct UvmSettings {
  bool physically_backed = false;          // !AllowOvercommit
  bool devices_physically_backed = false;  // FullyPhysicallyBacked
  bool vsmb_no_direct_map = false;
  bool no_writable_file_shares = false;
  bool no_inherit_host_timezone = false;
  bool log_forwarding_enabled = true;
  bool default_log_sources_enabled = true;
  std::string log_sources;
  std::string process_dump_location;
  std::string network_config_proxy;
  bool operator==(const UvmSettings&) const = default;
};

struct BuildResult {
  hcs::schema::ComputeSystem document;
  UvmSettings settings;
  // Files and folders the caller must grant the VM group access to before creating the VM (hcsshim's
  // GrantVmAccess / GrantVmGroupAccessWithMask): the scratch VHD and the dump directory. Builders touch no files.
  std::vector<std::string> vm_access_paths;
  std::vector<std::string> warnings;  // annotation values that did not parse, registry values not permitted, ...
};

// hcsshim's V1 path for a Hyper-V isolated Windows pod: UpdateSpecFromOptions → ProcessAnnotations →
// SpecToUVMCreateOpts → VerifyOptions → prepareConfigDoc (internal/oci/uvm.go, internal/uvm/create_wcow.go).
// `id` is the utility VM's id (dump file names); environment.file_exists is asked whether the dump directory exists.
// Confidential pods (a WCOW security policy) need block-CIM boot files, which this VmbFS input never is: they are
// refused as hcsshim refuses them with VmbFS boot files. Throws shimcore::Error (InvalidArgument) where hcsshim fails.
BuildResult build_uvm(const UvmSpec& spec, const std::optional<RuntimeOptions>& options, const std::string& id,
                      const std::string& owner, const BootFiles& boot_files, const BuildEnvironment& environment);

}  // namespace shimcore::builder::wcow
