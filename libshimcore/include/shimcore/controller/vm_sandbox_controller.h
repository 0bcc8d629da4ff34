// The LCOW kind's sandbox: the utility VM itself (hcsshim V2: one shim = one sandbox = one VM), whose pods' containers
// the LCOW task controller runs.
#pragma once

#include <memory>

#include "shimcore/controller/lcow_task_controller.h"
#include "shimcore/controller/sandbox_controller.h"

namespace shimcore::controller {

class VmSandboxController final : public SandboxController {
 public:
  explicit VmSandboxController(LcowTaskController& tasks);
  ~VmSandboxController() override;
  VmSandboxController(const VmSandboxController&) = delete;
  VmSandboxController& operator=(const VmSandboxController&) = delete;

  // The VM document comes from hcsshim's V2 path with the annotations of <bundle>/config.json when present, else
  // those of CRI's PodSandboxConfig and the request; the HCS system is created, not started.
  void create(const CreateSandboxRequest& request) override;
  // Boots the VM and connects the bridge. Returns the shim's pid (the VM's host).
  std::pair<std::uint32_t, TimePoint> start(const std::string& id) override;
  SandboxPlatform platform(const std::string& id) override;
  // Kills the pods' processes, then asks the guest to power off and terminates the VM after `grace` (at once when
  // `cancel` fires).
  void stop(const std::string& id, std::chrono::milliseconds grace, std::stop_token cancel = {}) override;
  void wait(const std::string& id, std::function<void(const ExitStatus&)> on_exit) override;
  // Verbose info: vm_id, runtime_id, vm_state, guest_os, guest_protocol.
  SandboxStatus status(const std::string& id, bool verbose) override;
  // A round trip to the guest (DumpStacks).
  void ping(const std::string& id) override;
  void shutdown(const std::string& id) override;
  // The VM's HCS statistics (as `vm`).
  TaskStatistics statistics(const std::string& id) override;
  bool serving() override;
  std::optional<std::string> served_id() override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shimcore::controller
