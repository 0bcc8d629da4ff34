// Helpers shared by the ctr end-to-end tests: `ctr task ls` rows, a task's event topics, processes by command line.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "private_containerd.h"
#include "test_util.h"

namespace shimcore::testing {

// Lines of `ctr task ls` as {id, pid, status}.
inline std::vector<std::vector<std::string>> task_list(const PrivateContainerd& containerd) {
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

// The /tasks/* topics `ctr events` printed for task `id`, in order, up to its /tasks/delete (or a 2 s silence).
inline std::vector<std::string> task_topics(BackgroundProcess& events, const std::string& id) {
  std::vector<std::string> topics;
  while (auto line = events.read_line(std::chrono::seconds(2))) {
    if (line->find("\"" + id + "\"") == std::string::npos) continue;
    for (const char* topic : {"/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started",
                              "/tasks/exit", "/tasks/delete"}) {
      if (line->find(std::string(" ") + topic + " ") != std::string::npos) topics.push_back(topic);
    }
    if (!topics.empty() && topics.back() == "/tasks/delete") break;
  }
  return topics;
}

// Processes (other than this one) whose command line contains every one of `needles`.
inline std::vector<pid_t> pids_with_cmdline(std::initializer_list<std::string> needles) {
  std::vector<pid_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos || std::stoi(name) == ::getpid()) continue;
    std::ifstream in(entry.path() / "cmdline");
    const std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bool all = !cmdline.empty();
    for (const std::string& needle : needles) all = all && cmdline.find(needle) != std::string::npos;
    if (all) pids.push_back(std::stoi(name));
  }
  return pids;
}

// The parent of `pid` (from /proc/<pid>/stat), or 0 when it is gone.
inline pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string state;
  pid_t parent = 0;
  fields >> state >> parent;
  return parent;
}

// The guest agents (emulated utility VMs) whose command line names `folder`: an agent's child that has forked but
// not yet exec'd runc still shows the agent's command line, so processes whose parent is an agent do not count.
inline std::vector<pid_t> guest_agents_under(const std::string& folder) {
  const std::vector<pid_t> candidates = pids_with_cmdline({"shimcore-gcs", folder});
  std::vector<pid_t> agents;
  for (const pid_t pid : candidates) {
    if (std::find(candidates.begin(), candidates.end(), parent_of(pid)) == candidates.end()) agents.push_back(pid);
  }
  return agents;
}

// Utility VMs of an emulator whose folder is under `folder`: guest agents of process VMs, and QEMU processes (their
// virtio-serial socket lies in the emulator's folder) of real ones, whose agent runs inside the VM.
inline std::size_t utility_vms_under(const std::string& folder) {
  return guest_agents_under(folder).size() + pids_with_cmdline({"qemu-system-x86_64", folder}).size();
}

// `ctr run -d` of task `id` (`sh -c` looping on sleep) through `shim` on `rootfs`, then waits until it is the only
// task and RUNNING. Returns "" on success, else what went wrong with ctr's output and containerd's log.
inline std::string start_lone_idle_task(const PrivateContainerd& containerd, const std::string& shim,
                                        const std::filesystem::path& rootfs, const std::string& id) {
  const auto run = containerd.ctr(
      {"run", "-d", "--runtime", shim, "--rootfs", rootfs.string(), id, "sh", "-c", "while :; do sleep 0.1; done"});
  if (run.exit_status != 0) return "ctr run: " + run.out + run.err + "\ncontainerd log:\n" + containerd.log();
  const bool running = eventually([&] {
    const auto tasks = task_list(containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][0] == id && tasks[0][2] == "RUNNING";
  });
  return running ? std::string() : "task " + id + " is not running\ncontainerd log:\n" + containerd.log();
}

// The end of start_lone_idle_task's task: SIGKILL, wait until it is STOPPED, delete task and container. Returns
// whether it was seen STOPPED.
inline bool kill_lone_task(const PrivateContainerd& containerd, const std::string& id) {
  containerd.ctr({"task", "kill", "-s", "SIGKILL", id});
  const bool stopped = eventually([&] {
    const auto tasks = task_list(containerd);
    return tasks.size() == 1 && tasks[0].size() == 3 && tasks[0][0] == id && tasks[0][2] == "STOPPED";
  });
  containerd.ctr({"task", "delete", id});
  containerd.ctr({"container", "delete", id});
  return stopped;
}

}  // namespace shimcore::testing
