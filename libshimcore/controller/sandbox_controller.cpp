// The process-kind pod sandbox: a pause container whose process holds the pod, the member tasks it admits, and the
// stop/shutdown sequence containerd's shim sandbox controller drives.
#include "shimcore/controller/sandbox_controller.h"

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "shimcore/errdefs.h"
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

class SandboxController::Impl {
 public:
  Impl(hcs::Client& client, TaskController& tasks, std::vector<std::string> pause_command, SandboxPlatform platform)
      : client_(client), tasks_(tasks), pause_command_(std::move(pause_command)), platform_(std::move(platform)) {}

  ~Impl() { tasks_.set_admission({}); }

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
    // The pause container: an HCS Container without a root of its own (on Windows this is where the pause image's
    // layers would go; the emulator runs the pause process on the host).
    const json document{{"Owner", "containerd-shim-process-v2"},
                        {"SchemaVersion", {{"Major", 2}, {"Minor", 1}}},
                        {"ShouldTerminateOnLastHandleClosed", true},
                        {"Container", json::object()}};
    auto system = client_.create_system(pause_system_id(request.id), document);
    system->start();
    const std::lock_guard lock(mutex_);
    if (state_ != SandboxState::NotCreated) {
      throw make_error(ErrorKind::AlreadyExists, "cannot create sandbox {}: this shim already serves sandbox {}",
                       request.id, id_);
    }
    id_ = request.id;
    bundle_ = request.bundle;
    netns_path_ = request.netns_path;
    annotations_ = std::move(annotations);
    pod_config_ = request.pod_config;
    system_ = std::move(system);
    state_ = SandboxState::Created;
    record_member(pause_system_id(id_), "");
    tasks_.set_admission([this](const std::string& task_id, const std::string& bundle,
                                const oci::PodMembership& membership) { admit(task_id, bundle, membership); });
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
    pause_ = system_->create_process(parameters);
    pid_ = pause_->pid();
    started_at_ = std::chrono::system_clock::now();
    state_ = SandboxState::Running;
    const std::uint32_t pid = pid_;
    const TimePoint started = *started_at_;
    lock.unlock();
    pause_->on_exit([this](const hcs::ProcessExit& exit) { on_pause_exit(exit.exit_code); });
    shim::log(shim::LogLevel::Info, "sandbox started", {{"sandbox", id}, {"pid", std::to_string(pid)}});
    return {pid, started};
  }

  SandboxPlatform platform(const std::string& id) {
    const std::lock_guard lock(mutex_);
    check_id(id);
    return platform_;
  }

  void stop(const std::string& id, std::chrono::milliseconds grace) {
    std::unique_lock lock(mutex_);
    check_id(id);
    if (state_ == SandboxState::Stopped) return;  // StopSandbox is idempotent
    require(id, {SandboxState::Created, SandboxState::Running}, "stop");
    lock.unlock();
    // Members first: the pod's containers do not outlive its sandbox.
    for (const std::string& task : tasks_.task_ids()) {
      try {
        tasks_.kill(task, "", kSigkill, true);
      } catch (const Error& error) {
        shim::log(shim::LogLevel::Debug, "stop: task already gone", {{"task", task}, {"error", error.what()}});
      }
    }
    lock.lock();
    if (state_ == SandboxState::Created) {  // never started: nothing to wait for
      lock.unlock();
      on_pause_exit(0);
      return;
    }
    if (state_ != SandboxState::Running) return;
    hcs::Process* pause = pause_.get();
    lock.unlock();
    signal(*pause, kSigterm);
    lock.lock();
    if (!changed_.wait_for(lock, grace, [&] { return state_ != SandboxState::Running; })) {
      lock.unlock();
      shim::log(shim::LogLevel::Warn, "sandbox did not stop in time: terminating",
                {{"sandbox", id}, {"grace_ms", std::to_string(grace.count())}});
      terminate_system();
      lock.lock();
      if (!changed_.wait_for(lock, kTerminateBound, [&] { return state_ != SandboxState::Running; })) {
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
      for (const std::string& task : members_) members += (members.empty() ? "" : ",") + task;
      status.info["tasks"] = members;
      if (exit_) status.info["exitStatus"] = std::to_string(exit_->exit_status);
      if (started_at_) status.info["startedAt"] = format_time(started_at_);
    }
    return status;
  }

  void ping(const std::string& id) {
    std::unique_lock lock(mutex_);
    check_id(id);
    hcs::ComputeSystem* system = system_.get();
    if (system == nullptr) return;  // created but shut down: the shim itself answered, which is all that is left
    lock.unlock();
    try {
      system->properties();
    } catch (const hcs::HcsError& error) {
      if (!error.already_stopped() && error.kind() != ErrorKind::NotFound) throw;
    }
  }

  hcs::schema::Statistics statistics(const std::string& id) {
    const std::lock_guard lock(mutex_);  // held: ShutdownSandbox must not close the system mid-query
    check_id(id);
    require(id, {SandboxState::Running}, "get the metrics of");
    const nlohmann::json properties = system_->properties({{"PropertyTypes", {"Statistics"}}});
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
    if (state() == SandboxState::Running || state() == SandboxState::Created) stop(id, std::chrono::milliseconds(0));
    tasks_.shutdown();
    std::unique_ptr<hcs::Process> pause;
    std::unique_ptr<hcs::ComputeSystem> system;
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
    tasks_.set_admission({});
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
    members_.insert(task_id);
    record_member(task_id, bundle);
  }

  // `delete` after a crash must find every system and mount this daemon made (mutex_ held).
  void record_member(const std::string& system_id, const std::string& bundle) {
    std::ofstream(fs::path(bundle_) / kSandboxMembersFile, std::ios::app) << system_id << '\t' << bundle << '\n';
  }

  void signal(hcs::Process& process, std::uint32_t number) {
    try {
      process.signal({{"Signal", number}});
    } catch (const hcs::HcsError& error) {
      if (!error.already_stopped()) throw;
    }
  }

  void terminate_system() {
    hcs::ComputeSystem* system = nullptr;
    {
      const std::lock_guard lock(mutex_);
      system = system_.get();
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
      write_exit_record(bundle_, exit);
    }
    changed_.notify_all();
    shim::log(shim::LogLevel::Info, "sandbox stopped", {{"sandbox", id_}, {"status", std::to_string(exit_code)}});
    for (auto& waiter : waiters) waiter(exit);
  }

  hcs::Client& client_;
  TaskController& tasks_;
  const std::vector<std::string> pause_command_;
  const SandboxPlatform platform_;

  std::mutex mutex_;
  std::condition_variable changed_;
  SandboxState state_ = SandboxState::NotCreated;
  std::string id_;
  std::string bundle_;
  std::string netns_path_;
  std::map<std::string, std::string> annotations_;
  std::optional<oci::PodSandboxConfig> pod_config_;
  std::unique_ptr<hcs::ComputeSystem> system_;
  std::unique_ptr<hcs::Process> pause_;
  std::uint32_t pid_ = 0;
  std::optional<TimePoint> started_at_;
  std::optional<ExitStatus> exit_;
  std::vector<std::function<void(const ExitStatus&)>> waiters_;
  std::set<std::string> members_;
};

