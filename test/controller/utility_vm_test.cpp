// The LCOW utility VM over the HCS emulator with the real guest agent (shimcore-gcs) and runc: boot, bridge,
// Plan9 share, a runc container in the guest, graceful shutdown, and the guest dying under a pending call.
// Needs root (namespaces, mounts, runc), as CI runs.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include "e2e_util.h"
#include "forwarding_hcs.h"
#include "private_containerd.h"
#include "require_error.h"
#include "shimcore/controller/utility_vm.h"
#include "shimcore/hcs/emulator.h"
#include "test_util.h"

using namespace shimcore;
using namespace shimcore::controller;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json vm_document() {
  json vm;
  vm["Chipset"]["LinuxKernelDirect"]["KernelFilePath"] = "/boot/vmlinux";
  vm["Devices"]["Scsi"]["0"]["Attachments"] = json::object();
  return {{"Owner", "utility-vm-test"},
          {"SchemaVersion", {{"Major", 2}, {"Minor", 5}}},
          {"ShouldTerminateOnLastHandleClosed", true},
          {"VirtualMachine", vm}};
}

std::string read_all(int fd) {
  std::string out;
  char buffer[512];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) out.append(buffer, static_cast<std::size_t>(n));
  return out;
}

// Processes whose command line mentions `needle` (the VM's ports folder names its guest agent).
std::vector<pid_t> processes_mentioning(const std::string& needle) { return testing::pids_with_cmdline({needle}); }

fs::path busybox_layer(const fs::path& dir) {
  const fs::path layer = dir / "layer";
  fs::create_directories(layer / "bin");
  fs::copy_file(testing::busybox_path(), layer / "bin" / "busybox");
  for (const char* applet : {"sh", "echo", "readlink", "sleep", "cat"})
    fs::create_symlink("busybox", layer / "bin" / applet);
  for (const char* dir_name : {"proc", "dev", "sys", "tmp"}) fs::create_directories(layer / dir_name);
  return layer;
}

// Every ModifyComputeSystem request the VM sends, in order, while forwarding it to the emulator.
struct ModifyLog {
  std::mutex mutex;
  std::vector<json> requests;
};

class RecordingSystem final : public testing::ForwardingSystem {
 public:
  RecordingSystem(std::unique_ptr<hcs::ComputeSystem> inner, ModifyLog& log)
      : ForwardingSystem(std::move(inner)), log_(log) {}
  void modify(const json& request) override {
    {
      const std::lock_guard lock(log_.mutex);
      log_.requests.push_back(request);
    }
    inner().modify(request);
  }

 private:
  ModifyLog& log_;
};

class RecordingClient final : public hcs::Client {
 public:
  RecordingClient(hcs::Client& inner, ModifyLog& log) : inner_(inner), log_(log) {}
  std::unique_ptr<hcs::ComputeSystem> create_system(const std::string& id, const json& document) override {
    return std::make_unique<RecordingSystem>(inner_.create_system(id, document), log_);
  }
  std::unique_ptr<hcs::ComputeSystem> open_system(const std::string& id) override {
    return std::make_unique<RecordingSystem>(inner_.open_system(id), log_);
  }
  json enumerate_systems(const json& query) override { return inner_.enumerate_systems(query); }
  json service_properties(const json& query) override { return inner_.service_properties(query); }

 private:
  hcs::Client& inner_;
  ModifyLog& log_;
};

struct Fixture {
  testing::TempDir dir{"shimcore-uvm-"};
  std::unique_ptr<hcs::EmulatorClient> client;
  ModifyLog modifications;
  std::unique_ptr<RecordingClient> recording;
  std::promise<std::string> exited;
  std::unique_ptr<UtilityVm> vm;

  Fixture() {
    hcs::EmulatorOptions options;
    options.runtime_dir = dir.path / "hcs";
    options.lcow_guest_agent = SHIMCORE_GCS_PATH;
    client = hcs::make_emulator_client(options);
    UtilityVmOptions vm_options;
    vm_options.connect_timeout = 30s;
    vm_options.on_exit = [this](const std::string& reason) { exited.set_value(reason); };
    const fs::path runtime_dir = options.runtime_dir;
    recording = std::make_unique<RecordingClient>(*client, modifications);
    vm = std::make_unique<UtilityVm>(
        *recording,
        [runtime_dir](const std::string& runtime_id) {
          return gcs::make_unix_port_transport(hcs::emulated_hvsock_directory(runtime_dir, runtime_id).string());
        },
        "test@vm", vm_options);
  }
  std::string ports() const { return hcs::emulated_hvsock_directory(dir.path / "hcs", vm->runtime_id()).string(); }
};

}  // namespace

