// The process shim's Sandbox and ShimDiag services over ttrpc, from a daemon started the way containerd starts it.
#include <signal.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <filesystem>
#include <fstream>

#include <future>
#include <nlohmann/json.hpp>
#include <optional>

#include "containerd/runtime/sandbox/v1/sandbox.pb.h"
#include "containerd/task/v3/shim.pb.h"
#include "run_process.h"
#include "runhcs/shimdiag/shimdiag.pb.h"
#include "runhcs/stats/stats.pb.h"
#include "shimcore/errdefs.h"
#include "shimcore/transport/ttrpc_client.h"
#include "test_util.h"

namespace fs = std::filesystem;
namespace sandbox = containerd::runtime::sandbox::v1;
namespace diag = containerd::runhcs::v1::diag;
using Catch::Matchers::ContainsSubstring;
using shimcore::StatusCode;
using shimcore::testing::eventually;
using shimcore::testing::run_process;
using shimcore::testing::TempDir;

namespace {

constexpr const char* kSandboxService = "containerd.runtime.sandbox.v1.Sandbox";
constexpr const char* kDiagService = "containerd.runhcs.v1.diag.ShimDiag";
const shimcore::transport::CallOptions kFiveSeconds{std::chrono::seconds(5), {}};

std::string shim() { return std::string(SHIMCORE_TEST_BIN_DIR) + "/containerd-shim-process-v2"; }

// CRI's runtime.v1.PodSandboxConfig with metadata {name, uid, namespace}, as protobuf wire bytes.
std::string pod_sandbox_config(const std::string& name) {
  const auto field = [](int number, const std::string& value) {
    return std::string(1, static_cast<char>(number << 3 | 2)) + static_cast<char>(value.size()) + value;
  };
  return field(1, field(1, name) + field(2, "uid-" + name) + field(3, "default")) + field(2, name + "-host");
}

// A pod shim started the way containerd starts one (`start` in the bundle), with its sockets and emulator records in
// a scratch folder; `run(action)` runs the binary again with the same flags (e.g. "delete").
struct StartedShim {
  explicit StartedShim(const std::string& prefix) : dir(prefix) {
    ::setenv("SHIMCORE_SOCKET_DIR", (dir.path / "s").c_str(), 1);
    ::setenv("SHIMCORE_HCS_EMULATOR_DIR", (dir.path / "hcs").c_str(), 1);
    ::unsetenv("TTRPC_ADDRESS");
    fs::create_directories(bundle);
    const auto started = run("start");
    REQUIRE(started.exit_status == 0);
    address = nlohmann::json::parse(started.out)["address"].get<std::string>();
    client = std::make_unique<shimcore::transport::TtrpcClient>(address);
  }
  // A test that leaves its pod running must not leave the shim (and its pause process) behind: SIGTERM ends both.
  ~StartedShim() {
    if (!client) return;
    try {
      const auto pid = client->call<diag::PidResponse>(kDiagService, "DiagPid", diag::PidRequest(), kFiveSeconds).pid();
      if (pid > 0 && ::kill(pid, SIGTERM) == 0) {
        shimcore::testing::eventually([&] { return ::kill(pid, 0) != 0; }, std::chrono::seconds(10));
      }
    } catch (const std::exception&) {  // already gone
    }
  }
  shimcore::testing::ProcessResult run(const std::string& action) const {
    std::vector<std::string> args{
        shim(),      "-namespace", "k8s.io", "-address", (dir.path / "c.sock").string(), "-publish-binary",
        "/bin/true", "-id",        "pod1"};
    if (action == "delete") args.insert(args.end(), {"-bundle", bundle.string()});
    args.push_back(action);
    return run_process(args, {}, bundle.string());
  }

  TempDir dir;
  fs::path bundle = dir.path / "pod1";
  std::string address;
  std::unique_ptr<shimcore::transport::TtrpcClient> client;
};

}  // namespace

