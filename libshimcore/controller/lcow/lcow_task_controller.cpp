// LCOW tasks: containers in the utility VM's guest (runc), their rootfs and bind mounts shared over Plan9 and
// combined there, init and exec processes over the bridge with containerd's stdio relayed to the stdio ports.
#include "shimcore/controller/lcow_task_controller.h"

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "controller/rootfs.h"
#include "controller/task_table.h"
#include "shimcore/builder/lcow.h"
#include "shimcore/errdefs.h"
#include "shimcore/gcs/bridge.h"
#include "shimcore/io/stdio_relay.h"
#include "shimcore/oci/pod.h"
#include "shimcore/shim/log.h"

namespace shimcore::controller {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// An exit code the guest could not give (the bridge or the VM went away first): hcsshim's default before exit.
constexpr std::uint32_t kUnknownExitCode = 255;
// hcsshim's CopyAfterExitTimeout is 1 s; containerd readers get a little longer to take the last output.
constexpr std::chrono::seconds kDrainBound{2};

struct LcowProcess {
  std::string exec_id;  // empty for the init process
  Stdio stdio;
  std::optional<json> oci_process;  // execs only
  ProcessState state = ProcessState::Created;
  std::unique_ptr<io::StdioRelay> relay;
  std::shared_ptr<gcs::GuestProcess> guest;
  std::uint32_t pid = 0;
  std::optional<ExitStatus> exit;
  std::vector<std::function<void(const ExitStatus&)>> waiters;
  std::jthread waiter;  // last: joined before the rest goes
};

struct LcowTask {
  std::string id;
  fs::path bundle;
  oci::PodMembership membership;
  std::string pod_id;
  std::string guest_bundle;
  fs::path host_rootfs;  // the topmost rootfs layer on the host
  bool layers_combined = false;
  bool container_created = false;
  std::vector<std::string> shares;                                // guest paths of its Plan9 shares
  std::map<std::string, std::shared_ptr<LcowProcess>> processes;  // "" = init
};

builder::Annotations annotations_of(const json& spec) {
  builder::Annotations annotations;
  if (const auto it = spec.find("annotations"); it != spec.end() && it->is_object()) {
    for (const auto& [key, value] : it->items()) {
      if (value.is_string()) annotations[key] = value.get<std::string>();
    }
  }
  return annotations;
}

std::vector<builder::WindowsDevice> devices_of(const json& spec) {
  std::vector<builder::WindowsDevice> devices;
  const json windows = spec.value("windows", json::object());
  if (!windows.is_object() || !windows.contains("devices") || !windows["devices"].is_array()) return devices;
  for (const auto& device : windows["devices"]) {
    if (!device.is_object()) continue;
    devices.push_back({device.value("id", std::string()), device.value("idType", std::string())});
  }
  return devices;
}

bool has_option(const json& mount, std::string_view option) {
  if (!mount.contains("options") || !mount["options"].is_array()) return false;
  for (const auto& value : mount["options"]) {
    if (value.is_string() && value.get<std::string>() == option) return true;
  }
  return false;
}

// The host OCI spec made fit for the guest (hcsshim createLCOWSpec / linuxcontainer document.go).
json guest_spec(json spec, const std::string& guest_rootfs) {
  if (spec.contains("windows") && spec["windows"].is_object()) {
    json kept = json::object();
    const json& windows = spec["windows"];
    if (windows.contains("network") && windows["network"].is_object() &&
        !windows["network"].value("networkNamespace", std::string()).empty()) {
      kept["network"] = {{"networkNamespace", windows["network"]["networkNamespace"]}};
    }
    if (windows.contains("devices")) kept["devices"] = windows["devices"];
    if (kept.empty()) {
      spec.erase("windows");
    } else {
      spec["windows"] = kept;
    }
  }
  spec.erase("hooks");
  spec["root"] = {{"path", guest_rootfs}, {"readonly", spec.value("root", json::object()).value("readonly", false)}};
  if (spec.contains("linux") && spec["linux"].is_object()) {
    json& linux = spec["linux"];
    linux.erase("cgroupsPath");
    // Namespace paths name host processes and files (CRI's /proc/<sandbox pid>/ns/*, the pod's netns): meaningless in
    // the guest. The guest agent joins a pod's containers to the pod's network, IPC and UTS namespaces by the CRI
    // annotations instead; the pid namespace stays each container's own.
    if (linux.contains("namespaces") && linux["namespaces"].is_array()) {
      for (json& ns : linux["namespaces"]) {
        if (ns.is_object()) ns.erase("path");
      }
    }
    if (linux.contains("resources") && linux["resources"].is_object()) {
      json& resources = linux["resources"];
      for (const char* key : {"devices", "pids", "blockIO", "hugepageLimits", "network"}) resources.erase(key);
      if (resources.contains("cpu") && resources["cpu"].is_object()) {
        json& cpu = resources["cpu"];
        if (cpu.value("period", 0) == 0) cpu["period"] = 100000;
        if (cpu.value("quota", 0) == 0) cpu["quota"] = -1;
      }
    }
    const json annotations = spec.value("annotations", json::object());
    if (annotations.is_object() && annotations.value("io.microsoft.virtualmachine.lcow.privileged", "") == "true") {
      linux.erase("seccomp");
    }
  }
  return spec;
}

}  // namespace

