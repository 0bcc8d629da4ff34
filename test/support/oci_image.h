// Test fixture: a single-layer busybox OCI image archive, built from the bootstrap's static busybox, for
// `ctr images import` (nothing is downloaded; the name is only a name).
#pragma once

#include <filesystem>
#include <string>

namespace shimcore::testing {

inline constexpr const char* kBusyboxImageName = "docker.io/library/busybox:shimcore";

struct OciImageArchive {
  std::filesystem::path path;  // the OCI layout as an uncompressed tar
  std::string name;            // io.containerd.image.name in index.json
  std::string manifest_digest;
  std::string config_digest;  // "sha256:…": the image id CRI reports
};

// Builds the archive in `work_dir` (created if needed): one uncompressed layer with /bin/busybox, its applet links
// and the usual empty folders; a linux config for this machine's architecture (amd64 on x86_64); the manifest; an
// index.json naming the image; oci-layout. Uses tar and sha256sum (coreutils), nothing else.
OciImageArchive make_busybox_oci_archive(const std::filesystem::path& work_dir,
                                         const std::string& name = kBusyboxImageName);

}  // namespace shimcore::testing
