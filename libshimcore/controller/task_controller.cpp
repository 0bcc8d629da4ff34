// Process-kind tasks: one HCS Container per task, its init process and execs, their stdio relays and exits.
#include "shimcore/controller/task_controller.h"

#include "controller/process_container.h"
#include "controller/rootfs.h"
#include "controller/task_table.h"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "shimcore/build_config.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/job_object.h"
#include "shimcore/io/stdio_relay.h"
#include "shimcore/shim/log.h"
#include "shimcore/shim/runtime.h"

namespace shimcore::controller {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A bundle's OCI config, the parts a process-kind task needs.
struct OciSpec {
  json raw;  // the whole config
  json process;
  std::string root_path;
  oci::PodMembership membership;
};

OciSpec read_spec(const std::string& id, const fs::path& bundle) {
  const fs::path path = bundle / "config.json";
  const json spec = read_bundle_config(id, bundle);
  OciSpec result;
  result.raw = spec;
  result.process = spec["process"];
  if (spec.contains("root") && !spec["root"].is_null()) {
    const json& root = spec["root"];
    if (!root.is_object() || (root.contains("path") && !root["path"].is_string())) {
      throw make_error(ErrorKind::InvalidArgument, "task {}: root.path in {} must be a string", id, path.string());
    }
    result.root_path = root.value("path", std::string());
  }
  try {
    result.membership = oci::pod_membership(spec.value("annotations", json()));
    oci::require_sandbox_names_itself(result.membership, id);
  } catch (const Error& error) {
    throw make_error(error.kind(), "task {}: {}", id, error.what());
  }
  return result;
}

// OCI Process -> HCS ProcessParameters: a Windows spec's command line (its commandLine, or its args quoted as
// hcsshim quotes them), a Linux spec's args as CommandArgs; the environment as a map.
json process_parameters(const std::string& id, const json& process, const Stdio& stdio, bool windows) {
  json parameters;
  try {
    const std::string command_line = process.value("commandLine", std::string());
    const auto args = process.value("args", std::vector<std::string>{});
    if (args.empty() && command_line.empty()) {
      throw make_error(ErrorKind::InvalidArgument, "process of {} has neither args nor commandLine", id);
    }
    if (!command_line.empty()) {
      parameters["CommandLine"] = command_line;
    } else if (windows) {
      parameters["CommandLine"] = windows_command_line(args);
    } else {
      parameters["CommandArgs"] = args;
    }
    json environment = json::object();
    for (const std::string& entry : process.value("env", std::vector<std::string>{})) {
      const auto equals = entry.find('=');
      if (equals != std::string::npos) environment[entry.substr(0, equals)] = entry.substr(equals + 1);
    }
    parameters["Environment"] = environment;
    parameters["WorkingDirectory"] = process.value("cwd", std::string("/"));
  } catch (const json::exception& error) {
    throw make_error(ErrorKind::InvalidArgument, "process of {}: {}", id, error.what());
  }
  parameters["EmulateConsole"] = stdio.terminal;
  parameters["CreateStdInPipe"] = !stdio.stdin_path.empty();
  parameters["CreateStdOutPipe"] = !stdio.stdout_path.empty();
  parameters["CreateStdErrPipe"] = !stdio.stderr_path.empty() && !stdio.terminal;
  return parameters;
}

constexpr std::string_view kHostProcessContainer = "microsoft.com/hostprocess-container";
constexpr std::string_view kDisableHostProcessContainer = "microsoft.com/disable-hostprocess-container";

// Go's strconv.ParseBool, false for what it refuses (hcsshim's ParseAnnotationsBool then keeps the default).
bool annotation_true(const json& annotations, std::string_view key) {
  if (!annotations.is_object()) return false;
  const auto it = annotations.find(std::string(key));
  if (it == annotations.end() || !it->is_string()) return false;
  static const std::set<std::string> yes{"1", "t", "T", "TRUE", "true", "True"};
  return yes.contains(it->get<std::string>());
}

// hcsshim's host-process checks (oci.IsJobContainer, the annotation conflict of ProcessAnnotations) and the refusal
// of a hypervisor-isolated one, which is the wcow shim's.
bool is_host_process_container(const std::string& id, const json& spec) {
  const json annotations = spec.value("annotations", json::object());
  const bool enabled = annotation_true(annotations, kHostProcessContainer);
  if (enabled && annotation_true(annotations, kDisableHostProcessContainer)) {
    throw make_error(ErrorKind::InvalidArgument,
                     "task {}: host process container annotations \"{}\" = \"{}\" and \"{}\" = \"{}\" conflict", id,
                     kDisableHostProcessContainer,
                     annotations[std::string(kDisableHostProcessContainer)].get<std::string>(), kHostProcessContainer,
                     annotations[std::string(kHostProcessContainer)].get<std::string>());
  }
  if (enabled && spec.contains("windows") && spec["windows"].is_object() && spec["windows"].contains("hyperv")) {
    throw make_error(ErrorKind::InvalidArgument,
                     "task {}: spec.windows.hyperv with {}=true: hypervisor-isolated host-process containers run in a "
                     "utility VM (the wcow shim)",
                     id, kHostProcessContainer);
  }
  return enabled;
}

// A job's limits from windows.resources (hcsshim's jobcontainers specToLimits), or a Linux spec's memory limit and
// CPU shares through the same Windows shape the builder reads.
hcs::JobLimits job_limits(const json& spec) {
  const json shaped = spec.contains("windows") ? spec : windows_shape_of_linux_spec(spec);
  const json resources = shaped.value("windows", json::object()).value("resources", json::object());
  hcs::JobLimits limits;
  if (!resources.is_object()) return limits;
  const json memory = resources.value("memory", json::object());
  if (memory.is_object() && memory.contains("limit") && memory["limit"].is_number_unsigned()) {
    limits.memory_bytes = memory["limit"].get<std::uint64_t>();
  }
  const json cpu = resources.value("cpu", json::object());
  if (cpu.is_object()) {
    if (cpu.contains("count") && cpu["count"].is_number_unsigned())
      limits.cpu_count = cpu["count"].get<std::uint32_t>();
    if (cpu.contains("maximum") && cpu["maximum"].is_number_unsigned()) {
      limits.cpu_maximum = cpu["maximum"].get<std::uint32_t>();
    }
    if (cpu.contains("shares") && cpu["shares"].is_number_unsigned())
      limits.cpu_weight = cpu["shares"].get<std::uint32_t>();
  }
  return limits;
}

#if !SHIMCORE_HAS_PROCESS
// Without the process kind there is no process-container builder: every such create is refused (never returns).
json no_process_kind(const std::string& id, const hcs::ContainerVolume&) {
  throw make_error(ErrorKind::Unimplemented,
                   "task {}: this shim is built without the process kind and builds no process-isolated containers",
                   id);
}
#endif

struct ProcessEntry {
  std::string exec_id;  // empty for the init process
  Stdio stdio;
  json parameters;
  ProcessState state = ProcessState::Created;
  std::unique_ptr<io::StdioRelay> relay;
  // Shared: Kill signals handles it collected under the lock after releasing it, while a concurrent Delete may drop
  // the entry; each signal keeps the handle it uses alive.
  std::shared_ptr<hcs::Process> process;
  std::uint32_t pid = 0;
  std::optional<ExitStatus> exit;
  std::vector<std::function<void(const ExitStatus&)>> waiters;
  // An exit callback is registered and has not finished: teardown waits for it, so that none runs on a controller
  // that is gone (the callback holds this entry, so dropping the handle does not cancel it).
  bool exit_pending = false;
};

struct TaskEntry {
  std::string id;
  fs::path bundle;
  oci::PodMembership membership;
  bool mounted_rootfs = false;
  bool windows_spec = false;      // processes take Windows command lines
  bool storage_attached = false;  // the HCS layer storage is ours to detach
  std::unique_ptr<hcs::ComputeSystem> system;
  // A host-process container: a job object instead of a compute system (hcsshim's jobcontainers).
  std::unique_ptr<hcs::JobObject> job;
  std::map<std::string, std::shared_ptr<ProcessEntry>> processes;  // "" = init
  // When the init exits, the container is stopped on this thread, and its execs end with it: hcsshim's waitInitExit
  // closes the task then. teardown joins it (under the table's lock it takes it) before the system handle goes.
  bool torn_down = false;
  std::jthread init_exit_stop;
};

}  // namespace

