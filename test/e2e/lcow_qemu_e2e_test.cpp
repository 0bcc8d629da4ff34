// containerd-shim-lcow-v2 on the emulator's QEMU backend: a real Linux utility VM (Debian's kernel, the initrd of
// scripts/build-uvm-image with shimcore-gcs and runc) under QEMU/TCG, driven by containerd 2.1 through ctr and CRI.
// Needs root and qemu-system-x86_64; without QEMU it is skipped, saying so, unless SHIMCORE_REQUIRE_QEMU=1 (set by
// scripts/test, so CI cannot skip it).
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cri_client.h"
#include "cri_e2e.h"
#include "e2e_util.h"
#include "oci_image.h"
#include "private_containerd.h"
#include "run_process.h"
#include "test_util.h"

using namespace std::chrono_literals;
using namespace shimcore::testing::cri_e2e;
using Catch::Matchers::ContainsSubstring;
using shimcore::testing::CriClient;
using shimcore::testing::CriConfig;
using shimcore::testing::CriError;
using shimcore::testing::eventually;
using shimcore::testing::kBusyboxImageName;
using shimcore::testing::PrivateContainerd;
using shimcore::testing::ProcessResult;
using shimcore::testing::run_process;
namespace fs = std::filesystem;
namespace cri = runtime::v1;

namespace {

const fs::path kBin = SHIMCORE_TEST_BIN_DIR;
const fs::path kShim = kBin / "containerd-shim-lcow-v2";

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The boot files, built (or found up to date) by scripts/build-uvm-image for this build's guest agent, once per run.
struct Image {
  fs::path boot_files;
  std::string kernel_release;
  std::string problem;  // set: QEMU cannot run here
};

const Image& image() {
  static const Image built = [] {
    Image result;
    const ProcessResult qemu = run_process({"qemu-system-x86_64", "--version"});
    if (qemu.exit_status != 0) {
      result.problem = "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86; scripts/bootstrap does)";
      return result;
    }
    const char* cache = std::getenv("SHIMCORE_CACHE");
    const fs::path root =
        cache != nullptr && *cache != '\0' ? fs::path(cache) : fs::path(SHIMCORE_SOURCE_DIR) / ".cache";
    result.boot_files = root / "uvm" / "LinuxBootFiles";
    const ProcessResult build =
        run_process({"bash", std::string(SHIMCORE_SOURCE_DIR) + "/scripts/build-uvm-image", "--gcs",
                     (kBin / "shimcore-gcs").string(), "--out", result.boot_files.string()});
    INFO("build-uvm-image: " << build.out << build.err);
    REQUIRE(build.exit_status == 0);
    std::istringstream lines(slurp(result.boot_files / "image.txt"));
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with("kernel-release: ")) result.kernel_release = line.substr(16);
    }
    REQUIRE_FALSE(result.kernel_release.empty());
    return result;
  }();
  return built;
}

// Skips with the reason when QEMU cannot run, except where the caller demands it (CI).
bool qemu_ready() {
  const Image& built = image();
  if (built.problem.empty()) return true;
  const char* required = std::getenv("SHIMCORE_REQUIRE_QEMU");
  if (required != nullptr && std::string_view(required) == "1") FAIL("SHIMCORE_REQUIRE_QEMU=1, but " << built.problem);
  SKIP(built.problem);
  return false;
}

std::vector<std::string> qemu_environment(const fs::path& scratch) {
  return {"SHIMCORE_SOCKET_DIR=" + (scratch / "s").string(), "SHIMCORE_HCS_EMULATOR_DIR=" + (scratch / "hcs").string(),
          "SHIMCORE_HCS_EMULATOR_VM=qemu", "SHIMCORE_LCOW_BOOT_FILES=" + image().boot_files.string()};
}

// QEMU processes of this test's emulator (their virtio-serial socket lies under its folder).
std::size_t vms_under(const fs::path& scratch) {
  return shimcore::testing::pids_with_cmdline({"qemu-system-x86_64", (scratch / "hcs").string()}).size();
}

