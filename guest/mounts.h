// The guest's mounts: Plan9 shares (behind ShareMounter, so the emulator can bind a local folder instead of 9p over
// virtio), overlay roots for CombinedLayers, and unmounting.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace shimcore::guest {

class ShareMounter {
 public:
  virtual ~ShareMounter() = default;
  // Mounts the host share `share_name` at `mount_path` (created if missing).
  virtual void mount(const std::string& share_name, const std::string& mount_path, bool read_only) = 0;
};
// `mount -t 9p -o trans=virtio,version=9p2000.L <share> <path>`, as hcsshim's guest mounts Plan9 shares.
std::unique_ptr<ShareMounter> make_virtio_9p_mounter();
// The emulator: share N is the folder DIR/N, bind-mounted.
std::unique_ptr<ShareMounter> make_directory_share_mounter(std::string dir);

// An overlay of `layers` (lowerdir order as given: hcsshim's guest joins the host's list unchanged) with
// upper/work under `scratch` at `target`; a single layer without scratch is a read-only bind.
void mount_layers(const std::vector<std::string>& layers, const std::string& scratch, const std::string& target);
void unmount(const std::string& path);
// True when `path` is a mount point or has one below it (from /proc/self/mountinfo).
bool has_mounts_under(const std::string& path);

}  // namespace shimcore::guest