SandboxController::SandboxController(hcs::Client& client, TaskController& tasks, std::vector<std::string> pause_command,
                                     SandboxPlatform platform)
    : impl_(std::make_unique<Impl>(client, tasks, std::move(pause_command), std::move(platform))) {}
SandboxController::~SandboxController() = default;

void SandboxController::create(const CreateSandboxRequest& request) { impl_->create(request); }
std::pair<std::uint32_t, TimePoint> SandboxController::start(const std::string& id) { return impl_->start(id); }
SandboxPlatform SandboxController::platform(const std::string& id) { return impl_->platform(id); }
void SandboxController::stop(const std::string& id, std::chrono::milliseconds grace) { impl_->stop(id, grace); }
void SandboxController::wait(const std::string& id, std::function<void(const ExitStatus&)> on_exit) {
  impl_->wait(id, std::move(on_exit));
}
SandboxStatus SandboxController::status(const std::string& id, bool verbose) { return impl_->status(id, verbose); }
void SandboxController::ping(const std::string& id) { impl_->ping(id); }
void SandboxController::shutdown(const std::string& id) { impl_->shutdown(id); }
hcs::schema::Statistics SandboxController::statistics(const std::string& id) { return impl_->statistics(id); }
bool SandboxController::serving() { return impl_->served_id().has_value(); }
std::optional<std::string> SandboxController::served_id() { return impl_->served_id(); }

}  // namespace shimcore::controller