std::string_view to_string(ProcessState state) noexcept {
  switch (state) {
    case ProcessState::Created: return "created";
    case ProcessState::Running: return "running";
    case ProcessState::Stopped: return "stopped";
    case ProcessState::Deleted: return "deleted";
  }
  return "unknown";
}

class ProcessTaskController::Impl {
 public:
  Impl(hcs::Client& client, TaskEvents& events, std::string namespace_name)
      : client_(client), events_(events), namespace_name_(std::move(namespace_name)) {}

  std::uint32_t create(const CreateTaskRequest& request) {
    if (request.id.empty()) throw make_error(ErrorKind::InvalidArgument, "create: empty task id");
    {
      const std::lock_guard lock(table_.mutex());
      if (table_.tasks().contains(request.id) || creating_.contains(request.id)) {
        throw make_error(ErrorKind::AlreadyExists, "task {} already exists", request.id);
      }
      creating_.insert(request.id);  // the id is ours while the container is made, without holding the lock
    }
    bool admitted = false;
    try {
      const std::uint32_t pid = create_reserved(request, admitted);
      const std::lock_guard lock(table_.mutex());
      creating_.erase(request.id);
      return pid;
    } catch (...) {
      // Admission is undone: the pod does not count a member that never came to be.
      if (admitted) depart(request.id);
      const std::lock_guard lock(table_.mutex());
      creating_.erase(request.id);
      throw;
    }
  }

