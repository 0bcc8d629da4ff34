// The process-kind sandbox controller over the HCS emulator: the pause container's lifecycle, member admission,
// StopSandbox's grace period and the errors containerd gets for wrong ids and states.
#include "shimcore/controller/sandbox_controller.h"

#include <signal.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <fstream>
#include <future>

#include "require_error.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/emulator.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using shimcore::ErrorKind;
using namespace shimcore::controller;
using shimcore::testing::eventually;
using shimcore::testing::require_error;
using shimcore::testing::TempDir;

namespace {

struct NoEvents final : TaskEvents {
  void created(const CreateTaskRequest&, std::uint32_t) override {}
  void started(const std::string&, std::uint32_t) override {}
  void exited(const std::string& id, const std::string&, const ExitStatus& exit) override {
    const std::lock_guard lock(mutex);
    exits[id] = exit.exit_status;
  }
  void deleted(const std::string&, const std::string&, const ExitStatus&) override {}
  void exec_added(const std::string&, const std::string&) override {}
  void exec_started(const std::string&, const std::string&, std::uint32_t) override {}
  std::optional<std::uint32_t> exit_of(const std::string& id) {
    const std::lock_guard lock(mutex);
    const auto it = exits.find(id);
    return it == exits.end() ? std::nullopt : std::optional(it->second);
  }
  std::mutex mutex;
  std::map<std::string, std::uint32_t> exits;
};

std::vector<std::string> real_pause() {
  return {std::string(SHIMCORE_TEST_BIN_DIR) + "/containerd-shim-process-v2", "pause"};
}

struct Fixture {
  explicit Fixture(std::vector<std::string> pause = real_pause()) {
    shimcore::hcs::EmulatorOptions options;
    options.runtime_dir = dir.path / "records";
    client = shimcore::hcs::make_emulator_client(options);
    tasks = std::make_unique<ProcessTaskController>(*client, events);
    sandbox = std::make_unique<PauseSandboxController>(*client, *tasks, std::move(pause),
                                                       SandboxPlatform{"linux", "amd64", ""});
    fs::create_directories(bundle);
  }
  ~Fixture() {
    if (const auto id = sandbox->served_id()) sandbox->shutdown(*id);
    tasks->shutdown();
  }
  CreateSandboxRequest request(const std::string& id = "pod1") const { return {id, bundle.string(), "", {}, {}}; }

  // A task bundle whose spec runs `args` on the host root, with the given annotations.
  std::string task_bundle(const std::string& id, const std::vector<std::string>& args,
                          const nlohmann::json& annotations) {
    const fs::path path = dir.path / id;
    fs::create_directories(path);
    nlohmann::json spec{{"process", {{"args", args}, {"cwd", "/"}}}, {"root", {{"path", "/"}}}};
    if (!annotations.is_null()) spec["annotations"] = annotations;
    std::ofstream(path / "config.json") << spec.dump();
    return path.string();
  }
  CreateTaskRequest task(const std::string& id, const nlohmann::json& annotations,
                         std::vector<std::string> args = {"/bin/sleep", "1000"}) {
    return {id, task_bundle(id, args, annotations), {}, {}};
  }

  TempDir dir{"shimcore-sandbox-"};
  fs::path bundle = dir.path / "bundle";
  NoEvents events;
  std::unique_ptr<shimcore::hcs::Client> client;
  std::unique_ptr<ProcessTaskController> tasks;
  std::unique_ptr<PauseSandboxController> sandbox;
};

bool process_exists(std::uint32_t pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0; }

// Whether SIGTERM is blocked or ignored by `pid` (from /proc/<pid>/status SigBlk/SigIgn): a process that is still
// starting up dies of it instead, so the tests wait for this before they stop a pod.
bool holds_sigterm(std::uint32_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("SigBlk:", 0) == 0 || line.rfind("SigIgn:", 0) == 0) {
      if ((std::stoull(line.substr(7), nullptr, 16) >> (SIGTERM - 1)) & 1) return true;
    }
  }
  return false;
}

// The members file `delete` reads back, as JSON.
nlohmann::json read_members(const fs::path& bundle) {
  std::ifstream in(bundle / kSandboxMembersFile);
  return nlohmann::json::parse(in);
}