TEST_CASE("a CRI-style pod through the Sandbox API: create, start, status, stop, wait, shutdown, delete",
          "[sandbox][api]") {
  StartedShim pod("shimcore-sbapi-");
  const TempDir& dir = pod.dir;
  const fs::path& bundle = pod.bundle;
  const std::string& address = pod.address;
  shimcore::transport::TtrpcClient& client = *pod.client;

  sandbox::CreateSandboxRequest create;
  create.set_sandbox_id("pod1");
  create.set_bundle_path(bundle.string());
  create.set_netns_path("/var/run/netns/cni-test");
  create.mutable_options()->set_type_url("runtime.v1.PodSandboxConfig");
  create.mutable_options()->set_value(pod_sandbox_config("web"));
  client.call<sandbox::CreateSandboxResponse>(kSandboxService, "CreateSandbox", create, kFiveSeconds);

  sandbox::StartSandboxRequest start;
  start.set_sandbox_id("pod1");
  const auto ready = client.call<sandbox::StartSandboxResponse>(kSandboxService, "StartSandbox", start, kFiveSeconds);
  CHECK(ready.pid() > 0);
  CHECK(ready.created_at().seconds() > 0);

  sandbox::PlatformRequest platform;
  platform.set_sandbox_id("pod1");
  const auto platform_response =
      client.call<sandbox::PlatformResponse>(kSandboxService, "Platform", platform, kFiveSeconds);
  CHECK(platform_response.platform().os() == "linux");
  CHECK(platform_response.platform().architecture() == "amd64");

  sandbox::SandboxStatusRequest status;
  status.set_sandbox_id("pod1");
  status.set_verbose(true);
  auto status_response =
      client.call<sandbox::SandboxStatusResponse>(kSandboxService, "SandboxStatus", status, kFiveSeconds);
  CHECK(status_response.state() == "SANDBOX_READY");
  CHECK(status_response.pid() == ready.pid());
  CHECK(status_response.info().at("podName") == "web");
  CHECK(status_response.info().at("podUid") == "uid-web");
  CHECK(status_response.info().at("netnsPath") == "/var/run/netns/cni-test");

  sandbox::PingRequest ping;
  ping.set_sandbox_id("pod1");
  client.call<sandbox::PingResponse>(kSandboxService, "PingSandbox", ping, kFiveSeconds);
  ping.set_sandbox_id("pod2");
  const auto wrong = client.call(kSandboxService, "PingSandbox", ping.SerializeAsString(), kFiveSeconds);
  CHECK(wrong.status.code == StatusCode::NotFound);
  CHECK_THAT(wrong.status.message, ContainsSubstring("this shim serves sandbox pod1"));
  create.mutable_options()->set_type_url("example.com/unknown.Options");
  const auto bad_options = client.call(kSandboxService, "CreateSandbox", create.SerializeAsString(), kFiveSeconds);
  CHECK(bad_options.status.code == StatusCode::InvalidArgument);
  const auto wrong_metrics = client.call(kSandboxService, "SandboxMetrics", ping.SerializeAsString(), kFiveSeconds);
  CHECK(wrong_metrics.status.code == StatusCode::NotFound);
  sandbox::SandboxMetricsRequest metrics_request;
  metrics_request.set_sandbox_id("pod1");
  const auto metrics =
      client.call<sandbox::SandboxMetricsResponse>(kSandboxService, "SandboxMetrics", metrics_request, kFiveSeconds);
  CHECK(metrics.metrics().id() == "pod1");
  CHECK(metrics.metrics().timestamp().seconds() > 0);
  REQUIRE(metrics.metrics().data().type_url() == "containerd.runhcs.stats.v1.Statistics");
  containerd::runhcs::stats::v1::Statistics pod_statistics;
  REQUIRE(pod_statistics.ParseFromString(metrics.metrics().data().value()));
  CHECK(pod_statistics.windows().uptime_ns() > 0);
  CHECK(pod_statistics.windows().memory().memory_usage_private_working_set_bytes() > 0);  // the pause process

  // ShimDiag: the shim's pid, its tasks (none), a host exec with the caller's stdout, its threads.
  const auto pid = client.call<diag::PidResponse>(kDiagService, "DiagPid", diag::PidRequest(), kFiveSeconds);
  CHECK(pid.pid() > 0);
  const auto tasks = client.call<diag::TasksResponse>(kDiagService, "DiagTasks", diag::TasksRequest(), kFiveSeconds);
  CHECK(tasks.tasks_size() == 0);
  diag::ExecProcessRequest exec;
  for (const char* arg : {"/bin/sh", "-c", "pwd; echo from-host; exit 3"}) exec.add_args(arg);
  exec.set_workdir(dir.path.string());
  exec.set_stdout((dir.path / "diag-out").string());
  std::ofstream(dir.path / "diag-out").flush();
  const auto executed = client.call<diag::ExecProcessResponse>(kDiagService, "DiagExecInHost", exec, kFiveSeconds);
  CHECK(executed.exit_code() == 3);
  std::ifstream out(dir.path / "diag-out");
  std::stringstream text;
  text << out.rdbuf();
  CHECK(text.str() == dir.path.string() + "\nfrom-host\n");
  // A FIFO for stdout that nobody reads: refused at once, not a worker stuck in open().
  const fs::path unread = dir.path / "unread-fifo";
  REQUIRE(::mkfifo(unread.c_str(), 0600) == 0);
  exec.set_stdout(unread.string());
  const auto no_reader = client.call(kDiagService, "DiagExecInHost", exec.SerializeAsString(), kFiveSeconds);
  CHECK(no_reader.status.code == StatusCode::FailedPrecondition);
  CHECK_THAT(no_reader.status.message, ContainsSubstring("no reader"));
  exec.set_stdout((dir.path / "diag-out").string());
  exec.clear_args();
  exec.add_args("/no/such/binary");
  CHECK(client.call(kDiagService, "DiagExecInHost", exec.SerializeAsString(), kFiveSeconds).status.code ==
        StatusCode::NotFound);
  const auto stacks =
      client.call<diag::StacksResponse>(kDiagService, "DiagStacks", diag::StacksRequest(), kFiveSeconds);
  CHECK_THAT(stacks.stacks(), ContainsSubstring("thread " + std::to_string(pid.pid())));

  // Task.Shutdown with no task left must not end a sandbox shim.
  client.call("containerd.task.v3.Task", "Shutdown", "", kFiveSeconds);
  CHECK(client.call<sandbox::SandboxStatusResponse>(kSandboxService, "SandboxStatus", status, kFiveSeconds).state() ==
        "SANDBOX_READY");

  // WaitSandbox blocks (no deadline, as CRI calls it) until StopSandbox.
  auto waited = std::async(std::launch::async, [&] {
    sandbox::WaitSandboxRequest wait;
    wait.set_sandbox_id("pod1");
    return client.call<sandbox::WaitSandboxResponse>(kSandboxService, "WaitSandbox", wait);
  });
  CHECK(waited.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
  sandbox::StopSandboxRequest stop;
  stop.set_sandbox_id("pod1");
  stop.set_timeout_secs(5);
  client.call<sandbox::StopSandboxResponse>(kSandboxService, "StopSandbox", stop, kFiveSeconds);
  REQUIRE(waited.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  const auto exit = waited.get();
  CHECK(exit.exited_at().seconds() > 0);
  status_response = client.call<sandbox::SandboxStatusResponse>(kSandboxService, "SandboxStatus", status, kFiveSeconds);
  CHECK(status_response.state() == "SANDBOX_NOTREADY");
  CHECK(status_response.exited_at().seconds() == exit.exited_at().seconds());
  const auto restart = client.call(kSandboxService, "StartSandbox", start.SerializeAsString(), kFiveSeconds);
  CHECK(restart.status.code == StatusCode::FailedPrecondition);
  CHECK_THAT(restart.status.message, ContainsSubstring("stopped"));

  // ShutdownSandbox answers, then the daemon exits and removes its socket.
  sandbox::ShutdownSandboxRequest shutdown;
  shutdown.set_sandbox_id("pod1");
  client.call<sandbox::ShutdownSandboxResponse>(kSandboxService, "ShutdownSandbox", shutdown, kFiveSeconds);
  CHECK(eventually([&] { return ::kill(pid.pid(), 0) != 0; }));
  CHECK_FALSE(fs::exists(address.substr(7)));

  // delete reports the pod's real exit (its pause process) rather than "unknown".
  const auto deleted = pod.run("delete");
  REQUIRE(deleted.exit_status == 0);
  containerd::task::v3::DeleteResponse response;
  REQUIRE(response.ParseFromString(deleted.out));
  CHECK(response.exit_status() == exit.exit_status());
  CHECK(response.pid() == ready.pid());
  CHECK(response.exited_at().seconds() == exit.exited_at().seconds());
}

TEST_CASE("delete after a sandbox shim was killed removes its pause and member processes", "[sandbox][api]") {
  StartedShim pod("shimcore-sbkill-");
  const TempDir& dir = pod.dir;
  const fs::path& bundle = pod.bundle;
  shimcore::transport::TtrpcClient& client = *pod.client;
  const fs::path member_bundle = dir.path / "c1";
  fs::create_directories(member_bundle);
  std::ofstream(member_bundle / "config.json") << nlohmann::json{
      {"process", {{"args", {"/bin/sleep", "1000"}}, {"cwd", "/"}}},
      {"root", {{"path", "/"}}}}.dump();
  sandbox::CreateSandboxRequest create;
  create.set_sandbox_id("pod1");
  create.set_bundle_path(bundle.string());
  client.call<sandbox::CreateSandboxResponse>(kSandboxService, "CreateSandbox", create, kFiveSeconds);
  sandbox::StartSandboxRequest start;
  start.set_sandbox_id("pod1");
  const auto pause = client.call<sandbox::StartSandboxResponse>(kSandboxService, "StartSandbox", start, kFiveSeconds);
  containerd::task::v3::CreateTaskRequest task;
  task.set_id("c1");
  task.set_bundle(member_bundle.string());
  client.call<containerd::task::v3::CreateTaskResponse>("containerd.task.v3.Task", "Create", task, kFiveSeconds);
  containerd::task::v3::StartRequest start_task;
  start_task.set_id("c1");
  const auto member =
      client.call<containerd::task::v3::StartResponse>("containerd.task.v3.Task", "Start", start_task, kFiveSeconds);
  const auto shim_pid = client.call<diag::PidResponse>(kDiagService, "DiagPid", diag::PidRequest(), kFiveSeconds).pid();
  REQUIRE(::kill(static_cast<pid_t>(pause.pid()), 0) == 0);
  REQUIRE(::kill(static_cast<pid_t>(member.pid()), 0) == 0);

  REQUIRE(::kill(shim_pid, SIGKILL) == 0);
  REQUIRE(eventually([&] { return ::kill(shim_pid, 0) != 0; }));
  const auto deleted = pod.run("delete");
  REQUIRE(deleted.exit_status == 0);
  containerd::task::v3::DeleteResponse response;
  REQUIRE(response.ParseFromString(deleted.out));
  CHECK(response.exit_status() == 137);  // the pod was still running: delete killed it, as runc's shim reports
  // Processes of a dead daemon are not our children: "gone" means no longer running (a zombie awaits its reaper).
  const auto gone = [](std::uint32_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    return line.empty() || line.find(") Z") != std::string::npos;
  };
  CHECK(eventually([&] { return gone(pause.pid()) && gone(member.pid()); }));
  CHECK(fs::is_empty(dir.path / "hcs"));
}

namespace {

// The pid a DiagExecInHost script wrote to `file`, once it has.
std::optional<pid_t> pid_in(const fs::path& file) {
  std::ifstream in(file);
  pid_t pid = 0;
  if (in >> pid && pid > 0) return pid;
  return std::nullopt;
}

bool running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  return !line.empty() && line.find(") Z") == std::string::npos;
}

diag::ExecProcessRequest sleeper(const fs::path& pid_file) {
  diag::ExecProcessRequest exec;
  for (const char* arg : {"/bin/sh", "-c"}) exec.add_args(arg);
  exec.add_args("echo $$ > " + pid_file.string() + "; exec sleep 600");
  exec.set_workdir("/");
  return exec;
}

}  // namespace

TEST_CASE("long DiagExecInHost calls do not take the workers from Task RPCs, and end when cancelled",
          "[sandbox][api]") {
  StartedShim pod("shimcore-sblong-");
  // More long calls than the server has workers (four): before, they held every worker and Connect never answered.
  constexpr int kLongCalls = 6;
  std::vector<std::future<shimcore::transport::CallResult>> calls;
  std::vector<fs::path> pid_files;
  std::vector<std::unique_ptr<shimcore::transport::TtrpcClient>> clients;
  for (int i = 0; i < kLongCalls; ++i) {
    pid_files.push_back(pod.dir.path / fmt::format("sleeper-{}.pid", i));
    clients.push_back(std::make_unique<shimcore::transport::TtrpcClient>(pod.address));
    auto* caller = clients.back().get();
    const std::string request = sleeper(pid_files.back()).SerializeAsString();
    calls.push_back(std::async(std::launch::async, [caller, request] {
      return caller->call(kDiagService, "DiagExecInHost", request, {std::chrono::seconds(60), {}});
    }));
  }
  std::vector<pid_t> sleepers;
  for (const auto& file : pid_files) {
    REQUIRE(eventually([&] { return pid_in(file).has_value(); }));
    sleepers.push_back(*pid_in(file));
  }
  // Every long call is in flight; a Task RPC is still answered.
  const auto connected = pod.client->call<containerd::task::v3::ConnectResponse>(
      "containerd.task.v3.Task", "Connect", containerd::task::v3::ConnectRequest(), kFiveSeconds);
  CHECK(connected.shim_pid() > 0);
  for (const pid_t pid : sleepers) CHECK(running(pid));

  // A caller that goes away cancels its call: the process it started is killed, not left to run for ten minutes.
  clients.front().reset();
  CHECK(calls.front().get().status.code == StatusCode::Unavailable);
  CHECK(eventually([&] { return !running(sleepers.front()); }));
  for (std::size_t i = 1; i < sleepers.size(); ++i) CHECK(running(sleepers[i]));

  // SIGTERM ends the shim with the other calls in flight, and their processes with it.
  const auto shim_pid =
      pod.client->call<diag::PidResponse>(kDiagService, "DiagPid", diag::PidRequest(), kFiveSeconds).pid();
  REQUIRE(::kill(shim_pid, SIGTERM) == 0);
  CHECK(eventually([&] { return ::kill(shim_pid, 0) != 0; }, std::chrono::seconds(20)));
  for (std::size_t i = 1; i < calls.size(); ++i) CHECK(calls[i].get().status.code == StatusCode::Unavailable);
  for (const pid_t pid : sleepers) CHECK(eventually([&] { return !running(pid); }));
}

TEST_CASE("ids and bundles that break containerd's identifier rules are InvalidArgument at the RPC edge",
          "[sandbox][api]") {
  StartedShim pod("shimcore-sbids-");
  shimcore::transport::TtrpcClient& client = *pod.client;
  sandbox::CreateSandboxRequest create;
  create.set_bundle_path(pod.bundle.string());
  for (const std::string& bad : {std::string("pod1\tpod1@pause"), std::string("pod1\n"), std::string("../pod1"),
                                 std::string(), std::string(77, 'a')}) {
    create.set_sandbox_id(bad);
    const auto refused = client.call(kSandboxService, "CreateSandbox", create.SerializeAsString(), kFiveSeconds);
    CHECK(refused.status.code == StatusCode::InvalidArgument);
    CHECK_THAT(refused.status.message, ContainsSubstring("sandbox id"));
  }
  create.set_sandbox_id("pod1");
  create.set_bundle_path("relative/bundle");
  CHECK(client.call(kSandboxService, "CreateSandbox", create.SerializeAsString(), kFiveSeconds).status.code ==
        StatusCode::InvalidArgument);
  create.set_bundle_path(pod.bundle.string());
  client.call<sandbox::CreateSandboxResponse>(kSandboxService, "CreateSandbox", create, kFiveSeconds);
  sandbox::StartSandboxRequest start;
  start.set_sandbox_id("pod1");
  client.call<sandbox::StartSandboxResponse>(kSandboxService, "StartSandbox", start, kFiveSeconds);

  containerd::task::v3::CreateTaskRequest task;
  task.set_bundle((pod.dir.path / "c1").string());
  for (const char* bad : {"c1\tpod1@pause", "c1\n/etc", "-c1", "c1..x"}) {
    task.set_id(bad);
    const auto refused = client.call("containerd.task.v3.Task", "Create", task.SerializeAsString(), kFiveSeconds);
    CHECK(refused.status.code == StatusCode::InvalidArgument);
    CHECK_THAT(refused.status.message, ContainsSubstring("task id"));
  }
  task.set_id("c1");
  task.set_bundle("c1");
  CHECK(client.call("containerd.task.v3.Task", "Create", task.SerializeAsString(), kFiveSeconds).status.code ==
        StatusCode::InvalidArgument);
  containerd::task::v3::ExecProcessRequest exec;
  exec.set_id("c1");
  exec.set_exec_id("e1\t");
  exec.mutable_spec()->set_value(R"({"args":["/bin/true"],"cwd":"/"})");
  const auto bad_exec = client.call("containerd.task.v3.Task", "Exec", exec.SerializeAsString(), kFiveSeconds);
  CHECK(bad_exec.status.code == StatusCode::InvalidArgument);
  CHECK_THAT(bad_exec.status.message, ContainsSubstring("exec id"));
  // Nothing was admitted: the members file names the pause system only.
  std::ifstream members(pod.bundle / "shimcore-members");
  CHECK(nlohmann::json::parse(members) == nlohmann::json::parse(R"([{"system":"pod1@pause","bundle":""}])"));
}
