// Builds the HCS schema v2 Container document of a process-isolated Windows container (hcsshim's "v2 Argon").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shimcore/hcs/schema/compute_system.h"
#include "shimcore/hcs/schema/container.h"

namespace shimcore::builder {

// One read-only layer, already mounted on the host (hcsshim's MountedWCOWLayer): the layer GUID and its folder or
// CimFS mount path. Given in order, base layer first as hcsshim lists them.
struct MountedLayer {
  std::string layer_id;
  std::string mounted_path;
  bool operator==(const MountedLayer&) const = default;
};

// Everything the document depends on besides the host.
struct ProcessContainerRequest {
  nlohmann::json spec;  // the OCI runtime spec (config.json) as containerd wrote it
  std::string id;       // the container id (HCS compute system id); expands {container_id} in the dump location
  // The bundle folder. hcsshim's Argon document never depends on it (root.path and the mounted layers do); it is
  // part of the request so that callers hand over the whole task context and messages can name it.
  std::string bundle;
  std::string owner;  // ComputeSystem.Owner (build_process_compute_system only)
  // The HNS namespace the container joins (Networking.Namespace). hcsshim takes it from the create options (the
  // spec's windows.network.networkNamespace) or creates one; either way the caller owns it and passes its GUID.
  std::string network_namespace;
  // The layers mounted for root.path. hcsshim mounts them itself when root.path is empty; this builder does no I/O,
  // so root.path must be set and the layers given here.
  std::vector<MountedLayer> mounted_layers;
  // The Container Credential Guard instance the caller created for a gMSA credential spec (hcsshim creates it while
  // allocating resources, before the document). Written only when the spec carries a string credentialSpec.
  std::optional<hcs::schema::ContainerCredentialGuardState> credential_guard;
};

// The host facts the document depends on, injected so that building stays a pure function.
struct ProcessContainerHost {
  std::uint32_t os_build = 0;  // e.g. 20348; schema v2 containers need 17763 (RS5) or later
  // The processor count a container's CPU count is clamped to. For process isolation hcsshim uses
  // GetActiveProcessorCount(ALL_PROCESSOR_GROUPS), which may be lower than what HCS reports. Must be positive.
  std::uint32_t logical_processors = 0;
  // Whether a host file exists (device-extension files). Empty = no file exists.
  std::function<bool(const std::string&)> file_exists;
  // The content of a host file (device-extension files); nullopt when unreadable. Empty = nothing is readable.
  std::function<std::optional<std::string>(const std::string&)> read_file;
  // The final path of a mount source, symlinks resolved, as go-winio's fs.ResolvePath gives it (usually
  // \\?\Volume{GUID}\...): HCS mis-resolves file paths through symlinks, so hcsshim resolves them first. nullopt when
  // the path does not exist. Empty = paths are used unchanged.
  std::function<std::optional<std::string>(const std::string&)> resolve_path;
};

// hcsshim's createWindowsContainerDocument (internal/hcsoci/hcsdoc_wcow.go) for a schema v2 Argon, together with the
// checks that precede it on hcsshim's create path (annotation expansion, gMSA policy, mount validation):
//  - Storage: root.path, which must be a volume GUID path (\\?\Volume{GUID}\, trailing backslash added), and the
//    mounted layers; QoS from the storage annotations or windows.resources.storage. root.readonly is refused.
//  - Processor: count, maximum or weight (annotations first, then windows.resources.cpu); more than one is refused;
//    the count is clamped to the host's processors. Always present, possibly empty.
//  - Memory from io.microsoft.container.memory.sizeinmb or windows.resources.memory.limit (bytes -> MB).
//  - MappedDirectories (host path resolved, ReadOnly for option "ro") and MappedPipes (\\.\pipe\ source and
//    destination); a mount whose source is a pipe but whose destination is not is dropped, as hcsshim does.
//  - Networking when windows.network is present; AssignedDevices by location path or interface class GUID;
//    AdditionalDeviceNamespace from device-extension files (io.microsoft.container.wcow.deviceextensions).
//  - RegistryChanges: always WaitToKillServiceTimeout, then the WER LocalDumps values when
//    io.microsoft.container.processdumplocation is set, then the values of the test registry annotation.
// Annotation values that do not parse are ignored (the default applies), as in hcsshim. Unlike hcsshim, negative
// CPU and storage values and spec values that do not fit HCS's int32 fields are refused instead of being passed on
// (HCS refuses or misreads them).
//
// Host-process containers (annotation microsoft.com/hostprocess-container=true) are not HCS compute systems on a
// process-isolation host: hcsshim runs them as job objects (internal/jobcontainers) and writes no document; the
// HostProcess IsolationType exists only for Hyper-V isolated ones. They are refused with Unimplemented, as are specs
// with windows.hyperv (the wcow shim's business): InvalidArgument.
//
// Throws shimcore::Error: InvalidArgument for specs hcsshim rejects (the message names the field and value),
// NotFound for a mount source or device-extension file that does not exist, PermissionDenied for a gMSA credential
// spec when gMSA is disabled, FailedPrecondition for a host too old for the request.
hcs::schema::Container build_process_container(const ProcessContainerRequest& request,
                                               const ProcessContainerHost& host);

// The document hcsshim hands HcsCreateComputeSystem: {Owner, SchemaVersion 2.1, ShouldTerminateOnLastHandleClosed,
// Container}.
hcs::schema::ComputeSystem build_process_compute_system(const ProcessContainerRequest& request,
                                                        const ProcessContainerHost& host);

}  // namespace shimcore::builder
