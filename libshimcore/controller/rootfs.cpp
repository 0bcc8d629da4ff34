// Task bundles on the host: the OCI config and containerd's rootfs mounts.
#include "controller/rootfs.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "shimcore/errdefs.h"

namespace shimcore::controller {

namespace fs = std::filesystem;
using nlohmann::json;

json read_bundle_config(const std::string& id, const fs::path& bundle, bool require_process) {
  const fs::path path = bundle / "config.json";
  std::ifstream in(path);
  if (!in) throw make_error(ErrorKind::InvalidArgument, "task {}: cannot read {}", id, path.string());
  json spec;
  try {
    spec = json::parse(in);
  } catch (const json::exception& error) {
    throw make_error(ErrorKind::InvalidArgument, "task {}: {} is not valid JSON: {}", id, path.string(), error.what());
  }
  if (!spec.is_object()) throw make_error(ErrorKind::InvalidArgument, "{}: {} is not a JSON object", id, path.string());
  if (require_process && (!spec.contains("process") || !spec["process"].is_object())) {
    throw make_error(ErrorKind::InvalidArgument, "task {}: {} has no process", id, path.string());
  }
  return spec;
}

// Mounts containerd's rootfs mounts on <bundle>/rootfs (one mount, as snapshotters give for runtime v2).
void mount_rootfs(const std::string& id, const fs::path& target, const std::vector<Mount>& mounts) {
  if (mounts.size() > 1) {
    throw make_error(ErrorKind::InvalidArgument, "task {}: {} rootfs mounts; one is supported", id, mounts.size());
  }
  const Mount& mount = mounts.front();
  unsigned long flags = 0;
  std::string data;
  for (const std::string& option : mount.options) {
    if (option == "rbind") {
      flags |= MS_BIND | MS_REC;
    } else if (option == "bind") {
      flags |= MS_BIND;
    } else if (option == "ro") {
      flags |= MS_RDONLY;
    } else if (option == "rw") {
      continue;
    } else {
      data += (data.empty() ? "" : ",") + option;
    }
  }
  if (mount.type == "bind") flags |= MS_BIND;
  std::error_code error;
  fs::create_directories(target, error);
  if (::mount(mount.source.c_str(), target.c_str(), mount.type.c_str(), flags, data.empty() ? nullptr : data.c_str()) !=
      0) {
    throw make_error(ErrorKind::Unavailable, "task {}: cannot mount {} ({}) on {}: {}", id, mount.source, mount.type,
                     target.string(), std::strerror(errno));
  }
}

}  // namespace shimcore::controller