std::future<ExitStatus> wait_future(SandboxController& sandbox, const std::string& id) {
  auto promise = std::make_shared<std::promise<ExitStatus>>();
  sandbox.wait(id, [promise](const ExitStatus& exit) { promise->set_value(exit); });
  return promise->get_future();
}

}  // namespace

TEST_CASE("a sandbox runs its pause process from StartSandbox until StopSandbox", "[sandbox]") {
  Fixture f;
  CHECK_FALSE(f.sandbox->serving());
  f.sandbox->create(f.request());
  CHECK(f.sandbox->serving());
  SandboxStatus status = f.sandbox->status("pod1", false);
  CHECK(status.state == SandboxState::Created);
  CHECK(status.pid == 0);
  CHECK(status.info.empty());

  const auto [pid, created_at] = f.sandbox->start("pod1");
  REQUIRE(pid > 0);
  REQUIRE(eventually([&] { return holds_sigterm(pid); }));
  CHECK(process_exists(pid));
  CHECK(f.sandbox->start("pod1").first == pid);  // idempotent while running
  status = f.sandbox->status("pod1", true);
  CHECK(status.state == SandboxState::Running);
  CHECK(status.pid == pid);
  CHECK(status.created_at == created_at);
  CHECK(status.info.at("state") == "running");
  CHECK(status.info.at("pauseSystem") == "pod1@pause");
  CHECK(f.sandbox->platform("pod1").os == "linux");
  f.sandbox->ping("pod1");

  auto waited = wait_future(*f.sandbox, "pod1");
  CHECK(waited.wait_for(100ms) == std::future_status::timeout);  // WaitSandbox blocks while the pod runs
  f.sandbox->stop("pod1", 5s);
  REQUIRE(waited.wait_for(5s) == std::future_status::ready);
  const ExitStatus exit = waited.get();
  CHECK(exit.exit_status == 0);  // the pause process stopped as asked
  CHECK(exit.pid == pid);
  CHECK(eventually([&] { return !process_exists(pid); }));
  status = f.sandbox->status("pod1", false);
  CHECK(status.state == SandboxState::Stopped);
  CHECK(status.exited_at == exit.exited_at);
  f.sandbox->stop("pod1", 5s);  // StopSandbox again is fine

  // The exit is recorded for `delete`, and the members file names the pause system.
  std::ifstream record(f.bundle / "shimcore-exit-status");
  std::uint32_t recorded = 99;
  record >> recorded;
  CHECK(recorded == 0);
  CHECK(read_members(f.bundle) == nlohmann::json::parse(R"([{"system":"pod1@pause","bundle":""}])"));

  f.sandbox->shutdown("pod1");
  CHECK_FALSE(f.sandbox->serving());
  require_error(ErrorKind::FailedPrecondition, "shut down", [&] { f.sandbox->start("pod1"); });
}

TEST_CASE("StopSandbox terminates a pause process that ignores SIGTERM once the grace period ends", "[sandbox]") {
  Fixture f({"/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"});
  f.sandbox->create(f.request());
  const std::uint32_t pid = f.sandbox->start("pod1").first;
  REQUIRE(eventually([&] { return holds_sigterm(pid); }));
  auto waited = wait_future(*f.sandbox, "pod1");
  const auto begun = std::chrono::steady_clock::now();
  f.sandbox->stop("pod1", 300ms);
  const auto took = std::chrono::steady_clock::now() - begun;
  REQUIRE(waited.wait_for(5s) == std::future_status::ready);
  CHECK(waited.get().exit_status != 0);  // terminated, not a clean exit
  CHECK(took >= 300ms);                  // the grace period was given (a bound on behaviour, not a speed target)
  CHECK(eventually([&] { return !process_exists(pid); }));
}

