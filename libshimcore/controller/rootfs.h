// Task bundles on the host, shared by the task controllers: the OCI config and containerd's rootfs mounts.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shimcore/controller/task_controller.h"

namespace shimcore::controller {

// <bundle>/config.json as a JSON object, with a `process` object unless `require_process` is false (a sandbox's spec
// from containerd's Sandbox Controller API may have none). Throws Error(InvalidArgument) naming the file.
nlohmann::json read_bundle_config(const std::string& id, const std::filesystem::path& bundle,
                                  bool require_process = true);

// Mounts containerd's rootfs mounts on `target` (one mount, as snapshotters give for runtime v2). Throws
// Error(InvalidArgument) for more than one mount, Error(Unavailable) when mount(2) fails.
void mount_rootfs(const std::string& id, const std::filesystem::path& target, const std::vector<Mount>& mounts);

}  // namespace shimcore::controller