  std::uint32_t create_reserved(const CreateTaskRequest& request, bool& admitted) {
    const fs::path bundle = request.bundle;
    const OciSpec spec = read_spec(request.id, bundle);
    admit(request.id, bundle, spec.membership);
    admitted = true;
    auto task = std::make_shared<TaskEntry>();
    task->id = request.id;
    task->bundle = bundle;
    task->membership = spec.membership;
    if (is_host_process_container(request.id, spec.raw)) return create_host_process(request, spec, task);
    // The container's layers: a Windows spec's layer folders or windows-layer mount, else the Linux rootfs (mounted
    // here from containerd's mounts, or root.path) as its one writable layer.
    task->windows_spec = is_windows_container_spec(spec.raw, request.rootfs);
    ContainerLayers layers;
    fs::path root = bundle / "rootfs";
    if (task->windows_spec) {
      layers = windows_layers(request.id, spec.raw, request.rootfs);
    } else {
      if (!request.rootfs.empty()) {
        mount_rootfs(request.id, root, request.rootfs);
        task->mounted_rootfs = true;
      } else if (!spec.root_path.empty()) {
        root = fs::path(spec.root_path).is_absolute() ? fs::path(spec.root_path) : bundle / spec.root_path;
        if (!fs::path(spec.root_path).is_absolute() && !within(bundle, root)) {
          throw make_error(ErrorKind::InvalidArgument, "task {}: root.path {} leaves the bundle {}", request.id,
                           spec.root_path, bundle.string());
        }
      }
      layers.layers = {root.string()};
    }
    auto init = std::make_shared<ProcessEntry>();
    init->stdio = request.stdio;
    try {
      init->parameters = process_parameters(request.id, spec.process, request.stdio, task->windows_spec);
      const hcs::ContainerVolume volume = client_.attach_container_storage(request.id, layers.layers, layers.scratch);
      task->storage_attached = true;
      // Every task's compute system comes from the builder: the same document hcsdoc prints for this spec.
#if SHIMCORE_HAS_PROCESS
      const json document = process_container_document(
          request.id, bundle.string(), task->windows_spec ? spec.raw : windows_shape_of_linux_spec(spec.raw), volume,
          host_profile());
#else
      const json document = no_process_kind(request.id, volume);
#endif
      init->relay =
          io::StdioRelay::open({request.stdio.stdin_path, request.stdio.stdout_path, request.stdio.stderr_path,
                                request.stdio.terminal, request.id, namespace_name_});
      task->system = client_.create_system(request.id, document);
      task->system->start();
    } catch (...) {
      task->system.reset();
      if (task->storage_attached) client_.detach_container_storage(request.id);
      if (task->mounted_rootfs) ::umount2(root.c_str(), MNT_DETACH);
      throw;
    }
    task->processes.emplace("", init);
    {
      const std::lock_guard lock(table_.mutex());
      table_.tasks().emplace(request.id, task);  // the id was reserved in creating_
    }
    events_.created(request, 0);
    shim::log(shim::LogLevel::Info, "task created",
              {{"task", request.id},
               {"rootfs", task->windows_spec ? layers.scratch : root.string()},
               {"layers", std::to_string(layers.layers.size())}});
    return 0;
  }

