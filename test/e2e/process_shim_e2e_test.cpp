// containerd-shim-process-v2 driven by a real containerd 2.1 (ctr), over the HCS emulator: the proof of life.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "containerd/task/v3/shim.pb.h"
#include "e2e_util.h"
#include "private_containerd.h"
#include "run_process.h"
#include "runhcs/stats/stats.pb.h"
#include "shimcore/hcs/emulator.h"
#include "shimcore/transport/ttrpc_client.h"
#include "test_util.h"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using shimcore::testing::BackgroundProcess;
using shimcore::testing::eventually;
using shimcore::testing::PrivateContainerd;
using shimcore::testing::task_list;
namespace fs = std::filesystem;

namespace {

const std::string kShim = (fs::path(SHIMCORE_TEST_BIN_DIR) / "containerd-shim-process-v2").string();

// A private containerd whose shims keep their sockets and emulator records inside its folder.
struct E2E {
  std::string id_suffix = std::to_string(::getpid());
  PrivateContainerd containerd{{},
                               {"SHIMCORE_SOCKET_DIR=/tmp/shimcore-e2e-" + std::to_string(::getpid()) + "/s",
                                "SHIMCORE_HCS_EMULATOR_DIR=/tmp/shimcore-e2e-" + std::to_string(::getpid()) + "/hcs"}};
  fs::path rootfs = containerd.make_busybox_rootfs("rootfs");
  ~E2E() {
    std::error_code ignored;
    fs::remove_all("/tmp/shimcore-e2e-" + id_suffix, ignored);
  }
};

// A process that still runs (a zombie has finished: only its parent's wait is missing).
bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z' && text[close + 2] != 'X';
}

// Whether anything is mounted at or below `dir` (mount points as /proc/self/mountinfo lists them).
bool mounted_under(const fs::path& dir) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  const std::string prefix = dir.string();
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, mount_point;
    fields >> id >> parent >> device >> root >> mount_point;
    if (mount_point == prefix || mount_point.rfind(prefix + "/", 0) == 0) return true;
  }
  return false;
}

// The socket file of a "unix:///path" address.
std::string transport_path(const std::string& address) { return address.substr(std::string("unix://").size()); }

}  // namespace

TEST_CASE("ctr run --rm: output and exit status through containerd-shim-process-v2", "[e2e][process]") {
  E2E e2e;
  const auto run = e2e.containerd.ctr(
      {"run", "--rm", "--runtime", kShim, "--rootfs", e2e.rootfs.string(), "t1", "sh", "-c", "echo hello; exit 3"});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  CHECK(run.out == "hello\n");
  CHECK(run.exit_status == 3);
  CHECK(task_list(e2e.containerd).empty());
  // The shim exited after its last task: containerd ran `delete` and nothing of ours is left.
  CHECK(eventually([&] { return e2e.containerd.ctr({"container", "ls", "-q"}).out.empty(); }));
}