std::string host_kernel_release() {
  std::string release = slurp("/proc/sys/kernel/osrelease");
  return release.substr(0, release.find('\n'));
}

}  // namespace

TEST_CASE("qemu: ctr run --rm boots a real utility VM; the container runs under the guest's kernel",
          "[e2e][lcow][qemu]") {
  if (!qemu_ready()) return;
  const fs::path scratch = "/tmp/shimcore-qemu-ctr-" + std::to_string(::getpid());
  {
    PrivateContainerd containerd({}, qemu_environment(scratch));
    const fs::path rootfs = containerd.make_busybox_rootfs("rootfs");
    const ProcessResult run = containerd.ctr({"run", "--rm", "--runtime", kShim.string(), "--rootfs", rootfs.string(),
                                              "q1", "sh", "-c", "uname -r; echo out; echo err >&2; exit 3"});
    INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << containerd.log());
    CHECK(run.out == image().kernel_release + "\nout\n");
    CHECK(run.err == "err\n");
    CHECK(run.exit_status == 3);
    CHECK(image().kernel_release != host_kernel_release());
    // The guest agent's log reached the shim's log over the serial console: it dialled over virtio-serial.
    const std::string log = containerd.log();
    CHECK_THAT(log, ContainsSubstring("shimcore-gcs starting"));
    CHECK_THAT(log, ContainsSubstring("virtio-serial:/dev/vport"));
    CHECK(shimcore::testing::task_list(containerd).empty());
    // The shim ended with its last task and QEMU with it.
    CHECK(eventually([&] { return vms_under(scratch) == 0; }, 20s));
    CHECK(eventually([&] { return containerd.shim_daemons().empty(); }, 10s));
  }
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
}