  // A host-process container: no HCS document (hcsshim writes none), a job object with the spec's limits whose
  // processes run on the host's root; the container's root folder is named to them in CONTAINER_SANDBOX_MOUNT_POINT,
  // as hcsshim does.
  std::uint32_t create_host_process(const CreateTaskRequest& request, const OciSpec& spec,
                                    const std::shared_ptr<TaskEntry>& task) {
    fs::path root = request.bundle.empty() ? fs::path() : fs::path(request.bundle) / "rootfs";
    task->windows_spec = is_windows_container_spec(spec.raw, request.rootfs);
    if (task->windows_spec) {
      root = windows_layers(request.id, spec.raw, request.rootfs).scratch;
    } else if (!request.rootfs.empty()) {
      mount_rootfs(request.id, root, request.rootfs);
      task->mounted_rootfs = true;
    } else if (!spec.root_path.empty()) {
      root = fs::path(spec.root_path).is_absolute() ? fs::path(spec.root_path) : task->bundle / spec.root_path;
    }
    auto init = std::make_shared<ProcessEntry>();
    init->stdio = request.stdio;
    try {
      init->parameters = host_process_parameters(request.id, spec.process, request.stdio, *task, root);
      task->job = hcs::create_job_object(request.id);
      task->job->set_limits(job_limits(spec.raw));
      init->relay =
          io::StdioRelay::open({request.stdio.stdin_path, request.stdio.stdout_path, request.stdio.stderr_path,
                                request.stdio.terminal, request.id, namespace_name_});
    } catch (...) {
      task->job.reset();
      if (task->mounted_rootfs) ::umount2(root.c_str(), MNT_DETACH);
      throw;
    }
    task->processes.emplace("", init);
    {
      const std::lock_guard lock(table_.mutex());
      table_.tasks().emplace(request.id, task);
    }
    events_.created(request, 0);
    const std::vector<std::string> cgroups = task->job->locations();
    shim::log(shim::LogLevel::Info, "host-process task created",
              {{"task", request.id}, {"rootfs", root.string()}, {"job", cgroups.empty() ? "" : cgroups.front()}});
    return 0;
  }

  json host_process_parameters(const std::string& id, const json& process, const Stdio& stdio, const TaskEntry& task,
                               const fs::path& root) {
    json parameters = process_parameters(id, process, stdio, task.windows_spec);
    parameters["Environment"]["CONTAINER_SANDBOX_MOUNT_POINT"] = root.string();
    return parameters;
  }

  std::unique_ptr<hcs::Process> create_process(TaskEntry& task, const json& parameters) {
    if (!task.job) return task.system->create_process(parameters);
    json with_root = parameters;
    if (!with_root["Environment"].contains("CONTAINER_SANDBOX_MOUNT_POINT")) {
      const auto init = task.processes.find("");
      if (init != task.processes.end()) {
        with_root["Environment"]["CONTAINER_SANDBOX_MOUNT_POINT"] =
            init->second->parameters["Environment"].value("CONTAINER_SANDBOX_MOUNT_POINT", std::string());
      }
    }
    return task.job->create_process(with_root);
  }

  std::uint32_t start(const std::string& id, const std::string& exec_id) {
    const auto [task, process] = table_.find(id, exec_id);
    std::unique_lock lock(table_.mutex());
    require_state(id, exec_id, *process, {ProcessState::Created}, "start");
    auto created = create_process(*task, process->parameters);
    process->pid = created->pid();
    process->relay->attach(created->take_stdio());
    process->process = std::move(created);
    process->state = ProcessState::Running;
    const std::uint32_t pid = process->pid;
    lock.unlock();
    if (exec_id.empty()) {
      events_.started(id, pid);
    } else {
      events_.exec_started(id, exec_id, pid);
    }
    // Registered after the start event: an exit that already happened is reported now, in order.
    // Init-captures: clang before 16 cannot capture structured bindings (the fuzz preset builds with clang 14).
    {
      const std::lock_guard lock(table_.mutex());
      process->exit_pending = true;
    }
    process->process->on_exit([this, task = task, process = process, id, exec_id](const hcs::ProcessExit& exit) {
      on_process_exit(task, process, id, exec_id, exit);
      const std::lock_guard lock(table_.mutex());
      process->exit_pending = false;
      exits_done_.notify_all();
    });
    return pid;
  }

  void exec(const ExecRequest& request) {
    const auto task = table_.find_task(request.id);
    if (request.exec_id.empty())
      throw make_error(ErrorKind::InvalidArgument, "exec into {}: empty exec id", request.id);
    auto process = std::make_shared<ProcessEntry>();
    process->exec_id = request.exec_id;
    process->stdio = request.stdio;
    process->parameters = process_parameters(request.id, request.process, request.stdio, task->windows_spec);
    {
      const std::lock_guard lock(table_.mutex());
      if (task->processes.contains(request.exec_id)) {
        throw make_error(ErrorKind::AlreadyExists, "exec {} already exists in task {}", request.exec_id, request.id);
      }
      const auto& init = task->processes.at("");
      require_state(request.id, "", *init, {ProcessState::Running}, "exec into");
    }
    process->relay =
        io::StdioRelay::open({request.stdio.stdin_path, request.stdio.stdout_path, request.stdio.stderr_path,
                              request.stdio.terminal, request.id, namespace_name_});
    {
      const std::lock_guard lock(table_.mutex());
      task->processes.emplace(request.exec_id, process);
    }
    events_.exec_added(request.id, request.exec_id);
  }

