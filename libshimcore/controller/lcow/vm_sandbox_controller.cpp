// The LCOW sandbox: the utility VM's lifecycle as CRI's sandbox (NotCreated -> Created -> Running -> Stopped ->
// ShutDown), with WaitSandbox released by the VM's own exit too.
#include "shimcore/controller/vm_sandbox_controller.h"

#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "controller/rootfs.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/schema/properties.h"
#include "shimcore/shim/log.h"

namespace shimcore::controller {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The exit status of a sandbox whose VM went away on its own (hcsshim's unknown exit code).
constexpr std::uint32_t kVmLostExitStatus = 255;

}  // namespace

class VmSandboxController::Impl {
 public:
  explicit Impl(LcowTaskController& tasks) : tasks_(tasks) {
    tasks_.set_vm_exit_listener([this](const std::string& reason) { vm_exited(reason); });
  }
  ~Impl() { tasks_.set_vm_exit_listener({}); }

  void create(const CreateSandboxRequest& request) {
    {
      const std::lock_guard lock(mutex_);
      if (state_ != SandboxState::NotCreated) {
        throw make_error(ErrorKind::AlreadyExists, "this shim already serves sandbox {}", id_);
      }
      state_ = SandboxState::Created;  // claimed while the VM is made
      id_ = request.id;
    }
    try {
      // The sandbox spec's annotations: the bundle's config.json when containerd wrote one, else CRI's pod config.
      std::map<std::string, std::string> annotations;
      std::error_code error;
      if (fs::exists(fs::path(request.bundle) / "config.json", error)) {
        const json spec = read_bundle_config(request.id, request.bundle, /*require_process=*/false);
        // A named copy: items() of a temporary would dangle in the range-for.
        const json spec_annotations = spec.value("annotations", json::object());
        for (const auto& [key, value] : spec_annotations.items()) {
          if (value.is_string()) annotations[key] = value.get<std::string>();
        }
      } else if (request.pod_config) {
        annotations = request.pod_config->annotations;
      }
      for (const auto& [key, value] : request.annotations) annotations.emplace(key, value);
      tasks_.create_sandbox_vm(request.id, annotations, request.bundle);
    } catch (...) {
      const std::lock_guard lock(mutex_);
      state_ = SandboxState::NotCreated;
      id_.clear();
      throw;
    }
    const std::lock_guard lock(mutex_);
    bundle_ = request.bundle;
    created_at_ = std::chrono::system_clock::now();
  }

  std::pair<std::uint32_t, TimePoint> start(const std::string& id) {
    {
      const std::lock_guard lock(mutex_);
      check_id(id);
      if (state_ == SandboxState::Running) return {static_cast<std::uint32_t>(::getpid()), *started_at_};
      require({SandboxState::Created}, "start");
    }
    tasks_.start_sandbox_vm();
    const std::lock_guard lock(mutex_);
    if (state_ != SandboxState::Created) {
      throw make_error(ErrorKind::FailedPrecondition, "sandbox {} is {} after its VM started", id, to_string(state_));
    }
    state_ = SandboxState::Running;
    started_at_ = std::chrono::system_clock::now();
    return {static_cast<std::uint32_t>(::getpid()), *started_at_};
  }

  SandboxPlatform platform(const std::string& id) {
    {
      const std::lock_guard lock(mutex_);
      check_id(id);
    }
    const std::string platform = tasks_.sandbox_platform();
    const auto slash = platform.find('/');
    return {platform.substr(0, slash), slash == std::string::npos ? "" : platform.substr(slash + 1), ""};
  }

  void stop(const std::string& id, std::chrono::milliseconds grace, std::stop_token cancel) {
    {
      const std::lock_guard lock(mutex_);
      check_id(id);
      if (state_ == SandboxState::Stopped || state_ == SandboxState::ShutDown) return;
    }
    // The pods' processes go first (CRI normally stopped the containers already), then the VM.
    for (const std::string& task : tasks_.task_ids()) {
      try {
        tasks_.kill(task, "", 9, true);
      } catch (const Error& error) {
        if (error.kind() != ErrorKind::NotFound && error.kind() != ErrorKind::FailedPrecondition) throw;
      }
    }
    if (UtilityVm* vm = tasks_.vm()) vm->shutdown(cancel.stop_requested() ? std::chrono::milliseconds(0) : grace);
    mark_stopped(0);
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
    SandboxStatus status;
    {
      const std::lock_guard lock(mutex_);
      check_id(id);
      status.id = id_;
      status.pid = state_ == SandboxState::Running ? static_cast<std::uint32_t>(::getpid()) : 0;
      status.state = state_;
      status.created_at = created_at_;
      if (exit_) status.exited_at = exit_->exited_at;
    }
    if (verbose) {
      if (UtilityVm* vm = tasks_.vm()) {
        status.info["vm_id"] = vm->id();
        status.info["runtime_id"] = vm->runtime_id();
        status.info["vm_state"] = std::string(to_string(vm->state()));
        if (vm->state() == VmState::Running) {
          try {
            auto& guest = vm->guest();
            status.info["guest_os"] = guest.capabilities().runtime_os_type;
            status.info["guest_protocol"] = std::to_string(guest.protocol_version());
          } catch (const Error&) {
          }
        }
      }
    }
    return status;
  }