TEST_CASE("sandbox RPCs for another id, a second CreateSandbox and wrong states are refused by kind", "[sandbox]") {
  Fixture f;
  require_error(ErrorKind::NotFound, "sandbox pod1 not found", [&] { f.sandbox->start("pod1"); });
  require_error(ErrorKind::NotFound, "pod1", [&] { f.sandbox->status("pod1", false); });
  f.sandbox->shutdown("pod1");  // after a failed CreateSandbox containerd still shuts the shim down: no error
  f.sandbox->create(f.request());
  require_error(ErrorKind::NotFound, "this shim serves sandbox pod1", [&] { f.sandbox->start("pod2"); });
  require_error(ErrorKind::NotFound, "pod9", [&] { f.sandbox->stop("pod9", 1s); });
  require_error(ErrorKind::NotFound, "pod9", [&] { f.sandbox->ping("pod9"); });
  require_error(ErrorKind::AlreadyExists, "already serves sandbox pod1", [&] { f.sandbox->create(f.request("pod2")); });
  require_error(ErrorKind::NotFound, "pod2", [&] { f.sandbox->shutdown("pod2"); });
  // A member cannot join before the pod runs.
  require_error(ErrorKind::FailedPrecondition, "it is created", [&] { f.tasks->create(f.task("c0", nullptr)); });
  f.sandbox->start("pod1");
  f.sandbox->stop("pod1", 5s);
  require_error(ErrorKind::FailedPrecondition, "it is stopped", [&] { f.sandbox->start("pod1"); });
}

TEST_CASE("a bundle config.json that is not an OCI spec is InvalidArgument; the shim stays usable", "[sandbox]") {
  Fixture f;
  std::ofstream(f.bundle / "config.json") << "{not json";
  require_error(ErrorKind::InvalidArgument, "config.json", [&] { f.sandbox->create(f.request()); });
  CHECK_FALSE(f.sandbox->serving());
  std::ofstream(f.bundle / "config.json", std::ios::trunc) << R"({"annotations":{"a":1}})";
  require_error(ErrorKind::InvalidArgument, "annotation a", [&] { f.sandbox->create(f.request()); });
  std::ofstream(f.bundle / "config.json", std::ios::trunc) << R"({"annotations":{"a":"b"}})";
  f.sandbox->create(f.request());
  CHECK(f.sandbox->serving());
}

TEST_CASE("tasks join the served pod by its CRI annotations; stopping the pod stops its members", "[sandbox]") {
  Fixture f;
  f.sandbox->create(f.request());
  f.sandbox->start("pod1");
  const nlohmann::json member{{"io.kubernetes.cri.container-type", "container"},
                              {"io.kubernetes.cri.sandbox-id", "pod1"}};
  f.tasks->create(f.task("c1", member));
  const std::uint32_t c1 = f.tasks->start("c1", "");
  f.tasks->create(f.task("c2", nullptr));  // no CRI annotations (ctr run --sandbox): a member too
  const std::uint32_t c2 = f.tasks->start("c2", "");
  CHECK(f.sandbox->status("pod1", true).info.at("tasks") == "c1,c2");

  const nlohmann::json stranger{{"io.kubernetes.cri.container-type", "container"},
                                {"io.kubernetes.cri.sandbox-id", "pod7"}};
  require_error(ErrorKind::NotFound, "sandbox pod7 not found", [&] { f.tasks->create(f.task("c3", stranger)); });
  const nlohmann::json second_pod{{"io.kubernetes.cri.container-type", "sandbox"},
                                  {"io.kubernetes.cri.sandbox-id", "p8"}};
  require_error(ErrorKind::AlreadyExists, "serves sandbox pod1", [&] { f.tasks->create(f.task("p8", second_pod)); });
  // A sandbox task that names another pod than itself (hcsshim V1's check; spec hazard I.6).
  require_error(ErrorKind::FailedPrecondition, "expected annotation 'io.kubernetes.cri.sandbox-id': 'p9' got 'p8'",
                [&] { f.tasks->create(f.task("p9", second_pod)); });
  const nlohmann::json odd{{"io.kubernetes.cri.container-type", "podlet"}, {"io.kubernetes.cri.sandbox-id", "pod1"}};
  require_error(ErrorKind::InvalidArgument, "unknown container type \"podlet\"",
                [&] { f.tasks->create(f.task("c4", odd)); });
  CHECK(f.tasks->task_count() == 2);

  f.sandbox->stop("pod1", 5s);
  CHECK(eventually([&] { return f.events.exit_of("c1") && f.events.exit_of("c2"); }));
  CHECK(f.events.exit_of("c1") == 137u);  // killed with the pod
  CHECK(eventually([&] { return !process_exists(c1) && !process_exists(c2); }));
  const nlohmann::json expected{{{"system", "pod1@pause"}, {"bundle", ""}},
                                {{"system", "c1"}, {"bundle", (f.dir.path / "c1").string()}},
                                {{"system", "c2"}, {"bundle", (f.dir.path / "c2").string()}}};
  CHECK(read_members(f.bundle) == expected);
  // A deleted member leaves the pod and the file: `delete` must not act on a system that is gone or reused.
  f.tasks->remove("c1", "");
  CHECK(f.sandbox->status("pod1", true).info.at("tasks") == "c2");
  CHECK(read_members(f.bundle) == nlohmann::json{expected[0], expected[2]});
}

