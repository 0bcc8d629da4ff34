// mount(2) calls for shares and layers.
#include "mounts.h"

#include <sys/mount.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "log.h"
#include "posix.h"

namespace shimcore::guest {
namespace {

namespace fs = std::filesystem;

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw make_error(ErrorKind::Internal, "mkdir {}: {}", path, ec.message());
}

void bind_mount(const std::string& source, const std::string& target, bool read_only) {
  if (!fs::is_directory(source)) throw make_error(ErrorKind::NotFound, "mount source {} is not a directory", source);
  make_dirs(target);
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    throw errno_error(fmt::format("bind mount {} on {}", source, target));
  }
  // A bind mount takes MS_RDONLY only on a remount.
  if (read_only && ::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, nullptr) != 0) {
    const Error error = errno_error(fmt::format("remount {} read-only", target));
    ::umount2(target.c_str(), MNT_DETACH);
    throw error;
  }
}

class Virtio9pMounter final : public ShareMounter {
 public:
  void mount(const std::string& share_name, const std::string& mount_path, bool read_only) override {
    make_dirs(mount_path);
    const unsigned long flags = read_only ? MS_RDONLY : 0;
    if (::mount(share_name.c_str(), mount_path.c_str(), "9p", flags, "trans=virtio,version=9p2000.L") != 0) {
      throw errno_error(fmt::format("mount 9p share {} on {}", share_name, mount_path));
    }
  }
};

class DirectoryShareMounter final : public ShareMounter {
 public:
  explicit DirectoryShareMounter(std::string dir) : dir_(std::move(dir)) {}
  void mount(const std::string& share_name, const std::string& mount_path, bool read_only) override {
    if (share_name.empty() || share_name.find('/') != std::string::npos || share_name == "." || share_name == "..") {
      throw make_error(ErrorKind::InvalidArgument, "invalid Plan9 share name \"{}\"", share_name);
    }
    bind_mount(dir_ + "/" + share_name, mount_path, read_only);
  }

 private:
  std::string dir_;
};

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      out.push_back(static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<ShareMounter> make_virtio_9p_mounter() { return std::make_unique<Virtio9pMounter>(); }
std::unique_ptr<ShareMounter> make_directory_share_mounter(std::string dir) {
  return std::make_unique<DirectoryShareMounter>(std::move(dir));
}

void mount_layers(const std::vector<std::string>& layers, const std::string& scratch, const std::string& target) {
  if (layers.empty()) throw make_error(ErrorKind::InvalidArgument, "CombinedLayers: no layers");
  if (target.empty()) throw make_error(ErrorKind::InvalidArgument, "CombinedLayers: no ContainerRootPath");
  if (layers.size() == 1 && scratch.empty()) {
    bind_mount(layers.front(), target, /*read_only=*/true);
    return;
  }
  std::string lower;
  for (const auto& layer : layers) {
    if (layer.find_first_of(":,") != std::string::npos) {
      throw make_error(ErrorKind::InvalidArgument, "layer path {} contains ':' or ','", layer);
    }
    if (!lower.empty()) lower.push_back(':');
    lower += layer;
  }
  std::string options = "lowerdir=" + lower;
  if (!scratch.empty()) {
    const std::string upper = scratch + "/upper";
    const std::string work = scratch + "/work";
    make_dirs(upper);
    make_dirs(work);
    options += ",upperdir=" + upper + ",workdir=" + work;
  }
  make_dirs(target);
  const unsigned long flags = scratch.empty() ? MS_RDONLY : 0;
  if (::mount("overlay", target.c_str(), "overlay", flags, options.c_str()) != 0) {
    throw errno_error(fmt::format("mount overlay on {} ({})", target, options));
  }
}

void unmount(const std::string& path) {
  if (::umount2(path.c_str(), 0) != 0) {
    if (errno == EINVAL && !has_mounts_under(path)) return;  // not mounted: nothing to undo
    // Busy (a process still has its cwd there): detach, as hcsshim's guest does on a forced remove.
    if (errno != EBUSY || ::umount2(path.c_str(), MNT_DETACH) != 0) throw errno_error("unmount " + path);
  }
}

bool has_mounts_under(const std::string& path) {
  const std::string prefix = fs::path(path).lexically_normal().string();
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devices, root, mount_point;
    fields >> id >> parent >> devices >> root >> mount_point;
    const std::string point = unescape_mountinfo(mount_point);
    if (point == prefix || (point.starts_with(prefix) && point.size() > prefix.size() && point[prefix.size()] == '/')) {
      return true;
    }
  }
  return false;
}

}  // namespace shimcore::guest
