// The demo's CRI part: a private containerd 2.1 with CRI and the shim sandboxer runs a Kubernetes-style pod of two
// containers through containerd-shim-process-v2, as kubelet would drive it, and says what happens at each step.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cri_client.h"
#include "oci_image.h"
#include "private_containerd.h"

namespace fs = std::filesystem;
namespace cri = runtime::v1;
using namespace shimcore::testing;

namespace {

void step(const std::string& what) { std::cout << "\n== " << what << std::endl; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits (bounded) until `path` has at least `lines` lines; returns its text.
std::string wait_for_lines(const fs::path& path, std::size_t lines) {
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text = read_file(path);
    if (static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) >= lines) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return text;
}

// The runtime handler of a shim binary: containerd-shim-<kind>-v2 -> <kind> ("process", "lcow").
std::string handler_of(const fs::path& shim) {
  std::string name = shim.filename().string();
  const std::string prefix = "containerd-shim-", suffix = "-v2";
  if (name.rfind(prefix, 0) != 0 || name.size() <= prefix.size() + suffix.size() || !name.ends_with(suffix)) {
    throw std::runtime_error("not a shim binary name (containerd-shim-<kind>-v2): " + name);
  }
  return name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
}

int run_demo(const fs::path& shim) {
  const fs::path scratch = "/tmp/shimcore-cri-demo-" + std::to_string(::getpid());
  const std::string handler = handler_of(shim);
  step("private containerd with CRI; runtime handler '" + handler + "' = " + shim.string() +
       " with sandboxer = 'shim'");
  PrivateContainerd containerd(
      {},
      {"SHIMCORE_SOCKET_DIR=" + (scratch / "s").string(), "SHIMCORE_HCS_EMULATOR_DIR=" + (scratch / "hcs").string()},
      CriConfig{shim, handler});
  CriClient client(containerd.grpc_socket());
  const cri::VersionResponse version = client.version();
  std::cout << "CRI Version: " << version.runtime_name() << " " << version.runtime_version() << " (API "
            << version.runtime_api_version() << ")\n";

  step("import a busybox image built from the bootstrap cache (no registry): " + std::string(kBusyboxImageName));
  const auto archive = make_busybox_oci_archive(scratch / "image");
  const auto imported =
      containerd.ctr({"-n", "k8s.io", "images", "import", "--local", "--snapshotter", "native", archive.path.string()});
  if (imported.exit_status != 0) throw std::runtime_error("ctr images import failed: " + imported.err);
  std::cout << imported.out;

  step(
      "RunPodSandbox: CNI (stub plugin) sets up the pod network; containerd runs the shim's start, then "
      "CreateSandbox + StartSandbox");
  const fs::path logs = scratch / "pod-logs";
  const std::string pod = client.run_pod_sandbox(make_pod_config("demo-pod", "demo-uid", logs.string()), handler);
  const cri::PodSandboxStatusResponse status = client.pod_sandbox_status(pod, true);
  std::cout << "pod " << pod.substr(0, 12) << ": " << cri::PodSandboxState_Name(status.status().state()) << ", ip "
            << status.status().network().ip() << "\n";
  for (const auto& [key, value] : status.info()) std::cout << "  info " << key << " = " << value.substr(0, 160) << "\n";
  const auto daemons = containerd.shim_daemons(shim);
  std::cout << "shim daemons serving the pod: " << daemons.size();
  if (!daemons.empty()) std::cout << " (pid " << daemons.front().pid << ")";
  std::cout << "\n";

  step("CreateContainer + StartContainer twice: Task.Create goes to the pod's shim, no second `start`");
  const std::string web = client.create_container(
      pod, make_container_config("web", kBusyboxImageName, "echo web: serving on $(hostname); sleep 300"),
      make_pod_config("demo-pod", "demo-uid", logs.string()));
  const std::string job = client.create_container(
      pod, make_container_config("job", kBusyboxImageName, "echo job: counting; for i in 1 2 3; do echo $i; done"),
      make_pod_config("demo-pod", "demo-uid", logs.string()));
  client.start_container(web);
  client.start_container(job);
  std::cout << "containers: web " << web.substr(0, 12) << ", job " << job.substr(0, 12) << "\n";
  const auto after = containerd.shim_daemons(shim);
  std::cout << "shim daemons now: " << after.size()
            << (after.size() == 1 && !daemons.empty() && after.front().pid == daemons.front().pid ? " (the same one)"
                                                                                                  : "")
            << "\n";
  std::cout << "shim invocations by containerd:\n";
  for (const std::string& line : containerd.shim_invocations()) std::cout << "  " << line.substr(0, 160) << "\n";

  step("their output, from the CRI log files containerd wrote");
  std::cout << "web.log:\n" << wait_for_lines(logs / "web.log", 1);
  std::cout << "job.log:\n" << wait_for_lines(logs / "job.log", 4);

  step("ExecSync into web: sh -c 'echo exec in $(hostname); ls /bin | head -3; exit 7'");
  const cri::ExecSyncResponse exec =
      client.exec_sync(web, {"sh", "-c", "echo exec in $(hostname); ls /bin | head -3; exit 7"}, 10);
  std::cout << exec.stdout() << "exit code " << exec.exit_code() << "\n";

  step("ContainerStatus");
  for (const std::string& id : {web, job}) {
    for (int i = 0; i < 50; ++i) {
      if (id == web || client.container_status(id).status().state() == cri::CONTAINER_EXITED) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const auto container = client.container_status(id).status();
    std::cout << container.metadata().name() << ": " << cri::ContainerState_Name(container.state()) << " exit "
              << container.exit_code() << " " << container.reason() << "\n";
  }

  step(
      "StopPodSandbox (kills web, StopSandbox stops the pause process or the utility VM) and RemovePodSandbox "
      "(ShutdownSandbox, then containerd runs the shim's delete)");
  client.stop_pod_sandbox(pod);
  std::cout << "pod: " << cri::PodSandboxState_Name(client.pod_sandbox_status(pod).status().state()) << "\n";
  client.remove_pod_sandbox(pod);
  for (int i = 0; i < 100 && !containerd.shim_daemons(shim).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cout << "pods left: " << client.list_pod_sandbox().size()
            << ", containers left: " << client.list_containers().size()
            << ", shim daemons left: " << containerd.shim_daemons(shim).size()
            << ", mounts left: " << mounts_under(containerd.dir()).size() << "\n";
  std::cout << "the shim's own log lines, as containerd received them:\n";
  std::istringstream log(containerd.log());
  for (std::string line; std::getline(log, line);) {
    if (line.find("msg=\"sandbox ") != std::string::npos || line.find("msg=\"task created") != std::string::npos ||
        line.find("msg=\"utility VM") != std::string::npos) {
      std::cout << "  " << line.substr(0, 200) << "\n";
    }
  }
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
    std::cerr << "usage: shimcore-cri-demo <absolute path of containerd-shim-process-v2 or containerd-shim-lcow-v2>\n"
                 "Runs a CRI pod with two containers through the shim under a private containerd (needs root and "
                 "scripts/bootstrap's cache).\n";
    return argc == 2 ? 0 : 2;
  }
  try {
    return run_demo(fs::absolute(argv[1]));
  } catch (const std::exception& error) {
    std::cerr << "shimcore-cri-demo: " << error.what() << "\n";
    return 1;
  }
}
