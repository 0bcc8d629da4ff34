// Kubernetes CRI driving containerd 2.1 with containerd-shim-process-v2 as the pod's shim sandboxer (contract §4.3,
// §4.4, §6.6): a pod with two containers in one shim process, CRI logs, ExecSync, statuses, and a clean teardown.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cri_client.h"
#include "cri_e2e.h"
#include "oci_image.h"
#include "private_containerd.h"
#include "test_util.h"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using shimcore::testing::CriClient;
using shimcore::testing::CriConfig;
using shimcore::testing::CriError;
using namespace shimcore::testing::cri_e2e;
using shimcore::testing::eventually;
using shimcore::testing::kBusyboxImageName;
using shimcore::testing::PrivateContainerd;
using shimcore::testing::ProcessResult;
using shimcore::testing::run_process;
namespace fs = std::filesystem;
namespace cri = runtime::v1;

namespace {

const fs::path kShim = fs::path(SHIMCORE_TEST_BIN_DIR) / "containerd-shim-process-v2";
constexpr const char* kHandler = "process";   // CriConfig's default runtime name
constexpr const char* kPodIp = "192.0.2.10";  // what the stub CNI plugin reports

// A private CRI-enabled containerd whose shims keep their sockets and emulator records in our scratch folder.
struct CriE2E {
  fs::path scratch = "/tmp/shimcore-cri-" + std::to_string(::getpid());
  PrivateContainerd containerd{
      {},
      {"SHIMCORE_SOCKET_DIR=" + (scratch / "s").string(), "SHIMCORE_HCS_EMULATOR_DIR=" + (scratch / "hcs").string()},
      CriConfig{kShim}};
  CriClient cri{containerd.grpc_socket()};
  fs::path logs = scratch / "pod-logs";

  ~CriE2E() {
    std::error_code ignored;
    fs::remove_all(scratch, ignored);
  }

  std::string diagnostics() const {
    std::ostringstream text;
    text << "shim invocations:\n";
    for (const std::string& line : containerd.shim_invocations()) text << "  " << line << "\n";
    text << "CNI calls:\n" << containerd.cni_log() << "containerd log:\n" << containerd.log();
    return text.str();
  }

  void import_busybox() {
    const auto archive = shimcore::testing::make_busybox_oci_archive(scratch / "image");
    const ProcessResult import = containerd.ctr(
        {"-n", "k8s.io", "images", "import", "--local", "--snapshotter", "native", archive.path.string()});
    INFO("ctr images import: " << import.out << import.err);
    REQUIRE(import.exit_status == 0);
  }
};

cri::PodSandboxConfig pod_config(const std::string& name, const fs::path& log_directory) {
  cri::PodSandboxConfig config =
      shimcore::testing::make_pod_config(name, name + "-uid-" + std::to_string(::getpid()), log_directory.string());
  (*config.mutable_labels())["shimcore-test"] = "cri-e2e";
  return config;
}

cri::ContainerConfig container_config(const std::string& name, const std::string& script) {
  return shimcore::testing::make_container_config(name, kBusyboxImageName, script);
}

// Runs the stub CNI plugin as containerd would: CNI_* in the environment, the network config on stdin.
ProcessResult run_cni(const fs::path& plugin, const std::string& command, const std::string& netns) {
  return run_process({"env", "CNI_COMMAND=" + command, "CNI_CONTAINERID=manual", "CNI_NETNS=" + netns,
                      "CNI_IFNAME=eth0", "CNI_PATH=" + plugin.parent_path().string(), plugin.string()},
                     R"({"cniVersion":"1.0.0","name":"testnet","type":"testnet"})");
}

}  // namespace

