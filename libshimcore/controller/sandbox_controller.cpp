// The process-kind pod sandbox: a pause container whose process holds the pod, the member tasks it admits, and the
// stop/shutdown sequence containerd's shim sandbox controller drives.
#include "shimcore/controller/sandbox_controller.h"

#include "controller/process_container.h"
#include "controller/rootfs.h"

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>

#include "shimcore/build_config.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/job_object.h"
#include "shimcore/shim/log.h"

namespace shimcore::controller {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::uint32_t kSigkill = 9;
constexpr std::uint32_t kSigterm = 15;
// How long a terminated pause container may take to report its exit before the sandbox counts as stopped anyway.
constexpr auto kTerminateBound = std::chrono::seconds(5);

// <bundle>/config.json is optional (CRI sends none); when present it must be an OCI spec, whose annotations count.
// microsoft.com/hostprocess-container, as Go's ParseBool reads it.
bool host_process_annotations(const std::map<std::string, std::string>& annotations) {
  const auto it = annotations.find("microsoft.com/hostprocess-container");
  static const std::set<std::string> yes{"1", "t", "T", "TRUE", "true", "True"};
  return it != annotations.end() && yes.contains(it->second);
}

// The sandbox's own config.json (containerd's Sandbox API may write none): {} when absent.
json sandbox_spec(const std::string& id, const fs::path& bundle) {
  std::error_code error;
  if (!fs::exists(bundle / "config.json", error)) return json::object();
  json spec = read_bundle_config(id, bundle, /*require_process=*/false);
  spec.erase("process");
  return spec;
}

std::map<std::string, std::string> bundle_annotations(const std::string& id, const fs::path& bundle) {
  const fs::path path = bundle / "config.json";
  std::error_code error;
  if (!fs::exists(path, error)) return {};
  std::ifstream in(path);
  json spec = json::parse(in, nullptr, false);
  if (!in || spec.is_discarded() || !spec.is_object()) {
    throw make_error(ErrorKind::InvalidArgument, "sandbox {}: {} is not a JSON object", id, path.string());
  }
  std::map<std::string, std::string> annotations;
  const json found = spec.value("annotations", json::object());
  if (!found.is_object()) {
    throw make_error(ErrorKind::InvalidArgument, "sandbox {}: annotations in {} must be an object", id, path.string());
  }
  for (const auto& [key, value] : found.items()) {
    if (!value.is_string()) {
      throw make_error(ErrorKind::InvalidArgument, "sandbox {}: annotation {} in {} must be a string", id, key,
                       path.string());
    }
    annotations[key] = value.get<std::string>();
  }
  return annotations;
}

std::string format_time(const std::optional<TimePoint>& time) {
  if (!time) return {};
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(time->time_since_epoch()).count());
}

}  // namespace

std::string_view to_string(SandboxState state) noexcept {
  switch (state) {
    case SandboxState::NotCreated: return "not created";
    case SandboxState::Created: return "created";
    case SandboxState::Running: return "running";
    case SandboxState::Stopped: return "stopped";
    case SandboxState::ShutDown: return "shut down";
  }
  return "unknown";
}

class PauseSandboxController::Impl {
 public:
  // The host profile the builder reads, asked of HCS once.
  const hcs::HostProfile& host_profile() {
    std::call_once(host_profile_once_, [this] { host_profile_ = hcs::detect_host_profile(client_); });
    return host_profile_;
  }

  Impl(hcs::Client& client, ProcessTaskController& tasks, std::vector<std::string> pause_command,
       SandboxPlatform platform)
      : client_(client), tasks_(tasks), pause_command_(std::move(pause_command)), platform_(std::move(platform)) {}

  ~Impl() { tasks_.set_admission({}, {}); }