  ProcessStatus state(const std::string& id, const std::string& exec_id) { return table_.status(id, exec_id); }

  void kill(const std::string& id, const std::string& exec_id, std::uint32_t signal, bool all) {
    if (signal == 0 || signal >= 65) throw make_error(ErrorKind::InvalidArgument, "invalid signal {}", signal);
    const auto [task, process] = table_.find(id, exec_id);
    std::vector<std::shared_ptr<hcs::Process>> targets;
    {
      const std::lock_guard lock(table_.mutex());
      // Finished, or finished and being deleted (containerd's CRI kills what it may have deleted already): NotFound,
      // which containerd takes as "nothing left to kill".
      if (process->state == ProcessState::Stopped || process->state == ProcessState::Deleted) {
        throw make_error(ErrorKind::NotFound, "process {}{}{} already finished", id, exec_id.empty() ? "" : "/",
                         exec_id);
      }
      require_state(id, exec_id, *process, {ProcessState::Running}, "kill");
      targets.push_back(process->process);
      if (all && exec_id.empty()) {
        for (auto& [other_id, other] : task->processes) {
          if (!other_id.empty() && other->state == ProcessState::Running) targets.push_back(other->process);
        }
        // Kill-all of a pod's sandbox task reaches every container of the pod, as hcsshim does.
        if (task->membership.role == oci::PodRole::Sandbox) {
          for (auto& [other_task_id, other_task] : table_.tasks()) {
            if (other_task == task || other_task->membership.sandbox_id != task->membership.sandbox_id) continue;
            for (auto& [other_id, other] : other_task->processes) {
              if (other->state == ProcessState::Running) targets.push_back(other->process);
            }
          }
        }
      }
    }
    // A host-process container's kill-all reaches every process of its job, children included.
    if (all && exec_id.empty() && task->job) task->job->signal_all(static_cast<int>(signal));
    for (std::size_t index = 0; index < targets.size(); ++index) {
      try {
        targets[index]->signal({{"Signal", signal}});
      } catch (const hcs::HcsError& error) {
        // The named process must take the signal; the others of a kill-all may have exited and been deleted since
        // they were collected (their system gone too).
        if (!error.already_stopped() && (index == 0 || !error.not_found())) throw;
      }
    }
  }

  ExitStatus remove(const std::string& id, const std::string& exec_id) {
    // Named, not a structured binding: the wait's lambda reads them (clang before 16 cannot capture bindings).
    const auto found = table_.find(id, exec_id);
    const auto& task = found.first;
    const auto& process = found.second;
    if (exec_id.empty()) {
      // An exited init stops its container: the execs' exits may still be on their way (bounded wait).
      std::unique_lock lock(table_.mutex());
      exits_done_.wait_for(lock, std::chrono::seconds(5), [&] {
        return process->state != ProcessState::Stopped ||
               std::none_of(task->processes.begin(), task->processes.end(), [](const auto& entry) {
                 return !entry.first.empty() && entry.second->state == ProcessState::Running;
               });
      });
    }
    ExitStatus exit;
    {
      const std::lock_guard lock(table_.mutex());
      require_state(id, exec_id, *process, {ProcessState::Created, ProcessState::Stopped}, "delete");
      if (exec_id.empty()) {
        for (const auto& [other_id, other] : task->processes) {
          if (!other_id.empty() && other->state == ProcessState::Running) {
            throw make_error(ErrorKind::FailedPrecondition, "cannot delete {}: exec {} is running", id, other_id);
          }
        }
        if (task->membership.role == oci::PodRole::Sandbox) {
          for (const auto& [other_task_id, other_task] : table_.tasks()) {
            if (other_task != task && other_task->membership.sandbox_id == task->membership.sandbox_id) {
              throw make_error(ErrorKind::FailedPrecondition,
                               "cannot delete sandbox task {}: container {} of the pod still exists", id,
                               other_task_id);
            }
          }
        }
      }
      exit = process->exit.value_or(ExitStatus{process->pid, 0, std::chrono::system_clock::now()});
      process->state = ProcessState::Deleted;
    }
    if (process->relay) process->relay->drain(std::chrono::seconds(2));
    if (exec_id.empty()) {
      teardown(*task);
      {
        const std::lock_guard lock(table_.mutex());
        table_.tasks().erase(id);
      }
      depart(id);
    } else {
      const std::lock_guard lock(table_.mutex());
      task->processes.erase(exec_id);
    }
    events_.deleted(id, exec_id, exit);
    return exit;
  }

