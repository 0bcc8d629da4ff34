// The HCS emulator: a Client that behaves like HCS (documents, states, errors, exit notifications) and runs real
// host processes, so that the shims can be driven end to end on Linux.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shimcore/hcs/client.h"

namespace shimcore::hcs {

// The guest side of an emulated utility VM. The emulator starts one when a VirtualMachine system starts and stops it
// when the system stops.
class EmulatedGuest {
 public:
  virtual ~EmulatedGuest() = default;
  virtual void start() = 0;
  // Ends the guest and everything it started; returns once it is gone. Safe to call after the guest ended itself.
  virtual void stop() = 0;
  // A ModifySettingRequest's GuestRequest. Throw HcsError to refuse it.
  virtual void modify(const nlohmann::json& guest_request) = 0;
  // A Plan9 share was added (`host_path` set) or removed while the guest runs; the emulator has already checked the
  // request. A guest that reads shares from elsewhere than the plan9 directory's links exposes it here. Throw
  // HcsError to refuse it.
  virtual void plan9_share(const std::string& /*name*/, const std::filesystem::path* /*host_path*/,
                           bool /*read_only*/) {}
  // The host process that stands for the VM (recorded so that `delete` can kill a dead shim's VM); 0 when none.
  virtual int host_pid() const { return 0; }
};

// What a guest is given: the system, where its emulated hvsock ports and Plan9 shares are, and how to report that it
// ended on its own (the VM powered off or crashed: `clean` is false for a crash).
struct GuestContext {
  std::string system_id;
  std::string runtime_id;
  nlohmann::json document;
  std::filesystem::path ports_directory;  // port P is the Unix socket <ports_directory>/<P>
  std::filesystem::path plan9_directory;  // share N is <plan9_directory>/<N>
  std::function<void(bool clean)> exited;
};
using GuestFactory = std::function<std::unique_ptr<EmulatedGuest>(const GuestContext& context)>;

// Where an emulated VM's ports and shares live: <runtime_dir>/vm/<runtime id>/{ports,plan9}. The host side of the
// GCS bridge listens in the ports directory (gcs::make_unix_port_transport), as hcsshim listens on hvsock
// (VM RuntimeId, port).
std::filesystem::path emulated_vm_directory(const std::filesystem::path& runtime_dir, std::string_view runtime_id);
std::filesystem::path emulated_hvsock_directory(const std::filesystem::path& runtime_dir, std::string_view runtime_id);

// How a Linux utility VM runs: its guest agent as a process in namespaces of its own (the default), or a real VM
// under QEMU booting the kernel and initrd the document names (hcs/emulator/qemu_guest.h).
enum class LinuxVmBackend { Process, Qemu };

struct QemuOptions {
  std::string binary = "qemu-system-x86_64";
  // TCG on one host thread: KVM did not run guests on these machines, and multi-threaded TCG once left both vCPUs of a
  // guest in soft lockups inside runc (see the README).
  std::string accel = "tcg,thread=single";
};

struct EmulatorOptions {
  // Where each system's record lives, so that a later `delete` of a dead shim can find and clean it up.
  std::filesystem::path runtime_dir;
  // The containerd namespace of the shim: records are kept per namespace and id, as task ids repeat across namespaces.
  std::string namespace_name;
  // What the emulated host reports (host profile, service properties).
  std::uint32_t os_build = 26100;  // Windows Server 2025
  std::string product_type = "Server";
  std::string architecture = "amd64";
  std::uint32_t logical_processors = 0;  // 0: this machine's count
  // Guests of VirtualMachine systems. Without a factory, a Linux VM runs `lcow_guest_agent` when one is set (see
  // hcs/emulator/lcow_guest.h), and every other VM gets a guest that accepts everything and does nothing.
  GuestFactory guest_factory;
  // The LCOW guest agent (shimcore-gcs) that emulated Linux VMs boot; empty = none.
  std::filesystem::path lcow_guest_agent;
  LinuxVmBackend linux_vm_backend = LinuxVmBackend::Process;
  std::string linux_vm_backend_error;  // set: the environment named no known backend; Linux VMs fail to start
  QemuOptions qemu;
};

// From the environment: SHIMCORE_HCS_EMULATOR_DIR (default /run/shimcore/hcs-emulator, or $XDG_RUNTIME_DIR/... for
// non-root users), SHIMCORE_HCS_EMULATOR_OS_BUILD, SHIMCORE_HCS_EMULATOR_CPUS, SHIMCORE_GCS_PATH (the guest agent;
// default: shimcore-gcs beside the running executable, when it exists), SHIMCORE_HCS_EMULATOR_VM (`process`, the
// default, or `qemu`), SHIMCORE_QEMU (the QEMU binary) and SHIMCORE_QEMU_ACCEL (QEMU's -accel value).
EmulatorOptions emulator_options_from_environment();

// The test hooks HCS has no API for, and the emulator-specific entry points.
class EmulatorClient : public Client {
 public:
  // The guest of a running system exits by itself: the system stops with ExitType UnexpectedExit.
  virtual void simulate_guest_exit(const std::string& id) = 0;
  // The compute service goes away: every waiter is released and later calls fail with HCS_E_SERVICE_DISCONNECT.
  virtual void simulate_service_disconnect() = 0;
};

std::unique_ptr<EmulatorClient> make_emulator_client(EmulatorOptions options);

// Where the emulator says what it accepted without modelling it (a shim routes this to its debug log). Process-wide;
// an empty sink drops the messages.
void set_emulator_debug_log(std::function<void(const std::string&)> sink);

// The emulator's stand-in for HcsNameToGuid (hcsshim's wclayer.NameToGuid of a layer folder's name): a stable GUID
// for a name. Not Windows' algorithm: GUIDs made here differ from a Windows host's for the same name.
std::string emulated_name_to_guid(std::string_view name);

// A system's record on disk, as cleanup_emulated_systems reads it.
struct EmulatorRecordProcess {
  std::uint32_t pid = 0;
  std::optional<std::uint64_t> start_time;  // /proc/<pid>/stat field 22, to tell the process from a reused pid
};
struct EmulatorRecord {
  std::string namespace_name;
  std::string id;
  std::uint32_t shim_pid = 0;  // the shim that owns the system; 0 when not recorded
  std::optional<std::uint64_t> shim_start_time;
  std::vector<EmulatorRecordProcess> processes;
};
// Never throws: bytes that are not a well-formed record give nullopt, and `problem` (when given) says why.
std::optional<EmulatorRecord> parse_emulator_record(std::string_view text, std::string* problem = nullptr);

struct EmulatorCleanup {
  std::vector<std::string> systems;   // the ids cleaned up
  std::size_t killed = 0;             // processes that were still alive and were killed
  std::vector<std::string> warnings;  // records left alone: malformed, or owned by a shim that is still alive
};

// For `delete` after a shim died: kills the processes recorded for the matching systems of `namespace_name` in
// `runtime_dir` (all of that namespace's systems when `ids` is empty) and removes their records. A record whose
// owning shim is still alive (same pid and start time) and is not this process is left alone, as is a malformed
// one; each gives a warning. Never throws for what a record contains. Idempotent.
EmulatorCleanup cleanup_emulated_systems(const std::filesystem::path& runtime_dir, std::string_view namespace_name,
                                         const std::vector<std::string>& ids = {});

// The default client of this build: computecore on Windows unless SHIMCORE_HCS_EMULATOR=1, the emulator elsewhere.
// `namespace_name` is the shim's containerd namespace, which the emulator's records carry.
std::unique_ptr<Client> make_default_client(std::string_view namespace_name = {});

}  // namespace shimcore::hcs
