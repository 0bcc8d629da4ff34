// What the task controllers keep alike: a table of tasks (each with its processes by exec id, "" = init), the
// process state rule, status, waits and summaries. Templates over the controller's own task and process records,
// which have `bundle`/`processes` and `state`/`pid`/`stdio`/`exit`/`waiters`.
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shimcore/controller/task_controller.h"
#include "shimcore/errdefs.h"

namespace shimcore::controller {

// FailedPrecondition naming the state unless `process` is in one of `allowed`.
template <class Process>
void require_state(const std::string& id, const std::string& exec_id, const Process& process,
                   std::initializer_list<ProcessState> allowed, std::string_view action) {
  for (ProcessState state : allowed) {
    if (process.state == state) return;
  }
  throw make_error(ErrorKind::FailedPrecondition, "cannot {} {}{}{}: it is {}", action, id, exec_id.empty() ? "" : "/",
                   exec_id, to_string(process.state));
}

template <class Task>
class TaskTable {
 public:
  using TaskPtr = std::shared_ptr<Task>;
  using ProcessPtr = typename decltype(Task::processes)::mapped_type;

  // Guards the table and every record's state; never held across an HCS or guest call.
  std::mutex& mutex() noexcept { return mutex_; }
  // Callers hold mutex().
  std::map<std::string, TaskPtr>& tasks() noexcept { return tasks_; }

  TaskPtr find_task(const std::string& id) {
    const std::lock_guard lock(mutex_);
    const auto it = tasks_.find(id);
    if (it == tasks_.end()) throw make_error(ErrorKind::NotFound, "task {} not found", id);
    return it->second;
  }

  std::pair<TaskPtr, ProcessPtr> find(const std::string& id, const std::string& exec_id) {
    auto task = find_task(id);
    const std::lock_guard lock(mutex_);
    const auto it = task->processes.find(exec_id);
    if (it == task->processes.end()) throw make_error(ErrorKind::NotFound, "exec {} not found in task {}", exec_id, id);
    return {task, it->second};
  }

  ProcessStatus status(const std::string& id, const std::string& exec_id) {
    const auto [task, process] = find(id, exec_id);
    const std::lock_guard lock(mutex_);
    ProcessStatus status;
    status.id = id;
    status.exec_id = exec_id;
    status.bundle = task->bundle.string();
    status.pid = process->pid;
    status.state = process->state;
    status.stdio = process->stdio;
    if (process->exit) {
      status.exit_status = process->exit->exit_status;
      status.exited_at = process->exit->exited_at;
    }
    return status;
  }

  // Calls `on_exit` at once when the process has exited, else queues it for the exit.
  void wait(const std::string& id, const std::string& exec_id, std::function<void(const ExitStatus&)> on_exit) {
    const auto [task, process] = find(id, exec_id);
    std::unique_lock lock(mutex_);
    if (process->exit) {
      const ExitStatus exit = *process->exit;
      lock.unlock();
      on_exit(exit);
      return;
    }
    process->waiters.push_back(std::move(on_exit));
  }

  std::size_t count() {
    const std::lock_guard lock(mutex_);
    return tasks_.size();
  }

  std::vector<std::string> ids() {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> ids;
    for (const auto& [id, task] : tasks_) ids.push_back(id);
    return ids;
  }

  std::vector<TaskController::TaskSummary> summaries() {
    const std::lock_guard lock(mutex_);
    std::vector<TaskController::TaskSummary> result;
    for (const auto& [id, task] : tasks_) {
      TaskController::TaskSummary summary{id, {}};
      for (const auto& [exec_id, process] : task->processes) {
        if (!exec_id.empty()) summary.execs.emplace_back(exec_id, process->state);
      }
      result.push_back(std::move(summary));
    }
    return result;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, TaskPtr> tasks_;
};

}  // namespace shimcore::controller