  void create(const CreateSandboxRequest& request) {
    if (request.id.empty()) throw make_error(ErrorKind::InvalidArgument, "CreateSandbox: empty sandbox id");
    {
      const std::lock_guard lock(mutex_);
      if (state_ != SandboxState::NotCreated) {
        throw make_error(ErrorKind::AlreadyExists, "cannot create sandbox {}: this shim already serves sandbox {} ({})",
                         request.id, id_, to_string(state_));
      }
    }
    std::map<std::string, std::string> annotations = bundle_annotations(request.id, request.bundle);
    if (request.pod_config) {
      for (const auto& [key, value] : request.pod_config->annotations) annotations.emplace(key, value);
    }
    for (const auto& [key, value] : request.annotations) annotations.emplace(key, value);
    // The pause container, from the builder like every container: the pause process is this shim's own binary, so
    // its one layer is the host's root (a Linux rootfs as one layer, the step Linux specs take), and its spec is the
    // sandbox's own config in the Windows shape.
    const std::string pause_id = pause_system_id(request.id);
    const bool host_process = host_process_annotations(annotations);
    json pause_spec = sandbox_spec(request.id, request.bundle);
    pause_spec["process"] = {{"args", pause_command_}, {"cwd", "/"}};
    if (!pause_spec.contains("annotations") || !pause_spec["annotations"].is_object()) {
      pause_spec["annotations"] = json::object();
    }
    for (const auto& [key, value] : annotations) pause_spec["annotations"][key] = value;
    std::shared_ptr<hcs::ComputeSystem> system;
    if (host_process) {
      // A host-process pod's pause is a job container too (hcsshim's), as every container of the pod must be.
      system = hcs::job_compute_system(pause_id, hcs::create_job_object(pause_id));
    } else {
      system = create_pause_system(request, pause_id, pause_spec);
    }
    const std::lock_guard lock(mutex_);
    if (state_ != SandboxState::NotCreated) {
      throw make_error(ErrorKind::AlreadyExists, "cannot create sandbox {}: this shim already serves sandbox {}",
                       request.id, id_);
    }
    host_process_ = host_process;
    commit_create(request, std::move(annotations), std::move(system));
  }

  std::shared_ptr<hcs::ComputeSystem> create_pause_system(const CreateSandboxRequest& request,
                                                          const std::string& pause_id, const json& pause_spec) {
#if SHIMCORE_HAS_PROCESS
    const hcs::ContainerVolume volume = client_.attach_container_storage(pause_id, {"/"}, "");
    json document;
    try {
      document = process_container_document(pause_id, request.bundle, windows_shape_of_linux_spec(pause_spec), volume,
                                            host_profile());
    } catch (...) {
      client_.detach_container_storage(pause_id);
      throw;
    }
#else
    (void)pause_spec;
    throw make_error(ErrorKind::Unimplemented,
                     "sandbox {}: this shim is built without the process kind and builds no pause container",
                     request.id);
    const json document;
#endif
    std::shared_ptr<hcs::ComputeSystem> system;
    try {
      system = client_.create_system(pause_id, document);
      system->start();
    } catch (...) {
      system.reset();
      client_.detach_container_storage(pause_id);
      throw;
    }
    return system;
  }

  // With mutex_ held: the sandbox exists from here on.
  void commit_create(const CreateSandboxRequest& request, std::map<std::string, std::string> annotations,
                     std::shared_ptr<hcs::ComputeSystem> system) {
    // Recorded before the sandbox counts as created: a pause container `delete` could not find would outlive a crash.
    // On failure the system handle closes here and, with ShouldTerminateOnLastHandleClosed, the pause goes with it.
    write_members(request.bundle, request.id, {});
    id_ = request.id;
    bundle_ = request.bundle;
    netns_path_ = request.netns_path;
    annotations_ = std::move(annotations);
    pod_config_ = request.pod_config;
    system_ = std::move(system);
    state_ = SandboxState::Created;
    tasks_.set_admission([this](const std::string& task_id, const std::string& bundle,
                                const oci::PodMembership& membership) { admit(task_id, bundle, membership); },
                         [this](const std::string& task_id) { depart(task_id); });
    shim::log(shim::LogLevel::Info, "sandbox created",
              {{"sandbox", id_}, {"netns", netns_path_}, {"pod", pod_config_ ? pod_config_->name : std::string()}});
  }

