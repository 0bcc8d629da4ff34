// The LCOW kind's tasks: Linux containers run by runc inside one utility VM, reached over the GCS bridge. Pods are
// groups of containers in that VM; the VM boots with the first task (task-only flow) or with the sandbox.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "shimcore/builder/common.h"
#include "shimcore/controller/task_controller.h"
#include "shimcore/controller/utility_vm.h"
#include "shimcore/hcs/client.h"

namespace shimcore::controller {

struct LcowTaskOptions {
  std::string namespace_name;  // CONTAINER_NAMESPACE of binary:// loggers
  // The VM document's inputs besides the spec: the runhcs options and the host (profile, file probe, boot files).
  std::optional<builder::RuntimeOptions> runtime_options;
  builder::BuildEnvironment environment;
  std::string owner = "containerd-shim-lcow-v2";
  GuestTransportFactory transports = default_guest_transport_factory();
  UtilityVmOptions vm;
};

class LcowTaskController final : public TaskController {
 public:
  LcowTaskController(hcs::Client& client, TaskEvents& events, LcowTaskOptions options);
  ~LcowTaskController() override;
  LcowTaskController(const LcowTaskController&) = delete;
  LcowTaskController& operator=(const LcowTaskController&) = delete;

  // Reads <bundle>/config.json; boots the utility VM if none runs yet (its document from this spec, hcsshim's V1
  // path); shares the rootfs and bind mounts into the guest over Plan9, combines the layers there and creates the
  // container in the guest. The init process starts with start().
  std::uint32_t create(const CreateTaskRequest& request) override;
  std::uint32_t start(const std::string& id, const std::string& exec_id) override;
  void exec(const ExecRequest& request) override;
  ProcessStatus state(const std::string& id, const std::string& exec_id) override;
  // `all` on an init reaches its execs, and on a pod's sandbox task every container of the pod.
  void kill(const std::string& id, const std::string& exec_id, std::uint32_t signal, bool all) override;
  ExitStatus remove(const std::string& id, const std::string& exec_id) override;
  // The guest's pids of the container's processes (its ProcessList).
  std::vector<std::uint32_t> pids(const std::string& id) override;
  void resize_pty(const std::string& id, const std::string& exec_id, std::uint32_t width,
                  std::uint32_t height) override;
  void close_io(const std::string& id, const std::string& exec_id, bool close_stdin) override;
  // A container: its LinuxResources go to the guest (ContainerConstraints, applied with `runc update`). A pod's
  // sandbox task (a VM resize in hcsshim): FailedPrecondition while other pods share the VM, else Unimplemented.
  void update(const std::string& id, const ResourceUpdate& update) override;
  void wait(const std::string& id, const std::string& exec_id, std::function<void(const ExitStatus&)> on_exit) override;
  std::size_t task_count() override;
  std::vector<std::string> task_ids() override;
  std::vector<TaskSummary> summaries() override;
  // The guest's cgroup metrics of the container (GetProperties Statistics).
  TaskStatistics task_statistics(const std::string& id) override;
  // Deletes every container (best effort) and shuts the VM down.
  void shutdown() override;

  // The VM, once created (nullptr before).
  UtilityVm* vm();
  // The sandbox flow: CreateSandbox builds the VM document with hcsshim's V2 path from the sandbox spec and creates
  // the VM (AlreadyExists when one exists); StartSandbox boots it. Tasks then join it by their sandbox id.
  UtilityVm& create_sandbox_vm(const std::string& sandbox_id, const std::map<std::string, std::string>& annotations,
                               const std::string& bundle);
  void start_sandbox_vm();
  // Told once when the VM stops or its guest is lost (WaitSandbox, SandboxStatus).
  void set_vm_exit_listener(std::function<void(const std::string& reason)> listener);
  // The sandbox's platform: the runtime options' SandboxPlatform, linux/amd64 when they name none.
  std::string sandbox_platform() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shimcore::controller
