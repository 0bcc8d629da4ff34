// The emulator's container storage: attached volumes (what computestorage's layer API gives on Windows) and the root
// a Container document's Storage becomes on this host.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "shimcore/hcs/client.h"

namespace shimcore::hcs::emulator {

// A file name part with every byte outside [A-Za-z0-9._@-] escaped as %XX (records, roots).
std::string escape_file_name_part(std::string_view text);

// Records the volume of container `id` (namespace `namespace_name`) in <runtime_dir>/volumes/<GUID>.json: its layers
// (each must be a folder; top-most first) over `scratch` (a folder, created if missing), or, with an empty scratch,
// exactly one layer that is the root itself. Layer ids are emulated_name_to_guid of the folder's name, as hcsshim's
// NameToGuid of it. Throws HcsError: FileNotFound for a missing layer, InvalidArgument for bad arguments.
ContainerVolume attach_storage(const std::filesystem::path& runtime_dir, std::string_view namespace_name,
                               const std::string& id, const std::vector<std::string>& layers,
                               const std::string& scratch);
void detach_storage(const std::filesystem::path& runtime_dir, std::string_view namespace_name, const std::string& id);

// What a Container's Storage and mapped directories become here.
struct ContainerRoot {
  std::optional<std::filesystem::path> root;     // where its processes run (chroot as root); none: the host's view
  std::optional<std::filesystem::path> mounted;  // an overlay the emulator mounted for it, to unmount at its end
  std::vector<std::string> not_modelled;         // Container fields accepted but without effect here
};

// Validates `container` as HCS would and assembles its root: Storage.Path is an attached volume
// (\\?\Volume{GUID}\) or, the emulator's own shortcut, an absolute folder of this host; every Storage.Layers[].Path
// and MappedDirectories[].HostPath must exist. A volume with a scratch is an overlay of the document's layers
// (top-most first) with upper/work in the scratch, mounted at <runtime_dir>/roots/<namespace>+<id>; without a
// scratch, its one layer is the root. Throws HcsError (FileNotFound naming the field, InvalidArgument, AccessDenied
// when the overlay cannot be mounted).
ContainerRoot assemble_container_root(const std::filesystem::path& runtime_dir, std::string_view namespace_name,
                                      const std::string& id, const nlohmann::json& container);
void release_container_root(const std::filesystem::path& mounted) noexcept;

// For `delete` after a shim died: unmounts the roots and forgets the volumes of those containers.
void cleanup_container_storage(const std::filesystem::path& runtime_dir, std::string_view namespace_name,
                               const std::vector<std::string>& ids) noexcept;

}  // namespace shimcore::hcs::emulator
