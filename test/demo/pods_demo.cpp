// The demo's many-pods part: one containerd-shim-lcow-v2 sandbox (one utility VM) created through containerd's Sandbox
// Controller API, then two pods in it, the second joining the VM the first runs in (hcsshim V2's pod model: a
// `sandbox`-type task per pod, its containers by sandbox id), an exec, one pod deleted while the other runs, teardown.
// CRI cannot show this (it gives each pod sandbox a VM of its own), so the demo drives containerd's API itself.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "e2e_util.h"
#include "private_containerd.h"
#include "sandbox_api_client.h"

namespace fs = std::filesystem;
using namespace shimcore::testing;

namespace {

const std::string kVm = "demo-vm";
const std::string kIdle = "trap 'exit 0' TERM; while :; do sleep 0.2; done";

void step(const std::string& what) { std::cout << "\n== " << what << std::endl; }

ProcessResult checked(const PrivateContainerd& containerd, const std::vector<std::string>& args) {
  ProcessResult result = containerd.ctr(args);
  if (result.exit_status != 0) {
    throw std::runtime_error("ctr " + args.front() + " " + (args.size() > 1 ? args[1] : "") + " failed: " + result.err +
                             "\ncontainerd log:\n" + containerd.log());
  }
  return result;
}

// A detached task of the sandbox's shim: a pod's sandbox task (type "sandbox") or a container of the pod.
void run_in_pod(const PrivateContainerd& containerd, const fs::path& shim, const fs::path& rootfs,
                const std::string& id, const std::string& type, const std::string& pod, const std::string& script) {
  checked(containerd, {"run", "-d", "--sandbox", kVm, "--runtime", shim.string(), "--annotation",
                       "io.kubernetes.cri.container-type=" + type, "--annotation",
                       "io.kubernetes.cri.sandbox-id=" + pod, "--rootfs", rootfs.string(), id, "sh", "-c", script});
}

void print_tasks(const PrivateContainerd& containerd) {
  for (const auto& row : task_list(containerd)) {
    if (row.size() == 3) std::cout << "  " << row[0] << "  pid " << row[1] << "  " << row[2] << "\n";
  }
}

std::string exec_out(const PrivateContainerd& containerd, const std::string& id, const std::string& exec_id,
                     const std::vector<std::string>& argv) {
  std::vector<std::string> args{"task", "exec", "--exec-id", exec_id, id};
  args.insert(args.end(), argv.begin(), argv.end());
  return checked(containerd, args).out;
}

void wait_stopped(const PrivateContainerd& containerd, const std::string& id) {
  for (int i = 0; i < 100; ++i) {
    for (const auto& row : task_list(containerd)) {
      if (row.size() == 3 && row[0] == id && row[2] == "STOPPED") return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("task " + id + " did not stop");
}

void remove_task(const PrivateContainerd& containerd, const std::string& id) {
  checked(containerd, {"task", "kill", "-s", "SIGKILL", id});
  wait_stopped(containerd, id);
  checked(containerd, {"task", "delete", id});
  checked(containerd, {"container", "delete", id});
}

int run_demo(const fs::path& shim) {
  const std::string scratch = "/tmp/shimcore-pods-demo-" + std::to_string(::getpid());
  struct RemovedAtEnd {  // after containerd (declared later, destroyed first) has stopped
    std::string path;
    ~RemovedAtEnd() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } scratch_folder{scratch};
  step("private containerd with its Sandbox API; sandboxer 'shim' = " + shim.string());
  PrivateContainerd containerd(
      {}, {"SHIMCORE_SOCKET_DIR=" + scratch + "/s", "SHIMCORE_HCS_EMULATOR_DIR=" + scratch + "/hcs"}, std::nullopt,
      /*sandbox_api=*/true);
  const fs::path rootfs = containerd.make_busybox_rootfs("rootfs");
  SandboxApi api(containerd.grpc_socket());

  step("Controller.Create + Start: containerd starts the shim, CreateSandbox + StartSandbox boot the utility VM");
  const std::uint32_t pid = api.create_and_start(SandboxApi::record(kVm, shim.string(), {{"ociVersion", "1.1.0"}}));
  std::cout << "sandbox " << kVm << " running; the shim reports pid " << pid << "\n";

  step("pod A: its sandbox task and a container, in the VM");
  run_in_pod(containerd, shim, rootfs, "pod-a", "sandbox", "pod-a", kIdle);
  run_in_pod(containerd, shim, rootfs, "a-web", "container", "pod-a", "echo a-web up; " + kIdle);

  step("pod B joins the same VM: its sandbox task and a container");
  run_in_pod(containerd, shim, rootfs, "pod-b", "sandbox", "pod-b", kIdle);
  run_in_pod(containerd, shim, rootfs, "b-job", "container", "pod-b", kIdle);
  print_tasks(containerd);
  const auto daemons = containerd.shim_daemons(shim);
  const std::size_t vms = utility_vms_under(scratch);
  std::cout << "shim processes: " << daemons.size() << ", utility VMs: " << vms << "\n";
  for (const char* id : {"pod-a", "a-web", "pod-b", "b-job"}) {
    std::cout << "  " << id << " is served at " << containerd.task_shim_address(id) << "\n";
  }
  if (daemons.size() != 1 || vms != 1) throw std::runtime_error("expected one shim and one utility VM");

  step("each pod's containers share the pod's network namespace in the guest (ctr task exec ... readlink)");
  for (const char* id : {"pod-a", "a-web", "pod-b", "b-job"}) {
    std::cout << "  " << id << ": "
              << exec_out(containerd, id, std::string("ns-") + id, {"busybox", "readlink", "/proc/self/ns/net"});
  }

  step("an exec in pod B's container: ctr task exec --exec-id e1 b-job sh -c 'echo exec in pod B, pid $$'");
  std::cout << exec_out(containerd, "b-job", "e1", {"sh", "-c", "echo exec in pod B, pid $$"});

  step("pod A goes (its container, then its sandbox task); pod B keeps running in the VM");
  remove_task(containerd, "a-web");
  remove_task(containerd, "pod-a");
  print_tasks(containerd);
  std::cout << exec_out(containerd, "b-job", "e2", {"sh", "-c", "echo pod B still answers"});

  step("teardown: pod B, then Controller.Stop, Wait, Shutdown and Store.Delete: the VM and the shim end");
  remove_task(containerd, "b-job");
  remove_task(containerd, "pod-b");
  const auto exited_at = api.stop_and_remove(kVm);
  for (int i = 0; i < 100 && !containerd.shim_daemons(shim).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cout << "Controller.Wait: exited at " << exited_at.seconds() << " (Unix time)"
            << "; shim processes left: " << containerd.shim_daemons(shim).size()
            << ", utility VMs left: " << utility_vms_under(scratch) << "\n";
  return containerd.shim_daemons(shim).empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
    std::cerr << "usage: shimcore-pods-demo <path to containerd-shim-lcow-v2>\n"
                 "Two pods in one utility VM through containerd's Sandbox Controller API (part of scripts/demo).\n";
    return argc == 2 ? 0 : 2;
  }
  try {
    return run_demo(fs::absolute(argv[1]));
  } catch (const std::exception& error) {
    std::cerr << "shimcore-pods-demo: " << error.what() << "\n";
    return 1;
  }
}