  std::pair<std::uint32_t, TimePoint> start(const std::string& id) {
    std::unique_lock lock(mutex_);
    check_id(id);
    if (state_ == SandboxState::Running) return {pid_, *started_at_};
    require(id, {SandboxState::Created}, "start");
    json parameters{{"CommandArgs", pause_command_},
                    {"WorkingDirectory", "/"},
                    {"CreateStdInPipe", false},
                    {"CreateStdOutPipe", false},
                    {"CreateStdErrPipe", false}};
    pause_ = std::shared_ptr<hcs::Process>(system_->create_process(parameters));
    pid_ = pause_->pid();
    started_at_ = std::chrono::system_clock::now();
    state_ = SandboxState::Running;
    const std::uint32_t pid = pid_;
    const TimePoint started = *started_at_;
    const std::shared_ptr<hcs::Process> pause = pause_;
    lock.unlock();
    pause->on_exit([this](const hcs::ProcessExit& exit) { on_pause_exit(exit.exit_code); });
    shim::log(shim::LogLevel::Info, "sandbox started", {{"sandbox", id}, {"pid", std::to_string(pid)}});
    return {pid, started};
  }

  SandboxPlatform platform(const std::string& id) {
    const std::lock_guard lock(mutex_);
    check_id(id);
    return platform_;
  }

  void stop(const std::string& id, std::chrono::milliseconds grace, std::stop_token cancel) {
    std::unique_lock lock(mutex_);
    check_id(id);
    if (state_ == SandboxState::Stopped) return;  // StopSandbox is idempotent
    require(id, {SandboxState::Created, SandboxState::Running}, "stop");
    lock.unlock();
    // Members first: the pod's containers do not outlive its sandbox. One that cannot be killed keeps the pod up
    // (reported, not retried here: containerd's StopPodSandbox retries the whole stop).
    for (const std::string& task : tasks_.task_ids()) {
      try {
        if (tasks_.state(task, "").state != ProcessState::Running) continue;  // created or exited: nothing to kill
        tasks_.kill(task, "", kSigkill, true);
      } catch (const Error& error) {
        if (error.kind() == ErrorKind::NotFound) continue;  // deleted or exited meanwhile
        throw make_error(error.kind(), "cannot stop sandbox {}: killing its task {} failed: {}", id, task,
                         error.what());
      }
    }
    lock.lock();
    if (state_ == SandboxState::Created) {  // never started: nothing to wait for
      lock.unlock();
      on_pause_exit(0);
      return;
    }
    if (state_ != SandboxState::Running) return;
    const std::shared_ptr<hcs::Process> pause = pause_;
    lock.unlock();
    signal(*pause, kSigterm);
    lock.lock();
    const auto stopped = [&] { return state_ != SandboxState::Running; };
    if (!changed_.wait_for(lock, cancel, grace, stopped)) {
      lock.unlock();
      shim::log(
          shim::LogLevel::Warn,
          cancel.stop_requested() ? "sandbox stop cancelled: terminating" : "sandbox did not stop in time: terminating",
          {{"sandbox", id}, {"grace_ms", std::to_string(grace.count())}});
      terminate_system();
      lock.lock();
      // Not cancellable: the terminate was sent, and HCS reports the exit promptly or never (then the bound ends it).
      if (!changed_.wait_for(lock, kTerminateBound, stopped)) {
        lock.unlock();
        on_pause_exit(255);  // HCS never reported the exit: the sandbox is gone as far as anyone can tell
      }
    }
  }

  void wait(const std::string& id, std::function<void(const ExitStatus&)> on_exit) {
    std::unique_lock lock(mutex_);
    check_id(id);
    if (exit_) {
      const ExitStatus exit = *exit_;
      lock.unlock();
      on_exit(exit);
      return;
    }
    waiters_.push_back(std::move(on_exit));
  }

  SandboxStatus status(const std::string& id, bool verbose) {
    const std::lock_guard lock(mutex_);
    check_id(id);
    SandboxStatus status;
    status.id = id_;
    status.pid = pid_;
    status.state = state_;
    status.created_at = started_at_;
    if (exit_) status.exited_at = exit_->exited_at;
    if (verbose) {
      status.info["kind"] = "process";
      status.info["state"] = std::string(to_string(state_));
      status.info["pauseSystem"] = pause_system_id(id_);
      status.info["bundle"] = bundle_;
      if (!netns_path_.empty()) status.info["netnsPath"] = netns_path_;
      if (pod_config_) {
        status.info["podName"] = pod_config_->name;
        status.info["podNamespace"] = pod_config_->namespace_name;
        status.info["podUid"] = pod_config_->uid;
      }
      std::string members;
      for (const auto& [task, task_bundle] : members_) members += (members.empty() ? "" : ",") + task;
      status.info["tasks"] = members;
      if (exit_) status.info["exitStatus"] = std::to_string(exit_->exit_status);
      if (started_at_) status.info["startedAt"] = format_time(started_at_);
    }
    return status;
  }