class LcowTaskController::Impl {
 public:
  Impl(hcs::Client& client, TaskEvents& events, LcowTaskOptions options)
      : client_(client), events_(events), options_(std::move(options)) {
    // The VM's exit reaches the sandbox (when one listens) besides whoever the options name.
    auto user_on_exit = options_.vm.on_exit;
    options_.vm.on_exit = [this, user_on_exit](const std::string& reason) {
      if (user_on_exit) user_on_exit(reason);
      std::function<void(const std::string&)> listener;
      {
        const std::lock_guard lock(listener_mutex_);
        listener = vm_exit_listener_;
      }
      if (listener) listener(reason);
    };
  }

  void set_vm_exit_listener(std::function<void(const std::string&)> listener) {
    const std::lock_guard lock(listener_mutex_);
    vm_exit_listener_ = std::move(listener);
  }

  std::string sandbox_platform() const {
    if (options_.runtime_options && !options_.runtime_options->sandbox_platform.empty()) {
      return options_.runtime_options->sandbox_platform;
    }
    return "linux/amd64";
  }

  UtilityVm& create_sandbox_vm(const std::string& sandbox_id, const std::map<std::string, std::string>& annotations,
                               const std::string& bundle) {
    const std::lock_guard lock(vm_mutex_);
    if (vm_) throw make_error(ErrorKind::AlreadyExists, "this shim already has utility VM {}", vm_->id());
    // hcsshim's V2 shim requires SandboxPlatform; containerd 2.1's CRI sends none, so it defaults to linux/amd64.
    builder::RuntimeOptions runtime = options_.runtime_options.value_or(builder::RuntimeOptions{});
    runtime.sandbox_platform = sandbox_platform();
    const builder::lcow::BuildResult built =
        builder::lcow::build_v2({builder::Annotations(annotations.begin(), annotations.end()), {}}, runtime,
                                options_.owner, bundle, options_.environment);
    for (const auto& warning : built.warnings) shim::log(shim::LogLevel::Warn, "VM document", {{"warning", warning}});
    const json document = built.document;
    auto vm = std::make_unique<UtilityVm>(client_, options_.transports, sandbox_id + "@vm", options_.vm);
    vm->create(document);
    shim::log(shim::LogLevel::Info, "utility VM created", {{"vm", vm->id()}, {"document", document.dump()}});
    vm_ = std::move(vm);
    return *vm_;
  }

  void start_sandbox_vm() {
    UtilityVm* vm = nullptr;
    {
      const std::lock_guard lock(vm_mutex_);
      vm = vm_.get();
    }
    if (vm == nullptr) throw make_error(ErrorKind::FailedPrecondition, "no utility VM was created");
    vm->start();
  }

  ~Impl() { shutdown(); }

  UtilityVm* vm() {
    const std::lock_guard lock(vm_mutex_);
    return vm_.get();
  }

  std::uint32_t create(const CreateTaskRequest& request) {
    if (request.id.empty()) throw make_error(ErrorKind::InvalidArgument, "create: empty task id");
    {
      const std::lock_guard lock(table_.mutex());
      if (table_.tasks().contains(request.id) || creating_.contains(request.id)) {
        throw make_error(ErrorKind::AlreadyExists, "task {} already exists", request.id);
      }
      creating_.insert(request.id);  // the id is ours while the container is made, without holding the lock
    }
    auto task = std::make_shared<LcowTask>();
    try {
      create_reserved(request, *task);
    } catch (...) {
      release(*task);
      const std::lock_guard lock(table_.mutex());
      creating_.erase(request.id);
      throw;
    }
    {
      const std::lock_guard lock(table_.mutex());
      creating_.erase(request.id);
      table_.tasks().emplace(request.id, task);
    }
    events_.created(request, 0);
    shim::log(shim::LogLevel::Info, "task created",
              {{"task", request.id}, {"pod", task->pod_id}, {"guest_bundle", task->guest_bundle}});
    return 0;
  }