  void ping(const std::string& id) {
    {
      const std::lock_guard lock(mutex_);
      check_id(id);
      require({SandboxState::Running}, "ping");
    }
    UtilityVm* vm = tasks_.vm();
    if (vm == nullptr) throw make_error(ErrorKind::Unavailable, "sandbox {} has no utility VM", id);
    vm->guest().dump_stacks();
  }

  void shutdown(const std::string& id) {
    {
      const std::lock_guard lock(mutex_);
      if (state_ == SandboxState::NotCreated) return;
      check_id(id);
      if (state_ == SandboxState::ShutDown) return;
    }
    tasks_.shutdown();  // deletes the containers and shuts the VM down
    mark_stopped(0);
    std::string bundle;
    ExitStatus exit;
    {
      const std::lock_guard lock(mutex_);
      state_ = SandboxState::ShutDown;
      bundle = bundle_;
      exit = *exit_;
    }
    try {
      if (!bundle.empty()) write_exit_record(bundle, exit);
    } catch (const Error& error) {
      shim::log(shim::LogLevel::Warn, "cannot record the sandbox's exit", {{"error", error.what()}});
    }
  }

  TaskStatistics statistics(const std::string& id) {
    {
      const std::lock_guard lock(mutex_);
      check_id(id);
      require({SandboxState::Running}, "get the statistics of");
    }
    UtilityVm* vm = tasks_.vm();
    if (vm == nullptr) throw make_error(ErrorKind::Unavailable, "sandbox {} has no utility VM", id);
    const json properties = vm->properties({{"PropertyTypes", {"Statistics"}}});
    TaskStatistics statistics;
    statistics.vm =
        properties.contains("Statistics")
            ? hcs::schema::parse_properties(properties.dump()).statistics.value_or(hcs::schema::Statistics{})
            : hcs::schema::Statistics{};
    return statistics;
  }

  bool serving() {
    const std::lock_guard lock(mutex_);
    return state_ != SandboxState::NotCreated && state_ != SandboxState::ShutDown;
  }

  std::optional<std::string> served_id() {
    const std::lock_guard lock(mutex_);
    if (state_ == SandboxState::NotCreated || state_ == SandboxState::ShutDown) return std::nullopt;
    return id_;
  }

 private:
  void check_id(const std::string& id) const {
    if (state_ == SandboxState::NotCreated) throw make_error(ErrorKind::NotFound, "sandbox {} not found", id);
    if (id != id_) throw make_error(ErrorKind::NotFound, "sandbox {} not found: this shim serves {}", id, id_);
  }

  void require(std::initializer_list<SandboxState> allowed, std::string_view action) const {
    for (SandboxState state : allowed) {
      if (state_ == state) return;
    }
    throw make_error(ErrorKind::FailedPrecondition, "cannot {} sandbox {}: it is {}", action, id_, to_string(state_));
  }

  // The VM stopped by itself (or was lost): the sandbox is NOTREADY and its waiters learn it.
  void vm_exited(const std::string& reason) {
    {
      const std::lock_guard lock(mutex_);
      if (state_ != SandboxState::Running && state_ != SandboxState::Created) return;
    }
    shim::log(shim::LogLevel::Warn, "the sandbox's VM stopped", {{"sandbox", id_}, {"reason", reason}});
    mark_stopped(kVmLostExitStatus);
  }

  void mark_stopped(std::uint32_t status) {
    std::vector<std::function<void(const ExitStatus&)>> waiters;
    ExitStatus exit;
    {
      const std::lock_guard lock(mutex_);
      if (!exit_) exit_ = ExitStatus{0, status, std::chrono::system_clock::now()};
      if (state_ != SandboxState::ShutDown) state_ = SandboxState::Stopped;
      waiters.swap(waiters_);
      exit = *exit_;
    }
    for (auto& waiter : waiters) waiter(exit);
  }

  LcowTaskController& tasks_;
  std::mutex mutex_;
  SandboxState state_ = SandboxState::NotCreated;
  std::string id_;
  std::string bundle_;
  std::optional<TimePoint> created_at_;
  std::optional<TimePoint> started_at_;
  std::optional<ExitStatus> exit_;
  std::vector<std::function<void(const ExitStatus&)>> waiters_;
};

VmSandboxController::VmSandboxController(LcowTaskController& tasks) : impl_(std::make_unique<Impl>(tasks)) {}
VmSandboxController::~VmSandboxController() = default;

void VmSandboxController::create(const CreateSandboxRequest& request) { impl_->create(request); }
std::pair<std::uint32_t, TimePoint> VmSandboxController::start(const std::string& id) { return impl_->start(id); }
SandboxPlatform VmSandboxController::platform(const std::string& id) { return impl_->platform(id); }
void VmSandboxController::stop(const std::string& id, std::chrono::milliseconds grace, std::stop_token cancel) {
  impl_->stop(id, grace, std::move(cancel));
}
void VmSandboxController::wait(const std::string& id, std::function<void(const ExitStatus&)> on_exit) {
  impl_->wait(id, std::move(on_exit));
}
SandboxStatus VmSandboxController::status(const std::string& id, bool verbose) { return impl_->status(id, verbose); }
void VmSandboxController::ping(const std::string& id) { impl_->ping(id); }
void VmSandboxController::shutdown(const std::string& id) { impl_->shutdown(id); }
TaskStatistics VmSandboxController::statistics(const std::string& id) { return impl_->statistics(id); }
bool VmSandboxController::serving() { return impl_->serving(); }
std::optional<std::string> VmSandboxController::served_id() { return impl_->served_id(); }

}  // namespace shimcore::controller