  void ping(const std::string& id) {
    std::unique_lock lock(mutex_);
    check_id(id);
    const std::shared_ptr<hcs::ComputeSystem> system = system_;  // ShutdownSandbox may drop ours meanwhile
    if (system == nullptr) return;  // created but shut down: the shim itself answered, which is all that is left
    lock.unlock();
    try {
      system->properties();
    } catch (const hcs::HcsError& error) {
      if (!error.already_stopped() && error.kind() != ErrorKind::NotFound) throw;
    }
  }

  hcs::schema::Statistics statistics(const std::string& id) {
    std::unique_lock lock(mutex_);
    check_id(id);
    require(id, {SandboxState::Running}, "get the metrics of");
    const std::shared_ptr<hcs::ComputeSystem> system = system_;  // ours, even if ShutdownSandbox drops system_
    lock.unlock();
    const nlohmann::json properties = system->properties({{"PropertyTypes", {"Statistics"}}});
    if (!properties.contains("Statistics")) return {};
    return hcs::schema::parse_properties(properties.dump()).statistics.value_or(hcs::schema::Statistics{});
  }

  void shutdown(const std::string& id) {
    {
      const std::lock_guard lock(mutex_);
      // containerd sends ShutdownSandbox after a failed CreateSandbox too: then there is nothing to stop, and the
      // shim must still exit.
      if (state_ == SandboxState::NotCreated) return;
      check_id(id);
      if (state_ == SandboxState::ShutDown) return;
    }
    if (state() == SandboxState::Running || state() == SandboxState::Created) {
      try {
        stop(id, std::chrono::milliseconds(0), {});
      } catch (const Error& error) {
        // Shutdown goes on: tasks_.shutdown() below terminates every member's system anyway.
        shim::log(shim::LogLevel::Warn, "shutdown: stopping the sandbox failed", {{"error", error.what()}});
      }
    }
    tasks_.shutdown();
    std::shared_ptr<hcs::Process> pause;
    std::shared_ptr<hcs::ComputeSystem> system;
    {
      const std::lock_guard lock(mutex_);
      pause.swap(pause_);
      system.swap(system_);
      state_ = SandboxState::ShutDown;
    }
    pause.reset();
    if (system) {
      try {
        system->terminate();
      } catch (const hcs::HcsError& error) {
        if (!error.already_stopped()) shim::log(shim::LogLevel::Warn, "terminate failed", {{"error", error.what()}});
      }
    }
    system.reset();
    client_.detach_container_storage(pause_system_id(id));
    tasks_.set_admission({}, {});
    shim::log(shim::LogLevel::Info, "sandbox shut down", {{"sandbox", id}});
  }

  std::optional<std::string> served_id() {
    const std::lock_guard lock(mutex_);
    if (state_ == SandboxState::NotCreated || state_ == SandboxState::ShutDown) return std::nullopt;
    return id_;
  }

 private:
  static std::string pause_system_id(const std::string& id) { return id + "@pause"; }

  SandboxState state() {
    const std::lock_guard lock(mutex_);
    return state_;
  }

  // Sandbox RPCs name the sandbox they mean; this shim serves one (mutex_ held).
  void check_id(const std::string& id) const {
    if (state_ == SandboxState::NotCreated) throw make_error(ErrorKind::NotFound, "sandbox {} not found", id);
    if (id != id_) {
      throw make_error(ErrorKind::NotFound, "sandbox {} not found: this shim serves sandbox {}", id, id_);
    }
  }

  void require(const std::string& id, std::initializer_list<SandboxState> allowed, std::string_view action) const {
    for (SandboxState state : allowed) {
      if (state_ == state) return;
    }
    throw make_error(ErrorKind::FailedPrecondition, "cannot {} sandbox {}: it is {}", action, id, to_string(state_));
  }