  std::uint32_t start(const std::string& id, const std::string& exec_id) {
    const auto [task, process] = table_.find(id, exec_id);
    {
      const std::lock_guard lock(table_.mutex());
      require_state(id, exec_id, *process, {ProcessState::Created}, "start");
      if (!exec_id.empty()) require_state(id, "", *task->processes.at(""), {ProcessState::Running}, "exec into");
      process->state = ProcessState::Running;  // claimed: a second Start fails while this one runs
    }
    gcs::ProcessParameters parameters;
    parameters.emulate_console = process->stdio.terminal;
    parameters.create_stdin_pipe = !process->stdio.stdin_path.empty();
    // Output is always read (and discarded when containerd asked for none), so that the process never blocks.
    parameters.create_stdout_pipe = true;
    parameters.create_stderr_pipe = !process->stdio.terminal;
    parameters.oci_process = process->oci_process;
    std::shared_ptr<gcs::GuestProcess> guest_process;
    try {
      auto& guest = vm_guest();
      if (exec_id.empty()) guest.start_container(id);
      guest_process = guest.execute_process(id, parameters);
    } catch (...) {
      const std::lock_guard lock(table_.mutex());
      process->state = ProcessState::Created;
      throw;
    }
    process->relay->attach(guest_process->take_stdio());
    std::uint32_t pid = 0;
    {
      const std::lock_guard lock(table_.mutex());
      process->guest = guest_process;
      process->pid = pid = guest_process->pid();
    }
    if (exec_id.empty()) {
      events_.started(id, pid);
    } else {
      events_.exec_started(id, exec_id, pid);
    }
    // After the start event: the exit is reported after it, in order.
    process->waiter = std::jthread([this, task = task, process = process, id, exec_id] {
      std::uint32_t code = kUnknownExitCode;
      try {
        code = process->guest->wait();
      } catch (const Error& error) {
        shim::log(shim::LogLevel::Warn, "lost the process's exit code",
                  {{"task", id}, {"exec", exec_id}, {"error", error.what()}});
      }
      on_exit(*task, *process, id, exec_id, code);
    });
    return pid;
  }

  void exec(const ExecRequest& request) {
    const auto task = table_.find_task(request.id);
    if (request.exec_id.empty()) {
      throw make_error(ErrorKind::InvalidArgument, "exec into {}: empty exec id", request.id);
    }
    if (!request.process.is_object() || !request.process.contains("args") || !request.process["args"].is_array() ||
        request.process["args"].empty()) {
      throw make_error(ErrorKind::InvalidArgument, "exec {} in {}: the process has no args", request.exec_id,
                       request.id);
    }
    auto process = std::make_shared<LcowProcess>();
    process->exec_id = request.exec_id;
    process->stdio = request.stdio;
    process->oci_process = request.process;
    {
      const std::lock_guard lock(table_.mutex());
      if (task->processes.contains(request.exec_id)) {
        throw make_error(ErrorKind::AlreadyExists, "exec {} already exists in task {}", request.exec_id, request.id);
      }
      require_state(request.id, "", *task->processes.at(""), {ProcessState::Running}, "exec into");
    }
    process->relay =
        io::StdioRelay::open({request.stdio.stdin_path, request.stdio.stdout_path, request.stdio.stderr_path,
                              request.stdio.terminal, request.id, options_.namespace_name});
    {
      const std::lock_guard lock(table_.mutex());
      if (!task->processes.emplace(request.exec_id, process).second) {
        throw make_error(ErrorKind::AlreadyExists, "exec {} already exists in task {}", request.exec_id, request.id);
      }
    }
    events_.exec_added(request.id, request.exec_id);
  }

  ProcessStatus state(const std::string& id, const std::string& exec_id) { return table_.status(id, exec_id); }