TEST_CASE("utility VM: boots the guest agent, shares a layer, runs a runc container in the guest, shuts down",
          "[lcow][root]") {
  Fixture fixture;
  CHECK_THROWS_AS(fixture.vm->guest(), Error);  // not created yet
  fixture.vm->create(vm_document());
  CHECK(fixture.vm->state() == VmState::Created);
  fixture.vm->start();
  REQUIRE(fixture.vm->state() == VmState::Running);
  CHECK(fixture.vm->guest().protocol_version() == 4);
  CHECK(fixture.vm->guest().capabilities().runtime_os_type == "Linux");
  CHECK(processes_mentioning(fixture.ports()).size() == 1);  // the guest agent (its launcher runs our image)

  const fs::path layer = busybox_layer(fixture.dir.path);
  const std::string share = fixture.vm->add_share(layer.string(), true);
  CHECK(share == "/run/mounts/plan9/0");
  auto& guest = fixture.vm->guest();
  const std::string bundle = "/run/gcs/pods/p1/c1";
  guest.modify_settings(std::string(gcs::kNullContainerId), std::string(gcs::kResourceCombinedLayers), "Add",
                        gcs::CombinedLayers{"c1", bundle + "/rootfs", {share}, "/run/gcs/scratch/p1/c1"});
  json spec{
      {"ociVersion", "1.1.0"},
      {"root", {{"path", bundle + "/rootfs"}}},
      {"process",
       {{"args", {"sh", "-c", "echo x; readlink /proc/self/ns/pid; exit 4"}}, {"cwd", "/"}, {"env", {"PATH=/bin"}}}},
      {"linux", {{"namespaces", {{{"type", "pid"}}, {{"type", "mount"}}, {{"type", "ipc"}}, {{"type", "uts"}}}}}},
      {"mounts", {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}}}}};
  std::promise<std::string> container_exit;
  guest.create_container("c1",
                         {{"SchemaVersion", {{"Major", 2}, {"Minor", 1}}},
                          {"OciBundlePath", bundle},
                          {"OciSpecification", spec},
                          {"ScratchDirPath", "/run/gcs/scratch/p1/c1"}},
                         [&](const gcs::ContainerNotification& n) { container_exit.set_value(n.type); });
  gcs::ProcessParameters init;
  init.create_stdout_pipe = true;
  auto process = guest.execute_process("c1", init);
  auto stdio = process->take_stdio();
  const std::string output = read_all(stdio.std_out.get());
  CHECK(process->wait(30s) == 4);
  CHECK(output.starts_with("x\npid:["));
  char host_ns[64] = {};
  REQUIRE(::readlink("/proc/self/ns/pid", host_ns, sizeof host_ns - 1) > 0);
  CHECK(output.find(host_ns) == std::string::npos);
  auto notified = container_exit.get_future();
  REQUIRE(notified.wait_for(30s) == std::future_status::ready);
  CHECK(notified.get() == "UnexpectedExit");
  guest.delete_container_state("c1");
  fixture.vm->remove_share(share);
  CHECK_THROWS_AS(fixture.vm->remove_share(share), Error);

  fixture.vm->shutdown(10s);
  CHECK(fixture.vm->state() == VmState::Terminated);
  REQUIRE(fixture.vm->exit());
  CHECK(fixture.vm->exit()->exit_type == "GracefulExit");  // the guest powered off when asked
  auto reason = fixture.exited.get_future();
  REQUIRE(reason.wait_for(10s) == std::future_status::ready);
  CHECK(processes_mentioning(fixture.ports()).empty());
  CHECK_FALSE(fs::exists(layer.parent_path() / "hcs" / "vm" / fixture.vm->runtime_id()));
  CHECK(fs::exists(layer / "bin" / "busybox"));  // the shared layer itself is untouched
}

