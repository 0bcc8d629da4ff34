// Benchmark: containerd-shim-lcow-v2 on the emulator's two Linux VM backends in one run, the process VM (the guest
// agent as a namespaced host process) and QEMU/TCG (a real VM: Debian's kernel, scripts/build-uvm-image's initrd),
// each under its own private containerd 2.1: cold boot to a negotiated bridge (Sandbox Controller Create+Start);
// CRI RunPodSandbox to the first container's output in its log; container create+start in a booted VM (ctr run -d,
// median of N); guest agent RSS (inside the VM: read with shimdiag exec); the guest round trip (Task.Pids, which is
// GetProperties ProcessList over the bridge: virtio-serial and the stream mux under QEMU) p50/p99. Figures are
// printed side by side with the QEMU/process ratio. Run on demand (scripts/bench lcow-qemu); never part of the tests.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "containerd/task/v3/shim.pb.h"
#include "cri_client.h"
#include "e2e_util.h"
#include "oci_image.h"
#include "private_containerd.h"
#include "run_process.h"
#include "sandbox_api_client.h"
#include "shimcore/transport/ttrpc_client.h"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using shimcore::testing::PrivateContainerd;
using shimcore::testing::ProcessResult;

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return values.at(static_cast<std::size_t>(p * static_cast<double>(values.size() - 1)));
}

void require_ok(const ProcessResult& result, const std::string& what) {
  if (result.exit_status != 0) throw std::runtime_error(what + " failed: " + result.out + result.err);
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

long vm_rss_kib(std::string_view status) {
  const auto at = status.find("VmRSS:");
  if (at == std::string_view::npos) return -1;
  return std::stol(std::string(status.substr(at + 6)));
}

struct Figures {
  double boot_ms = 0;
  double pod_to_output_ms = 0;
  std::vector<double> creates;
  long agent_rss_kib = 0;
  std::vector<double> trips;
};

const std::string kIdle = "trap 'exit 0' TERM; while :; do sleep 1; done";

Figures measure(const std::string& name, const std::vector<std::string>& environment, const fs::path& bin, int creates,
                int round_trips) {
  const std::string scratch = fmt::format("/tmp/shimcore-bench-{}-{}", name, ::getpid());
  std::vector<std::string> env = environment;
  env.push_back("SHIMCORE_SOCKET_DIR=" + scratch + "/s");
  env.push_back("SHIMCORE_HCS_EMULATOR_DIR=" + scratch + "/hcs");
  const std::string shim = (bin / "containerd-shim-lcow-v2").string();
  Figures figures;
  {
    PrivateContainerd containerd({}, env, shimcore::testing::CriConfig{shim, "lcow"}, /*sandbox_api=*/true);
    const fs::path rootfs = containerd.make_busybox_rootfs("rootfs");
    shimcore::testing::SandboxApi api(containerd.grpc_socket());

    // Cold boot: the shim starts, the VM boots, the bridge is negotiated.
    const std::string sandbox = "bench-" + name;
    double start = now_ms();
    api.create_and_start(shimcore::testing::SandboxApi::record(sandbox, shim, {{"ociVersion", "1.1.0"}}));
    figures.boot_ms = now_ms() - start;

    // Container create+start in the booted VM, one after another.
    std::vector<std::string> ids;
    for (int i = 0; i < creates; ++i) {
      const std::string id = fmt::format("c{}", i);
      start = now_ms();
      require_ok(containerd.ctr({"run", "-d", "--sandbox", sandbox, "--runtime", shim, "--annotation",
                                 "io.kubernetes.cri.container-type=sandbox", "--annotation",
                                 "io.kubernetes.cri.sandbox-id=" + id, "--rootfs", rootfs.string(), id, "/bin/sh", "-c",
                                 kIdle}),
                 "ctr run " + id);
      figures.creates.push_back(now_ms() - start);
      ids.push_back(id);
    }

    // The guest agent's RSS: on the host for the process VM, inside the VM (shimdiag exec) under QEMU.
    const auto agents = shimcore::testing::guest_agents_under(scratch);
    if (!agents.empty()) {
      figures.agent_rss_kib = vm_rss_kib(slurp(fmt::format("/proc/{}/status", agents.front())));
    } else {
      const ProcessResult status = shimcore::testing::run_process(
          {(bin.parent_path() / "tools" / "bin" / "shimdiag").string(), "--state", containerd.state_dir().string(),
           "exec", sandbox, "sh", "-c", "cat /proc/$(pidof shimcore-gcs)/status"});
      require_ok(status, "shimdiag exec");
      figures.agent_rss_kib = vm_rss_kib(status.out);
    }

    // The guest round trip.
    shimcore::transport::TtrpcClient client(containerd.task_shim_address(ids.front()));
    containerd::task::v3::PidsRequest pids;
    pids.set_id(ids.front());
    for (int i = 0; i < round_trips; ++i) {
      const double before = now_ms();
      client.call<containerd::task::v3::PidsResponse>("containerd.task.v3.Task", "Pids", pids, {5s, {}});
      figures.trips.push_back(now_ms() - before);
    }
    for (const std::string& id : ids) containerd.ctr({"task", "kill", "-s", "SIGKILL", id});
    for (const std::string& id : ids) {
      for (int attempt = 0; attempt < 100 && containerd.ctr({"task", "delete", id}).exit_status != 0; ++attempt) {
        std::this_thread::sleep_for(50ms);
      }
      containerd.ctr({"container", "delete", id});
    }
    api.stop_and_remove(sandbox);

    // CRI: RunPodSandbox (a VM of its own) to the first container's line in its CRI log.
    const auto archive = shimcore::testing::make_busybox_oci_archive(fs::path(scratch) / "image");
    require_ok(containerd.ctr(
                   {"-n", "k8s.io", "images", "import", "--local", "--snapshotter", "native", archive.path.string()}),
               "ctr images import");
    shimcore::testing::CriClient cri{containerd.grpc_socket()};
    const fs::path logs = fs::path(scratch) / "pod-logs";
    const auto pod = shimcore::testing::make_pod_config("bpod", "bpod-uid", (logs / "bpod").string());
    start = now_ms();
    const std::string pod_id = cri.run_pod_sandbox(pod, "lcow");
    const std::string c1 = cri.create_container(
        pod_id, shimcore::testing::make_container_config("c1", shimcore::testing::kBusyboxImageName, "echo first"),
        pod);
    cri.start_container(c1);
    const fs::path log = logs / "bpod" / "c1.log";
    while (slurp(log).find("first") == std::string::npos) {
      if (now_ms() - start > 120000) throw std::runtime_error("no first output within 120 s");
      std::this_thread::sleep_for(5ms);
    }
    figures.pod_to_output_ms = now_ms() - start;
    cri.stop_pod_sandbox(pod_id);
    cri.remove_pod_sandbox(pod_id);
  }
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
  return figures;
}

double median(std::vector<double> values) { return percentile(std::move(values), 0.5); }

}  // namespace

