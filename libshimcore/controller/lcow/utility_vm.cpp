// The LCOW utility VM: HCS system, bridge listener before start, negotiation, Plan9 shares, graceful then forced stop.
#include "shimcore/controller/utility_vm.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "shimcore/errdefs.h"
#include "shimcore/gcs/protocol.h"
#include "shimcore/shim/log.h"
#ifndef _WIN32
#include "shimcore/hcs/emulator.h"
#endif

namespace shimcore::controller {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// hcsshim's Plan9 share flags (internal/uvm/plan9.go).
constexpr std::uint32_t kPlan9ReadOnly = 0x00000001;
constexpr std::uint32_t kPlan9LinuxMetadata = 0x00000004;
constexpr std::uint32_t kPlan9Port = 564;

}  // namespace

std::string_view to_string(VmState state) noexcept {
  switch (state) {
    case VmState::NotCreated: return "not created";
    case VmState::Created: return "created";
    case VmState::Running: return "running";
    case VmState::Terminated: return "terminated";
    case VmState::Invalid: return "invalid";
  }
  return "unknown";
}

GuestTransportFactory default_guest_transport_factory() {
#ifdef _WIN32
  return [](const std::string&) -> std::unique_ptr<gcs::GuestTransport> {
    throw make_error(ErrorKind::Unimplemented, "the hvsock guest transport is not built yet");
  };
#else
  return [](const std::string& runtime_id) {
    const auto options = hcs::emulator_options_from_environment();
    return gcs::make_unix_port_transport(hcs::emulated_hvsock_directory(options.runtime_dir, runtime_id).string());
  };
#endif
}

UtilityVm::UtilityVm(hcs::Client& client, GuestTransportFactory transports, std::string id, UtilityVmOptions options)
    : client_(client), transports_(std::move(transports)), id_(std::move(id)), options_(std::move(options)) {}

UtilityVm::~UtilityVm() {
  try {
    terminate();
  } catch (const std::exception& error) {
    shim::log(shim::LogLevel::Warn, "terminating the utility VM failed", {{"vm", id_}, {"error", error.what()}});
  }
}

void UtilityVm::require(std::initializer_list<VmState> allowed, std::string_view action) const {
  for (VmState state : allowed) {
    if (state_ == state) return;
  }
  throw make_error(ErrorKind::FailedPrecondition, "cannot {} utility VM {}: it is {}", action, id_, to_string(state_));
}

void UtilityVm::create(const json& document) {
  const std::lock_guard lock(mutex_);
  require({VmState::NotCreated}, "create");
  auto system = client_.create_system(id_, document);
  std::string runtime_id;
  try {
    runtime_id = system->properties().value("RuntimeId", std::string());
  } catch (...) {
    system->terminate();
    throw;
  }
  system_ = std::move(system);
  runtime_id_ = std::move(runtime_id);
  document_ = document;
  state_ = VmState::Created;
}

void UtilityVm::start() {
  std::unique_lock lock(mutex_);
  if (state_ == VmState::Running) return;
  require({VmState::Created}, "start");
  try {
    // The host listens before HCS starts the VM: the guest dials as soon as it is up (hcsshim CreateLCOW/Start).
    transport_ = transports_(runtime_id_);
    bridge_listener_ = transport_->listen(gcs::kBridgePort);
    system_->on_exit([this](const hcs::SystemExit& exit) {
      {
        const std::lock_guard exit_lock(mutex_);
        exit_ = exit;
      }
      stopped(fmt::format("the utility VM stopped ({})", exit.exit_type));
    });
    system_->start();
    gcs::GuestConnectionOptions guest_options = options_.guest;
    auto user_on_closed = guest_options.on_closed;
    guest_options.on_closed = [this, user_on_closed](const std::string& reason) {
      if (user_on_closed) user_on_closed(reason);
      stopped("the guest connection was lost: " + reason);
    };
    // Accepting and negotiating run without the lock: an exit while waiting must be able to report.
    lock.unlock();
    auto guest = gcs::GuestConnection::connect(*transport_, *bridge_listener_, options_.connect_timeout,
                                               std::move(guest_options));
    lock.lock();
    guest_ = std::move(guest);
    bridge_listener_.reset();  // the guest dials once; a redial would find no listener, as with hvsock
    if (exit_) throw make_error(ErrorKind::Unavailable, "utility VM {} stopped while starting", id_);
    state_ = VmState::Running;
  } catch (...) {
    if (!lock.owns_lock()) lock.lock();
    state_ = VmState::Invalid;
    lock.unlock();
    try {
      system_->terminate();
    } catch (const hcs::HcsError& error) {
      if (!error.already_stopped()) shim::log(shim::LogLevel::Warn, "terminate failed", {{"error", error.what()}});
    }
    throw;
  }
  shim::log(shim::LogLevel::Info, "utility VM running",
            {{"vm", id_}, {"runtime_id", runtime_id_}, {"transport", transport_->describe()}});
}