TEST_CASE("CRI test infrastructure: Version; the busybox image; the stub CNI plugin", "[e2e][cri]") {
  CriE2E e2e;
  INFO(e2e.diagnostics());

  const cri::VersionResponse version = e2e.cri.version();
  CHECK(version.runtime_name() == "containerd");
  CHECK_THAT(version.runtime_version(), StartsWith("2.1."));
  CHECK(version.runtime_api_version() == "v1");

  e2e.import_busybox();
  CHECK_THAT(e2e.containerd.ctr({"-n", "k8s.io", "images", "ls", "-q"}).out, ContainsSubstring(kBusyboxImageName));
  const auto images = e2e.cri.list_images();
  CHECK(std::any_of(images.begin(), images.end(), [](const cri::Image& image) {
    return std::find(image.repo_tags().begin(), image.repo_tags().end(), kBusyboxImageName) != image.repo_tags().end();
  }));
  const std::optional<cri::Image> image = e2e.cri.image_status(kBusyboxImageName);
  REQUIRE(image.has_value());
  CHECK_THAT(image->id(), StartsWith("sha256:"));
  CHECK(image->size() > 0);
  CHECK_FALSE(e2e.cri.image_status("docker.io/library/absent:none").has_value());

  const fs::path plugin = e2e.containerd.cni_bin_dir() / "testnet";
  const ProcessResult add = run_cni(plugin, "ADD", "/nonexistent/netns");  // the dummy link fails: ignored
  REQUIRE(add.exit_status == 0);
  const auto result = nlohmann::json::parse(add.out);
  CHECK(result.at("interfaces").at(0).at("name") == "eth0");
  CHECK(result.at("interfaces").at(0).at("sandbox") == "/nonexistent/netns");
  CHECK(result.at("ips").at(0).at("address") == std::string(kPodIp) + "/24");
  CHECK(result.at("ips").at(0).at("interface") == 0);
  const ProcessResult version_call = run_cni(plugin, "VERSION", "");
  CHECK(version_call.exit_status == 0);
  CHECK(nlohmann::json::parse(version_call.out).at("supportedVersions").size() == 4);
  for (const char* command : {"DEL", "CHECK", "GC", "STATUS"}) {
    const ProcessResult call = run_cni(plugin, command, "/nonexistent/netns");
    CHECK(call.exit_status == 0);
    CHECK(call.out.empty());
  }
  CHECK_THAT(e2e.containerd.cni_log(), ContainsSubstring("command=ADD netns=/nonexistent/netns ifname=eth0"));
}

TEST_CASE("RunPodSandbox with the shim sandboxer reaches containerd-shim-process-v2", "[e2e][cri]") {
  CriE2E e2e;
  PodGuard guard{e2e.cri, std::nullopt};
  try {
    guard.pod_id = e2e.cri.run_pod_sandbox(pod_config("reach", e2e.logs / "reach"), kHandler);
  } catch (const CriError& error) {
    FAIL("RunPodSandbox: " << error.what() << "\n" << e2e.diagnostics());
  }
  const std::string pod_id = *guard.pod_id;
  INFO("pod " << pod_id << "\n" << e2e.diagnostics());
  // CRI made the pod's network namespace and ran the stub plugin in it, then ran our binary's `start` for the pod.
  const std::string netns_dir = (e2e.containerd.state_dir() / "io.containerd.grpc.v1.cri" / "netns" / "cni-").string();
  CHECK_THAT(e2e.containerd.cni_log(), ContainsSubstring("command=ADD netns=" + netns_dir));
  const auto invocations = e2e.containerd.shim_invocations();
  CHECK(std::any_of(invocations.begin(), invocations.end(), [&](const std::string& line) {
    return line.find("-namespace k8s.io") != std::string::npos && line.find("-id " + pod_id) != std::string::npos &&
           line.ends_with(" start");
  }));
  // The shim it started serves the pod, which CRI reports ready.
  const auto daemons = e2e.containerd.shim_daemons(kShim);
  REQUIRE(daemons.size() == 1);
  CHECK(daemons[0].id == pod_id);
  CHECK(e2e.cri.pod_sandbox_status(pod_id, false).status().state() == cri::SANDBOX_READY);
}

