// The task API a shim serves, and the process kind's tasks over an HCS client: explicit process state machines,
// stdio, exits, events.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "shimcore/hcs/client.h"
#include "shimcore/hcs/schema/properties.h"
#include "shimcore/oci/pod.h"

namespace shimcore::controller {

using TimePoint = std::chrono::system_clock::time_point;

// Created -> Running -> Stopped -> Deleted; any other move is FailedPrecondition naming the current state.
enum class ProcessState { Created, Running, Stopped, Deleted };
std::string_view to_string(ProcessState state) noexcept;

struct Mount {
  std::string type;
  std::string source;
  std::string target;
  std::vector<std::string> options;
};

struct Stdio {
  std::string stdin_path;
  std::string stdout_path;
  std::string stderr_path;
  bool terminal = false;
};

struct CreateTaskRequest {
  std::string id;
  std::string bundle;
  std::vector<Mount> rootfs;
  Stdio stdio;
};

struct ExecRequest {
  std::string id;       // the task
  std::string exec_id;  // the new process
  Stdio stdio;
  nlohmann::json process;  // OCI runtime-spec Process
};

// Resource limits for a running container (Task.Update), in HCS's terms; absent fields are left as they are.
struct ResourceUpdate {
  std::optional<std::uint64_t> memory_limit_bytes;
  std::optional<std::uint32_t> processor_count;
  std::optional<std::uint32_t> processor_weight;   // CPU shares
  std::optional<std::uint32_t> processor_maximum;  // 1..10000, hundredths of a percent of the host
  // The OCI runtime-spec LinuxResources exactly as sent, when they were LinuxResources (a Linux guest applies them
  // as they are).
  std::optional<nlohmann::json> linux_resources;
  // True when nothing maps to HCS's container limits.
  bool empty() const { return !memory_limit_bytes && !processor_count && !processor_weight && !processor_maximum; }
};

struct ProcessStatus {
  std::string id;
  std::string exec_id;
  std::string bundle;
  std::uint32_t pid = 0;
  ProcessState state = ProcessState::Created;
  Stdio stdio;
  std::uint32_t exit_status = 0;
  std::optional<TimePoint> exited_at;
};

struct ExitStatus {
  std::uint32_t pid = 0;
  std::uint32_t exit_status = 0;
  TimePoint exited_at;
};

// What the controller tells containerd, in the order containerd requires (create, start, exit, delete).
class TaskEvents {
 public:
  virtual ~TaskEvents() = default;
  virtual void created(const CreateTaskRequest& request, std::uint32_t pid) = 0;
  virtual void started(const std::string& id, std::uint32_t pid) = 0;
  virtual void exited(const std::string& id, const std::string& exec_id, const ExitStatus& exit) = 0;
  virtual void deleted(const std::string& id, const std::string& exec_id, const ExitStatus& exit) = 0;
  virtual void exec_added(const std::string& id, const std::string& exec_id) = 0;
  virtual void exec_started(const std::string& id, const std::string& exec_id, std::uint32_t pid) = 0;
};

// A task's (or sandbox's) statistics as the kind that runs it knows them: a Windows container's HCS Statistics, a
// Linux guest container's cgroup metrics (the guest's LCOWMetrics), and for a utility VM its HCS Statistics.
struct TaskStatistics {
  std::optional<hcs::schema::Statistics> windows;
  std::optional<nlohmann::json> linux_metrics;
  std::optional<hcs::schema::Statistics> vm;
};

// The task API of one shim, whatever runs its tasks (HCS containers on the host, containers in a utility VM). All
// methods are thread-safe and throw shimcore::Error with the errdefs kind (NotFound for unknown ids,
// FailedPrecondition for a wrong state, InvalidArgument for bad input, AlreadyExists for reused ids).
class TaskController {
 public:
  virtual ~TaskController() = default;