  void admit(const std::string& task_id, const std::string& bundle, const oci::PodMembership& membership) {
    const std::lock_guard lock(mutex_);
    if (membership.role == oci::PodRole::Sandbox) {
      throw make_error(ErrorKind::AlreadyExists, "task {} claims to be sandbox {}, but this shim serves sandbox {}",
                       task_id, membership.sandbox_id, id_);
    }
    if (membership.role == oci::PodRole::Container && membership.sandbox_id != id_) {
      throw make_error(ErrorKind::NotFound, "task {}: sandbox {} not found: this shim serves sandbox {}", task_id,
                       membership.sandbox_id, id_);
    }
    if (state_ != SandboxState::Running) {
      throw make_error(ErrorKind::FailedPrecondition, "cannot add task {} to sandbox {}: it is {}", task_id, id_,
                       to_string(state_));
    }
    // hcsshim keeps a host-process pod's containers host-process (they share the host's network), and kubelet keeps
    // host-process containers in host-process pods.
    const bool member_host_process = host_process_annotations(bundle_annotations(task_id, bundle));
    if (host_process_ && !member_host_process) {
      throw make_error(ErrorKind::FailedPrecondition,
                       "task {}: cannot create a normal process isolated container if the pod sandbox is a job "
                       "container running on host",
                       task_id);
    }
    if (!host_process_ && member_host_process) {
      throw make_error(ErrorKind::FailedPrecondition,
                       "task {}: cannot create a host-process container in pod {}, whose sandbox is not a host-process "
                       "container",
                       task_id, id_);
    }
    auto members = members_;
    members[task_id] = bundle;
    // Written before the member exists: `delete` after a crash must find every system and mount this daemon made.
    // A failure refuses the task (Unavailable) rather than leave a container `delete` could not clean up.
    write_members(bundle_, id_, members);
    members_.swap(members);
  }

  void depart(const std::string& task_id) {
    const std::lock_guard lock(mutex_);
    if (members_.erase(task_id) == 0) return;
    try {
      write_members(bundle_, id_, members_);
    } catch (const Error& error) {
      // Only a stale entry: `delete` would find its system gone, which it tolerates.
      shim::log(shim::LogLevel::Warn, "cannot update the members file", {{"error", error.what()}});
    }
  }

  // kSandboxMembersFile: the pause system and every member's system id -> bundle, as JSON.
  static void write_members(const std::string& bundle, const std::string& sandbox_id,
                            const std::map<std::string, std::string>& members) {
    json entries = json::array();
    entries.push_back({{"system", pause_system_id(sandbox_id)}, {"bundle", ""}});
    for (const auto& [system, task_bundle] : members) entries.push_back({{"system", system}, {"bundle", task_bundle}});
    write_file_atomically(fs::path(bundle) / kSandboxMembersFile, entries.dump() + "\n");
  }

  void signal(hcs::Process& process, std::uint32_t number) {
    try {
      process.signal({{"Signal", number}});
    } catch (const hcs::HcsError& error) {
      if (!error.already_stopped()) throw;
    }
  }

  void terminate_system() {
    std::shared_ptr<hcs::ComputeSystem> system;
    {
      const std::lock_guard lock(mutex_);
      system = system_;
    }
    if (system == nullptr) return;
    try {
      system->terminate();
    } catch (const hcs::HcsError& error) {
      if (!error.already_stopped()) throw;
    }
  }

  void on_pause_exit(std::uint32_t exit_code) {
    std::vector<std::function<void(const ExitStatus&)>> waiters;
    ExitStatus exit;
    {
      const std::lock_guard lock(mutex_);
      if (exit_) return;  // reported once, whoever noticed first
      exit = ExitStatus{pid_, exit_code, std::chrono::system_clock::now()};
      exit_ = exit;
      if (state_ == SandboxState::Created || state_ == SandboxState::Running) state_ = SandboxState::Stopped;
      waiters.swap(waiters_);
      try {
        write_exit_record(bundle_, exit);
      } catch (const Error& error) {
        // The exit still reaches containerd now; only a later `delete` after a crash would report 255 instead.
        shim::log(shim::LogLevel::Error, "cannot record the sandbox's exit", {{"error", error.what()}});
      }
    }
    changed_.notify_all();
    shim::log(shim::LogLevel::Info, "sandbox stopped", {{"sandbox", id_}, {"status", std::to_string(exit_code)}});
    for (auto& waiter : waiters) waiter(exit);
  }

