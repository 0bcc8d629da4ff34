// Inputs every utility-VM document builder shares: the injected host and file probe, runhcs options, OCI devices.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shimcore/hcs/host.h"

namespace shimcore::builder {

using Annotations = std::map<std::string, std::string>;

// Whether a file or folder exists, asked with a Windows path (the boot-files folder and the files in it).
using FileProbe = std::function<bool(const std::string& path)>;

// Everything about the machine a builder may depend on. Builders read nothing from the process, the environment or
// the file system; all of it comes from here, so that the same inputs always give the same document.
struct BuildEnvironment {
  hcs::HostProfile host;
  FileProbe file_exists;
  // hcsshim's default LCOW boot-files folder: <shim dir>\LinuxBootFiles if it exists, else
  // %ProgramFiles%\Linux Containers. The caller resolves it.
  std::string default_boot_files_path = R"(C:\Program Files\Linux Containers)";
  // Relative paths are made absolute against this folder (Go's filepath.Abs); empty keeps them relative.
  std::string working_directory;
  // A new random v4 GUID (the VMBus keys of assigned vPCI devices); empty = std::random_device.
  std::function<std::string()> new_guid;
};

// The runhcs options (containerd.runhcs.v1.Options) the builders read, named as their Go fields.
struct RuntimeOptions {
  std::string sandbox_platform;  // "linux/amd64", "linux/arm64" (V2: mandatory)
  std::string boot_files_root_path;
  std::int32_t vm_processor_count = 0;
  std::int32_t vm_memory_size_in_mb = 0;
  Annotations default_container_annotations;  // merged under the spec's own annotations
  std::string ncproxy_addr;
  std::string log_level;           // GCS -loglevel on the V2 path; empty = info
  std::optional<bool> scrub_logs;  // V2: -scrub-logs=<b> only when set
};

// OCI windows.resources, which hcsshim's V1 path (SpecToUVMCreateOpts) reads where the annotations are absent or zero.
struct WindowsResources {
  std::optional<std::uint64_t> cpu_count;
  std::optional<std::uint16_t> cpu_shares;
  std::optional<std::uint16_t> cpu_maximum;
  std::optional<std::uint64_t> memory_limit;  // bytes
  std::optional<std::uint64_t> storage_iops;
  std::optional<std::uint64_t> storage_bps;
};

// An OCI WindowsDevice. vPCI types: "vpci-instance-id", "vpci", "gpu"; a trailing "/<n>" (or "\<n>") on id names
// the virtual function.
struct WindowsDevice {
  std::string id;
  std::string id_type;
};

// A file the caller must copy (and grant the VM group access to) before creating the VM: the confidential path
// boots from copies in the bundle folder. Builders never touch files themselves.
struct StagedFile {
  std::string source;
  std::string destination;
};

// A random v4 GUID from std::random_device (the default of BuildEnvironment::new_guid).
std::string random_guid();

}  // namespace shimcore::builder
