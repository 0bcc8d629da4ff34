// The HCS emulator: HCS's state tables, errors and notifications, and real processes (stdio, exit codes, signals,
// chroot, cleanup of a dead shim's systems, no zombie or descriptor leaks).
#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hcs/emulator/host_process.h"
#include "private_containerd.h"
#include "shimcore/hcs/emulator.h"
#include "shimcore/hcs/host.h"
#include "shimcore/hcs/schema/properties.h"
#include "test_util.h"

using namespace std::chrono_literals;
using namespace shimcore::hcs;
using nlohmann::json;
using shimcore::ErrorKind;
using shimcore::testing::eventually;
using shimcore::testing::TempDir;
namespace fs = std::filesystem;

namespace {

json container_document(const std::string& root = {}) {
  json document{{"Owner", "test-owner"},
                {"SchemaVersion", {{"Major", 2}, {"Minor", 1}}},
                {"Container", {{"Storage", json::object()}}}};
  if (!root.empty()) document["Container"]["Storage"]["Path"] = root;
  return document;
}

json vm_document() {
  json vm;
  vm["Chipset"]["LinuxKernelDirect"]["KernelFilePath"] = "/boot/vmlinux";
  vm["Devices"]["Scsi"]["0"]["Attachments"] = json::object();
  return {{"Owner", "test-owner"},
          {"SchemaVersion", {{"Major", 2}, {"Minor", 5}}},
          {"ShouldTerminateOnLastHandleClosed", true},
          {"VirtualMachine", vm}};
}

json shell(const std::string& script, bool pipes = true) {
  return {{"CommandArgs", {"/bin/sh", "-c", script}},
          {"CreateStdInPipe", pipes},
          {"CreateStdOutPipe", pipes},
          {"CreateStdErrPipe", pipes}};
}

std::string read_all(const OsHandle& handle) {
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(handle.get(), buffer, sizeof(buffer));
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

// Runs `call` and returns the HRESULT it failed with (0 if it succeeded).
std::uint32_t hresult_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const HcsError& error) {
    return error.hresult();
  }
  return 0;
}

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0; }

std::string process_name(std::uint32_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

std::size_t open_descriptors() {
  std::size_t count = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++count;
  }
  return count;
}

// Children of this process that exist (running or zombie), from every thread's children list.
std::size_t child_processes() {
  std::size_t count = 0;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream children(task.path() / "children");
    for (std::string pid; children >> pid;) ++count;
  }
  return count;
}

struct Fixture {
  TempDir dir{"shimcore-hcs-"};
  std::unique_ptr<EmulatorClient> client;
  Fixture() {
    EmulatorOptions options;
    options.runtime_dir = dir.path / "records";
    options.logical_processors = 16;
    options.os_build = 20348;
    client = make_emulator_client(options);
  }
};

}  // namespace

TEST_CASE("compute-system state table: every state x operation", "[hcs][emulator]") {
  enum class From { Created, Running, Paused, Stopped };
  struct Row {
    std::string operation;
    std::uint32_t created, running, paused, stopped;         // expected HRESULT per starting state (0 = success)
    std::string after_created, after_running, after_paused;  // State after success
  };
  using namespace hresult;
  const Row row =
      GENERATE(Row{"start", 0, kInvalidState, kInvalidState, kInvalidState, "Running", "", ""},
               Row{"shutdown", kInvalidState, 0, kInvalidState, kSystemAlreadyStopped, "", "Stopped", ""},
               Row{"terminate", 0, 0, 0, kSystemAlreadyStopped, "Stopped", "Stopped", "Stopped"},
               Row{"pause", kInvalidState, 0, kInvalidState, kInvalidState, "", "Paused", ""},
               Row{"resume", kInvalidState, kInvalidState, 0, kInvalidState, "", "", "Running"},
               Row{"modify", 0, 0, 0, kSystemAlreadyStopped, "Created", "Running", "Paused"},
               Row{"properties", 0, 0, 0, 0, "Created", "Running", "Paused"},
               Row{"create_process", kInvalidState, 0, kInvalidState, kSystemAlreadyStopped, "", "Running", ""});
  const From from = GENERATE(From::Created, From::Running, From::Paused, From::Stopped);
  CAPTURE(row.operation, static_cast<int>(from));

  Fixture fixture;
  auto system = fixture.client->create_system("sm", vm_document());
  if (from != From::Created) system->start();
  if (from == From::Paused) system->pause();
  if (from == From::Stopped) system->terminate();

  const std::map<std::string, std::function<void()>> operations{
      {"start", [&] { system->start(); }},
      {"shutdown", [&] { system->shutdown(); }},
      {"terminate", [&] { system->terminate(); }},
      {"pause", [&] { system->pause(); }},
      {"resume", [&] { system->resume(); }},
      {"modify",
       [&] {
         system->modify({{"ResourcePath", "VirtualMachine/Devices/Scsi/0/Attachments/1"},
                         {"RequestType", "Add"},
                         {"Settings", {{"Path", "/disk.vhdx"}, {"Type", "VirtualDisk"}}}});
       }},
      {"properties", [&] { system->properties(); }},
      {"create_process", [&] { system->create_process(shell("true", false))->wait(); }},
  };
  const std::uint32_t expected = from == From::Created   ? row.created
                                 : from == From::Running ? row.running
                                 : from == From::Paused  ? row.paused
                                                         : row.stopped;
  const std::uint32_t actual = hresult_of(operations.at(row.operation));
  CHECK(actual == expected);
  if (expected != 0) {
    try {
      operations.at(row.operation)();
    } catch (const HcsError& error) {
      // HRESULTs become errdefs kinds: invalid state and already stopped are both FailedPrecondition.
      CHECK(error.kind() == ErrorKind::FailedPrecondition);
      CHECK_FALSE(json::parse(error.result_document()).at("ErrorMessage").get<std::string>().empty());
    }
  } else if (from != From::Stopped) {
    const std::string& after = from == From::Created   ? row.after_created
                               : from == From::Running ? row.after_running
                                                       : row.after_paused;
    CHECK(system->properties().at("State") == after);
  }
}

