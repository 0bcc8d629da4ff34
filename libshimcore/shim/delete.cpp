// `delete`: containerd runs it after every disconnect; it must clean up what a dead daemon left, quickly and
// idempotently, and report the task's exit status.
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "containerd/task/v3/shim.pb.h"
#include "shimcore/controller/sandbox_controller.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/emulator.h"
#include "shimcore/proto_time.h"
#include "shimcore/shim/log.h"
#include "shimcore/shim/runtime.h"
#include "shimcore/transport/unix_socket.h"

namespace shimcore::shim {

void delete_after_death(const SandboxKind& kind, const ShimFlags& flags, std::ostream& out, std::ostream& err) {
  if (flags.id.empty()) throw make_error(ErrorKind::InvalidArgument, "delete: -id is required");
  namespace fs = std::filesystem;
  const fs::path bundle = flags.bundle.empty() ? fs::current_path() : fs::path(flags.bundle);

  // Systems of the dead daemon (emulated HCS keeps a record per system; real HCS systems die with their last handle).
  // A sandbox shim also made a pause container and its members' containers, listed in the bundle as it went.
  set_log_fields(flags.namespace_name, flags.id);
  std::vector<std::string> ids{flags.id};
  // A VM kind's utility VM is the system <id>@vm (hcsshim's delete looks for <id> only and leaves the VM to
  // ShouldTerminateOnLastHandleClosed; here its guest is killed with it).
  if (kind.isolation == Isolation::Hypervisor) ids.push_back(flags.id + "@vm");
  std::vector<fs::path> bundles{bundle};
  bool malformed_members = false;
  for (const controller::SandboxMember& member :
       controller::read_sandbox_members(bundle.string(), &malformed_members)) {
    ids.push_back(member.system);
    if (!member.bundle.empty()) bundles.emplace_back(member.bundle);
  }
  if (malformed_members) {
    err << format_log_line(LogLevel::Warn, "the sandbox members file is malformed: cleaning up what it names",
                           {{"file", (bundle / controller::kSandboxMembersFile).string()}});
  }
  // Only this namespace's records, and none whose shim is alive: the same task id may run in another namespace.
  const hcs::EmulatorCleanup cleanup =
      hcs::cleanup_emulated_systems(hcs::emulator_options_from_environment().runtime_dir, flags.namespace_name, ids);
  for (const std::string& warning : cleanup.warnings) err << format_log_line(LogLevel::Warn, warning);
  const std::size_t killed = cleanup.killed;
  const std::vector<std::string>& systems = cleanup.systems;
  // Root filesystems the daemon mounted and did not get to unmount.
  std::error_code error;
  bool unmounted = false;
  for (const fs::path& owner : bundles) {
    const fs::path rootfs = owner / "rootfs";
    if (fs::exists(rootfs, error) && ::umount2(rootfs.c_str(), MNT_DETACH) == 0) unmounted = true;
  }
  // The daemon's socket: a dead daemon leaves the file behind.
  const bool socket_removed = fs::remove(transport::unix_socket_path(daemon_address(flags)), error);

  containerd::task::v3::DeleteResponse response;
  response.set_exit_status(255);  // unknown: the daemon died before recording an exit
  set_timestamp(*response.mutable_exited_at(), std::chrono::system_clock::now());
  std::ifstream recorded(bundle / kExitStatusFile);
  std::uint32_t status = 0, pid = 0;
  std::int64_t seconds = 0;
  std::int32_t nanos = 0;
  if (recorded >> status >> pid >> seconds >> nanos) {
    response.set_exit_status(status);
    response.set_pid(pid);
    response.mutable_exited_at()->set_seconds(seconds);
    response.mutable_exited_at()->set_nanos(nanos);
  }
  // The daemon died with the task's processes alive and we killed them: the task's exit is that SIGKILL, as the runc
  // shim reports it in the same situation.
  if (killed > 0 && response.pid() == 0) response.set_exit_status(128 + SIGKILL);
  // containerd logs delete's stderr as "cleanup warnings": said only when something was left behind, which is, or
  // when a record could not be used (above).
  if (!systems.empty() || unmounted || socket_removed) {
    std::string system_list;
    for (const std::string& system : systems) system_list += (system_list.empty() ? "" : ",") + system;
    err << format_log_line(LogLevel::Warn, "cleaned up after a dead shim",
                           {{"systems", system_list},
                            {"killed_processes", std::to_string(killed)},
                            {"rootfs_unmounted", unmounted ? "true" : "false"},
                            {"socket_removed", socket_removed ? "true" : "false"},
                            {"exit_status", std::to_string(response.exit_status())}});
  }
  err.flush();
  const std::string bytes = response.SerializeAsString();
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.flush();
}

}  // namespace shimcore::shim