  void kill(const std::string& id, const std::string& exec_id, std::uint32_t signal, bool all) {
    if (signal == 0 || signal >= 65) throw make_error(ErrorKind::InvalidArgument, "invalid signal {}", signal);
    const auto [task, process] = table_.find(id, exec_id);
    std::vector<std::shared_ptr<gcs::GuestProcess>> targets;
    {
      const std::lock_guard lock(table_.mutex());
      // Finished, or finished and being deleted (containerd's CRI kills what it may have deleted already): NotFound,
      // which containerd takes as "nothing left to kill".
      if (process->state == ProcessState::Stopped || process->state == ProcessState::Deleted) {
        throw make_error(ErrorKind::NotFound, "process {}{}{} already finished", id, exec_id.empty() ? "" : "/",
                         exec_id);
      }
      require_state(id, exec_id, *process, {ProcessState::Running}, "kill");
      if (!process->guest) {
        throw make_error(ErrorKind::FailedPrecondition, "cannot kill {}{}{}: it is starting", id,
                         exec_id.empty() ? "" : "/", exec_id);
      }
      targets.push_back(process->guest);
      if (all && exec_id.empty()) {
        // A named copy: clang before 16 (the fuzz preset's) cannot capture a structured binding.
        const auto named = process;
        const auto collect = [&](const LcowTask& owner) {
          for (const auto& [other_id, other] : owner.processes) {
            if (other != named && other->state == ProcessState::Running && other->guest) {
              targets.push_back(other->guest);
            }
          }
        };
        collect(*task);
        // Kill-all of a pod's sandbox task reaches every container of the pod, as hcsshim does.
        if (task->membership.role == oci::PodRole::Sandbox) {
          for (const auto& [other_id, other] : table_.tasks()) {
            if (other != task && other->pod_id == task->pod_id) collect(*other);
          }
        }
      }
    }
    for (std::size_t index = 0; index < targets.size(); ++index) {
      try {
        targets[index]->signal(static_cast<int>(signal));
      } catch (const gcs::GuestError& error) {
        // The guest no longer knows it: it exited, and its exit is on its way (hcsshim treats this as done).
        if (error.kind() != ErrorKind::NotFound) throw;
      }
    }
  }