TEST_CASE("a CRI pod with two containers runs in one containerd-shim-process-v2", "[e2e][cri]") {
  CriE2E e2e;
  e2e.import_busybox();
  const cri::PodSandboxConfig pod = pod_config("pod1", e2e.logs / "pod1");
  PodGuard guard{e2e.cri, std::nullopt};

  try {
    guard.pod_id = e2e.cri.run_pod_sandbox(pod, kHandler);
  } catch (const CriError& error) {
    FAIL("RunPodSandbox: " << error.what() << "\n" << e2e.diagnostics());
  }
  const std::string pod_id = *guard.pod_id;
  INFO("pod " << pod_id << "\n" << e2e.diagnostics());

  // The pod: ready, with the stub plugin's address, on our runtime handler.
  const cri::PodSandboxStatusResponse status = e2e.cri.pod_sandbox_status(pod_id, true);
  CHECK(status.status().id() == pod_id);
  CHECK(status.status().state() == cri::SANDBOX_READY);
  CHECK(status.status().network().ip() == kPodIp);
  CHECK(status.status().runtime_handler() == kHandler);
  CHECK(status.status().metadata().name() == "pod1");

  // One shim daemon, serving the pod.
  const auto daemons = e2e.containerd.shim_daemons(kShim);
  REQUIRE(daemons.size() == 1);
  CHECK(daemons[0].id == pod_id);
  CHECK(daemons[0].namespace_name == "k8s.io");
  const pid_t shim_pid = daemons[0].pid;
  const fs::path sandbox_bundle =
      e2e.containerd.state_dir() / "io.containerd.sandbox.controller.v1.shim" / "k8s.io" / pod_id;
  const std::string shim_address = bootstrap_address(sandbox_bundle);
  REQUIRE_THAT(shim_address, StartsWith("unix:///"));

  // Two containers: one keeps running, one exits 0.
  const std::string c1 = e2e.cri.create_container(pod_id, container_config("c1", "echo hello from c1; sleep 30"), pod);
  const std::string c2 = e2e.cri.create_container(pod_id, container_config("c2", "echo hello from c2; exit 0"), pod);
  e2e.cri.start_container(c1);
  e2e.cri.start_container(c2);
  CHECK(e2e.cri.list_containers(pod_id).size() == 2);

  // Both tasks went to the pod's shim (contract §4.3): still one daemon, the same process; containerd never ran the
  // binary for the container ids; each task bundle names the sandbox and the sandbox shim's address.
  const auto daemons_after = e2e.containerd.shim_daemons(kShim);
  REQUIRE(daemons_after.size() == 1);
  CHECK(daemons_after[0].pid == shim_pid);
  const auto invocations = e2e.containerd.shim_invocations();
  for (const std::string& container : {c1, c2}) {
    CHECK(std::none_of(invocations.begin(), invocations.end(),
                       [&](const std::string& line) { return line.find("-id " + container) != std::string::npos; }));
    const fs::path task_bundle = e2e.containerd.state_dir() / "io.containerd.runtime.v2.task" / "k8s.io" / container;
    // c2 exits at once and CRI deletes its task (and bundle) when it sees the exit: only c1's must still be there.
    if (container == c2 && !fs::exists(task_bundle)) continue;
    CHECK(read_file(task_bundle / "sandbox") == pod_id);
    CHECK(bootstrap_address(task_bundle) == shim_address);
  }
  CHECK(std::count_if(invocations.begin(), invocations.end(), [&](const std::string& line) {
          return line.find("-id " + pod_id) != std::string::npos && line.ends_with(" start");
        }) == 1);

  // Output reaches the CRI log files in CRI's format.
  const fs::path c1_log = e2e.logs / "pod1" / "c1.log";
  const fs::path c2_log = e2e.logs / "pod1" / "c2.log";
  CHECK(eventually([&] { return contains(cri_log_lines(read_file(c1_log), "stdout"), "hello from c1"); }, 10s));
  CHECK(eventually([&] { return contains(cri_log_lines(read_file(c2_log), "stdout"), "hello from c2"); }, 10s));
  INFO("c1.log:\n" << read_file(c1_log) << "c2.log:\n" << read_file(c2_log));

  // ExecSync in the running container: its output and exit code.
  const cri::ExecSyncResponse exec = e2e.cri.exec_sync(c1, {"sh", "-c", "echo exec; exit 4"}, 10);
  CHECK(exec.stdout() == "exec\n");
  CHECK(exec.stderr().empty());
  CHECK(exec.exit_code() == 4);

  // Statuses: c2 exited 0, c1 still runs.
  cri::ContainerStatusResponse c2_status;
  CHECK(eventually(
      [&] {
        c2_status = e2e.cri.container_status(c2);
        return c2_status.status().state() == cri::CONTAINER_EXITED;
      },
      10s));
  CHECK(c2_status.status().exit_code() == 0);
  CHECK(c2_status.status().reason() == "Completed");
  CHECK(c2_status.status().log_path() == c2_log.string());
  CHECK(e2e.cri.container_status(c1).status().state() == cri::CONTAINER_RUNNING);

  // Teardown: stop (the running container is killed), then remove.
  e2e.cri.stop_pod_sandbox(pod_id);
  CHECK(e2e.cri.pod_sandbox_status(pod_id).status().state() == cri::SANDBOX_NOTREADY);
  CHECK(e2e.cri.container_status(c1).status().state() == cri::CONTAINER_EXITED);
  e2e.cri.remove_pod_sandbox(pod_id);
  guard.pod_id.reset();
  CHECK(e2e.cri.list_pod_sandbox().empty());
  CHECK(e2e.cri.list_containers().empty());

  // The shim exited, containerd ran its `delete`, and nothing of the pod is left: socket, bundles, mounts
  // (container root filesystems, the pod's network namespace).
  CHECK(eventually([&] { return process_gone(shim_pid) && e2e.containerd.shim_daemons().empty(); }, 10s));
  CHECK(eventually(
      [&] {
        const auto all = e2e.containerd.shim_invocations();
        return std::any_of(all.begin(), all.end(), [&](const std::string& line) {
          return line.find("-id " + pod_id) != std::string::npos && line.ends_with(" delete");
        });
      },
      10s));
  CHECK(eventually([&] { return !fs::exists(shim_address.substr(std::string("unix://").size())); }));
  CHECK(eventually([&] { return !fs::exists(sandbox_bundle); }));
  for (const std::string& container : {c1, c2}) {
    CHECK_FALSE(fs::exists(e2e.containerd.state_dir() / "io.containerd.runtime.v2.task" / "k8s.io" / container));
  }
  CHECK(eventually([&] { return shimcore::testing::mounts_under(e2e.containerd.dir()).empty(); }));
}
