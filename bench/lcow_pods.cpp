// Benchmark: containerd-shim-lcow-v2 over the HCS emulator (the utility VM is the real guest agent, containers are
// runc containers in it) under one private containerd 2.1, driven as the issue measures it: sandbox boot to a
// negotiated bridge, then the first container's output; container create+start with 1, 4 and 16 pods in one VM,
// issued concurrently, against 16 issued one after another (the ratio shows whether creates serialise; hcsshim V2
// holds one lock across them); idle RSS of the shim and the guest agent with one pod; a guest round trip (Task.Pids,
// which is GetProperties ProcessList over the bridge) p50/p99. The peer column is containerd-shim-runc-v2 doing the
// same container create+start on the same machine (one shim per task: it has no VM to share). Run on demand
// (scripts/bench lcow-pods); never part of the tests.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "containerd/task/v3/shim.pb.h"
#include "e2e_util.h"
#include "private_containerd.h"
#include "sandbox_api_client.h"
#include "shimcore/transport/ttrpc_client.h"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using shimcore::testing::PrivateContainerd;

namespace {

const std::string kSandbox = "bench-vm";
const std::string kIdle = "trap 'exit 0' TERM; while :; do sleep 1; done";

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string scratch() { return "/tmp/shimcore-bench-lcow-" + std::to_string(::getpid()); }

long rss_kib(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  return values.at(index);
}

void require_ok(const shimcore::testing::ProcessResult& result, const std::string& what) {
  if (result.exit_status != 0) throw std::runtime_error(what + " failed: " + result.out + result.err);
}

// `ctr run -d` of one idle container, as a pod of its own in the sandbox VM (ours) or as a plain runc task (peer).
std::vector<std::string> run_args(const fs::path& rootfs, const std::string& id, const std::string& shim,
                                  bool in_sandbox) {
  std::vector<std::string> args{"run", "-d", "--runtime", shim};
  if (in_sandbox) {
    args.insert(args.end(), {"--sandbox", kSandbox, "--annotation", "io.kubernetes.cri.container-type=sandbox",
                             "--annotation", "io.kubernetes.cri.sandbox-id=" + id});
  }
  args.insert(args.end(), {"--rootfs", rootfs.string(), id, "/bin/sh", "-c", kIdle});
  return args;
}

// Creates and starts `ids` (concurrently or one by one); returns the wall time of the whole batch in ms.
double create_batch(const PrivateContainerd& containerd, const fs::path& rootfs, const std::vector<std::string>& ids,
                    const std::string& shim, bool in_sandbox, bool concurrent) {
  const double start = now_ms();
  if (concurrent) {
    std::vector<shimcore::testing::ProcessResult> results(ids.size());
    {
      std::vector<std::jthread> runs;
      for (std::size_t i = 0; i < ids.size(); ++i) {
        runs.emplace_back([&, i] { results[i] = containerd.ctr(run_args(rootfs, ids[i], shim, in_sandbox)); });
      }
    }
    for (std::size_t i = 0; i < ids.size(); ++i) require_ok(results[i], "ctr run " + ids[i]);
  } else {
    for (const std::string& id : ids)
      require_ok(containerd.ctr(run_args(rootfs, id, shim, in_sandbox)), "ctr run " + id);
  }
  return now_ms() - start;
}

void remove_all(const PrivateContainerd& containerd, const std::vector<std::string>& ids) {
  for (const std::string& id : ids) containerd.ctr({"task", "kill", "-s", "SIGKILL", id});
  for (const std::string& id : ids) {
    for (int attempt = 0; attempt < 100 && containerd.ctr({"task", "delete", id}).exit_status != 0; ++attempt) {
      std::this_thread::sleep_for(50ms);
    }
    containerd.ctr({"container", "delete", id});
  }
}

std::vector<std::string> names(const std::string& prefix, int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) ids.push_back(fmt::format("{}-{}", prefix, i));
  return ids;
}

}  // namespace

