// containerd-shim-lcow-v2 driven by a real containerd 2.1 (ctr) over the HCS emulator: the utility VM is the real
// guest agent (shimcore-gcs) and the containers are runc containers inside it. Needs root.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "e2e_util.h"
#include "private_containerd.h"
#include "run_process.h"
#include "test_util.h"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using shimcore::testing::BackgroundProcess;
using shimcore::testing::eventually;
using shimcore::testing::PrivateContainerd;
using shimcore::testing::task_list;
namespace fs = std::filesystem;

namespace {

const std::string kShim = (fs::path(SHIMCORE_TEST_BIN_DIR) / "containerd-shim-lcow-v2").string();

std::string scratch() { return "/tmp/shimcore-lcow-e2e-" + std::to_string(::getpid()); }

struct E2E {
  PrivateContainerd containerd{
      {}, {"SHIMCORE_SOCKET_DIR=" + scratch() + "/s", "SHIMCORE_HCS_EMULATOR_DIR=" + scratch() + "/hcs"}};
  fs::path rootfs = containerd.make_busybox_rootfs("rootfs");
  ~E2E() {
    std::error_code ignored;
    fs::remove_all(scratch(), ignored);
  }
};

// Guest agents (emulated VMs) of this test's emulator.
std::size_t guest_agents_under(const std::string& folder) {
  return shimcore::testing::pids_with_cmdline({"shimcore-gcs", folder}).size();
}

}  // namespace

TEST_CASE("ctr run --rm through containerd-shim-lcow-v2: output and exit status from a runc container in the guest",
          "[e2e][lcow]") {
  E2E e2e;
  const auto run = e2e.containerd.ctr(
      {"run", "--rm", "--runtime", kShim, "--rootfs", e2e.rootfs.string(), "t1", "sh", "-c", "echo x; exit 4"});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  CHECK(run.out == "x\n");
  CHECK(run.exit_status == 4);
  CHECK(task_list(e2e.containerd).empty());
  CHECK(eventually([&] { return e2e.containerd.ctr({"container", "ls", "-q"}).out.empty(); }));
  // The shim exited after its last task and took its VM with it.
  CHECK(eventually([&] { return guest_agents_under(scratch()) == 0; }));
}

