// Races between a call that signals or queries a handle outside the controller's lock and a teardown that drops the
// handle, made deterministic with a barrier in a wrapped HCS client; and the faults StopSandbox must report.
#include <signal.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <fstream>
#include <future>
#include <thread>

#include "gated_hcs.h"
#include "quiet_events.h"
#include "require_error.h"
#include "shimcore/controller/sandbox_controller.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/emulator.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using shimcore::ErrorKind;
using namespace shimcore::controller;
using shimcore::testing::eventually;
using shimcore::testing::Gate;
using shimcore::testing::GatedClient;
using shimcore::testing::HcsGates;
using shimcore::testing::require_error;
using shimcore::testing::TempDir;

using shimcore::testing::QuietEvents;

namespace {

// Holds the first call named `call` at the barrier: `reached` tells the test it is there, `release` lets it go on.
struct Barrier {
  explicit Barrier(std::string call) : call(std::move(call)) {}
  void operator()(const std::string& arriving) {
    if (arriving != call || taken.exchange(true)) return;
    reached.set_value();
    release.wait(std::stop_token());
  }
  std::string call;
  std::atomic<bool> taken{false};
  std::promise<void> reached;
  Gate release;
};

struct Fixture {
  Fixture() {
    shimcore::hcs::EmulatorOptions options;
    options.runtime_dir = dir.path / "records";
    client = std::make_unique<GatedClient>(shimcore::hcs::make_emulator_client(options), gates);
    tasks = std::make_unique<ProcessTaskController>(*client, events);
    sandbox = std::make_unique<PauseSandboxController>(
        *client, *tasks,
        std::vector<std::string>{std::string(SHIMCORE_TEST_BIN_DIR) + "/containerd-shim-process-v2", "pause"},
        SandboxPlatform{"linux", "amd64", ""});
    fs::create_directories(dir.path / "pod");
  }
  ~Fixture() {
    gates.before = nullptr;
    if (const auto id = sandbox->served_id()) sandbox->shutdown(*id);
    tasks->shutdown();
  }
  CreateTaskRequest task(const std::string& id) {
    const fs::path bundle = dir.path / id;
    fs::create_directories(bundle);
    std::ofstream(bundle / "config.json") << nlohmann::json{
        {"process", {{"args", {"/bin/sleep", "1000"}}, {"cwd", "/"}}},
        {"root", {{"path", "/"}}}}.dump();
    return {id, bundle.string(), {}, {}};
  }
  void start_pod() {
    sandbox->create({"pod1", (dir.path / "pod").string(), "", {}, {}});
    sandbox->start("pod1");
  }

  TempDir dir{"shimcore-races-"};
  HcsGates gates;
  QuietEvents events;
  std::unique_ptr<GatedClient> client;
  std::unique_ptr<ProcessTaskController> tasks;
  std::unique_ptr<PauseSandboxController> sandbox;
};

}  // namespace

TEST_CASE("Task.Kill keeps the process handle it signals alive while an exit and Delete drop the task",
          "[task][race]") {
  Fixture f;
  f.tasks->create(f.task("t1"));
  const std::uint32_t pid = f.tasks->start("t1", "");
  Barrier barrier("signal:t1");
  f.gates.before = std::ref(barrier);
  // Kill collects the handle under the lock and signals it after releasing the lock; it stops at the barrier there.
  auto killed = std::async(std::launch::async, [&] { f.tasks->kill("t1", "", SIGTERM, false); });
  barrier.reached.get_future().wait();
  // Meanwhile the process exits by itself and containerd deletes the task: the task's handles are dropped.
  REQUIRE(::kill(static_cast<pid_t>(pid), SIGKILL) == 0);
  REQUIRE(eventually([&] { return f.tasks->state("t1", "").state == ProcessState::Stopped; }));
  f.tasks->remove("t1", "");
  barrier.release.open();
  killed.get();  // a process that already exited took the signal as delivered: no error
  // Before, Kill held a raw pointer: the handle was destroyed while it waited here, and the signal landed on it.
  CHECK(f.gates.late().empty());
}

