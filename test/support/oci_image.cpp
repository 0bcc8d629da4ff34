// Busybox OCI image archive: layer, config, manifest and index written by hand, digests by sha256sum.
#include "oci_image.h"

#include <sys/utsname.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "private_containerd.h"
#include "run_process.h"

namespace shimcore::testing {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Applets the tests run; busybox picks the applet from argv[0], so each is a link to it.
constexpr const char* kApplets[] = {"sh",  "echo",  "sleep", "cat",  "hostname", "true", "false", "ls",
                                    "ps",  "env",   "id",    "wc",   "head",     "grep", "mkdir", "rm",
                                    "pwd", "uname", "kill",  "date", "touch",    "test", "mount"};

std::string run_checked(const std::vector<std::string>& argv) {
  const ProcessResult result = run_process(argv);
  if (result.exit_status != 0) {
    throw std::runtime_error(argv[0] + " failed (" + std::to_string(result.exit_status) + "): " + result.err);
  }
  return result.out;
}

struct Blob {
  std::string digest;
  std::uintmax_t size = 0;
};

// Moves `file` into the layout's blobs/sha256/ under its own digest.
Blob add_blob(const fs::path& layout, const fs::path& file) {
  const std::string out = run_checked({"sha256sum", file.string()});
  const std::string hex = out.substr(0, out.find(' '));
  if (hex.size() != 64) throw std::runtime_error("unexpected sha256sum output: " + out);
  const fs::path target = layout / "blobs" / "sha256" / hex;
  fs::create_directories(target.parent_path());
  const std::uintmax_t size = fs::file_size(file);
  fs::rename(file, target);
  return {"sha256:" + hex, size};
}

Blob add_json_blob(const fs::path& layout, const fs::path& scratch, const json& document) {
  std::ofstream(scratch, std::ios::binary | std::ios::trunc) << document.dump();
  return add_blob(layout, scratch);
}

// OCI (Go) architecture names for the machines this runs on.
std::string oci_architecture() {
  utsname name{};
  ::uname(&name);
  const std::string machine = name.machine;
  if (machine == "x86_64") return "amd64";
  if (machine == "aarch64") return "arm64";
  if (machine == "i686" || machine == "i386") return "386";
  if (machine == "armv7l") return "arm";
  return machine;
}

}  // namespace

OciImageArchive make_busybox_oci_archive(const fs::path& work_dir, const std::string& name) {
  fs::create_directories(work_dir);
  const fs::path rootfs = work_dir / "layer-root";
  const fs::path layout = work_dir / "oci";
  fs::remove_all(rootfs);
  fs::remove_all(layout);
  for (const char* sub : {"bin", "etc", "dev", "proc", "sys", "tmp", "root"}) fs::create_directories(rootfs / sub);
  fs::permissions(rootfs / "tmp", fs::perms::all | fs::perms::sticky_bit);
  fs::copy_file(busybox_path(), rootfs / "bin" / "busybox", fs::copy_options::overwrite_existing);
  fs::permissions(rootfs / "bin" / "busybox", fs::perms(0755));
  for (const char* applet : kApplets) fs::create_symlink("busybox", rootfs / "bin" / applet);

  // Reproducible layer: sorted names, root ownership, fixed times.
  const fs::path layer_tar = work_dir / "layer.tar";
  run_checked({"tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", rootfs.string(),
               "-cf", layer_tar.string(), "bin", "dev", "etc", "proc", "root", "sys", "tmp"});
  const Blob layer = add_blob(layout, layer_tar);

  const std::string architecture = oci_architecture();
  // An uncompressed layer: its diff id is its digest.
  const json config = {
      {"architecture", architecture},
      {"os", "linux"},
      {"created", "1970-01-01T00:00:00Z"},
      {"config",
       {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
        {"Cmd", {"sh"}},
        {"WorkingDir", "/"}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {layer.digest}}}},
      {"history", {{{"created", "1970-01-01T00:00:00Z"}, {"created_by", "shimcore test support (busybox-static)"}}}}};
  const Blob config_blob = add_json_blob(layout, work_dir / "config.json", config);

  const json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"digest", config_blob.digest},
        {"size", config_blob.size}}},
      {"layers",
       {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"}, {"digest", layer.digest}, {"size", layer.size}}}}};
  const Blob manifest_blob = add_json_blob(layout, work_dir / "manifest.json", manifest);

  // containerd's importer names the image after io.containerd.image.name; ref.name is the OCI tag for other tools.
  const std::string tag = name.substr(name.rfind(':') == std::string::npos ? 0 : name.rfind(':') + 1);
  const json index = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.index.v1+json"},
      {"manifests",
       {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
         {"digest", manifest_blob.digest},
         {"size", manifest_blob.size},
         {"platform", {{"architecture", architecture}, {"os", "linux"}}},
         {"annotations", {{"io.containerd.image.name", name}, {"org.opencontainers.image.ref.name", tag}}}}}}};
  std::ofstream(layout / "index.json", std::ios::binary | std::ios::trunc) << index.dump();
  std::ofstream(layout / "oci-layout", std::ios::binary | std::ios::trunc)
      << json{{"imageLayoutVersion", "1.0.0"}}.dump();

  OciImageArchive archive{work_dir / "busybox-oci.tar", name, manifest_blob.digest, config_blob.digest};
  run_checked({"tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", layout.string(),
               "-cf", archive.path.string(), "oci-layout", "index.json", "blobs"});
  fs::remove_all(rootfs);
  return archive;
}

}  // namespace shimcore::testing