  hcs::Client& client_;
  bool host_process_ = false;  // a host-process pod: its pause and every member are job containers
  std::once_flag host_profile_once_;
  hcs::HostProfile host_profile_;
  ProcessTaskController& tasks_;
  const std::vector<std::string> pause_command_;
  const SandboxPlatform platform_;

  std::mutex mutex_;
  std::condition_variable_any changed_;  // _any: StopSandbox's grace wait is cancellable
  SandboxState state_ = SandboxState::NotCreated;
  std::string id_;
  std::string bundle_;
  std::string netns_path_;
  std::map<std::string, std::string> annotations_;
  std::optional<oci::PodSandboxConfig> pod_config_;
  // Shared: Ping, Stop and terminate use copies taken under the lock while ShutdownSandbox drops these.
  std::shared_ptr<hcs::ComputeSystem> system_;
  std::shared_ptr<hcs::Process> pause_;
  std::uint32_t pid_ = 0;
  std::optional<TimePoint> started_at_;
  std::optional<ExitStatus> exit_;
  std::vector<std::function<void(const ExitStatus&)>> waiters_;
  std::map<std::string, std::string> members_;  // admitted task id -> its bundle
};

PauseSandboxController::PauseSandboxController(hcs::Client& client, ProcessTaskController& tasks,
                                               std::vector<std::string> pause_command, SandboxPlatform platform)
    : impl_(std::make_unique<Impl>(client, tasks, std::move(pause_command), std::move(platform))) {}
PauseSandboxController::~PauseSandboxController() = default;

void PauseSandboxController::create(const CreateSandboxRequest& request) { impl_->create(request); }
std::pair<std::uint32_t, TimePoint> PauseSandboxController::start(const std::string& id) { return impl_->start(id); }
SandboxPlatform PauseSandboxController::platform(const std::string& id) { return impl_->platform(id); }
void PauseSandboxController::stop(const std::string& id, std::chrono::milliseconds grace, std::stop_token cancel) {
  impl_->stop(id, grace, std::move(cancel));
}
void PauseSandboxController::wait(const std::string& id, std::function<void(const ExitStatus&)> on_exit) {
  impl_->wait(id, std::move(on_exit));
}
SandboxStatus PauseSandboxController::status(const std::string& id, bool verbose) { return impl_->status(id, verbose); }
void PauseSandboxController::ping(const std::string& id) { impl_->ping(id); }
void PauseSandboxController::shutdown(const std::string& id) { impl_->shutdown(id); }
TaskStatistics PauseSandboxController::statistics(const std::string& id) {
  TaskStatistics statistics;
  statistics.windows = impl_->statistics(id);
  return statistics;
}
bool PauseSandboxController::serving() { return impl_->served_id().has_value(); }
std::optional<std::string> PauseSandboxController::served_id() { return impl_->served_id(); }

std::vector<SandboxMember> parse_sandbox_members(std::string_view text, bool* malformed) {
  if (malformed != nullptr) *malformed = false;
  std::vector<SandboxMember> members;
  const json entries = json::parse(text, nullptr, false);
  bool bad = !entries.is_array();
  if (!bad) {
    for (const json& entry : entries) {
      const bool well_formed = entry.is_object() && entry.contains("system") && entry["system"].is_string() &&
                               !entry["system"].get_ref<const std::string&>().empty() && entry.contains("bundle") &&
                               entry["bundle"].is_string();
      if (!well_formed) {
        bad = true;
        continue;
      }
      members.push_back({entry["system"].get<std::string>(), entry["bundle"].get<std::string>()});
    }
  }
  if (malformed != nullptr) *malformed = bad;
  return members;
}

std::vector<SandboxMember> read_sandbox_members(const std::string& bundle, bool* malformed) {
  if (malformed != nullptr) *malformed = false;
  std::ifstream in(fs::path(bundle) / kSandboxMembersFile, std::ios::binary);
  if (!in) return {};
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_sandbox_members(text, malformed);
}

}  // namespace shimcore::controller