TEST_CASE("create, open and enumerate: ids, duplicates, bad documents", "[hcs][emulator]") {
  Fixture fixture;
  auto first = fixture.client->create_system("c1", container_document());
  CHECK(first->id() == "c1");
  CHECK(hresult_of([&] { fixture.client->create_system("c1", container_document()); }) ==
        hresult::kSystemAlreadyExists);
  CHECK(hresult_of([&] { fixture.client->open_system("nope"); }) == hresult::kSystemNotFound);
  try {
    fixture.client->open_system("nope");
  } catch (const HcsError& error) {
    CHECK(error.kind() == ErrorKind::NotFound);
    CHECK(error.not_found());
  }
  auto vm = fixture.client->create_system("u1@vm", vm_document());
  const json all = fixture.client->enumerate_systems();
  CHECK(all.size() == 2);
  const json vms = fixture.client->enumerate_systems({{"Types", {"VirtualMachine"}}});
  REQUIRE(vms.size() == 1);
  CHECK(vms[0]["Id"] == "u1@vm");
  CHECK(vms[0]["RuntimeOsType"] == "Linux");
  CHECK(fixture.client->enumerate_systems({{"Owners", {"someone-else"}}}).empty());
  CHECK(vm->properties()["RuntimeId"].get<std::string>().size() == 36);

  SECTION("documents HCS would refuse") {
    for (const json& bad :
         {json::array(), json{{"SchemaVersion", {{"Major", 2}}}},
          json{{"SchemaVersion", {{"Major", 2}}}, {"Container", json::object()}, {"VirtualMachine", json::object()}},
          json{{"SchemaVersion", {{"Major", 1}}}, {"Container", json::object()}},
          json{{"SchemaVersion", "2.1"}, {"Container", json::object()}},
          json{{"SchemaVersion", {{"Major", 2}}}, {"Container", 5}},
          json{{"SchemaVersion", {{"Major", 2}}}, {"Container", json::object()}, {"Bogus", 1}},
          json{{"SchemaVersion", {{"Major", 2}}}, {"Container", json::object()}, {"Owner", 3}}}) {
      CAPTURE(bad.dump());
      try {
        fixture.client->create_system("bad", bad);
        FAIL("accepted");
      } catch (const HcsError& error) {
        CHECK(error.hresult() == hresult::kInvalidJson);
        CHECK(error.kind() == ErrorKind::InvalidArgument);
      }
    }
    CHECK(fixture.client->enumerate_systems({{"Ids", {"bad"}}}).empty());
  }
  SECTION("a wrong type deep inside is reported with its path") {
    json deep = vm_document();
    deep["VirtualMachine"]["Devices"]["Scsi"]["0"]["Attachments"]["0"] = {{"Path", "/a.vhdx"}, {"ReadOnly", 1}};
    try {
      fixture.client->create_system("deep", deep);
      FAIL("accepted");
    } catch (const HcsError& error) {
      CHECK(error.hresult() == hresult::kInvalidJson);
      CHECK_THAT(error.what(), Catch::Matchers::ContainsSubstring("ReadOnly"));
      CHECK_THAT(json::parse(error.result_document()).at("ErrorMessage").get<std::string>(),
                 Catch::Matchers::ContainsSubstring("Attachments"));
    }
  }
}

TEST_CASE("a process's stdout, stderr and exit code are real", "[hcs][emulator]") {
  Fixture fixture;
  auto system = fixture.client->create_system("c1", container_document());
  system->start();
  auto process = system->create_process(shell("echo out; echo err >&2; exit 7"));
  CHECK(process->pid() > 0);
  ProcessStdio stdio = process->take_stdio();
  REQUIRE(stdio.std_out);
  REQUIRE(stdio.std_err);
  stdio.std_in.reset();
  CHECK(read_all(stdio.std_out) == "out\n");
  CHECK(read_all(stdio.std_err) == "err\n");
  const auto exit = process->wait(10s);
  REQUIRE(exit);
  CHECK(exit->exit_code == 7);
  CHECK(exit->process_id == process->pid());
  const json status = process->properties();
  CHECK(status == json{{"ProcessId", process->pid()}, {"Exited", true}, {"ExitCode", 7}, {"LastWaitResult", 0}});
  CHECK_FALSE(process->take_stdio().std_out);  // handed out once
}

TEST_CASE("a process inherits only its stdio from the shim", "[hcs][emulator]") {
  // An fd without close-on-exec (as asio's accepted sockets are) must not reach the container: a copy of the shim's
  // socket in a task process keeps containerd from seeing the shim die.
  int leaky[2];
  REQUIRE(::pipe(leaky) == 0);
  Fixture fixture;
  auto system = fixture.client->create_system("c1", container_document());
  system->start();
  auto process = system->create_process(shell("ls /proc/self/fd"));
  ProcessStdio stdio = process->take_stdio();
  stdio.std_in.reset();
  // 0, 1, 2 and the fd ls itself opens on /proc/self/fd.
  CHECK(read_all(stdio.std_out) == "0\n1\n2\n3\n");
  process->wait(10s);
  ::close(leaky[0]);
  ::close(leaky[1]);
}