  // Creates the task's container; its init process is started by start(). Returns the pid (0 until started).
  virtual std::uint32_t create(const CreateTaskRequest& request) = 0;
  virtual std::uint32_t start(const std::string& id, const std::string& exec_id) = 0;
  virtual void exec(const ExecRequest& request) = 0;
  virtual ProcessStatus state(const std::string& id, const std::string& exec_id) = 0;
  virtual void kill(const std::string& id, const std::string& exec_id, std::uint32_t signal, bool all) = 0;
  virtual ExitStatus remove(const std::string& id, const std::string& exec_id) = 0;
  virtual std::vector<std::uint32_t> pids(const std::string& id) = 0;
  virtual void resize_pty(const std::string& id, const std::string& exec_id, std::uint32_t width,
                          std::uint32_t height) = 0;
  virtual void close_io(const std::string& id, const std::string& exec_id, bool close_stdin) = 0;
  // Applies limits to the task's container. The task must be running; an empty update is InvalidArgument.
  virtual void update(const std::string& id, const ResourceUpdate& update) = 0;
  // Calls `on_exit` once the process has exited (at once if it already has), from any thread.
  virtual void wait(const std::string& id, const std::string& exec_id,
                    std::function<void(const ExitStatus&)> on_exit) = 0;
  virtual std::size_t task_count() = 0;
  virtual std::vector<std::string> task_ids() = 0;
  // Every task and its execs (exec id, state), for diagnostics.
  struct TaskSummary {
    std::string id;
    std::vector<std::pair<std::string, ProcessState>> execs;
  };
  virtual std::vector<TaskSummary> summaries() = 0;
  // NotFound for an unknown task, FailedPrecondition naming the state unless its init process is running.
  virtual TaskStatistics task_statistics(const std::string& id) = 0;
  // Stops everything (shim shutdown): stops containers, drains stdio, unmounts.
  virtual void shutdown() = 0;
};

// The process kind's tasks: each task is an HCS container on the host.
class ProcessTaskController final : public TaskController {
 public:
  // `namespace_name` is the shim's containerd namespace (CONTAINER_NAMESPACE of binary:// loggers).
  ProcessTaskController(hcs::Client& client, TaskEvents& events, std::string namespace_name = {});
  ~ProcessTaskController() override;
  ProcessTaskController(const ProcessTaskController&) = delete;
  ProcessTaskController& operator=(const ProcessTaskController&) = delete;

  // Reads <bundle>/config.json, mounts the rootfs, creates and starts the HCS container; the init process itself is
  // started by start(). Returns the pid (0 until started).
  std::uint32_t create(const CreateTaskRequest& request) override;
  std::uint32_t start(const std::string& id, const std::string& exec_id) override;
  void exec(const ExecRequest& request) override;
  ProcessStatus state(const std::string& id, const std::string& exec_id) override;
  void kill(const std::string& id, const std::string& exec_id, std::uint32_t signal, bool all) override;
  ExitStatus remove(const std::string& id, const std::string& exec_id) override;
  std::vector<std::uint32_t> pids(const std::string& id) override;
  void resize_pty(const std::string& id, const std::string& exec_id, std::uint32_t width,
                  std::uint32_t height) override;
  void close_io(const std::string& id, const std::string& exec_id, bool close_stdin) override;
  // HCS ModifyComputeSystem on Container/Memory/SizeInMB and Container/Processor.
  void update(const std::string& id, const ResourceUpdate& update) override;
  void wait(const std::string& id, const std::string& exec_id, std::function<void(const ExitStatus&)> on_exit) override;
  std::size_t task_count() override;
  std::vector<std::string> task_ids() override;
  std::vector<TaskSummary> summaries() override;
  TaskStatistics task_statistics(const std::string& id) override;
  void shutdown() override;

  // Decides whether a task may join this shim, from its CRI pod annotations, before anything is created; throws to
  // refuse. Without one (no sandbox served), tasks are pods of their own, or members of a sandbox task created here.
  // `departure` is told of every admitted task that leaves: deleted, or its Create failed after admission.
  using Admission =
      std::function<void(const std::string& id, const std::string& bundle, const oci::PodMembership& membership)>;
  using Departure = std::function<void(const std::string& id)>;
  void set_admission(Admission admission, Departure departure = {});

  // The task container's HCS Statistics (property query "Statistics"). NotFound for an unknown task,
  // FailedPrecondition naming the state unless its init process is running.
  hcs::schema::Statistics statistics(const std::string& id);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Records a task's (or sandbox's) exit in its bundle, for `delete` after this daemon died (shim::kExitStatusFile).
// Throws Error(Unavailable) when it cannot be written.
void write_exit_record(const std::string& bundle, const ExitStatus& exit);
// Writes `content` to a temporary file beside `path` and renames it over `path`: readers see the old or the new
// content, never a part. Throws Error(Unavailable) on failure.
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

}  // namespace shimcore::controller