TEST_CASE("the members file keeps any bundle path whole; a member whose Create fails leaves the pod", "[sandbox]") {
  Fixture f;
  f.sandbox->create(f.request());
  f.sandbox->start("pod1");
  // The controller gets a bundle with a tab and a newline (the RPC edge refuses those; the file must not depend on
  // it): the old tab-separated lines would have split it into targets of their own.
  CreateTaskRequest odd = f.task("c1\tpod1@pause\nx", nullptr);
  odd.id = "c1";
  f.tasks->create(odd);
  const nlohmann::json members = read_members(f.bundle);
  REQUIRE(members.size() == 2);
  CHECK(members[1] == nlohmann::json{{"system", "c1"}, {"bundle", odd.bundle}});

  // Admitted, then refused (root.path leaves the bundle): neither the pod nor the file counts it, and the id is free.
  const std::string escaping = f.task_bundle("c2", {"/bin/sleep", "1000"}, nullptr);
  std::ofstream(fs::path(escaping) / "config.json", std::ios::trunc)
      << R"({"process":{"args":["/bin/true"],"cwd":"/"},"root":{"path":"../../.."}})";
  require_error(ErrorKind::InvalidArgument, "leaves the bundle", [&] { f.tasks->create({"c2", escaping, {}, {}}); });
  CHECK(f.sandbox->status("pod1", true).info.at("tasks") == "c1");
  CHECK(read_members(f.bundle).size() == 2);
  std::ofstream(fs::path(escaping) / "config.json", std::ios::trunc)
      << R"({"process":{"args":["/bin/true"],"cwd":"/"},"root":{"path":7}})";
  require_error(ErrorKind::InvalidArgument, "root.path", [&] { f.tasks->create({"c2", escaping, {}, {}}); });
  std::ofstream(fs::path(escaping) / "config.json", std::ios::trunc)
      << R"({"process":{"args":["/bin/true"],"cwd":"/"},"root":{"path":"rootfs/../rootfs"}})";
  fs::create_directories(fs::path(escaping) / "rootfs");
  f.tasks->create({"c2", escaping, {}, {}});
  CHECK(f.sandbox->status("pod1", true).info.at("tasks") == "c1,c2");
}

TEST_CASE("without a served sandbox, a sandbox task holds its pod and goes last", "[sandbox]") {
  Fixture f;
  const nlohmann::json pause{{"io.kubernetes.cri.container-type", "sandbox"}, {"io.kubernetes.cri.sandbox-id", "p"}};
  const nlohmann::json member{{"io.kubernetes.cri.container-type", "container"}, {"io.kubernetes.cri.sandbox-id", "p"}};
  f.tasks->create(f.task("p", pause));
  f.tasks->start("p", "");
  f.tasks->create(f.task("m", member));
  f.tasks->start("m", "");
  const nlohmann::json other_pause{{"io.kubernetes.cri.container-type", "sandbox"},
                                   {"io.kubernetes.cri.sandbox-id", "q"}};
  require_error(ErrorKind::AlreadyExists, "already holds sandbox p",
                [&] { f.tasks->create(f.task("q", other_pause)); });
  f.tasks->kill("p", "", 9, true);  // kill-all of the sandbox task reaches the pod's containers
  CHECK(eventually([&] { return f.events.exit_of("p") && f.events.exit_of("m"); }));
  require_error(ErrorKind::FailedPrecondition, "container m of the pod still exists",
                [&] { f.tasks->remove("p", ""); });
  f.tasks->remove("m", "");
  f.tasks->remove("p", "");
  CHECK(f.tasks->task_count() == 0);
}

