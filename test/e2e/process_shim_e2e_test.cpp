// containerd-shim-process-v2 driven by a real containerd 2.1 (ctr), over the HCS emulator: the proof of life.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "private_containerd.h"
#include "test_util.h"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using shimcore::testing::BackgroundProcess;
using shimcore::testing::eventually;
using shimcore::testing::PrivateContainerd;
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

// Lines of `ctr task ls` as {id, pid, status}.
std::vector<std::vector<std::string>> task_list(const PrivateContainerd& containerd) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(containerd.ctr({"task", "ls"}).out);
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::vector<std::string> row;
    for (std::string field; fields >> field;) row.push_back(field);
    if (!row.empty()) rows.push_back(row);
  }
  return rows;
}

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
  std::vector<std::string> topics;
  while (auto line = events.read_line(2s)) {
    if (line->find("\"t2\"") == std::string::npos) continue;
    for (const char* topic : {"/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started",
                              "/tasks/exit", "/tasks/delete"}) {
      if (line->find(std::string(" ") + topic + " ") != std::string::npos) topics.push_back(topic);
    }
    if (!topics.empty() && topics.back() == "/tasks/delete") break;
  }
  CHECK(topics == std::vector<std::string>{"/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started",
                                           "/tasks/exit", "/tasks/exit", "/tasks/delete"});
}