  std::vector<std::uint32_t> pids(const std::string& id) {
    const auto task = table_.find_task(id);
    const std::lock_guard lock(table_.mutex());
    if (task->job) return task->job->pids();  // every process of the job, children included
    std::vector<std::uint32_t> result;
    for (const auto& [exec_id, process] : task->processes) {
      if (process->state == ProcessState::Running) result.push_back(process->pid);
    }
    return result;
  }

  void resize_pty(const std::string& id, const std::string& exec_id, std::uint32_t width, std::uint32_t height) {
    const auto [task, process] = table_.find(id, exec_id);
    const std::lock_guard lock(table_.mutex());
    require_state(id, exec_id, *process, {ProcessState::Running}, "resize the console of");
    process->process->resize_console(static_cast<std::uint16_t>(height), static_cast<std::uint16_t>(width));
  }

  void close_io(const std::string& id, const std::string& exec_id, bool close_stdin) {
    if (!close_stdin) return;
    const auto [task, process] = table_.find(id, exec_id);
    const std::lock_guard lock(table_.mutex());
    if (process->relay) process->relay->close_stdin();
    // With pipes the relay closing its end is the EOF, after the bytes already in flight; a console has one handle
    // for input and output, so there HCS must close the input side itself.
    if (process->stdio.terminal && process->state == ProcessState::Running) {
      try {
        process->process->close_stdin();
      } catch (const hcs::HcsError& error) {
        if (!error.already_stopped()) throw;
      }
    }
  }

  void update(const std::string& id, const ResourceUpdate& update) {
    if (update.empty()) throw make_error(ErrorKind::InvalidArgument, "update {}: no resources given", id);
    const auto [task, init] = table_.find(id, "");
    const std::lock_guard lock(table_.mutex());
    require_state(id, "", *init, {ProcessState::Running}, "update");
    if (task->job) {
      hcs::JobLimits limits;
      limits.memory_bytes = update.memory_limit_bytes;
      limits.cpu_count = update.processor_count;
      limits.cpu_maximum = update.processor_maximum;
      limits.cpu_weight = update.processor_weight;
      task->job->set_limits(limits);
      return;
    }
    if (update.memory_limit_bytes) {
      // HCS takes whole MiB; a limit below 1 MiB would stop the container outright.
      const std::uint64_t mib = (*update.memory_limit_bytes + (1u << 20) - 1) >> 20;
      if (mib == 0) throw make_error(ErrorKind::InvalidArgument, "update {}: memory limit 0", id);
      task->system->modify(
          {{"ResourcePath", "Container/Memory/SizeInMB"}, {"RequestType", "Update"}, {"Settings", mib}});
    }
    if (update.processor_count || update.processor_weight || update.processor_maximum) {
      if (update.processor_maximum && (*update.processor_maximum == 0 || *update.processor_maximum > 10000)) {
        throw make_error(ErrorKind::InvalidArgument, "update {}: processor maximum {} is outside 1..10000", id,
                         *update.processor_maximum);
      }
      json processor = json::object();
      if (update.processor_count) processor["Count"] = *update.processor_count;
      if (update.processor_weight) processor["Weight"] = *update.processor_weight;
      if (update.processor_maximum) processor["Maximum"] = *update.processor_maximum;
      task->system->modify(
          {{"ResourcePath", "Container/Processor"}, {"RequestType", "Update"}, {"Settings", processor}});
    }
  }

  void wait(const std::string& id, const std::string& exec_id, std::function<void(const ExitStatus&)> on_exit) {
    table_.wait(id, exec_id, std::move(on_exit));
  }

  std::size_t task_count() { return table_.count(); }

  std::vector<std::string> task_ids() { return table_.ids(); }

  std::vector<TaskSummary> summaries() { return table_.summaries(); }

  void set_admission(Admission admission, Departure departure) {
    const std::lock_guard lock(table_.mutex());
    admission_ = std::move(admission);
    departure_ = std::move(departure);
  }

  hcs::schema::Statistics statistics(const std::string& id) {
    const auto [task, init] = table_.find(id, "");
    json properties;
    {
      // Held across the query: a running init cannot be deleted (and its system torn down) meanwhile.
      const std::lock_guard lock(table_.mutex());
      require_state(id, "", *init, {ProcessState::Running}, "get the statistics of");
      if (task->job) {
        const hcs::JobStatistics job = task->job->statistics();
        hcs::schema::Statistics statistics;
        statistics.processor = hcs::schema::ProcessorStats{job.cpu_time_ns / 100, std::nullopt, std::nullopt};
        statistics.memory = hcs::schema::MemoryStats{job.memory_bytes, std::nullopt, std::nullopt};
        return statistics;
      }
      properties = task->system->properties({{"PropertyTypes", {"Statistics"}}});
    }
    if (!properties.contains("Statistics")) return {};
    return hcs::schema::parse_properties(properties.dump()).statistics.value_or(hcs::schema::Statistics{});
  }