TEST_CASE("stdin, environment, working directory and Windows command lines", "[hcs][emulator]") {
  Fixture fixture;
  auto system = fixture.client->create_system("c1", container_document());
  system->start();
  json parameters = {{"CommandLine", R"(/bin/sh -c "read line; echo \"got $line in $PWD with $GREETING\"")"},
                     {"WorkingDirectory", "/tmp"},
                     {"Environment", {{"GREETING", "hello world"}}},
                     {"CreateStdInPipe", true},
                     {"CreateStdOutPipe", true}};
  auto process = system->create_process(parameters);
  ProcessStdio stdio = process->take_stdio();
  const std::string input = "ping\n";
  REQUIRE(::write(stdio.std_in.get(), input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  stdio.std_in.reset();
  CHECK(read_all(stdio.std_out) == "got ping in /tmp with hello world\n");
  CHECK(process->wait(10s)->exit_code == 0);

  CHECK(hresult_of([&] { system->create_process({{"CommandArgs", {"/no/such/program"}}}); }) == hresult::kFileNotFound);
  CHECK(hresult_of([&] { system->create_process({{"CommandLine", ""}}); }) == hresult::kInvalidArgument);
  CHECK(hresult_of([&] { system->create_process(json::array()); }) == hresult::kInvalidJson);
  CHECK(hresult_of([&] { system->create_process({{"CommandArgs", "not-a-list"}}); }) == hresult::kInvalidJson);
}

TEST_CASE("signals, terminate and their exit codes", "[hcs][emulator]") {
  Fixture fixture;
  auto system = fixture.client->create_system("c1", container_document());
  system->start();
  SECTION("terminate: SIGKILL, 128+9 every time") {
    for (int i = 0; i < 3; ++i) {
      auto process = system->create_process(shell("sleep 60", false));
      process->terminate();
      CHECK(process->wait(10s)->exit_code == 137);
      CHECK(hresult_of([&] { process->terminate(); }) == hresult::kProcessAlreadyStopped);
      CHECK(hresult_of([&] { process->signal({{"Signal", 15}}); }) == hresult::kProcessAlreadyStopped);
      CHECK(hresult_of([&] { process->close_stdin(); }) == hresult::kProcessAlreadyStopped);
    }
  }
  SECTION("Linux signal numbers and Windows console controls") {
    auto by_number = system->create_process(shell("exec sleep 60", false));
    REQUIRE(eventually([&] { return process_name(by_number->pid()) == "sleep"; }));
    by_number->signal({{"Signal", 15}});
    const auto by_number_exit = by_number->wait(10s);
    REQUIRE(by_number_exit);
    CHECK(by_number_exit->exit_code == 143);
    auto ctrl_c = system->create_process(shell("exec sleep 60", false));
    // Signal the program itself, not the shell on its way to exec'ing it.
    REQUIRE(eventually([&] { return process_name(ctrl_c->pid()) == "sleep"; }));
    ctrl_c->signal({{"Signal", "CtrlC"}});
    const auto ctrl_c_exit = ctrl_c->wait(10s);
    REQUIRE(ctrl_c_exit);
    CHECK(ctrl_c_exit->exit_code == 130);
    auto trapped = system->create_process(shell("trap 'exit 3' INT; echo ready; while :; do sleep 0.05; done"));
    ProcessStdio trapped_stdio = trapped->take_stdio();
    char ready[6] = {};
    REQUIRE(::read(trapped_stdio.std_out.get(), ready, sizeof(ready)) == 6);  // the trap is in place
    trapped->signal({{"Signal", "CtrlC"}});
    CHECK(trapped->wait(10s)->exit_code == 3);
  }
  SECTION("bad signal options") {
    auto process = system->create_process(shell("sleep 60", false));
    CHECK(hresult_of([&] { process->signal({{"Signal", "CtrlNope"}}); }) == hresult::kInvalidArgument);
    CHECK(hresult_of([&] { process->signal({{"Signal", 0}}); }) == hresult::kInvalidArgument);
    CHECK(hresult_of([&] { process->signal(json::object()); }) == hresult::kInvalidArgument);
    CHECK_FALSE(process->wait(0ms));
    process->terminate();
  }
}

TEST_CASE("terminating a system kills its running processes and notifies every handle once", "[hcs][emulator]") {
  Fixture fixture;
  auto system = fixture.client->create_system("c1", container_document());
  system->start();
  auto first = system->create_process(shell("sleep 60", false));
  auto second = system->create_process(shell("sleep 60 & wait", false));
  const pid_t first_pid = static_cast<pid_t>(first->pid());
  const pid_t second_pid = static_cast<pid_t>(second->pid());
  REQUIRE(process_alive(first_pid));
  std::atomic<int> system_callbacks{0};
  std::atomic<int> process_callbacks{0};
  std::promise<SystemExit> exited;
  system->on_exit([&](const SystemExit& exit) {
    ++system_callbacks;
    exited.set_value(exit);
  });
  auto other_handle = fixture.client->open_system("c1");
  other_handle->on_exit([&](const SystemExit&) { ++system_callbacks; });
  first->on_exit([&](const ProcessExit& exit) {
    ++process_callbacks;
    CHECK(exit.exit_code == 137);
  });
  CHECK(hresult_of([&] { first->on_exit([](const ProcessExit&) {}); }) == hresult::kCallbackAlreadySet);

  system->terminate();
  CHECK_FALSE(process_alive(first_pid));
  CHECK_FALSE(process_alive(second_pid));
  const SystemExit exit = exited.get_future().get();
  CHECK(exit.exit_type == "ForcedExit");
  CHECK(exit.status == 0);
  CHECK(exit.document["Attribution"][0]["SystemExit"]["Detail"] == "Terminate");
  CHECK(system_callbacks.load() == 2);
  // The process's callback runs on its reaper, in no fixed order with the system's (as in HCS): wait for it.
  CHECK(eventually([&] { return process_callbacks.load() == 1; }));
  CHECK(first->wait(0ms)->exit_code == 137);
  const json properties = system->properties();
  CHECK(properties["State"] == "Stopped");
  CHECK(properties["Stopped"] == true);
  CHECK(properties["ExitType"] == "ForcedExit");
  // A callback registered after the exit runs at once.
  int late = 0;
  auto third_handle = fixture.client->open_system("c1");
  third_handle->on_exit([&](const SystemExit&) { ++late; });
  CHECK(late == 1);
  CHECK(process_callbacks.load() == 1);  // once, never again
}

TEST_CASE("guest exit and service disconnect", "[hcs][emulator]") {
  Fixture fixture;
  auto vm = fixture.client->create_system("u@vm", vm_document());
  vm->start();
  SECTION("an unexpected guest exit") {
    fixture.client->simulate_guest_exit("u@vm");
    const auto exit = vm->wait(5s);
    REQUIRE(exit);
    CHECK(exit->exit_type == "UnexpectedExit");
    CHECK(is_hcs_code(exit->status, hresult::kUnexpectedExit));
  }
  SECTION("the service goes away: waiters are released with an error") {
    auto waiter = std::async(std::launch::async, [&] { return hresult_of([&] { vm->wait(); }); });
    std::this_thread::sleep_for(50ms);
    fixture.client->simulate_service_disconnect();
    CHECK(waiter.get() == hresult::kServiceDisconnect);
    CHECK(hresult_of([&] { vm->start(); }) == hresult::kServiceDisconnect);
    CHECK(hresult_of([&] { fixture.client->open_system("u@vm"); }) == hresult::kServiceDisconnect);
  }
}

TEST_CASE("the last handle: terminate-on-close systems stop, others stay re-openable", "[hcs][emulator]") {
  Fixture fixture;
  pid_t pid = 0;
  {
    auto vm = fixture.client->create_system("u@vm", vm_document());  // ShouldTerminateOnLastHandleClosed
    vm->start();
    pid = static_cast<pid_t>(vm->create_process(shell("sleep 60", false))->pid());
    REQUIRE(process_alive(pid));
  }
  CHECK(eventually([&] { return !process_alive(pid); }));
  CHECK(hresult_of([&] { fixture.client->open_system("u@vm"); }) == hresult::kSystemNotFound);
  {
    auto container = fixture.client->create_system("c1", container_document());
    container->start();
  }
  auto reopened = fixture.client->open_system("c1");
  CHECK(reopened->properties()["State"] == "Running");
}

TEST_CASE("modify keeps the document and applies HCS's rules", "[hcs][emulator]") {
  Fixture fixture;
  auto vm = fixture.client->create_system("u@vm", vm_document());
  vm->start();
  const json add{{"ResourcePath", "VirtualMachine/Devices/Scsi/0/Attachments/3"},
                 {"RequestType", "Add"},
                 {"Settings", {{"Path", "/scratch.vhdx"}, {"Type", "VirtualDisk"}}}};
  vm->modify(add);
  CHECK(hresult_of([&] { vm->modify(add); }) == hresult::kInvalidArgument);  // the LUN is taken
  json bad_lun = add;
  bad_lun["ResourcePath"] = "VirtualMachine/Devices/Scsi/0/Attachments/64";
  CHECK(hresult_of([&] { vm->modify(bad_lun); }) == hresult::kInvalidArgument);
  json bad_controller = add;
  bad_controller["ResourcePath"] = "VirtualMachine/Devices/Scsi/7/Attachments/0";
  CHECK(hresult_of([&] { vm->modify(bad_controller); }) == hresult::kInvalidArgument);
  CHECK(hresult_of([&] {
          vm->modify({{"ResourcePath", "Elsewhere/x"}, {"RequestType", "Add"}});
        }) == hresult::kInvalidArgument);
  CHECK(hresult_of([&] {
          vm->modify({{"ResourcePath", "VirtualMachine/Devices/Scsi/0/Attachments/9"}, {"RequestType", "Remove"}});
        }) == hresult::kElementNotFound);
  vm->modify({{"ResourcePath", "VirtualMachine/Devices/Scsi/0/Attachments/3"}, {"RequestType", "Remove"}});
  vm->modify(add);  // free again
  CHECK(
      hresult_of([&] {
        vm->modify({{"ResourcePath", "VirtualMachine/ComputeTopology/Memory/SizeInMB"}, {"RequestType", "Frobnicate"}});
      }) == hresult::kInvalidJson);
  vm->terminate();
  CHECK(hresult_of([&] { vm->modify(add); }) == hresult::kSystemAlreadyStopped);
}

TEST_CASE("Plan9 shares: added by name as links in the VM's folder, removed by name", "[hcs][emulator]") {
  Fixture fixture;
  auto vm = fixture.client->create_system("p9@vm", vm_document());
  const std::string runtime_id = vm->properties()["RuntimeId"].get<std::string>();
  const fs::path vm_dir = emulated_vm_directory(fixture.dir.path / "records", runtime_id);
  // The ports folder exists from create on: the host listens there before the VM starts.
  CHECK(fs::is_directory(emulated_hvsock_directory(fixture.dir.path / "records", runtime_id)));
  vm->start();
  const fs::path shared = fixture.dir.path / "shared";
  fs::create_directories(shared);
  std::ofstream(shared / "hello") << "hi";
  const json add{{"ResourcePath", "VirtualMachine/Devices/Plan9/Shares"},
                 {"RequestType", "Add"},
                 {"Settings", {{"Name", "0"}, {"AccessName", "0"}, {"Path", shared.string()}, {"Port", 564}}}};
  vm->modify(add);
  json second = add;
  second["Settings"]["Name"] = "1";
  vm->modify(second);
  std::ifstream through(vm_dir / "plan9" / "0" / "hello");
  std::string text;
  through >> text;
  CHECK(text == "hi");
  CHECK(hresult_of([&] { vm->modify(add); }) == hresult::kInvalidArgument);  // the name is taken
  json missing = add;
  missing["Settings"]["Name"] = "2";
  missing["Settings"]["Path"] = (fixture.dir.path / "nope").string();
  CHECK(hresult_of([&] { vm->modify(missing); }) == hresult::kFileNotFound);
  json escape = add;
  escape["Settings"]["Name"] = "../x";
  CHECK(hresult_of([&] { vm->modify(escape); }) == hresult::kInvalidArgument);
  vm->modify({{"ResourcePath", "VirtualMachine/Devices/Plan9/Shares"},
              {"RequestType", "Remove"},
              {"Settings", {{"Name", "0"}}}});
  CHECK_FALSE(fs::exists(fs::symlink_status(vm_dir / "plan9" / "0")));
  CHECK(fs::exists(fs::symlink_status(vm_dir / "plan9" / "1")));
  CHECK(hresult_of([&] {
          vm->modify({{"ResourcePath", "VirtualMachine/Devices/Plan9/Shares"},
                      {"RequestType", "Remove"},
                      {"Settings", {{"Name", "0"}}}});
        }) == hresult::kElementNotFound);
  vm->terminate();
  CHECK_FALSE(fs::exists(vm_dir));      // the VM's folder goes with it
  CHECK(fs::exists(shared / "hello"));  // never the shared data
}

TEST_CASE("a guest that ends on its own stops its VM: clean is GracefulExit, a crash UnexpectedExit",
          "[hcs][emulator]") {
  for (const bool clean : {true, false}) {
    TempDir dir{"shimcore-hcs-"};
    std::function<void(bool)> end_guest;
    GuestContext seen;
    EmulatorOptions options;
    options.runtime_dir = dir.path / "records";
    options.guest_factory = [&](const GuestContext& context) {
      seen = context;
      end_guest = context.exited;
      struct Guest final : EmulatedGuest {
        void start() override {}
        void stop() override {}
        void modify(const json&) override {}
      };
      return std::make_unique<Guest>();
    };
    auto client = make_emulator_client(options);
    auto vm = client->create_system("g@vm", vm_document());
    vm->start();
    CHECK(seen.system_id == "g@vm");
    CHECK(seen.runtime_id == vm->properties()["RuntimeId"].get<std::string>());
    CHECK(seen.ports_directory == emulated_hvsock_directory(options.runtime_dir, seen.runtime_id));
    CHECK(seen.plan9_directory.filename() == "plan9");
    REQUIRE(end_guest);
    end_guest(clean);
    const auto exit = vm->wait(std::chrono::seconds(10));
    REQUIRE(exit);
    CHECK(exit->exit_type == (clean ? "GracefulExit" : "UnexpectedExit"));
    CHECK(exit->document["Attribution"][0]["SystemExit"]["Initiator"] == "GuestOS");
    CHECK(vm->properties()["State"] == "Stopped");
  }
}

TEST_CASE("properties, process list and service properties", "[hcs][emulator]") {
  Fixture fixture;
  auto system = fixture.client->create_system("c1", container_document());
  system->start();
  auto process = system->create_process(shell("sleep 60", false));
  const json properties = system->properties({{"PropertyTypes", {"ProcessList", "Statistics"}}});
  CHECK(properties["Id"] == "c1");
  CHECK(properties["SystemType"] == "Container");
  CHECK(properties["Owner"] == "test-owner");
  REQUIRE(properties["ProcessList"].size() == 1);
  CHECK(properties["ProcessList"][0]["ProcessId"] == process->pid());
  CHECK(properties["ProcessList"][0]["ImageName"] == "/bin/sh");
  const json& statistics = properties["Statistics"];
  CHECK(statistics["Uptime100ns"].get<std::uint64_t>() > 0);
  CHECK(statistics["Timestamp"].get<std::string>().ends_with("Z"));
  CHECK(statistics["ContainerStartTime"].get<std::string>() <= statistics["Timestamp"].get<std::string>());
  CHECK(statistics["Memory"]["MemoryUsageCommitBytes"].get<std::uint64_t>() > 0);
  CHECK(statistics["Memory"]["MemoryUsagePrivateWorkingSetBytes"].get<std::uint64_t>() > 0);
  CHECK(statistics["Processor"].contains("TotalRuntime100ns"));
  CHECK(statistics["Storage"].contains("ReadSizeBytes"));
  // What HCS's schema says a Statistics document is.
  CHECK(shimcore::hcs::schema::parse_properties(properties.dump()).statistics.has_value());
  CHECK(hresult_of([&] { system->properties({{"PropertyTypes", {"NoSuchType"}}}); }) == hresult::kInvalidArgument);
  CHECK(hresult_of([&] { system->properties({{"PropertyTypes", "Memory"}}); }) == hresult::kInvalidJson);
  auto opened = system->open_process(process->pid());
  CHECK(opened->pid() == process->pid());
  process->terminate();
  process->wait(10s);
  CHECK(hresult_of([&] { system->open_process(process->pid()); }) == hresult::kElementNotFound);

  const json topology = fixture.client->service_properties({{"PropertyTypes", {"ProcessorTopology"}}});
  REQUIRE(topology["Properties"].size() == 1);
  CHECK(topology["Properties"][0]["LogicalProcessorCount"] == 16);
  CHECK(topology["Properties"][0]["LogicalProcessors"].size() == 16);
  CHECK(hresult_of([&] {
          fixture.client->service_properties({{"PropertyTypes", {"Nope"}}});
        }) == hresult::kInvalidArgument);
  const HostProfile host = detect_host_profile(*fixture.client);
  CHECK(host.os_build == 20348);
  CHECK(host.logical_processors == 16);
  CHECK(host.architecture == "amd64");
  CHECK(host.product_type == "Server");
}

TEST_CASE("a container with a root filesystem runs chrooted into it", "[hcs][emulator][root]") {
  if (::geteuid() != 0) SKIP("chroot needs root");
  Fixture fixture;
  const fs::path rootfs = fixture.dir.path / "rootfs";
  for (const char* sub : {"bin", "tmp"}) fs::create_directories(rootfs / sub);
  fs::copy_file(shimcore::testing::busybox_path(), rootfs / "bin" / "busybox");
  fs::create_symlink("busybox", rootfs / "bin" / "sh");
  fs::create_symlink("busybox", rootfs / "bin" / "ls");
  fs::create_symlink("busybox", rootfs / "bin" / "cat");
  std::ofstream(rootfs / "marker") << "inside";
  auto system = fixture.client->create_system("c1", container_document(rootfs.string()));
  system->start();
  auto process = system->create_process(
      {{"CommandLine", "/bin/sh -c \"ls / && cat /marker\""}, {"CreateStdOutPipe", true}, {"WorkingDirectory", "/"}});
  ProcessStdio stdio = process->take_stdio();
  CHECK(read_all(stdio.std_out) == "bin\nmarker\ntmp\ninside");
  CHECK(process->wait(10s)->exit_code == 0);
}

TEST_CASE("a console process gets a terminal that can be resized", "[hcs][emulator]") {
  Fixture fixture;
  auto system = fixture.client->create_system("c1", container_document());
  system->start();
  auto process = system->create_process(
      {{"CommandArgs", {"/bin/sh", "-c", "sleep 0.3; stty size; tty -s && echo tty"}}, {"EmulateConsole", true}});
  process->resize_console(33, 101);
  ProcessStdio stdio = process->take_stdio();
  CHECK_FALSE(stdio.std_err);  // a console merges stderr into stdout
  std::string output;
  char buffer[256];
  for (;;) {  // the pty reports EIO, not EOF, once the process is gone
    const ssize_t n = ::read(stdio.std_out.get(), buffer, sizeof(buffer));
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  CHECK(output == "33 101\r\ntty\r\n");
  CHECK(process->wait(10s)->exit_code == 0);
}

TEST_CASE("delete after a dead shim: records lead to the processes, which are killed", "[hcs][emulator]") {
  TempDir dir{"shimcore-hcs-"};
  const fs::path records = dir.path / "records";
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t shim = ::fork();
  REQUIRE(shim >= 0);
  if (shim == 0) {
    // A "shim" that creates a system with a long-running process and then dies without any cleanup.
    ::close(pipe_fds[0]);
    EmulatorOptions options;
    options.runtime_dir = records;
    auto client = make_emulator_client(options);
    auto system = client->create_system("dead-shim-task", container_document());
    system->start();
    const std::uint32_t pid = system->create_process(shell("sleep 120", false))->pid();
    [[maybe_unused]] const ssize_t written = ::write(pipe_fds[1], &pid, sizeof(pid));
    ::_exit(0);  // no destructors: exactly what a SIGKILLed shim leaves behind
  }
  ::close(pipe_fds[1]);
  std::uint32_t orphan = 0;
  REQUIRE(::read(pipe_fds[0], &orphan, sizeof(orphan)) == sizeof(orphan));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(shim, &status, 0);
  REQUIRE(process_alive(static_cast<pid_t>(orphan)));
  CHECK(fs::exists(records));
  CHECK(cleanup_emulated_systems(records, "", {"someone-else"}).systems.empty());
  CHECK(process_alive(static_cast<pid_t>(orphan)));
  const EmulatorCleanup cleanup = cleanup_emulated_systems(records, "", {"dead-shim-task"});
  CHECK(cleanup.systems == std::vector<std::string>{"dead-shim-task"});
  CHECK(cleanup.killed == 1);
  CHECK(cleanup.warnings.empty());
  CHECK(eventually([&] { return !process_alive(static_cast<pid_t>(orphan)); }));
  CHECK(cleanup_emulated_systems(records, "").systems.empty());  // idempotent
}

namespace {

// A child "shim" that creates system `id` in `namespace_name` with a long-running process, reports the process's
// pid, and then waits for a byte on `release` (or its closing) before it dies without any cleanup.
struct ForkedShim {
  pid_t pid = -1;
  std::uint32_t task_pid = 0;
  int release = -1;  // the parent's end: a byte on it lets the shim die

  ForkedShim(const fs::path& records, const std::string& namespace_name, const std::string& id) {
    int report[2];
    int hold[2];
    REQUIRE(::pipe(report) == 0);
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, hold) == 0);  // send() below need not raise SIGPIPE
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(report[0]);
      ::close(hold[1]);
      EmulatorOptions options;
      options.runtime_dir = records;
      options.namespace_name = namespace_name;
      auto client = make_emulator_client(options);
      auto system = client->create_system(id, container_document());
      system->start();
      const std::uint32_t spawned = system->create_process(shell("sleep 120", false))->pid();
      [[maybe_unused]] const ssize_t written = ::write(report[1], &spawned, sizeof(spawned));
      char byte = 0;
      [[maybe_unused]] const ssize_t got = ::read(hold[0], &byte, 1);
      ::_exit(0);  // no destructors: exactly what a SIGKILLed shim leaves behind
    }
    ::close(report[1]);
    ::close(hold[0]);
    release = hold[1];
    REQUIRE(::read(report[0], &task_pid, sizeof(task_pid)) == sizeof(task_pid));
    ::close(report[0]);
  }
  void die() {
    if (release >= 0) {
      // A byte, not only the close: a later fork holds a copy of this end, so EOF would not come.
      const char byte = 'x';
      [[maybe_unused]] const ssize_t sent = ::send(release, &byte, 1, MSG_NOSIGNAL);  // the shim may be dead
      ::close(std::exchange(release, -1));
    }
    if (pid > 0) ::waitpid(std::exchange(pid, -1), nullptr, 0);
  }
  ~ForkedShim() { die(); }
};

}  // namespace