TEST_CASE("lcow: a detached task runs in its own pid namespace in the guest; exec, ps, kill, delete, events in order",
          "[e2e][lcow]") {
  E2E e2e;
  BackgroundProcess events(e2e.containerd.ctr_argv({"events"}));
  const auto run = e2e.containerd.ctr({"run", "-d", "--runtime", kShim, "--rootfs", e2e.rootfs.string(), "t2", "sh",
                                       "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done"});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  REQUIRE(run.exit_status == 0);
  std::vector<std::vector<std::string>> tasks;
  REQUIRE(eventually([&] {
    tasks = task_list(e2e.containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "RUNNING";
  }));
  CHECK(guest_agents_under(scratch()) == 1);

  const auto exec = e2e.containerd.ctr(
      {"task", "exec", "--exec-id", "e1", "t2", "sh", "-c", "echo from exec; readlink /proc/self/ns/pid; exit 5"});
  INFO("exec: " << exec.out << exec.err);
  CHECK(exec.out.starts_with("from exec\npid:["));
  CHECK(exec.exit_status == 5);
  char host_ns[64] = {};
  REQUIRE(::readlink("/proc/self/ns/pid", host_ns, sizeof host_ns - 1) > 0);
  CHECK(exec.out.find(host_ns) == std::string::npos);

  const auto ps = e2e.containerd.ctr({"task", "ps", "t2"});
  INFO("ps: " << ps.out << ps.err);
  CHECK(ps.exit_status == 0);
  CHECK_THAT(ps.out, ContainsSubstring(tasks[0][1]));  // the guest pid containerd got at start

  CHECK(e2e.containerd.ctr({"task", "kill", "-s", "SIGTERM", "t2"}).exit_status == 0);
  REQUIRE(eventually([&] {
    tasks = task_list(e2e.containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "STOPPED";
  }));
  CHECK(e2e.containerd.ctr({"task", "delete", "t2"}).exit_status == 0);
  e2e.containerd.ctr({"container", "delete", "t2"});

  const std::vector<std::string> topics = shimcore::testing::task_topics(events, "t2");
  CHECK(topics == std::vector<std::string>{"/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started",
                                           "/tasks/exit", "/tasks/exit", "/tasks/delete"});
  CHECK(eventually([&] { return guest_agents_under(scratch()) == 0; }));
}

TEST_CASE("lcow: a command runc cannot start fails the start with runc's error, not a hang", "[e2e][lcow]") {
  E2E e2e;
  const auto run = e2e.containerd.ctr(
      {"run", "--rm", "--runtime", kShim, "--rootfs", e2e.rootfs.string(), "t3", "/bin/no-such-binary"});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  CHECK(run.exit_status != 0);
  CHECK_THAT(run.err, ContainsSubstring("no-such-binary"));
  CHECK(eventually([&] { return guest_agents_under(scratch()) == 0; }, 30s));
}

TEST_CASE("lcow: the guest agent killed under a running task: the task exits 255, delete still cleans up",
          "[e2e][lcow]") {
  E2E e2e;
  const auto run = e2e.containerd.ctr({"run", "-d", "--runtime", kShim, "--rootfs", e2e.rootfs.string(), "t4", "sh",
                                       "-c", "while :; do sleep 0.1; done"});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  REQUIRE(run.exit_status == 0);
  std::vector<std::vector<std::string>> tasks;
  REQUIRE(eventually([&] {
    tasks = task_list(e2e.containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "RUNNING";
  }));
  // The VM dies: every process of the guest goes with its init.
  std::size_t killed = 0;
  for (const pid_t pid : shimcore::testing::pids_with_cmdline({"shimcore-gcs", scratch()})) {
    killed += ::kill(pid, SIGKILL) == 0 ? 1 : 0;
  }
  REQUIRE(killed == 1);
  REQUIRE(eventually(
      [&] {
        tasks = task_list(e2e.containerd);
        return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "STOPPED";
      },
      15s));
  const auto info = e2e.containerd.ctr({"task", "delete", "t4"});
  INFO("delete: " << info.out << info.err);
  CHECK(info.exit_status == 0);
  CHECK_THAT(info.out + info.err, ContainsSubstring("255"));
  CHECK(e2e.containerd.ctr({"container", "delete", "t4"}).exit_status == 0);
  CHECK(task_list(e2e.containerd).empty());
  CHECK(eventually([&] { return e2e.containerd.shim_daemons(kShim).empty(); }, 15s));
  CHECK(eventually([&] { return shimcore::testing::mounts_under(e2e.containerd.dir()).empty(); }));
}

TEST_CASE("lcow: kill -9 of the shim: containerd's delete kills its utility VM (the system <id>@vm) too",
          "[e2e][lcow]") {
  E2E e2e;
  // A duration no other test's container uses, to find this container's process on the host.
  const std::string seconds = std::to_string(5000 + ::getpid() % 1000);
  const auto run =
      e2e.containerd.ctr({"run", "-d", "--runtime", kShim, "--rootfs", e2e.rootfs.string(), "t5", "sleep", seconds});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  REQUIRE(run.exit_status == 0);
  REQUIRE(eventually([&] {
    const auto tasks = task_list(e2e.containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "RUNNING";
  }));
  REQUIRE(guest_agents_under(scratch()) == 1);
  REQUIRE(shimcore::testing::pids_with_cmdline({"sleep", seconds}).size() == 1);
  const auto daemons = e2e.containerd.shim_daemons(kShim);
  REQUIRE(daemons.size() == 1);
  REQUIRE(::kill(daemons[0].pid, SIGKILL) == 0);
  // containerd runs our `delete`, which finds the VM's record and kills its guest (and so every container in it).
  CHECK(
      eventually([&] { return e2e.containerd.log().find("cleaned up after a dead shim") != std::string::npos; }, 15s));
  CHECK(eventually([&] { return guest_agents_under(scratch()) == 0; }, 15s));
  CHECK(eventually([&] { return shimcore::testing::pids_with_cmdline({"sleep", seconds}).empty(); }, 15s));
}

TEST_CASE("lcow: the VM document the shim sent to HCS is exactly hcsdoc's for the same inputs (legacy pipeline)",
          "[e2e][lcow]") {
  E2E e2e;
  const auto run =
      e2e.containerd.ctr({"run", "-d", "--runtime", kShim, "--rootfs", e2e.rootfs.string(), "t6", "sleep", "30"});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  REQUIRE(run.exit_status == 0);
  // The emulator's record of the VM keeps the document it was created from.
  const fs::path record = fs::path(scratch()) / "hcs" / "default+t6@vm.json";
  REQUIRE(eventually([&] { return fs::exists(record); }));
  nlohmann::json sent;
  {
    std::ifstream in(record);
    sent = nlohmann::json::parse(in).at("Document");
  }
  // The same inputs, from what the test knows: the task's bundle, the spec's (absent) annotations, empty runtime
  // options, the boot files beside the shim, and the emulated host.
  const fs::path boot = fs::path(SHIMCORE_TEST_BIN_DIR) / "LinuxBootFiles";
  const unsigned cpus = std::thread::hardware_concurrency();
  const nlohmann::json input{
      {"annotations", nlohmann::json::object()},
      {"devices", nullptr},
      {"shimOptions", nlohmann::json::object()},
      {"owner", "containerd-shim-lcow-v2"},
      {"defaultBootFilesPath", boot.string()},
      {"bootFiles", {{"dir", boot.string()}, {"files", {"kernel", "initrd.img"}}}},
      {"bundleDir", (e2e.containerd.state_dir() / "io.containerd.runtime.v2.task" / "default" / "t6").string()},
      {"host",
       {{"osBuild", 26100},
        {"productType", "Server"},
        {"logicalProcessorCount", cpus},
        {"goRuntimeNumCPU", cpus},
        {"goarch", "amd64"}}}};
  const fs::path input_file = fs::path(scratch()) / "vm-input.json";
  std::ofstream(input_file) << input.dump(2);
  const auto hcsdoc = shimcore::testing::run_process(
      {(fs::path(SHIMCORE_TEST_BIN_DIR).parent_path() / "tools" / "bin" / "hcsdoc").string(), "--pipeline", "legacy",
       "--input", input_file.string()});
  INFO("hcsdoc: " << hcsdoc.out << hcsdoc.err);
  REQUIRE(hcsdoc.exit_status == 0);
  CHECK(nlohmann::json::parse(hcsdoc.out) == sent);
  CHECK(sent["VirtualMachine"]["Chipset"].contains("LinuxKernelDirect"));
  e2e.containerd.ctr({"task", "kill", "-s", "SIGKILL", "t6"});
  CHECK(eventually([&] {
    const auto tasks = task_list(e2e.containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "STOPPED";
  }));
  e2e.containerd.ctr({"task", "delete", "t6"});
  e2e.containerd.ctr({"container", "delete", "t6"});
}
