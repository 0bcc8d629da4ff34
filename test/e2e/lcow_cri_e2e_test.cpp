// Kubernetes CRI driving containerd 2.1 with containerd-shim-lcow-v2 as the pod's shim sandboxer: the pod is the
// utility VM (emulated, real guest agent), its containers are runc containers in the guest. Needs root.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cri_client.h"
#include "cri_e2e.h"
#include "e2e_util.h"
#include "oci_image.h"
#include "private_containerd.h"
#include "test_util.h"

using namespace std::chrono_literals;
using namespace shimcore::testing::cri_e2e;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using shimcore::testing::CriClient;
using shimcore::testing::CriConfig;
using shimcore::testing::CriError;
using shimcore::testing::eventually;
using shimcore::testing::kBusyboxImageName;
using shimcore::testing::PrivateContainerd;
using shimcore::testing::ProcessResult;
namespace fs = std::filesystem;
namespace cri = runtime::v1;

namespace {

const fs::path kShim = fs::path(SHIMCORE_TEST_BIN_DIR) / "containerd-shim-lcow-v2";
constexpr const char* kHandler = "lcow";

struct LcowCriE2E {
  fs::path scratch = "/tmp/shimcore-lcow-cri-" + std::to_string(::getpid());
  PrivateContainerd containerd{
      {},
      {"SHIMCORE_SOCKET_DIR=" + (scratch / "s").string(), "SHIMCORE_HCS_EMULATOR_DIR=" + (scratch / "hcs").string()},
      CriConfig{kShim, kHandler}};
  CriClient cri{containerd.grpc_socket()};
  fs::path logs = scratch / "pod-logs";

  ~LcowCriE2E() {
    std::error_code ignored;
    fs::remove_all(scratch, ignored);
  }

  std::string diagnostics() const {
    std::ostringstream text;
    text << "shim invocations:\n";
    for (const std::string& line : containerd.shim_invocations()) text << "  " << line << "\n";
    text << "containerd log:\n" << containerd.log();
    return text.str();
  }

  void import_busybox() {
    const auto archive = shimcore::testing::make_busybox_oci_archive(scratch / "image");
    const ProcessResult import = containerd.ctr(
        {"-n", "k8s.io", "images", "import", "--local", "--snapshotter", "native", archive.path.string()});
    INFO("ctr images import: " << import.out << import.err);
    REQUIRE(import.exit_status == 0);
  }

  // Guest agents (emulated VMs) of this test's emulator.
  std::size_t guest_agents() const { return shimcore::testing::guest_agents_under(scratch.string()).size(); }
};

}  // namespace