TEST_CASE("a detached task: exec, ps, kill, delete, and events in order", "[e2e][process]") {
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
  const std::string pid = tasks[0][1];
  CHECK(std::stoul(pid) > 0);

  const auto exec = e2e.containerd.ctr({"task", "exec", "--exec-id", "e1", "t2", "sh", "-c", "echo from exec; exit 4"});
  CHECK(exec.out == "from exec\n");
  CHECK(exec.exit_status == 4);

  const auto ps = e2e.containerd.ctr({"task", "ps", "t2"});
  CHECK_THAT(ps.out, ContainsSubstring(pid));

  const auto kill = e2e.containerd.ctr({"task", "kill", "-s", "SIGTERM", "t2"});
  CHECK(kill.exit_status == 0);
  REQUIRE(eventually([&] {
    tasks = task_list(e2e.containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "STOPPED";
  }));
  CHECK(e2e.containerd.ctr({"task", "delete", "t2"}).exit_status == 0);
  CHECK(task_list(e2e.containerd).empty());
  e2e.containerd.ctr({"container", "delete", "t2"});

  // ctr events: this task's /tasks/* topics in containerd's required order.
  const std::vector<std::string> topics = shimcore::testing::task_topics(events, "t2");
  CHECK(topics == std::vector<std::string>{"/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started",
                                           "/tasks/exit", "/tasks/exit", "/tasks/delete"});
}

TEST_CASE("ctr task metrics: a running task's Windows statistics", "[e2e][process]") {
  E2E e2e;
  REQUIRE(shimcore::testing::start_lone_idle_task(e2e.containerd, kShim, e2e.rootfs, "t3") == "");
  // containerd fetches the metric from our shim and hands ctr the Any untouched; the Linux build of ctr renders only
  // cgroup v1/v2 metrics (its switch has no runhcs case), so this refusal, not "not implemented", is the success.
  for (const char* format : {"table", "json"}) {
    const auto metrics = e2e.containerd.ctr({"task", "metrics", "--format", format, "t3"});
    CAPTURE(format, metrics.out, metrics.err);
    CHECK(metrics.exit_status == 1);
    CHECK(metrics.out.empty());
    CHECK(metrics.err == "ctr: cannot convert metric data to cgroups.Metrics\n");
  }
  // What that Any holds: Task.Stats on the shim's own socket (the address containerd recorded).
  shimcore::transport::TtrpcClient client(e2e.containerd.task_shim_address("t3"));
  containerd::task::v3::StatsRequest request;
  request.set_id("t3");
  const auto response = client.call<containerd::task::v3::StatsResponse>("containerd.task.v3.Task", "Stats", request,
                                                                         {std::chrono::seconds(5), {}});
  CHECK(response.stats().type_url() == "containerd.runhcs.stats.v1.Statistics");
  containerd::runhcs::stats::v1::Statistics statistics;
  REQUIRE(statistics.ParseFromString(response.stats().value()));
  REQUIRE(statistics.has_windows());
  CHECK(statistics.windows().uptime_ns() > 0);
  CHECK(statistics.windows().container_start_time().seconds() > 0);
  CHECK(statistics.windows().memory().memory_usage_commit_bytes() > 0);
  CHECK(statistics.windows().memory().memory_usage_private_working_set_bytes() > 0);
  request.set_id("t-missing");
  CHECK(client.call("containerd.task.v3.Task", "Stats", request.SerializeAsString(), {std::chrono::seconds(5), {}})
            .status.code == shimcore::StatusCode::NotFound);
  CHECK(e2e.containerd.ctr({"task", "kill", "-s", "SIGKILL", "t3"}).exit_status == 0);
  REQUIRE(eventually([&] {
    const auto tasks = task_list(e2e.containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "STOPPED";
  }));
  CHECK(e2e.containerd.ctr({"task", "delete", "t3"}).exit_status == 0);
  e2e.containerd.ctr({"container", "delete", "t3"});
}

TEST_CASE("kill -9 of the shim: containerd runs delete, which cleans up everything", "[e2e][process]") {
  E2E e2e;
  BackgroundProcess events(e2e.containerd.ctr_argv({"events"}));
  const auto run =
      e2e.containerd.ctr({"run", "-d", "--runtime", kShim, "--rootfs", e2e.rootfs.string(), "t4", "sleep", "1000"});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  REQUIRE(run.exit_status == 0);
  std::vector<std::vector<std::string>> tasks;
  REQUIRE(eventually([&] {
    tasks = task_list(e2e.containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "RUNNING";
  }));
  const auto sleep_pid = static_cast<pid_t>(std::stoul(tasks[0][1]));
  REQUIRE(process_alive(sleep_pid));
  const fs::path bundle = e2e.containerd.state_dir() / "io.containerd.runtime.v2.task" / "default" / "t4";
  // (ctr --rootfs gives a spec root.path, no rootfs mount: the shim mounts nothing here; cli_test covers the unmount.)
  const std::string address = e2e.containerd.task_shim_address("t4");
  pid_t shim_pid = 0;
  {
    shimcore::transport::TtrpcClient client(address);
    shim_pid = static_cast<pid_t>(client
                                      .call<containerd::task::v3::ConnectResponse>(
                                          "containerd.task.v3.Task", "Connect", containerd::task::v3::ConnectRequest(),
                                          {std::chrono::seconds(5), {}})
                                      .shim_pid());
  }
  REQUIRE(shim_pid > 0);

  REQUIRE(::kill(shim_pid, SIGKILL) == 0);
  // containerd sees the connection drop, runs our `delete` (cwd = bundle) and, the task being still registered,
  // publishes its exit and delete with what delete printed.
  CHECK(eventually(
      [&] {
        tasks = task_list(e2e.containerd);
        return tasks.empty() || (tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "STOPPED");
      },
      10s));
  CHECK(eventually([&] { return !process_alive(sleep_pid); }, 10s));
  // delete kills the task's processes before it removes the socket: only once containerd has logged that delete
  // returned is everything gone (checking the socket at the sleep's death failed 1 in ~3 under load).
  CHECK(eventually([&] { return e2e.containerd.log().find("cleaned up after a dead shim") != std::string::npos; }));
  CHECK_FALSE(mounted_under(bundle));
  CHECK_FALSE(fs::exists(transport_path(address)));
  const std::string log = e2e.containerd.log();
  CHECK_THAT(log, ContainsSubstring("cleaning up dead shim"));
  CHECK_THAT(log, ContainsSubstring("warnings while cleaning up dead shim"));  // our stderr, logged
  CHECK_THAT(log, ContainsSubstring("systems=t4 killed_processes=1"));

  // The exit containerd published on our behalf: 137, the SIGKILL delete gave the task.
  bool exit_seen = false;
  while (auto line = events.read_line(2s)) {
    if (line->find(" /tasks/exit ") != std::string::npos && line->find("\"t4\"") != std::string::npos) {
      CHECK_THAT(*line, ContainsSubstring("\"exit_status\":137"));
      exit_seen = true;
      break;
    }
  }
  CHECK(exit_seen);

  // Nothing is left for the user but the container record: a task delete finds nothing or a stopped task.
  const auto task_delete = e2e.containerd.ctr({"task", "delete", "t4"});
  CHECK((task_delete.exit_status == 0 || task_delete.err.find("not found") != std::string::npos));
  CHECK(e2e.containerd.ctr({"container", "delete", "t4"}).exit_status == 0);
  CHECK(e2e.containerd.ctr({"container", "ls", "-q"}).out.empty());
}

namespace {

// A Windows-shaped task as containerd on Windows sends it: layer folders (top-most first, the scratch last), a
// Windows command line and working directory, Windows resources, a mapped directory.
struct WindowsLayers {
  fs::path top;
  fs::path base;
  fs::path scratch;
  fs::path share;
};

WindowsLayers make_windows_layers(const E2E& e2e, const std::string& name) {
  const fs::path dir = e2e.containerd.dir() / ("layers-" + name);
  WindowsLayers layers{dir / "top", e2e.containerd.make_busybox_rootfs("base-" + name), dir / "scratch", dir / "share"};
  fs::create_directories(layers.top);
  fs::create_directories(layers.scratch);
  fs::create_directories(layers.share);
  std::ofstream(layers.top / "top.txt") << "from the top layer\n";
  std::ofstream(layers.share / "shared.txt") << "shared\n";
  return layers;
}

nlohmann::json windows_spec(const WindowsLayers& layers, const std::string& command_line) {
  return {{"ociVersion", "1.1.0"},
          {"process", {{"commandLine", command_line}, {"cwd", "C:\\"}, {"env", {"PATH=/bin"}}}},
          {"root", nlohmann::json::object()},
          {"hostname", "wcow-demo"},
          {"mounts",
           {{{"destination", "C:\\share"}, {"source", fs::canonical(layers.share).string()}, {"options", {"ro"}}}}},
          {"windows",
           {{"layerFolders", {layers.top.string(), layers.base.string(), layers.scratch.string()}},
            {"resources", {{"memory", {{"limit", 268435456}}}, {"cpu", {{"count", 1}}}}}}}};
}

fs::path write_spec(const E2E& e2e, const std::string& name, const nlohmann::json& spec) {
  const fs::path file = e2e.containerd.dir() / (name + ".json");
  std::ofstream(file) << spec.dump(2);
  return file;
}

}  // namespace

TEST_CASE("a Windows OCI spec (layer folders, commandLine) runs over the layers with its writes in the scratch",
          "[e2e]") {
  E2E e2e;
  const WindowsLayers layers = make_windows_layers(e2e, "w1");
  const fs::path spec = write_spec(
      e2e, "w1",
      windows_spec(
          layers,
          R"(sh -c "cat /top.txt; cat /bin/../top.txt >/dev/null; echo written >/new.txt; echo done; exit 5")"));
  const auto run = e2e.containerd.ctr({"run", "--rm", "--config", spec.string(), "--runtime", kShim, "w1"});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  CHECK(run.out == "from the top layer\ndone\n");
  CHECK(run.exit_status == 5);
  // The write went to the scratch's upper folder; the layers are unchanged.
  std::ifstream written(layers.scratch / "upper" / "new.txt");
  CHECK(std::string((std::istreambuf_iterator<char>(written)), std::istreambuf_iterator<char>()) == "written\n");
  CHECK_FALSE(fs::exists(layers.top / "new.txt"));
  CHECK_FALSE(fs::exists(layers.base / "new.txt"));
  // The overlay went with the task.
  CHECK(eventually([&] { return shimcore::testing::mounts_under("/tmp/shimcore-e2e-" + e2e.id_suffix).empty(); }));
}

TEST_CASE("the Container document the shim sent for a Windows spec is exactly hcsdoc's wcow-container document",
          "[e2e]") {
  E2E e2e;
  const WindowsLayers layers = make_windows_layers(e2e, "w2");
  const nlohmann::json spec = windows_spec(layers, "sh -c \"sleep 30\"");
  const auto run =
      e2e.containerd.ctr({"run", "-d", "--config", write_spec(e2e, "w2", spec).string(), "--runtime", kShim, "w2"});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  REQUIRE(run.exit_status == 0);
  const fs::path record = "/tmp/shimcore-e2e-" + e2e.id_suffix + "/hcs/default+w2.json";
  REQUIRE(eventually([&] { return fs::exists(record); }));
  nlohmann::json sent;
  {
    std::ifstream in(record);
    sent = nlohmann::json::parse(in).at("Document");
  }
  // hcsdoc's input: the same spec with root.path set to the volume the layers were attached as, the layers as
  // mounted (their ids are the emulator's NameToGuid of each folder's name), and the emulated host.
  nlohmann::json input_spec = spec;
  input_spec["root"]["path"] = sent["Container"]["Storage"]["Path"];
  nlohmann::json mounted = nlohmann::json::array();
  for (const fs::path& layer : {layers.top, layers.base}) {
    mounted.push_back({{"LayerID", shimcore::hcs::emulated_name_to_guid(layer.filename().string())},
                       {"MountedPath", layer.string()}});
  }
  const nlohmann::json input{
      {"spec", input_spec},
      {"id", "w2"},
      {"owner", "containerd-shim-process-v2"},
      {"bundle", (e2e.containerd.state_dir() / "io.containerd.runtime.v2.task" / "default" / "w2").string()},
      {"networkNamespace", ""},
      {"mountedLayers", mounted},
      {"host", {{"osBuild", 26100}, {"activeProcessorCount", std::thread::hardware_concurrency()}}}};
  const fs::path input_file = e2e.containerd.dir() / "w2-input.json";
  std::ofstream(input_file) << input.dump(2);
  const auto hcsdoc = shimcore::testing::run_process(
      {(fs::path(SHIMCORE_TEST_BIN_DIR).parent_path() / "tools" / "bin" / "hcsdoc").string(), "--pipeline",
       "wcow-container", "--input", input_file.string()});
  INFO("hcsdoc: " << hcsdoc.out << hcsdoc.err << "\nsent: " << sent.dump(2));
  REQUIRE(hcsdoc.exit_status == 0);
  CHECK(nlohmann::json::parse(hcsdoc.out) == sent["Container"]);
  // What the document carries, spelled out: the volume, both layers in order, the mapped directory, the limits.
  CHECK_THAT(sent["Container"]["Storage"]["Path"].get<std::string>(), StartsWith(R"(\\?\Volume{)"));
  REQUIRE(sent["Container"]["Storage"]["Layers"].size() == 2);
  CHECK(sent["Container"]["Storage"]["Layers"][0]["Path"] == layers.top.string());
  CHECK(sent["Container"]["Storage"]["Layers"][1]["Path"] == layers.base.string());
  CHECK(sent["Container"]["MappedDirectories"][0]["ContainerPath"] == "C:\\share");
  CHECK(sent["Container"]["MappedDirectories"][0]["ReadOnly"] == true);
  CHECK(sent["Container"]["Memory"]["SizeInMB"] == 256);
  CHECK(sent["Container"]["Processor"]["Count"] == 1);
  CHECK(sent["Owner"] == "containerd-shim-process-v2");
  CHECK(shimcore::testing::kill_lone_task(e2e.containerd, "w2"));
}

// ctr prints the shim's message, not its status code: test_controller checks the kinds (InvalidArgument,
// FailedPrecondition) of the same refusals.
TEST_CASE("bad Windows specs are refused naming the field: a missing layer folder, one folder, Hyper-V isolation",
          "[e2e]") {
  E2E e2e;
  const WindowsLayers layers = make_windows_layers(e2e, "w3");
  auto refusal = [&](const std::string& id, const nlohmann::json& spec) {
    const auto run =
        e2e.containerd.ctr({"run", "--rm", "--config", write_spec(e2e, id, spec).string(), "--runtime", kShim, id});
    CHECK(run.exit_status != 0);
    e2e.containerd.ctr({"container", "delete", id});
    return run.err;
  };
  nlohmann::json missing = windows_spec(layers, "sh -c exit");
  missing["windows"]["layerFolders"][1] = (layers.top.parent_path() / "no-such-layer").string();
  const std::string missing_error = refusal("w3a", missing);
  CHECK_THAT(missing_error, ContainsSubstring("spec.windows.layerFolders[1]"));

  nlohmann::json one = windows_spec(layers, "sh -c exit");
  one["windows"]["layerFolders"] = {layers.scratch.string()};
  const std::string one_error = refusal("w3b", one);
  CHECK_THAT(one_error, ContainsSubstring("must pass at least two Windows.LayerFolders"));

  nlohmann::json hyperv = windows_spec(layers, "sh -c exit");
  hyperv["windows"]["hyperv"] = nlohmann::json::object();
  const std::string hyperv_error = refusal("w3c", hyperv);
  CHECK_THAT(hyperv_error, ContainsSubstring("spec.windows.hyperv"));
  CHECK(shimcore::testing::task_list(e2e.containerd).empty());
  CHECK(eventually([&] { return e2e.containerd.shim_daemons().empty(); }));
}

namespace {

// The job's cgroup file for a controller: cgroup v2's one folder, or v1's per-controller hierarchy.
fs::path job_cgroup_file(const std::string& id, const std::string& controller, const std::string& v1_file,
                         const std::string& v2_file) {
  if (fs::exists("/sys/fs/cgroup/cgroup.controllers")) return fs::path("/sys/fs/cgroup/shimcore-jobs") / id / v2_file;
  return fs::path("/sys/fs/cgroup") / controller / "shimcore-jobs" / id / v1_file;
}

std::string first_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

TEST_CASE("a host-process task runs as a job: on the host's root, in its cgroups with the spec's limits; kill-all",
          "[e2e]") {
  E2E e2e;
  const std::string id = "hp" + e2e.id_suffix;
  const auto run =
      e2e.containerd.ctr({"run", "-d", "--annotation", "microsoft.com/hostprocess-container=true", "--memory-limit",
                          "67108864", "--cpu-shares", "512", "--runtime", kShim, "--rootfs", e2e.rootfs.string(), id,
                          "/bin/sh", "-c", "sleep 300 & sleep 301 & wait"});
  INFO("ctr: " << run.out << run.err << "\ncontainerd log:\n" << e2e.containerd.log());
  REQUIRE(run.exit_status == 0);
  const fs::path procs = job_cgroup_file(id, "pids", "cgroup.procs", "cgroup.procs");
  std::vector<std::string> pids;
  REQUIRE(eventually([&] {
    const auto ps = e2e.containerd.ctr({"task", "ps", id});
    std::istringstream lines(ps.out);
    pids.clear();
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string pid;
      if (fields >> pid) pids.push_back(pid);
    }
    return pids.size() == 3;  // sh and both sleeps: every process of the job, children included
  }));
  // Each is in the job's cgroup, runs on the host's root, and is told where the container's root is.
  std::string members;
  {
    std::ifstream in(procs);
    members.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (const std::string& pid : pids) {
    CHECK_THAT(members, ContainsSubstring(pid + "\n"));
    CHECK(fs::read_symlink("/proc/" + pid + "/root") == "/");
  }
  std::ifstream environ("/proc/" + pids.front() + "/environ");
  const std::string environment((std::istreambuf_iterator<char>(environ)), std::istreambuf_iterator<char>());
  CHECK_THAT(environment, ContainsSubstring("CONTAINER_SANDBOX_MOUNT_POINT=" + e2e.rootfs.string()));
  // The spec's limits are the job's.
  CHECK(first_line(job_cgroup_file(id, "memory", "memory.limit_in_bytes", "memory.max")) == "67108864");
  const bool v2 = fs::exists("/sys/fs/cgroup/cgroup.controllers");
  CHECK(first_line(job_cgroup_file(id, "cpu", "cpu.shares", "cpu.weight")) == (v2 ? "512" : "5242"));
  // Statistics come from the job: its cgroups' memory and CPU time (Task.Stats on the shim's socket; ctr's Linux
  // build cannot render Windows statistics).
  {
    shimcore::transport::TtrpcClient client(e2e.containerd.task_shim_address(id));
    containerd::task::v3::StatsRequest request;
    request.set_id(id);
    const auto response = client.call<containerd::task::v3::StatsResponse>("containerd.task.v3.Task", "Stats", request,
                                                                           {std::chrono::seconds(5), {}});
    containerd::runhcs::stats::v1::Statistics statistics;
    REQUIRE(statistics.ParseFromString(response.stats().value()));
    REQUIRE(statistics.has_windows());
    CHECK(statistics.windows().memory().memory_usage_commit_bytes() > 0);
    CHECK(statistics.windows().memory().memory_usage_commit_bytes() <= 67108864u);
  }
  // Kill-all reaches every process of the job; the job's cgroups go with the task.
  CHECK(e2e.containerd.ctr({"task", "kill", "-a", "-s", "SIGKILL", id}).exit_status == 0);
  CHECK(eventually([&] {
    const auto tasks = shimcore::testing::task_list(e2e.containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][2] == "STOPPED";
  }));
  for (const std::string& pid : pids) CHECK(eventually([&] { return !fs::exists("/proc/" + pid + "/root"); }));
  CHECK(e2e.containerd.ctr({"task", "delete", id}).exit_status == 0);
  CHECK(eventually([&] { return !fs::exists(procs.parent_path()); }));
  e2e.containerd.ctr({"container", "delete", id});

  // Both host-process annotations at once conflict, as in hcsshim.
  const auto conflict =
      e2e.containerd.ctr({"run", "--rm", "--annotation", "microsoft.com/hostprocess-container=true", "--annotation",
                          "microsoft.com/disable-hostprocess-container=true", "--runtime", kShim, "--rootfs",
                          e2e.rootfs.string(), id + "c", "/bin/true"});
  CHECK(conflict.exit_status != 0);
  CHECK_THAT(conflict.err, ContainsSubstring("microsoft.com/disable-hostprocess-container"));
}