int main(int argc, char** argv) {
  int creates = 5;
  int round_trips = 200;
  std::string boot_files;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--creates") creates = std::max(1, std::stoi(argv[i + 1]));
    if (flag == "--round-trips") round_trips = std::max(1, std::stoi(argv[i + 1]));
    if (flag == "--boot-files") boot_files = argv[i + 1];
  }
  try {
    const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
    if (boot_files.empty()) throw std::runtime_error("--boot-files DIR (scripts/build-uvm-image's output) is required");
    const Figures process = measure("process", {"SHIMCORE_HCS_EMULATOR_VM=process"}, bin, creates, round_trips);
    const Figures qemu = measure("qemu", {"SHIMCORE_HCS_EMULATOR_VM=qemu", "SHIMCORE_LCOW_BOOT_FILES=" + boot_files},
                                 bin, creates, round_trips);
    fmt::print("containerd-shim-lcow-v2: process VM vs QEMU/TCG VM (same shim, same containerd 2.1, one run)\n");
    fmt::print("{:<54} {:>10} {:>10} {:>8}\n", "", "process", "qemu", "ratio");
    auto row = [](const std::string& what, double a, double b, const char* unit) {
      fmt::print("{:<54} {:>8.1f}{} {:>8.1f}{} {:>8.2f}\n", what, a, unit, b, unit, b / a);
    };
    row("cold boot to bridge negotiated (Controller.Create+Start)", process.boot_ms, qemu.boot_ms, "ms");
    row("RunPodSandbox to first container output (CRI log)", process.pod_to_output_ms, qemu.pod_to_output_ms, "ms");
    row(fmt::format("container create+start in a booted VM (median of {})", creates), median(process.creates),
        median(qemu.creates), "ms");
    row("guest agent RSS", static_cast<double>(process.agent_rss_kib) / 1024.0,
        static_cast<double>(qemu.agent_rss_kib) / 1024.0, "MB");
    row(fmt::format("guest round trip p50 ({} Task.Pids calls)", round_trips), percentile(process.trips, 0.5),
        percentile(qemu.trips, 0.5), "ms");
    row("guest round trip p99", percentile(process.trips, 0.99), percentile(qemu.trips, 0.99), "ms");
    return 0;
  } catch (const std::exception& error) {
    fmt::print(stderr, "bench_lcow_qemu: {}\n", error.what());
    return 1;
  }
}