int main(int argc, char** argv) {
  int round_trips = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--round-trips") round_trips = std::stoi(argv[i + 1]);
  }
  try {
    const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
    const std::string shim = (bin / "containerd-shim-lcow-v2").string();
    PrivateContainerd containerd(
        {}, {"SHIMCORE_SOCKET_DIR=" + scratch() + "/s", "SHIMCORE_HCS_EMULATOR_DIR=" + scratch() + "/hcs"},
        std::nullopt, /*sandbox_api=*/true);
    const fs::path rootfs = containerd.make_busybox_rootfs("rootfs");
    shimcore::testing::SandboxApi api(containerd.grpc_socket());

    // Sandbox boot (Controller.Create + Start: the shim starts, the VM boots, the bridge is negotiated), then the
    // first container's output.
    double start = now_ms();
    api.create_and_start(shimcore::testing::SandboxApi::record(kSandbox, shim, {{"ociVersion", "1.1.0"}}));
    const double boot_ms = now_ms() - start;
    start = now_ms();
    const auto first = containerd.ctr({"run", "--rm", "--sandbox", kSandbox, "--runtime", shim, "--rootfs",
                                       rootfs.string(), "first", "echo", "first output"});
    const double first_output_ms = now_ms() - start;
    require_ok(first, "first container");

    // One pod: idle RSS and the guest round trip.
    require_ok(containerd.ctr(run_args(rootfs, "idle-pod", shim, true)), "idle pod");
    std::this_thread::sleep_for(1s);
    const auto shims = containerd.shim_daemons(shim);
    const auto agents = shimcore::testing::guest_agents_under(scratch());
    if (shims.size() != 1 || agents.size() != 1) throw std::runtime_error("expected one shim and one guest agent");
    const long shim_rss = rss_kib(shims.front().pid);
    const long agent_rss = rss_kib(agents.front());
    shimcore::transport::TtrpcClient client(containerd.task_shim_address("idle-pod"));
    containerd::task::v3::PidsRequest pids;
    pids.set_id("idle-pod");
    std::vector<double> trips;
    for (int i = 0; i < round_trips; ++i) {
      const double before = now_ms();
      client.call<containerd::task::v3::PidsResponse>("containerd.task.v3.Task", "Pids", pids, {5s, {}});
      trips.push_back(now_ms() - before);
    }
    remove_all(containerd, {"idle-pod"});

    // Container create+start with 1, 4 and 16 pods in the VM, concurrently; 16 sequentially; the runc peer.
    struct Row {
      std::string what;
      double ours_ms = 0, peer_ms = 0;
    };
    std::vector<Row> rows;
    for (const int count : {1, 4, 16}) {
      const auto peer = names(fmt::format("r{}", count), count);
      const double peer_ms = create_batch(containerd, rootfs, peer, "io.containerd.runc.v2", false, true);
      remove_all(containerd, peer);
      const auto ours = names(fmt::format("c{}", count), count);
      const double ours_ms = create_batch(containerd, rootfs, ours, shim, true, true);
      remove_all(containerd, ours);
      rows.push_back({fmt::format("{:2} concurrent", count), ours_ms, peer_ms});
    }
    const auto ours = names("s16", 16);
    const double sequential_ms = create_batch(containerd, rootfs, ours, shim, true, false);
    remove_all(containerd, ours);
    const auto peer = names("q16", 16);
    const double peer_sequential_ms = create_batch(containerd, rootfs, peer, "io.containerd.runc.v2", false, false);
    remove_all(containerd, peer);
    rows.push_back({"16 sequential", sequential_ms, peer_sequential_ms});

    api.stop_and_remove(kSandbox);

    fmt::print("containerd-shim-lcow-v2 (emulated VM, real guest agent, runc) vs containerd-shim-runc-v2\n");
    fmt::print("sandbox boot (Controller.Create+Start, bridge negotiated): {:.0f} ms\n", boot_ms);
    fmt::print("first container output after boot (ctr run --rm --sandbox): {:.0f} ms\n", first_output_ms);
    fmt::print("idle RSS with one pod: shim {} KiB, guest agent {} KiB\n", shim_rss, agent_rss);
    fmt::print("guest round trip (Task.Pids = GetProperties ProcessList), {} calls: p50 {:.2f} ms, p99 {:.2f} ms\n",
               round_trips, percentile(trips, 0.50), percentile(trips, 0.99));
    fmt::print("\ncontainer create+start (ctr run -d each; wall time of the batch)\n");
    fmt::print("{:<16} {:>12} {:>14} {:>8}\n", "batch", "lcow ms", "runc-v2 ms", "ratio");
    for (const Row& row : rows) {
      fmt::print("{:<16} {:>12.0f} {:>14.0f} {:>8.2f}\n", row.what, row.ours_ms, row.peer_ms,
                 row.ours_ms / row.peer_ms);
    }
    fmt::print("\n16 concurrent / 16 sequential: lcow {:.2f}, runc-v2 {:.2f} (1.0 = creates serialise)\n",
               rows[2].ours_ms / sequential_ms, rows[2].peer_ms / peer_sequential_ms);
    std::error_code ignored;
    fs::remove_all(scratch(), ignored);
    return 0;
  } catch (const std::exception& error) {
    fmt::print(stderr, "bench_lcow_pods: {}\n", error.what());
    return 1;
  }
}
