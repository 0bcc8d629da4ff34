// The operators' setup as docs/getting-started.md gives it: `cmake --install` of this build into a temporary prefix,
// then a private containerd 2.1 that imports the installed drop-in runs a CRI pod with a container through the
// installed shim. And the README's copy of the drop-in is the installed file, byte for byte. Needs root.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cri_client.h"
#include "cri_e2e.h"
#include "oci_image.h"
#include "private_containerd.h"
#include "run_process.h"
#include "test_util.h"

using Catch::Matchers::ContainsSubstring;
namespace fs = std::filesystem;
namespace cri = runtime::v1;
using shimcore::testing::cri_e2e::read_file;

namespace {

struct Installed {
  shimcore::testing::TempDir prefix{"shimcore-install-"};
  Installed() {
    const auto installed = shimcore::testing::run_process(
        {SHIMCORE_CMAKE, "--install", SHIMCORE_BUILD_DIR, "--prefix", prefix.path.string()});
    INFO(installed.out << installed.err);
    REQUIRE(installed.exit_status == 0);
  }
};

}  // namespace

TEST_CASE("cmake --install lays out the shims, tools, drop-in and page; the README's drop-in is the installed file",
          "[install]") {
  Installed install;
  const fs::path& prefix = install.prefix.path;
  for (const char* file : {"bin/containerd-shim-process-v2", "bin/shimdiag", "bin/hcsdoc",
                           "share/shimcore/conf.d/shimcore.toml", "share/doc/shimcore/getting-started.md"}) {
    CAPTURE(file);
    CHECK(fs::is_regular_file(prefix / file));
  }
#if SHIMCORE_TEST_LCOW
  for (const char* file : {"bin/containerd-shim-lcow-v2", "bin/shimcore-gcs", "bin/LinuxBootFiles/kernel",
                           "bin/LinuxBootFiles/initrd.img"}) {
    CAPTURE(file);
    CHECK(fs::is_regular_file(prefix / file));
  }
#endif
  // No test, benchmark or demo binary is installed.
  for (const auto& entry : fs::directory_iterator(prefix / "bin")) {
    CHECK_FALSE(entry.path().filename().string().starts_with("test_"));
    CHECK_FALSE(entry.path().filename().string().starts_with("bench_"));
  }
  const std::string drop_in = read_file(prefix / "share/shimcore/conf.d/shimcore.toml");
  CHECK(drop_in == read_file(fs::path(SHIMCORE_SOURCE_DIR) / "conf.d/shimcore.toml"));
  const std::string readme = read_file(fs::path(SHIMCORE_SOURCE_DIR) / "README.md");
  const std::string start = "<!-- conf.d/shimcore.toml -->\n```toml\n";
  const auto at = readme.find(start);
  REQUIRE(at != std::string::npos);
  const auto end = readme.find("```\n", at + start.size());
  REQUIRE(end != std::string::npos);
  CHECK(readme.substr(at + start.size(), end - at - start.size()) == drop_in);
  CHECK(read_file(prefix / "share/doc/shimcore/getting-started.md") ==
        read_file(fs::path(SHIMCORE_SOURCE_DIR) / "docs/getting-started.md"));
}

TEST_CASE("containerd with the installed drop-in runs a CRI pod and its container through the installed shim",
          "[install][e2e]") {
  Installed install;
  const fs::path& prefix = install.prefix.path;
  const fs::path shim = prefix / "bin/containerd-shim-process-v2";
  const std::string scratch = "/tmp/shimcore-install-e2e-" + std::to_string(::getpid());
  shimcore::testing::PrivateContainerd containerd(
      {}, {"SHIMCORE_SOCKET_DIR=" + scratch + "/s", "SHIMCORE_HCS_EMULATOR_DIR=" + scratch + "/hcs"},
      shimcore::testing::CriConfig{shim, "process", prefix / "share/shimcore/conf.d/shimcore.toml"});
  INFO("containerd log:\n" << containerd.log());
  shimcore::testing::CriClient client(containerd.grpc_socket());
  const auto archive = shimcore::testing::make_busybox_oci_archive(fs::path(scratch) / "image");
  REQUIRE(
      containerd.ctr({"-n", "k8s.io", "images", "import", "--local", "--snapshotter", "native", archive.path.string()})
          .exit_status == 0);
  const fs::path logs = fs::path(scratch) / "logs";
  const auto pod_config = shimcore::testing::make_pod_config("installed", "installed-uid", logs.string());
  shimcore::testing::cri_e2e::PodGuard pod{client, client.run_pod_sandbox(pod_config, "process")};
  const std::string container = client.create_container(
      *pod.pod_id,
      shimcore::testing::make_container_config("hello", shimcore::testing::kBusyboxImageName, "echo installed; exit 0"),
      pod_config);
  client.start_container(container);
  CHECK(shimcore::testing::eventually([&] {
    return shimcore::testing::cri_e2e::contains(
        shimcore::testing::cri_e2e::cri_log_lines(read_file(logs / "hello.log"), "stdout"), "installed");
  }));
  // The daemon serving the pod is the installed binary.
  const auto daemons = containerd.shim_daemons(shim);
  REQUIRE(daemons.size() == 1);
  CHECK(fs::read_symlink("/proc/" + std::to_string(daemons.front().pid) + "/exe") == shim);
  client.stop_pod_sandbox(*pod.pod_id);
  client.remove_pod_sandbox(*pod.pod_id);
  pod.pod_id.reset();
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
}