TEST_CASE("utility VM: a guest agent killed under a pending wait fails it with Unavailable and stops the VM",
          "[lcow][root]") {
  Fixture fixture;
  fixture.vm->create(vm_document());
  fixture.vm->start();
  gcs::ProcessParameters sleeper;
  sleeper.command_args = {"/bin/sleep", "60"};
  auto process = fixture.vm->guest().execute_process(std::string(gcs::kNullContainerId), sleeper);
  const auto agents = processes_mentioning(fixture.ports());
  REQUIRE_FALSE(agents.empty());
  for (pid_t pid : agents) ::kill(pid, SIGKILL);
  try {
    process->wait(30s);
    FAIL("the wait returned");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Unavailable);
  }
  auto reason = fixture.exited.get_future();
  REQUIRE(reason.wait_for(30s) == std::future_status::ready);
  CHECK_THAT(reason.get(), ContainsSubstring("guest connection was lost") || ContainsSubstring("stopped"));
  CHECK(fixture.vm->state() == VmState::Terminated);
  CHECK_THROWS_AS(fixture.vm->guest(), Error);
  fixture.vm->terminate();  // tolerant of a VM that is already gone
  CHECK(processes_mentioning(fixture.ports()).empty());
}

TEST_CASE("utility VM: wrong moves are FailedPrecondition naming the state; a missing agent fails the start",
          "[lcow]") {
  testing::TempDir dir{"shimcore-uvm-"};
  hcs::EmulatorOptions options;
  options.runtime_dir = dir.path / "hcs";
  options.lcow_guest_agent = dir.path / "no-such-agent";
  auto client = hcs::make_emulator_client(options);
  UtilityVm vm(*client, default_guest_transport_factory(), "x@vm", {});
  try {
    vm.start();
    FAIL("started");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::FailedPrecondition);
    CHECK_THAT(e.what(), ContainsSubstring("not created"));
  }
  vm.create(vm_document());
  CHECK_THROWS_AS(vm.create(vm_document()), Error);
  UtilityVmOptions quick;
  UtilityVm broken(
      *client,
      [&](const std::string& runtime_id) {
        return gcs::make_unix_port_transport(hcs::emulated_hvsock_directory(options.runtime_dir, runtime_id).string());
      },
      "y@vm", quick);
  broken.create(vm_document());
  try {
    broken.start();
    FAIL("started without an agent");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), ContainsSubstring("no-such-agent"));
  }
  CHECK(broken.state() == VmState::Invalid);
  broken.terminate();
  CHECK(broken.state() == VmState::Terminated);
}

TEST_CASE("utility VM: a share at a chosen guest path is mounted there, read-only, and released at shutdown",
          "[lcow][root]") {
  Fixture fixture;
  fixture.vm->create(vm_document());
  CHECK_THROWS_AS(fixture.vm->add_share(fixture.dir.path.string(), true, "/run/diag/x"), Error);  // not running
  fixture.vm->start();
  const fs::path host = fixture.dir.path / "shared";
  fs::create_directories(host);
  std::ofstream(host / "file") << "content\n";
  CHECK(fixture.vm->add_share(host.string(), true, "/run/diag/./x") == "/run/diag/x");
  for (const char* taken : {"/run/diag/x", "/run/diag/x/", "/run//diag/x"}) {
    CAPTURE(taken);
    testing::require_error(ErrorKind::AlreadyExists, "already shared there",
                           [&] { fixture.vm->add_share(host.string(), false, taken); });
  }
  for (const char* bad : {"run/diag/y", "/", "/.", "//", "/run/../etc"}) {
    CAPTURE(bad);
    testing::require_error(ErrorKind::InvalidArgument, "must be absolute",
                           [&] { fixture.vm->add_share(host.string(), false, bad); });
  }
  // A guest process outside every container reads it and cannot write to it.
  gcs::ProcessParameters cat;
  cat.command_args = {"sh", "-c", "cat /run/diag/x/file; touch /run/diag/x/new || echo read-only"};
  cat.create_in_utility_vm = true;
  cat.create_stdout_pipe = true;
  auto process = fixture.vm->guest().execute_process(std::string(gcs::kNullContainerId), cat);
  auto stdio = process->take_stdio();
  CHECK(read_all(stdio.std_out.get()) == "content\nread-only\n");
  CHECK(process->wait(30s) == 0);
  CHECK_FALSE(fs::exists(host / "new"));

  fixture.vm->shutdown(10s);
  CHECK(fixture.vm->state() == VmState::Terminated);
  // The share was removed (from the guest, then from HCS) before the VM was asked to power off.
  const std::lock_guard lock(fixture.modifications.mutex);
  REQUIRE(fixture.modifications.requests.size() == 2);
  CHECK(fixture.modifications.requests[0]["RequestType"] == "Add");
  CHECK(fixture.modifications.requests[1]["RequestType"] == "Remove");
  CHECK(fixture.modifications.requests[1]["Settings"]["Name"] == fixture.modifications.requests[0]["Settings"]["Name"]);
  CHECK(fixture.vm->exit()->exit_type == "GracefulExit");
}