TEST_CASE("delete in one namespace leaves the same task id of another namespace alone", "[hcs][emulator]") {
  TempDir dir{"shimcore-hcs-"};
  const fs::path records = dir.path / "records";
  ForkedShim k8s(records, "k8s.io", "t1");
  ForkedShim plain(records, "default", "t1");
  k8s.die();
  plain.die();
  const auto k8s_task = static_cast<pid_t>(k8s.task_pid);
  const auto default_task = static_cast<pid_t>(plain.task_pid);
  REQUIRE(process_alive(k8s_task));
  REQUIRE(process_alive(default_task));

  const EmulatorCleanup cleanup = cleanup_emulated_systems(records, "default", {"t1"});
  CHECK(cleanup.systems == std::vector<std::string>{"t1"});
  CHECK(cleanup.killed == 1);
  CHECK(eventually([&] { return !process_alive(default_task); }));
  CHECK(process_alive(k8s_task));  // before the fix: one record for both, so one of the two tasks survived unreachable

  CHECK(cleanup_emulated_systems(records, "k8s.io", {"t1"}).killed == 1);
  CHECK(eventually([&] { return !process_alive(k8s_task); }));
}

TEST_CASE("delete leaves the record of a shim that is still alive alone", "[hcs][emulator]") {
  TempDir dir{"shimcore-hcs-"};
  const fs::path records = dir.path / "records";
  ForkedShim shim(records, "default", "t1");
  const auto task = static_cast<pid_t>(shim.task_pid);

  const EmulatorCleanup refused = cleanup_emulated_systems(records, "default", {"t1"});
  CHECK(refused.systems.empty());
  CHECK(refused.killed == 0);
  REQUIRE(refused.warnings.size() == 1);
  CHECK_THAT(refused.warnings[0], Catch::Matchers::ContainsSubstring("still alive"));
  CHECK(process_alive(task));

  // Killed but not yet reaped, as a SIGKILLed shim waits for containerd: a zombie owns nothing.
  REQUIRE(::kill(shim.pid, SIGKILL) == 0);
  REQUIRE(eventually([&] {
    std::ifstream stat("/proc/" + std::to_string(shim.pid) + "/stat");
    const std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    return text.find(") Z ") != std::string::npos;
  }));
  const EmulatorCleanup cleanup = cleanup_emulated_systems(records, "default", {"t1"});
  CHECK(cleanup.systems == std::vector<std::string>{"t1"});
  CHECK(cleanup.killed == 1);
  CHECK(eventually([&] { return !process_alive(task); }));
}

