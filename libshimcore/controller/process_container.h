// How a process-kind task becomes an HCS Container: its layers (Windows layer folders, containerd's windows-layer
// mount, or a Linux rootfs as one layer), the spec the builder reads, and the builder's document.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shimcore/builder/process_container.h"
#include "shimcore/controller/task_controller.h"
#include "shimcore/hcs/client.h"
#include "shimcore/hcs/host.h"

namespace shimcore::controller {

struct ContainerLayers {
  std::vector<std::string> layers;  // read-only layer folders, top-most first
  std::string scratch;              // the writable folder; empty: the one layer is the writable root (Linux rootfs)
};

// True for a spec containerd on Windows would send: windows.layerFolders, or one rootfs mount of type
// windows-layer. Anything else is a Linux spec (what containerd on Linux produces).
bool is_windows_container_spec(const nlohmann::json& spec, const std::vector<Mount>& rootfs);

// hcsshim's ParseWCOWLayers: windows.layerFolders (at least two; the last is the scratch) or the windows-layer mount
// (Source is the scratch, option parentLayerPaths=<JSON array> the layers). Both, neither, more than one mount or
// fewer than two folders are FailedPrecondition with hcsshim's text; a folder that does not exist is
// InvalidArgument naming spec.windows.layerFolders[i] (or the mount's option).
ContainerLayers windows_layers(const std::string& id, const nlohmann::json& spec, const std::vector<Mount>& rootfs);

// The one step that gives a Linux spec the Windows shape the builder reads (documented in the README): its root
// folder is the container's single, writable layer (the caller passes it as ContainerLayers{{root}, ""}); bind
// mounts with an absolute source stay (as mapped directories), kernel filesystems (proc, sysfs, tmpfs, devpts,
// mqueue, cgroup, ...) are dropped, as a Windows container has none; linux.resources.memory.limit becomes
// windows.resources.memory.limit and linux.resources.cpu.shares windows.resources.cpu.shares (both are the same
// unit in both sections); the linux section is removed.
nlohmann::json windows_shape_of_linux_spec(const nlohmann::json& spec);

// The builder's ComputeSystem document for the task, `spec` being the Windows-shaped spec: root.path becomes the
// attached volume and the volume's layers its mounted layers. Built with the process kind only
// (controller/process_container.cpp); the other kinds' task controllers refuse process-isolated containers. The host
// profile and this host's files feed the builder (mount sources resolve to their canonical paths). Builder errors pass
// through with their kinds.
nlohmann::json process_container_document(const std::string& id, const std::string& bundle, nlohmann::json spec,
                                          const hcs::ContainerVolume& volume, const hcs::HostProfile& host);

// OCI Process -> HCS ProcessParameters: a Windows spec's commandLine (or its args joined with Windows quoting, as
// hcsshim does) as CommandLine; a Linux spec's args as CommandArgs.
std::string windows_command_line(const std::vector<std::string>& args);

}  // namespace shimcore::controller