void UtilityVm::stopped(const std::string& reason) {
  std::function<void(const std::string&)> notify;
  {
    const std::lock_guard lock(mutex_);
    // A failed start stays Invalid until terminate(), as hcsshim's VM controller.
    if (state_ == VmState::Running) state_ = VmState::Terminated;
    if (exit_reported_) return;
    exit_reported_ = true;
    notify = options_.on_exit;
  }
  shim::log(shim::LogLevel::Info, "utility VM gone", {{"vm", id_}, {"reason", reason}});
  if (notify) notify(reason);
}

void UtilityVm::shutdown(std::chrono::milliseconds grace) {
  gcs::GuestConnection* guest = nullptr;
  hcs::ComputeSystem* system = nullptr;
  {
    const std::lock_guard lock(mutex_);
    if (state_ == VmState::NotCreated || !system_) return;
    if (state_ == VmState::Running) guest = guest_.get();
    system = system_.get();
  }
  if (guest != nullptr && !guest->closed()) {
    std::vector<std::string> held;
    {
      const std::lock_guard lock(mutex_);
      for (const auto& [path, share] : shares_) held.push_back(path);
    }
    for (const std::string& path : held) {
      try {
        remove_share(path);
      } catch (const Error& error) {
        shim::log(shim::LogLevel::Warn, "releasing a share failed",
                  {{"vm", id_}, {"path", path}, {"error", error.what()}});
      }
    }
    try {
      guest->shutdown_vm(false, grace);
      // The guest hung up; the VM itself stops when its guest has powered off.
      system->wait(grace);
    } catch (const Error& error) {
      shim::log(shim::LogLevel::Warn, "graceful VM shutdown failed", {{"vm", id_}, {"error", error.what()}});
    }
  }
  terminate();
}

void UtilityVm::terminate() {
  std::unique_ptr<gcs::GuestConnection> guest;
  hcs::ComputeSystem* system = nullptr;
  {
    const std::lock_guard lock(mutex_);
    if (state_ == VmState::NotCreated || !system_) return;
    system = system_.get();
  }
  try {
    system->terminate();
  } catch (const hcs::HcsError& error) {
    if (!error.already_stopped()) throw;
  }
  {
    const std::lock_guard lock(mutex_);
    state_ = VmState::Terminated;
    guest = std::move(guest_);
    shares_.clear();
  }
  if (guest) guest->close("the utility VM was terminated");
  guest.reset();  // joins the bridge reader outside the lock
  stopped("terminated");
}

VmState UtilityVm::state() const {
  const std::lock_guard lock(mutex_);
  return state_;
}

std::string UtilityVm::runtime_id() const {
  const std::lock_guard lock(mutex_);
  return runtime_id_;
}

json UtilityVm::document() const {
  const std::lock_guard lock(mutex_);
  return document_;
}

std::optional<hcs::SystemExit> UtilityVm::exit() const {
  const std::lock_guard lock(mutex_);
  if (exit_ || !system_) return exit_;
  // HCS releases waiters before it runs exit callbacks: ask the system itself.
  return system_->wait(std::chrono::milliseconds(0));
}