TEST_CASE("Task.Kill of a task being deleted is NotFound, as containerd's CRI expects of a finished task",
          "[task][race]") {
  Fixture f;
  f.tasks->create(f.task("t1"));
  const std::uint32_t pid = f.tasks->start("t1", "");
  REQUIRE(::kill(static_cast<pid_t>(pid), SIGKILL) == 0);
  REQUIRE(eventually([&] { return f.tasks->state("t1", "").state == ProcessState::Stopped; }));
  // Delete holds at the system's terminate: the task is being deleted, not yet gone.
  Barrier barrier("terminate:t1");
  f.gates.before = std::ref(barrier);
  auto removed = std::async(std::launch::async, [&] { f.tasks->remove("t1", ""); });
  barrier.reached.get_future().wait();
  // CRI's StopPodSandbox kills every container it knows; one already deleting must read as finished. Before, this
  // was FailedPrecondition "it is deleted" and StopPodSandbox failed.
  try {
    f.tasks->kill("t1", "", SIGKILL, false);
    FAIL("killed");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == shimcore::ErrorKind::NotFound);
    CHECK_THAT(error.what(), Catch::Matchers::ContainsSubstring("already finished"));
  }
  barrier.release.open();
  removed.get();
  CHECK(f.tasks->task_count() == 0);
}

TEST_CASE("an init that exits stops its container: its execs end too and the task can be deleted", "[task]") {
  Fixture f;
  f.tasks->create(f.task("t1"));
  const std::uint32_t pid = f.tasks->start("t1", "");
  f.tasks->exec({"t1", "e1", {}, {{"args", {"/bin/sleep", "1000"}}, {"cwd", "/"}}});
  f.tasks->start("t1", "e1");
  REQUIRE(f.tasks->state("t1", "e1").state == ProcessState::Running);
  REQUIRE(::kill(static_cast<pid_t>(pid), SIGKILL) == 0);
  // hcsshim's waitInitExit closes the task: the container goes, and the exec with it. Before, the exec ran on and
  // containerd's delete of the task failed with "exec e1 is running".
  CHECK(eventually([&] { return f.tasks->state("t1", "e1").state == ProcessState::Stopped; }));
  f.tasks->remove("t1", "e1");
  f.tasks->remove("t1", "");
  CHECK(f.tasks->task_count() == 0);
}

TEST_CASE("PingSandbox keeps the system handle it queries alive while ShutdownSandbox drops it", "[sandbox][race]") {
  Fixture f;
  f.start_pod();
  Barrier barrier("properties:pod1@pause");
  f.gates.before = std::ref(barrier);
  auto pinged = std::async(std::launch::async, [&] { f.sandbox->ping("pod1"); });
  barrier.reached.get_future().wait();
  f.sandbox->shutdown("pod1");  // swaps out and releases the pause system
  barrier.release.open();
  pinged.get();
  CHECK(f.gates.late().empty());
}

TEST_CASE("StopSandbox fails, and the pod stays up, when a member cannot be killed", "[sandbox]") {
  Fixture f;
  f.start_pod();
  f.tasks->create(f.task("c1"));
  const std::uint32_t member = f.tasks->start("c1", "");
  {
    const std::lock_guard lock(f.gates.mutex);
    f.gates.signal_failures["c1"] = shimcore::hcs::hresult::kAccessDenied;
  }
  // Before, the failure was logged at debug and StopSandbox answered success with c1 still running.
  require_error(ErrorKind::PermissionDenied, "killing its task c1 failed", [&] { f.sandbox->stop("pod1", 1s); });
  CHECK(f.sandbox->status("pod1", false).state == SandboxState::Running);
  CHECK(::kill(static_cast<pid_t>(member), 0) == 0);
  {
    const std::lock_guard lock(f.gates.mutex);
    f.gates.signal_failures.clear();
  }
  f.sandbox->stop("pod1", 5s);  // containerd retries StopPodSandbox: now it goes through
  CHECK(f.sandbox->status("pod1", false).state == SandboxState::Stopped);
  CHECK(eventually([&] { return f.tasks->state("c1", "").state == ProcessState::Stopped; }));
}