  void shutdown() {
    std::map<std::string, std::shared_ptr<TaskEntry>> tasks;
    {
      const std::lock_guard lock(table_.mutex());
      tasks.swap(table_.tasks());
    }
    for (auto& [id, task] : tasks) teardown(*task);
  }

 private:
  // The pod rules of a shim without a served sandbox (task-only flows): a sandbox task makes this shim its pod's
  // home; a container of a pod this shim does not hold runs as a pod of its own (containerd started a shim for it).
  void admit(const std::string& id, const fs::path& bundle, const oci::PodMembership& membership) {
    Admission admission;
    {
      const std::lock_guard lock(table_.mutex());
      admission = admission_;
      if (!admission && membership.role == oci::PodRole::Sandbox) {
        for (const auto& [other_id, other] : table_.tasks()) {
          if (other->membership.role == oci::PodRole::Sandbox) {
            throw make_error(ErrorKind::AlreadyExists, "task {}: this shim already holds sandbox {}", id,
                             other->membership.sandbox_id);
          }
        }
      }
    }
    if (admission) admission(id, bundle.string(), membership);
  }

  void depart(const std::string& id) {
    Departure departure;
    {
      const std::lock_guard lock(table_.mutex());
      departure = departure_;
    }
    if (departure) departure(id);
  }

  // Whether `path` (already joined to `base`) stays inside `base` once "." and ".." are resolved lexically.
  static bool within(const fs::path& base, const fs::path& path) {
    const fs::path normal_base = base.lexically_normal();
    const fs::path relative = path.lexically_normal().lexically_relative(normal_base);
    return !relative.empty() && *relative.begin() != "..";
  }

  void on_process_exit(const std::shared_ptr<TaskEntry>& task, const std::shared_ptr<ProcessEntry>& process,
                       const std::string& id, const std::string& exec_id, const hcs::ProcessExit& hcs_exit) {
    // Output first: containerd (and ctr) expect all of it before the exit is reported.
    process->relay->drain(std::chrono::seconds(2));
    ExitStatus exit{process->pid, hcs_exit.exit_code, std::chrono::system_clock::now()};
    std::vector<std::function<void(const ExitStatus&)>> waiters;
    {
      const std::lock_guard lock(table_.mutex());
      process->exit = exit;
      process->state = ProcessState::Stopped;
      waiters.swap(process->waiters);
    }
    if (exec_id.empty()) {
      try {
        write_exit_record(task->bundle.string(), exit);
      } catch (const Error& error) {
        // The exit still reaches containerd now; only a later `delete` after a crash would report 255 instead.
        shim::log(shim::LogLevel::Error, "cannot record the task's exit", {{"task", id}, {"error", error.what()}});
      }
    }
    events_.exited(id, exec_id, exit);
    for (auto& waiter : waiters) waiter(exit);
    shim::log(shim::LogLevel::Info, "process exited",
              {{"task", id}, {"exec", exec_id}, {"status", std::to_string(exit.exit_status)}});
    if (exec_id.empty()) {
      // Not on this HCS thread: terminating a system from its own notification is not safe.
      const std::lock_guard lock(table_.mutex());
      if (!task->torn_down && task->job) {
        task->init_exit_stop = std::jthread([job = task->job.get()] { job->terminate(); });
      } else if (!task->torn_down && task->system) {
        task->init_exit_stop = std::jthread([system = task->system.get(), id] {
          try {
            system->terminate();
          } catch (const hcs::HcsError& error) {
            if (!error.already_stopped()) {
              shim::log(shim::LogLevel::Warn, "stopping the container after its init exited failed",
                        {{"task", id}, {"error", error.what()}});
            }
          }
        });
      }
    }
  }

  void teardown(TaskEntry& task) {
    std::jthread init_exit_stop;
    {
      const std::lock_guard lock(table_.mutex());
      task.torn_down = true;
      init_exit_stop = std::move(task.init_exit_stop);
    }
    if (init_exit_stop.joinable()) init_exit_stop.join();
    if (task.system || task.job) {
      try {
        if (task.job) task.job->terminate();
        if (task.system) task.system->terminate();
      } catch (const hcs::HcsError& error) {
        if (!error.already_stopped()) shim::log(shim::LogLevel::Warn, "terminate failed", {{"error", error.what()}});
      }
      {
        // The terminate ended every process: their exit callbacks finish (bounded by their 2 s output drain).
        std::unique_lock lock(table_.mutex());
        exits_done_.wait_for(lock, std::chrono::seconds(10), [&] {
          return std::none_of(task.processes.begin(), task.processes.end(),
                              [](const auto& entry) { return entry.second->exit_pending; });
        });
      }
      task.processes.clear();  // relays drain/close and process handles close before the system handle
      task.system.reset();
      task.job.reset();  // removes the job's cgroups
    }
    if (task.storage_attached) {
      client_.detach_container_storage(task.id);
      task.storage_attached = false;
    }
    if (task.mounted_rootfs) ::umount2((task.bundle / "rootfs").c_str(), MNT_DETACH);
  }