gcs::GuestConnection& UtilityVm::guest() {
  const std::lock_guard lock(mutex_);
  require({VmState::Running}, "reach the guest of");
  if (!guest_ || guest_->closed()) {
    throw make_error(ErrorKind::Unavailable, "the guest of utility VM {} is not connected", id_);
  }
  return *guest_;
}

json UtilityVm::properties(const json& query) {
  const std::lock_guard lock(mutex_);
  require({VmState::Running}, "query");
  return system_->properties(query);
}

std::string UtilityVm::add_share(const std::string& host_path, bool read_only,
                                 const std::optional<std::string>& requested_path) {
  // The guest path in one spelling ("/a/./b/" is "/a/b"), so that "/" and taken paths are recognised.
  fs::path normal;
  if (requested_path) {
    const fs::path path(*requested_path);
    normal = path.lexically_normal();
    if (normal.has_relative_path() && normal.filename().empty()) normal = normal.parent_path();
    const bool climbs = std::any_of(path.begin(), path.end(), [](const fs::path& part) { return part == ".."; });
    if (!path.is_absolute() || normal == normal.root_path() || climbs) {
      throw make_error(ErrorKind::InvalidArgument,
                       "share into {}: the guest path \"{}\" must be absolute, below /, without \"..\"", id_,
                       *requested_path);
    }
  }
  std::string name;
  std::string guest_path;
  hcs::ComputeSystem* system = nullptr;
  {
    const std::lock_guard lock(mutex_);
    require({VmState::Running}, "share into");
    name = std::to_string(next_share_++);
    guest_path = requested_path ? normal.string() : "/run/mounts/plan9/" + name;
    if (shares_.contains(guest_path)) {
      throw make_error(ErrorKind::AlreadyExists, "share into {}: {} is already shared there", id_, guest_path);
    }
    shares_[guest_path] = Share{name, host_path, read_only};  // reserved; replaced or erased below
    system = system_.get();
  }
  const json share{{"Name", name},
                   {"AccessName", name},
                   {"Path", host_path},
                   {"Port", kPlan9Port},
                   {"Flags", kPlan9LinuxMetadata | (read_only ? kPlan9ReadOnly : 0u)}};
  system->modify(
      {{"ResourcePath", "VirtualMachine/Devices/Plan9/Shares"}, {"RequestType", "Add"}, {"Settings", share}});
  try {
    guest().modify_settings(std::string(gcs::kNullContainerId), std::string(gcs::kResourceMappedDirectory), "Add",
                            gcs::MappedDirectory{guest_path, kPlan9Port, name, read_only});
  } catch (...) {
    try {
      system->modify({{"ResourcePath", "VirtualMachine/Devices/Plan9/Shares"},
                      {"RequestType", "Remove"},
                      {"Settings", {{"Name", name}}}});
    } catch (const std::exception&) {
    }
    const std::lock_guard lock(mutex_);
    shares_.erase(guest_path);
    throw;
  }
  return guest_path;
}

void UtilityVm::remove_share(const std::string& guest_path) {
  Share share;
  hcs::ComputeSystem* system = nullptr;
  {
    const std::lock_guard lock(mutex_);
    const auto it = shares_.find(guest_path);
    if (it == shares_.end()) throw make_error(ErrorKind::NotFound, "no Plan9 share at {} in {}", guest_path, id_);
    share = it->second;
    shares_.erase(it);
    if (state_ != VmState::Running) return;  // gone with the VM
    system = system_.get();
  }
  guest().modify_settings(std::string(gcs::kNullContainerId), std::string(gcs::kResourceMappedDirectory), "Remove",
                          gcs::MappedDirectory{guest_path, kPlan9Port, share.name, share.read_only});
  system->modify({{"ResourcePath", "VirtualMachine/Devices/Plan9/Shares"},
                  {"RequestType", "Remove"},
                  {"Settings", {{"Name", share.name}}}});
}

}  // namespace shimcore::controller