TEST_CASE("delete's reader of the members file takes what is well formed and never throws", "[sandbox]") {
  TempDir dir{"shimcore-members-"};
  const fs::path file = dir.path / kSandboxMembersFile;
  bool malformed = true;
  CHECK(read_sandbox_members(dir.path.string(), &malformed).empty());  // no file: no members
  CHECK_FALSE(malformed);
  std::ofstream(file) << R"([{"system":"pod1@pause","bundle":""},{"system":"c1","bundle":"/b/c\t1\nx"}])";
  auto members = read_sandbox_members(dir.path.string(), &malformed);
  REQUIRE(members.size() == 2);
  CHECK(members[1].system == "c1");
  CHECK(members[1].bundle == "/b/c\t1\nx");
  CHECK_FALSE(malformed);
  for (const char* bad : {"pod1@pause\t\n", "{}", "[1,null,{\"system\":7,\"bundle\":\"\"}]",
                          "[{\"system\":\"\",\"bundle\":\"\"}]", "[{\"system\":\"c1\"}]", "\xff\xfe"}) {
    std::ofstream(file, std::ios::trunc) << bad;
    CHECK(read_sandbox_members(dir.path.string(), &malformed).empty());
    CHECK(malformed);
  }
  std::ofstream(file, std::ios::trunc) << R"([{"system":"c1","bundle":"/b"},"junk"])";
  members = read_sandbox_members(dir.path.string(), &malformed);
  REQUIRE(members.size() == 1);
  CHECK(members[0].system == "c1");
  CHECK(malformed);
}

namespace {

// The cgroup lines of a process (/proc/<pid>/cgroup).
std::string cgroups_of(std::uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("a host-process pod: its pause and members are job containers; the two kinds never mix in one pod") {
  Fixture fixture;
  const nlohmann::json hpc{{"microsoft.com/hostprocess-container", "true"},
                           {"io.kubernetes.cri.container-type", "container"},
                           {"io.kubernetes.cri.sandbox-id", "hpod"}};
  CreateSandboxRequest request = fixture.request("hpod");
  request.annotations = {{"microsoft.com/hostprocess-container", "true"}};
  fixture.sandbox->create(request);
  const auto [pause_pid, started] = fixture.sandbox->start("hpod");
  // The pause runs in the job's cgroups, on the host's root.
  CHECK_THAT(cgroups_of(pause_pid), ContainsSubstring("shimcore-jobs/hpod@pause"));
  CHECK(fs::read_symlink("/proc/" + std::to_string(pause_pid) + "/root") == "/");

  // A host-process member is admitted and runs in its own job.
  fixture.tasks->create(fixture.task("hpc1", hpc));
  const std::uint32_t member = fixture.tasks->start("hpc1", "");
  CHECK_THAT(cgroups_of(member), ContainsSubstring("shimcore-jobs/hpc1"));
  CHECK(fixture.tasks->pids("hpc1") == std::vector<std::uint32_t>{member});

  // A normal container in a host-process pod: hcsshim's refusal.
  nlohmann::json normal = hpc;
  normal.erase("microsoft.com/hostprocess-container");
  require_error(ErrorKind::FailedPrecondition, "cannot create a normal process isolated container if the pod sandbox",
                [&] { fixture.tasks->create(fixture.task("plain", normal)); });
  fixture.tasks->kill("hpc1", "", SIGKILL, true);
  REQUIRE(eventually([&] { return fixture.events.exit_of("hpc1").has_value(); }));
  fixture.tasks->remove("hpc1", "");
}

TEST_CASE("a host-process container in a pod whose sandbox is not host-process is refused") {
  Fixture fixture;
  fixture.sandbox->create(fixture.request("npod"));
  fixture.sandbox->start("npod");
  const nlohmann::json hpc{{"microsoft.com/hostprocess-container", "true"},
                           {"io.kubernetes.cri.container-type", "container"},
                           {"io.kubernetes.cri.sandbox-id", "npod"}};
  require_error(ErrorKind::FailedPrecondition, "whose sandbox is not a host-process container",
                [&] { fixture.tasks->create(fixture.task("hpc2", hpc)); });
  CHECK(fixture.tasks->task_count() == 0);
}