TEST_CASE("malformed emulator records are skipped with a warning, never thrown", "[hcs][emulator]") {
  const std::vector<std::string> garbage{"",
                                         "{not json",
                                         "[1,2,3]",
                                         "null",
                                         R"({"Id":5})",
                                         R"({"Id":""})",
                                         R"({"Id":"t1","Namespace":7})",
                                         R"({"Id":"t1","ShimPid":-3})",
                                         R"({"Id":"t1","ShimPid":1e300})",
                                         R"({"Id":"t1","ShimStartTime":"yesterday"})",
                                         R"({"Id":"t1","Processes":{}})",
                                         R"({"Id":"t1","Processes":[7]})",
                                         R"({"Id":"t1","Processes":[{"Pid":"12"}]})",
                                         R"({"Id":"t1","Processes":[{"Pid":99999999999}]})",
                                         R"({"Id":"t1","Processes":[{"Pid":12,"StartTime":-1}]})",
                                         std::string("{\"Id\":\"t\xff\"}"),
                                         std::string(100000, '[')};
  for (const std::string& text : garbage) {
    std::string problem;
    CHECK_NOTHROW(parse_emulator_record(text, &problem));
    CHECK_FALSE(parse_emulator_record(text).has_value());
  }

  // A good record of a dead shim among garbage files: the garbage is reported, the good one still handled.
  TempDir dir{"shimcore-hcs-"};
  const fs::path records = dir.path / "records";
  fs::create_directories(records);
  for (std::size_t i = 0; i < garbage.size(); ++i) {
    std::ofstream(records / ("garbage-" + std::to_string(i) + ".json"), std::ios::binary) << garbage[i];
  }
  const pid_t dead_shim = ::fork();
  REQUIRE(dead_shim >= 0);
  if (dead_shim == 0) ::_exit(0);
  ::waitpid(dead_shim, nullptr, 0);
  const pid_t task = ::fork();
  REQUIRE(task >= 0);
  if (task == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sleep", "sleep", "120", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::optional<std::uint64_t> start;
  REQUIRE(eventually([&] {  // the start time is the exec'd process's once /proc shows sleep
    std::ifstream comm("/proc/" + std::to_string(task) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name == "sleep";
  }));
  {
    std::ifstream stat("/proc/" + std::to_string(task) + "/stat");
    const std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    for (int index = 3; index <= 22 && (fields >> field); ++index) {
      if (index == 22) start = std::stoull(field);
    }
  }
  REQUIRE(start.has_value());
  const json good{{"Namespace", "default"},
                  {"Id", "good"},
                  {"ShimPid", dead_shim},
                  {"ShimStartTime", 1},
                  {"Processes", json::array({{{"Pid", task}, {"StartTime", *start}}})}};
  std::ofstream(records / "default+good.json") << good.dump();

  EmulatorCleanup cleanup;
  REQUIRE_NOTHROW(cleanup = cleanup_emulated_systems(records, "default"));
  CHECK(cleanup.systems == std::vector<std::string>{"good"});
  CHECK(cleanup.killed == 1);
  CHECK(cleanup.warnings.size() == garbage.size());
  int status = 0;
  REQUIRE(::waitpid(task, &status, 0) == task);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

TEST_CASE("200 create/run/close cycles leave no zombie and no descriptor behind", "[hcs][emulator]") {
  Fixture fixture;
  auto cycle = [&](int i) {
    auto system = fixture.client->create_system("cycle-" + std::to_string(i), container_document());
    system->start();
    auto process = system->create_process(shell("echo " + std::to_string(i)));
    ProcessStdio stdio = process->take_stdio();
    CHECK(read_all(stdio.std_out) == std::to_string(i) + "\n");
    CHECK(process->wait(10s)->exit_code == 0);
    if (i % 2 == 0) system->terminate();
  };
  cycle(-1);  // warm-up: first-use allocations are not leaks
  const std::size_t descriptors = open_descriptors();
  for (int i = 0; i < 200; ++i) cycle(i);
  CHECK(open_descriptors() == descriptors);
  CHECK(eventually([&] { return child_processes() == 0; }));
}

TEST_CASE("Windows command-line splitting follows CommandLineToArgvW", "[hcs][emulator]") {
  const auto emulator_test_split = [](std::string_view line) { return emulator::split_command_line(line); };
  CHECK(emulator_test_split(R"(a b  c)") == std::vector<std::string>{"a", "b", "c"});
  CHECK(emulator_test_split(R"("a b" c)") == std::vector<std::string>{"a b", "c"});
  CHECK(emulator_test_split(R"(a\\\"b)") == std::vector<std::string>{R"(a\"b)"});
  CHECK(emulator_test_split(R"("a\\" b)") == std::vector<std::string>{R"(a\)", "b"});
  CHECK(emulator_test_split(R"(C:\dir\file.exe "x""y")") == std::vector<std::string>{R"(C:\dir\file.exe)", R"(x"y)"});
  CHECK(emulator_test_split("").empty());
  // Only spaces and tabs separate (a fuzzer's find: a carriage return had split an argument EscapeArg left whole).
  CHECK(emulator_test_split("a\rb\tc\nd") == std::vector<std::string>{"a\rb", "c\nd"});
}

TEST_CASE("an exit callback that throws does not end the process; the exit still reaches waiters", "[hcs][emulator]") {
  Fixture fixture;
  auto vm = fixture.client->create_system("throws@vm", vm_document());
  vm->start();
  auto process = vm->create_process(shell("exit 3", false));
  std::promise<void> called;
  process->on_exit([&](const ProcessExit&) {
    called.set_value();
    throw std::runtime_error("a caller's bug");  // before, on the reaper thread: std::terminate
  });
  called.get_future().wait();
  const auto exit = process->wait(5s);
  REQUIRE(exit);
  CHECK(exit->exit_code == 3);
  // The system's callback too, when the system stops.
  std::promise<void> system_called;
  vm->on_exit([&](const SystemExit&) {
    system_called.set_value();
    throw std::runtime_error("another caller's bug");
  });
  vm->terminate();
  system_called.get_future().wait();
  CHECK(vm->wait(5s).has_value());
}

TEST_CASE("an exit callback may drop the last reference to its process and system", "[hcs][emulator]") {
  Fixture fixture;
  struct Held {
    std::unique_ptr<ComputeSystem> system;
    std::unique_ptr<Process> process;
  };
  auto held = std::make_shared<Held>();
  held->system = fixture.client->create_system("last@vm", vm_document());  // terminate on last close
  held->system->start();
  held->process = held->system->create_process(shell("exit 4", false));
  std::promise<std::uint32_t> done;
  held->process->on_exit([&done, held](const ProcessExit& exit) mutable {
    // On the reaper thread: the process object dies here, with the reaper still inside this callback. Before, its
    // destructor detached the reaper, which then touched the freed object (AddressSanitizer: heap-use-after-free).
    held->process.reset();
    held->system.reset();
    held.reset();
    done.set_value(exit.exit_code);
  });
  held.reset();
  auto result = done.get_future();
  REQUIRE(result.wait_for(10s) == std::future_status::ready);
  CHECK(result.get() == 4);
  CHECK(eventually([&] { return hresult_of([&] { fixture.client->open_system("last@vm"); }) != 0; }));
}