  // The host profile the builder reads, asked of HCS once.
  const hcs::HostProfile& host_profile() {
    std::call_once(host_profile_once_, [this] { host_profile_ = hcs::detect_host_profile(client_); });
    return host_profile_;
  }

  hcs::Client& client_;
  TaskEvents& events_;
  const std::string namespace_name_;
  std::once_flag host_profile_once_;
  hcs::HostProfile host_profile_;
  TaskTable<TaskEntry> table_;
  std::set<std::string> creating_;      // ids whose Create is under way
  std::condition_variable exits_done_;  // an exit callback finished (with table_.mutex()): teardown and delete wait
  Admission admission_;
  Departure departure_;
};

void write_exit_record(const std::string& bundle, const ExitStatus& exit) {
  const auto since_epoch = exit.exited_at.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  write_file_atomically(
      fs::path(bundle) / shim::kExitStatusFile,
      fmt::format("{} {} {} {}\n", exit.exit_status, exit.pid, seconds.count(),
                  std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count()));
}

void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc | std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) throw make_error(ErrorKind::Unavailable, "cannot write {}", temporary.string());
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) {
    fs::remove(temporary, error);
    throw make_error(ErrorKind::Unavailable, "cannot write {}: {}", path.string(), error.message());
  }
}

ProcessTaskController::ProcessTaskController(hcs::Client& client, TaskEvents& events, std::string namespace_name)
    : impl_(std::make_unique<Impl>(client, events, std::move(namespace_name))) {}
// Whoever forgot shutdown() (an exception unwinding serve, a test) still gets no exit callback into a dead controller.
ProcessTaskController::~ProcessTaskController() { impl_->shutdown(); }

std::uint32_t ProcessTaskController::create(const CreateTaskRequest& request) { return impl_->create(request); }
std::uint32_t ProcessTaskController::start(const std::string& id, const std::string& exec_id) {
  return impl_->start(id, exec_id);
}
void ProcessTaskController::exec(const ExecRequest& request) { impl_->exec(request); }
ProcessStatus ProcessTaskController::state(const std::string& id, const std::string& exec_id) {
  return impl_->state(id, exec_id);
}
void ProcessTaskController::kill(const std::string& id, const std::string& exec_id, std::uint32_t signal, bool all) {
  impl_->kill(id, exec_id, signal, all);
}
ExitStatus ProcessTaskController::remove(const std::string& id, const std::string& exec_id) {
  return impl_->remove(id, exec_id);
}
std::vector<std::uint32_t> ProcessTaskController::pids(const std::string& id) { return impl_->pids(id); }
void ProcessTaskController::resize_pty(const std::string& id, const std::string& exec_id, std::uint32_t width,
                                       std::uint32_t height) {
  impl_->resize_pty(id, exec_id, width, height);
}
void ProcessTaskController::close_io(const std::string& id, const std::string& exec_id, bool close_stdin) {
  impl_->close_io(id, exec_id, close_stdin);
}
void ProcessTaskController::update(const std::string& id, const ResourceUpdate& update) { impl_->update(id, update); }
void ProcessTaskController::wait(const std::string& id, const std::string& exec_id,
                                 std::function<void(const ExitStatus&)> on_exit) {
  impl_->wait(id, exec_id, std::move(on_exit));
}
std::size_t ProcessTaskController::task_count() { return impl_->task_count(); }
std::vector<std::string> ProcessTaskController::task_ids() { return impl_->task_ids(); }
std::vector<TaskController::TaskSummary> ProcessTaskController::summaries() { return impl_->summaries(); }
void ProcessTaskController::set_admission(Admission admission, Departure departure) {
  impl_->set_admission(std::move(admission), std::move(departure));
}
hcs::schema::Statistics ProcessTaskController::statistics(const std::string& id) { return impl_->statistics(id); }
TaskStatistics ProcessTaskController::task_statistics(const std::string& id) {
  TaskStatistics statistics;
  statistics.windows = impl_->statistics(id);
  return statistics;
}
void ProcessTaskController::shutdown() { impl_->shutdown(); }

}  // namespace shimcore::controller