TEST_CASE("qemu: a CRI pod with two containers in a real utility VM: logs, ExecSync, guest kernel, clean teardown",
          "[e2e][cri][lcow][qemu]") {
  if (!qemu_ready()) return;
  const fs::path scratch = "/tmp/shimcore-qemu-cri-" + std::to_string(::getpid());
  const fs::path logs = scratch / "pod-logs";
  {
    PrivateContainerd containerd({}, qemu_environment(scratch), CriConfig{kShim, "lcow"});
    CriClient cri{containerd.grpc_socket()};
    const auto archive = shimcore::testing::make_busybox_oci_archive(scratch / "image");
    const ProcessResult import = containerd.ctr(
        {"-n", "k8s.io", "images", "import", "--local", "--snapshotter", "native", archive.path.string()});
    REQUIRE(import.exit_status == 0);

    const cri::PodSandboxConfig pod =
        shimcore::testing::make_pod_config("qpod", "qpod-uid-" + std::to_string(::getpid()), (logs / "qpod").string());
    PodGuard guard{cri, std::nullopt};
    try {
      guard.pod_id = cri.run_pod_sandbox(pod, "lcow");
    } catch (const CriError& error) {
      FAIL("RunPodSandbox: " << error.what() << "\ncontainerd log:\n" << containerd.log());
    }
    const std::string pod_id = *guard.pod_id;
    INFO("pod " << pod_id << "\ncontainerd log:\n" << containerd.log());
    CHECK(cri.pod_sandbox_status(pod_id, true).status().state() == cri::SANDBOX_READY);
    const auto daemons = containerd.shim_daemons(kShim);
    REQUIRE(daemons.size() == 1);
    const pid_t shim_pid = daemons[0].pid;
    CHECK(vms_under(scratch) == 1);
    CHECK(shimcore::testing::guest_agents_under(scratch.string()).empty());  // the agent runs inside the VM

    const std::string c1 = cri.create_container(
        pod_id, shimcore::testing::make_container_config("c1", kBusyboxImageName, "echo hello from c1; sleep 60"), pod);
    const std::string c2 = cri.create_container(
        pod_id, shimcore::testing::make_container_config("c2", kBusyboxImageName, "echo hello from c2; uname -r"), pod);
    cri.start_container(c1);
    cri.start_container(c2);
    CHECK(cri.list_containers(pod_id).size() == 2);
    CHECK(vms_under(scratch) == 1);  // both containers in the pod's one VM

    const fs::path c1_log = logs / "qpod" / "c1.log";
    const fs::path c2_log = logs / "qpod" / "c2.log";
    CHECK(eventually([&] { return contains(cri_log_lines(read_file(c1_log), "stdout"), "hello from c1"); }, 30s));
    CHECK(
        eventually([&] { return contains(cri_log_lines(read_file(c2_log), "stdout"), image().kernel_release); }, 30s));
    INFO("c1.log:\n" << read_file(c1_log) << "c2.log:\n" << read_file(c2_log));
    CHECK(contains(cri_log_lines(read_file(c2_log), "stdout"), "hello from c2"));

    const cri::ExecSyncResponse exec = cri.exec_sync(c1, {"sh", "-c", "uname -r; echo to-stderr >&2; exit 7"}, 30);
    CHECK(exec.stdout() == image().kernel_release + "\n");
    CHECK(exec.stderr() == "to-stderr\n");
    CHECK(exec.exit_code() == 7);

    cri::ContainerStatusResponse c2_status;
    CHECK(eventually(
        [&] {
          c2_status = cri.container_status(c2);
          return c2_status.status().state() == cri::CONTAINER_EXITED;
        },
        30s));
    CHECK(c2_status.status().exit_code() == 0);

    cri.stop_pod_sandbox(pod_id);
    CHECK(cri.pod_sandbox_status(pod_id).status().state() == cri::SANDBOX_NOTREADY);
    CHECK(cri.container_status(c1).status().state() == cri::CONTAINER_EXITED);
    CHECK(eventually([&] { return vms_under(scratch) == 0; }, 20s));  // QEMU stopped with the pod
    cri.remove_pod_sandbox(pod_id);
    guard.pod_id.reset();
    CHECK(cri.list_pod_sandbox().empty());
    CHECK(eventually([&] { return process_gone(shim_pid) && containerd.shim_daemons().empty(); }, 10s));
    CHECK(eventually([&] { return shimcore::testing::mounts_under(containerd.dir()).empty(); }));
    std::error_code error;
    CHECK((!fs::exists(scratch / "hcs" / "vm", error) || fs::is_empty(scratch / "hcs" / "vm", error)));
  }
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
}

TEST_CASE("qemu: kill -9 of the shim: containerd's delete kills its QEMU", "[e2e][lcow][qemu]") {
  if (!qemu_ready()) return;
  const fs::path scratch = "/tmp/shimcore-qemu-kill-" + std::to_string(::getpid());
  {
    PrivateContainerd containerd({}, qemu_environment(scratch));
    const fs::path rootfs = containerd.make_busybox_rootfs("rootfs");
    const ProcessResult run = containerd.ctr(
        {"run", "-d", "--runtime", kShim.string(), "--rootfs", rootfs.string(), "q5", "sh", "-c", "sleep 600"});
    INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << containerd.log());
    REQUIRE(run.exit_status == 0);
    REQUIRE(eventually([&] {
      const auto tasks = shimcore::testing::task_list(containerd);
      return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "RUNNING";
    }));
    REQUIRE(vms_under(scratch) == 1);
    const auto daemons = containerd.shim_daemons(kShim);
    REQUIRE(daemons.size() == 1);
    REQUIRE(::kill(daemons[0].pid, SIGKILL) == 0);
    // containerd runs our `delete`, which finds the VM's record, and kills QEMU (its pid is recorded).
    CHECK(eventually([&] { return containerd.log().find("cleaned up after a dead shim") != std::string::npos; }, 20s));
    CHECK(eventually([&] { return vms_under(scratch) == 0; }, 20s));
  }
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
}