  ExitStatus remove(const std::string& id, const std::string& exec_id) {
    const auto [task, process] = table_.find(id, exec_id);
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
          for (const auto& [other_id, other] : table_.tasks()) {
            if (other != task && other->pod_id == task->pod_id) {
              throw make_error(ErrorKind::FailedPrecondition,
                               "cannot delete sandbox task {}: container {} of the pod still exists", id, other_id);
            }
          }
        }
      }
      exit = process->exit.value_or(ExitStatus{process->pid, 0, std::chrono::system_clock::now()});
      process->state = ProcessState::Deleted;
    }
    if (process->relay) process->relay->drain(kDrainBound);
    if (exec_id.empty()) {
      {
        const std::lock_guard lock(table_.mutex());
        table_.tasks().erase(id);
      }
      release(*task);
    } else {
      std::shared_ptr<LcowProcess> removed;
      {
        const std::lock_guard lock(table_.mutex());
        const auto it = task->processes.find(exec_id);
        if (it != task->processes.end()) {
          removed = std::move(it->second);
          task->processes.erase(it);
        }
      }
    }
    events_.deleted(id, exec_id, exit);
    return exit;
  }

  std::vector<std::uint32_t> pids(const std::string& id) {
    const auto [task, init] = table_.find(id, "");
    bool running = false;
    std::vector<std::uint32_t> known;
    {
      const std::lock_guard lock(table_.mutex());
      running = init->state == ProcessState::Running;
      for (const auto& [exec_id, process] : task->processes) {
        if (process->state == ProcessState::Running && process->pid != 0) known.push_back(process->pid);
      }
    }
    if (!running) return known;
    const json properties = vm_guest().get_properties(id, {"ProcessList"});
    std::vector<std::uint32_t> result;
    for (const auto& entry : properties.value("ProcessList", json::array())) {
      if (entry.is_object() && entry.contains("ProcessId") && entry["ProcessId"].is_number_unsigned()) {
        result.push_back(entry["ProcessId"].get<std::uint32_t>());
      }
    }
    return result;
  }

  void resize_pty(const std::string& id, const std::string& exec_id, std::uint32_t width, std::uint32_t height) {
    const auto [task, process] = table_.find(id, exec_id);
    std::shared_ptr<gcs::GuestProcess> guest;
    {
      const std::lock_guard lock(table_.mutex());
      require_state(id, exec_id, *process, {ProcessState::Running}, "resize the console of");
      guest = process->guest;
    }
    if (guest) guest->resize_console(static_cast<std::uint16_t>(height), static_cast<std::uint16_t>(width));
  }

  void close_io(const std::string& id, const std::string& exec_id, bool close_stdin) {
    if (!close_stdin) return;
    const auto [task, process] = table_.find(id, exec_id);
    if (process->relay) process->relay->close_stdin();  // the stdin stream's end is the guest's EOF
  }

  void update(const std::string& id, const ResourceUpdate& update) {
    const auto task = table_.find_task(id);
    std::set<std::string> other_pods;
    {
      const std::lock_guard lock(table_.mutex());
      require_state(id, "", *task->processes.at(""), {ProcessState::Running}, "update");
      for (const auto& [other_id, other] : table_.tasks()) {
        if (other->pod_id != task->pod_id) other_pods.insert(other->pod_id);
      }
    }
    if (task->membership.role == oci::PodRole::Sandbox) {
      // hcsshim resizes the utility VM for a pod's sandbox task; here the VM may carry other pods, whose share would
      // shrink or grow with it.
      if (!other_pods.empty()) {
        throw make_error(ErrorKind::FailedPrecondition,
                         "update {}: the utility VM is shared with pod(s) {}: resizing it would resize them too", id,
                         fmt::join(other_pods, ", "));
      }
      throw make_error(ErrorKind::Unimplemented, "update {}: resizing the utility VM is not supported yet", id);
    }
    if (!update.linux_resources) {
      throw make_error(ErrorKind::InvalidArgument,
                       "update {}: an LCOW container takes runtime-spec LinuxResources (WindowsResources given)", id);
    }
    // hcsshim's LCOWContainerConstraints: the guest applies them with `runc update`.
    vm_guest().modify_settings(id, std::string(gcs::kResourceContainerConstraints), "Update",
                               json{{"Linux", *update.linux_resources}});
  }

  void wait(const std::string& id, const std::string& exec_id, std::function<void(const ExitStatus&)> on_exit) {
    table_.wait(id, exec_id, std::move(on_exit));
  }

  std::size_t task_count() { return table_.count(); }

  std::vector<std::string> task_ids() { return table_.ids(); }

  std::vector<TaskSummary> summaries() { return table_.summaries(); }

  TaskStatistics task_statistics(const std::string& id) {
    const auto [task, init] = table_.find(id, "");
    {
      const std::lock_guard lock(table_.mutex());
      require_state(id, "", *init, {ProcessState::Running}, "get the statistics of");
    }
    const json properties = vm_guest().get_properties(id, {"Statistics"});
    TaskStatistics statistics;
    statistics.linux_metrics = properties.value("LCOWMetrics", json::object());
    return statistics;
  }

  void shutdown() {
    std::map<std::string, std::shared_ptr<LcowTask>> tasks;
    {
      const std::lock_guard lock(table_.mutex());
      tasks.swap(table_.tasks());
    }
    for (auto& [id, task] : tasks) release(*task);
    std::unique_ptr<UtilityVm> vm;
    {
      const std::lock_guard lock(vm_mutex_);
      vm = std::move(vm_);
    }
    if (vm) vm->shutdown(std::chrono::seconds(5));
    // The waiters end with the bridge (their waits fail); joining them happens as the tasks go.
    tasks.clear();
  }

 private:
  void create_reserved(const CreateTaskRequest& request, LcowTask& task) {
    const json spec = read_bundle_config(request.id, request.bundle);
    task.id = request.id;
    task.bundle = request.bundle;
    try {
      task.membership = oci::pod_membership(spec.value("annotations", json()));
      oci::require_sandbox_names_itself(task.membership, request.id);
    } catch (const Error& error) {
      throw make_error(error.kind(), "task {}: {}", request.id, error.what());
    }
    // A standalone task (ctr run) is a pod of one; CRI tasks belong to their sandbox's pod.
    task.pod_id = task.membership.sandbox_id.empty() ? request.id : task.membership.sandbox_id;
    task.guest_bundle = fmt::format("/run/gcs/pods/{}/{}", task.pod_id, request.id);
    UtilityVm& vm = ensure_vm(spec, request.bundle);

    auto init = std::make_shared<LcowProcess>();
    init->stdio = request.stdio;
    init->relay = io::StdioRelay::open({request.stdio.stdin_path, request.stdio.stdout_path, request.stdio.stderr_path,
                                        request.stdio.terminal, request.id, options_.namespace_name});

    // The root filesystem's layers, shared read-only over Plan9 and combined in the guest with a scratch layer there
    // (hcsshim's scratch VHD is the VM's too). Nothing is mounted on the host: the guest reads the snapshot's folders.
    std::vector<std::string> host_layers = rootfs_layers(request, spec, task.bundle);
    std::vector<std::string> layers;
    for (const std::string& host_layer : host_layers) {
      std::error_code error;
      if (!fs::is_directory(host_layer, error)) {
        throw make_error(ErrorKind::InvalidArgument, "task {}: root filesystem layer {} is not a directory", request.id,
                         host_layer);
      }
      const std::string layer = vm.add_share(host_layer, true);
      task.shares.push_back(layer);
      layers.push_back(layer);
    }
    task.host_rootfs = host_layers.front();
    const std::string guest_rootfs = task.guest_bundle + "/rootfs";
    auto& guest = vm.guest();
    guest.modify_settings(std::string(gcs::kNullContainerId), std::string(gcs::kResourceCombinedLayers), "Add",
                          gcs::CombinedLayers{request.id, guest_rootfs, layers, scratch_path(task)});
    task.layers_combined = true;

    json container_spec = guest_spec(spec, guest_rootfs);
    share_bind_mounts(vm, task, container_spec);
    const json document{{"SchemaVersion", {{"Major", 2}, {"Minor", 1}}},
                        {"OciBundlePath", task.guest_bundle},
                        {"OciSpecification", container_spec},
                        {"ScratchDirPath", scratch_path(task)}};
    // The exit notification ends nothing by itself here: the init's WaitForProcess gives the exit code.
    guest.create_container(request.id, document, [id = request.id](const gcs::ContainerNotification& n) {
      shim::log(shim::LogLevel::Debug, "container exited in the guest", {{"task", id}, {"type", n.type}});
    });
    task.container_created = true;
    task.processes.emplace("", std::move(init));
  }

  // containerd's rootfs mount as folders, topmost first (the order the guest stacks them): a bind mount's source
  // (native snapshotter), an overlay's upperdir then lowerdirs (overlayfs snapshotter); without mounts, the spec's
  // root.path (`ctr run --rootfs`).
  static std::vector<std::string> rootfs_layers(const CreateTaskRequest& request, const json& spec,
                                                const fs::path& bundle) {
    if (request.rootfs.empty()) {
      const std::string root = spec.value("root", json::object()).value("path", std::string());
      if (root.empty()) {
        throw make_error(ErrorKind::InvalidArgument, "task {}: no rootfs mounts and no root.path", request.id);
      }
      return {fs::path(root).is_absolute() ? root : (bundle / root).string()};
    }
    if (request.rootfs.size() > 1) {
      throw make_error(ErrorKind::InvalidArgument, "task {}: {} rootfs mounts; one is supported", request.id,
                       request.rootfs.size());
    }
    const Mount& mount = request.rootfs.front();
    const auto has = [&](std::string_view option) {
      return std::find(mount.options.begin(), mount.options.end(), option) != mount.options.end();
    };
    if (mount.type == "bind" || has("bind") || has("rbind")) return {mount.source};
    if (mount.type == "overlay") {
      std::vector<std::string> layers;
      std::vector<std::string> lower;
      for (const std::string& option : mount.options) {
        if (option.rfind("upperdir=", 0) == 0) layers.insert(layers.begin(), option.substr(9));
        if (option.rfind("lowerdir=", 0) == 0) {
          std::string list = option.substr(9);
          for (std::size_t at = 0; at <= list.size();) {
            const std::size_t colon = std::min(list.find(':', at), list.size());
            if (colon > at) lower.push_back(list.substr(at, colon - at));
            at = colon + 1;
          }
        }
      }
      layers.insert(layers.end(), lower.begin(), lower.end());
      if (layers.empty())
        throw make_error(ErrorKind::InvalidArgument, "task {}: overlay rootfs without layers", request.id);
      return layers;
    }
    throw make_error(ErrorKind::InvalidArgument,
                     "task {}: rootfs mount type {} is not supported for LCOW (want bind or overlay)", request.id,
                     mount.type);
  }

  static std::string scratch_path(const LcowTask& task) {
    return fmt::format("/run/gcs/scratch/{}/{}", task.pod_id, task.id);
  }

  // Bind mounts from the host reach the guest as Plan9 shares: a folder is shared as it is, a file through its
  // folder (hcsshim shares the parent, restricted to the file).
  void share_bind_mounts(UtilityVm& vm, LcowTask& task, json& spec) {
    if (!spec.contains("mounts") || !spec["mounts"].is_array()) return;
    std::map<std::pair<std::string, bool>, std::string> shared;  // (host folder, read-only) -> guest path
    for (json& mount : spec["mounts"]) {
      if (!mount.is_object()) continue;
      const bool bind =
          mount.value("type", std::string()) == "bind" || has_option(mount, "bind") || has_option(mount, "rbind");
      const std::string source = mount.value("source", std::string());
      if (!bind || source.empty() || source.front() != '/') continue;
      std::error_code error;
      const fs::path host(source);
      if (!fs::exists(host, error)) {
        throw make_error(ErrorKind::InvalidArgument, "task {}: bind mount source {} does not exist", task.id, source);
      }
      const bool directory = fs::is_directory(host, error);
      const fs::path folder = directory ? host : host.parent_path();
      const bool read_only = has_option(mount, "ro");
      auto it = shared.find({folder.string(), read_only});
      if (it == shared.end()) {
        const std::string guest_path = vm.add_share(folder.string(), read_only);
        task.shares.push_back(guest_path);
        it = shared.emplace(std::make_pair(folder.string(), read_only), guest_path).first;
      }
      mount["source"] = directory ? it->second : it->second + "/" + host.filename().string();
    }
  }

  UtilityVm& ensure_vm(const json& spec, const fs::path& bundle) {
    const std::lock_guard lock(vm_mutex_);
    if (vm_) {
      if (vm_->state() != VmState::Running) {
        throw make_error(ErrorKind::FailedPrecondition, "the utility VM {} is {}", vm_->id(), to_string(vm_->state()));
      }
      return *vm_;
    }
    // hcsshim V1: the first task's spec sizes the VM (SpecToUVMCreateOpts); its id is <task>@vm.
    const std::string id = read_bundle_id(bundle) + "@vm";
    const builder::lcow::BuildResult built =
        builder::lcow::build_legacy({annotations_of(spec), devices_of(spec), std::nullopt}, options_.runtime_options,
                                    options_.owner, bundle.string(), options_.environment);
    for (const auto& warning : built.warnings) shim::log(shim::LogLevel::Warn, "VM document", {{"warning", warning}});
    const json document = built.document;
    auto vm = std::make_unique<UtilityVm>(client_, options_.transports, id, options_.vm);
    vm->create(document);
    vm->start();
    shim::log(shim::LogLevel::Info, "utility VM booted", {{"vm", id}, {"document", document.dump()}});
    vm_ = std::move(vm);
    return *vm_;
  }

  static std::string read_bundle_id(const fs::path& bundle) { return bundle.filename().string(); }

  gcs::GuestConnection& vm_guest() {
    UtilityVm* vm = nullptr;
    {
      const std::lock_guard lock(vm_mutex_);
      vm = vm_.get();
    }
    if (vm == nullptr) throw make_error(ErrorKind::FailedPrecondition, "no utility VM runs");
    return vm->guest();
  }

  void on_exit(LcowTask& task, LcowProcess& process, const std::string& id, const std::string& exec_id,
               std::uint32_t code) {
    // Output first: containerd (and ctr) expect all of it before the exit is reported.
    process.relay->drain(kDrainBound);
    ExitStatus exit{process.pid, code, std::chrono::system_clock::now()};
    std::vector<std::function<void(const ExitStatus&)>> waiters;
    {
      const std::lock_guard lock(table_.mutex());
      process.exit = exit;
      if (process.state == ProcessState::Running) process.state = ProcessState::Stopped;
      waiters.swap(process.waiters);
    }
    if (exec_id.empty()) {
      try {
        write_exit_record(task.bundle.string(), exit);
      } catch (const Error& error) {
        shim::log(shim::LogLevel::Error, "cannot record the task's exit", {{"task", id}, {"error", error.what()}});
      }
    }
    events_.exited(id, exec_id, exit);
    for (auto& waiter : waiters) waiter(exit);
    shim::log(shim::LogLevel::Info, "process exited",
              {{"task", id}, {"exec", exec_id}, {"status", std::to_string(exit.exit_status)}});
  }

  // Undoes what create made, in hcsshim's order (combined layers, container state, shares), tolerating a guest
  // or VM that is already gone.
  void release(LcowTask& task) {
    UtilityVm* vm = nullptr;
    {
      const std::lock_guard lock(vm_mutex_);
      vm = vm_.get();
    }
    const auto attempt = [&](std::string_view what, const std::function<void()>& step) {
      try {
        step();
      } catch (const std::exception& error) {
        shim::log(shim::LogLevel::Warn, "teardown step failed",
                  {{"task", task.id}, {"step", what}, {"error", error.what()}});
      }
    };
    const bool reachable = vm != nullptr && vm->state() == VmState::Running;
    if (reachable && task.container_created) {
      attempt("ShutdownForced", [&] {
        const auto init = task.processes.find("");
        if (init != task.processes.end() && init->second->state == ProcessState::Running) {
          vm->guest().shutdown_container(task.id, true);
        }
      });
    }
    if (reachable && task.layers_combined) {
      attempt("RemoveCombinedLayers", [&] {
        vm->guest().modify_settings(std::string(gcs::kNullContainerId), std::string(gcs::kResourceCombinedLayers),
                                    "Remove", gcs::CombinedLayers{task.id, task.guest_bundle + "/rootfs", {}, {}});
      });
    }
    if (reachable && task.container_created) {
      attempt("DeleteContainerState", [&] { vm->guest().delete_container_state(task.id); });
    }
    if (vm != nullptr) {
      for (const std::string& share : task.shares) attempt("RemovePlan9Share", [&] { vm->remove_share(share); });
    }
    task.shares.clear();
  }

  hcs::Client& client_;
  TaskEvents& events_;
  LcowTaskOptions options_;
  // Held only while the VM boots (or is looked up): creates in different pods otherwise run in parallel.
  std::mutex vm_mutex_;
  std::unique_ptr<UtilityVm> vm_;
  std::mutex listener_mutex_;
  std::function<void(const std::string&)> vm_exit_listener_;
  TaskTable<LcowTask> table_;  // tasks and process states; its mutex is never held across a guest call
  std::set<std::string> creating_;
};