TEST_CASE("a CRI pod with two containers runs in one containerd-shim-lcow-v2 and its utility VM", "[e2e][cri][lcow]") {
  LcowCriE2E e2e;
  e2e.import_busybox();
  const cri::PodSandboxConfig pod = shimcore::testing::make_pod_config("lpod", "lpod-uid-" + std::to_string(::getpid()),
                                                                       (e2e.logs / "lpod").string());
  PodGuard guard{e2e.cri, std::nullopt};
  try {
    guard.pod_id = e2e.cri.run_pod_sandbox(pod, kHandler);
  } catch (const CriError& error) {
    FAIL("RunPodSandbox: " << error.what() << "\n" << e2e.diagnostics());
  }
  const std::string pod_id = *guard.pod_id;
  INFO("pod " << pod_id << "\n" << e2e.diagnostics());

  // The pod is ready; one shim and one guest agent serve it.
  CHECK(e2e.cri.pod_sandbox_status(pod_id, true).status().state() == cri::SANDBOX_READY);
  const auto daemons = e2e.containerd.shim_daemons(kShim);
  REQUIRE(daemons.size() == 1);
  CHECK(daemons[0].id == pod_id);
  const pid_t shim_pid = daemons[0].pid;
  CHECK(e2e.guest_agents() == 1);
  const fs::path sandbox_bundle =
      e2e.containerd.state_dir() / "io.containerd.sandbox.controller.v1.shim" / "k8s.io" / pod_id;
  const std::string shim_address = bootstrap_address(sandbox_bundle);
  REQUIRE_THAT(shim_address, StartsWith("unix:///"));

  const std::string c1 = e2e.cri.create_container(
      pod_id, shimcore::testing::make_container_config("c1", kBusyboxImageName, "echo hello from c1; sleep 30"), pod);
  const std::string c2 = e2e.cri.create_container(
      pod_id,
      shimcore::testing::make_container_config("c2", kBusyboxImageName,
                                               "echo hello from c2; /bin/busybox readlink /proc/self/ns/net; exit 0"),
      pod);
  e2e.cri.start_container(c1);
  e2e.cri.start_container(c2);
  CHECK(e2e.cri.list_containers(pod_id).size() == 2);
  CHECK(e2e.containerd.shim_daemons(kShim).size() == 1);
  CHECK(e2e.guest_agents() == 1);

  const fs::path c1_log = e2e.logs / "lpod" / "c1.log";
  const fs::path c2_log = e2e.logs / "lpod" / "c2.log";
  CHECK(eventually([&] { return contains(cri_log_lines(read_file(c1_log), "stdout"), "hello from c1"); }, 10s));
  CHECK(eventually([&] { return contains(cri_log_lines(read_file(c2_log), "stdout"), "hello from c2"); }, 10s));
  INFO("c1.log:\n" << read_file(c1_log) << "c2.log:\n" << read_file(c2_log));

  // ExecSync in the running container: output, exit code, and a pid namespace that is not the host's.
  const cri::ExecSyncResponse exec = e2e.cri.exec_sync(c1, {"sh", "-c", "echo exec; exit 4"}, 10);
  CHECK(exec.stdout() == "exec\n");
  CHECK(exec.exit_code() == 4);
  const cri::ExecSyncResponse ns = e2e.cri.exec_sync(c1, {"/bin/busybox", "readlink", "/proc/self/ns/pid"}, 10);
  char host_ns[64] = {};
  REQUIRE(::readlink("/proc/self/ns/pid", host_ns, sizeof host_ns - 1) > 0);
  CHECK_THAT(ns.stdout(), StartsWith("pid:["));
  CHECK(ns.stdout() != std::string(host_ns) + "\n");
  // The pod's containers share its network namespace in the guest (c2 printed its own to its log).
  const cri::ExecSyncResponse net = e2e.cri.exec_sync(c1, {"/bin/busybox", "readlink", "/proc/self/ns/net"}, 10);
  CHECK_THAT(net.stdout(), StartsWith("net:["));
  CHECK(eventually(
      [&] {
        return contains(cri_log_lines(read_file(c2_log), "stdout"), net.stdout().substr(0, net.stdout().find('\n')));
      },
      10s));
  char host_net[64] = {};
  REQUIRE(::readlink("/proc/self/ns/net", host_net, sizeof host_net - 1) > 0);
  CHECK(net.stdout() != std::string(host_net) + "\n");

  cri::ContainerStatusResponse c2_status;
  CHECK(eventually(
      [&] {
        c2_status = e2e.cri.container_status(c2);
        return c2_status.status().state() == cri::CONTAINER_EXITED;
      },
      10s));
  CHECK(c2_status.status().exit_code() == 0);
  CHECK(e2e.cri.container_status(c1).status().state() == cri::CONTAINER_RUNNING);

  e2e.cri.stop_pod_sandbox(pod_id);
  CHECK(e2e.cri.pod_sandbox_status(pod_id).status().state() == cri::SANDBOX_NOTREADY);
  CHECK(e2e.cri.container_status(c1).status().state() == cri::CONTAINER_EXITED);
  CHECK(eventually([&] { return e2e.guest_agents() == 0; }, 10s));  // the VM stopped with the pod
  e2e.cri.remove_pod_sandbox(pod_id);
  guard.pod_id.reset();
  CHECK(e2e.cri.list_pod_sandbox().empty());

  // Nothing is left: shim, socket, bundles, mounts, the VM's folder.
  CHECK(eventually([&] { return process_gone(shim_pid) && e2e.containerd.shim_daemons().empty(); }, 10s));
  CHECK(eventually([&] { return !fs::exists(shim_address.substr(std::string("unix://").size())); }));
  CHECK(eventually([&] { return !fs::exists(sandbox_bundle); }));
  CHECK(eventually([&] { return shimcore::testing::mounts_under(e2e.containerd.dir()).empty(); }));
  std::error_code error;
  CHECK((!fs::exists(e2e.scratch / "hcs" / "vm", error) || fs::is_empty(e2e.scratch / "hcs" / "vm", error)));
}