LcowTaskController::LcowTaskController(hcs::Client& client, TaskEvents& events, LcowTaskOptions options)
    : impl_(std::make_unique<Impl>(client, events, std::move(options))) {}
LcowTaskController::~LcowTaskController() = default;

std::uint32_t LcowTaskController::create(const CreateTaskRequest& request) { return impl_->create(request); }
std::uint32_t LcowTaskController::start(const std::string& id, const std::string& exec_id) {
  return impl_->start(id, exec_id);
}
void LcowTaskController::exec(const ExecRequest& request) { impl_->exec(request); }
ProcessStatus LcowTaskController::state(const std::string& id, const std::string& exec_id) {
  return impl_->state(id, exec_id);
}
void LcowTaskController::kill(const std::string& id, const std::string& exec_id, std::uint32_t signal, bool all) {
  impl_->kill(id, exec_id, signal, all);
}
ExitStatus LcowTaskController::remove(const std::string& id, const std::string& exec_id) {
  return impl_->remove(id, exec_id);
}
std::vector<std::uint32_t> LcowTaskController::pids(const std::string& id) { return impl_->pids(id); }
void LcowTaskController::resize_pty(const std::string& id, const std::string& exec_id, std::uint32_t width,
                                    std::uint32_t height) {
  impl_->resize_pty(id, exec_id, width, height);
}
void LcowTaskController::close_io(const std::string& id, const std::string& exec_id, bool close_stdin) {
  impl_->close_io(id, exec_id, close_stdin);
}
void LcowTaskController::update(const std::string& id, const ResourceUpdate& update) { impl_->update(id, update); }
void LcowTaskController::wait(const std::string& id, const std::string& exec_id,
                              std::function<void(const ExitStatus&)> on_exit) {
  impl_->wait(id, exec_id, std::move(on_exit));
}
std::size_t LcowTaskController::task_count() { return impl_->task_count(); }
std::vector<std::string> LcowTaskController::task_ids() { return impl_->task_ids(); }
std::vector<TaskController::TaskSummary> LcowTaskController::summaries() { return impl_->summaries(); }
TaskStatistics LcowTaskController::task_statistics(const std::string& id) { return impl_->task_statistics(id); }
void LcowTaskController::shutdown() { impl_->shutdown(); }
UtilityVm* LcowTaskController::vm() { return impl_->vm(); }
UtilityVm& LcowTaskController::create_sandbox_vm(const std::string& sandbox_id,
                                                 const std::map<std::string, std::string>& annotations,
                                                 const std::string& bundle) {
  return impl_->create_sandbox_vm(sandbox_id, annotations, bundle);
}
void LcowTaskController::start_sandbox_vm() { impl_->start_sandbox_vm(); }
void LcowTaskController::set_vm_exit_listener(std::function<void(const std::string& reason)> listener) {
  impl_->set_vm_exit_listener(std::move(listener));
}
std::string LcowTaskController::sandbox_platform() const { return impl_->sandbox_platform(); }

}  // namespace shimcore::controller
