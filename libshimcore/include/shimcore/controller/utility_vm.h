// The utility VM of an LCOW shim (hcsshim internal/controller/vm): its HCS compute system, the GCS bridge to its
// guest agent, its Plan9 shares, and its lifecycle as an explicit state machine.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "shimcore/gcs/guest_connection.h"
#include "shimcore/gcs/transport.h"
#include "shimcore/hcs/client.h"

namespace shimcore::controller {

// NotCreated -> Created -> Running -> Terminated; a failed start is Invalid (then only terminate); a failed create
// stays NotCreated. Any other move is FailedPrecondition naming the state.
enum class VmState { NotCreated, Created, Running, Terminated, Invalid };
std::string_view to_string(VmState state) noexcept;

// How the host reaches the guest of a VM, by the VM's RuntimeId (hcsshim: hvsock with VMID = RuntimeId).
using GuestTransportFactory = std::function<std::unique_ptr<gcs::GuestTransport>(const std::string& runtime_id)>;
// This build's factory: on Linux the HCS emulator's Unix-socket ports (hcs::emulated_hvsock_directory); elsewhere a
// factory that throws Error(Unimplemented) until a hvsock transport exists.
GuestTransportFactory default_guest_transport_factory();

struct UtilityVmOptions {
  // hcsshim's GCSConnectionTimeout: from HCS start to a negotiated bridge.
  std::chrono::milliseconds connect_timeout = std::chrono::minutes(2);
  gcs::GuestConnectionOptions guest;
  // Runs once when the VM stops or its guest connection is lost while running, with the reason.
  std::function<void(const std::string& reason)> on_exit;
};

class UtilityVm {
 public:
  UtilityVm(hcs::Client& client, GuestTransportFactory transports, std::string id, UtilityVmOptions options);
  // Terminates the VM if it still runs.
  ~UtilityVm();
  UtilityVm(const UtilityVm&) = delete;
  UtilityVm& operator=(const UtilityVm&) = delete;

  const std::string& id() const noexcept { return id_; }
  // Creates the HCS system from `document` (a ComputeSystem document from the LCOW builder).
  void create(const nlohmann::json& document);
  // Listens for the guest, starts the system, accepts the bridge and negotiates. Idempotent while running.
  void start();
  // Releases the shares still held (best effort), asks the guest to power off (null-id ShutdownGraceful), waits at
  // most `grace` for the VM to stop, then terminates it. Tolerates a VM or guest that is already gone. Idempotent.
  void shutdown(std::chrono::milliseconds grace);
  void terminate();

  VmState state() const;
  std::string runtime_id() const;
  nlohmann::json document() const;  // as sent to HCS
  std::optional<hcs::SystemExit> exit() const;
  // The bridge to the guest: FailedPrecondition unless running, Unavailable once the connection is lost.
  gcs::GuestConnection& guest();
  // HCS properties of the VM (e.g. {"PropertyTypes":["Statistics"]}); FailedPrecondition unless running.
  nlohmann::json properties(const nlohmann::json& query);

  // Shares a host directory into the guest over Plan9 (HCS VirtualMachine/Devices/Plan9/Shares, then the guest's
  // MappedDirectory) and returns where the guest mounted it: `guest_path` when given (absolute, no "..", not "/";
  // AlreadyExists when a share is there), else /run/mounts/plan9/<n>.
  std::string add_share(const std::string& host_path, bool read_only,
                        const std::optional<std::string>& guest_path = std::nullopt);
  // Removes a share by its guest path. NotFound for a path add_share did not return.
  void remove_share(const std::string& guest_path);

 private:
  void require(std::initializer_list<VmState> allowed, std::string_view action) const;
  void stopped(const std::string& reason);

  hcs::Client& client_;
  GuestTransportFactory transports_;
  const std::string id_;
  UtilityVmOptions options_;
  mutable std::mutex mutex_;
  VmState state_ = VmState::NotCreated;
  nlohmann::json document_;
  std::string runtime_id_;
  std::optional<hcs::SystemExit> exit_;
  bool exit_reported_ = false;
  std::uint64_t next_share_ = 0;
  struct Share {
    std::string name;
    std::string host_path;
    bool read_only = false;
  };
  std::map<std::string, Share> shares_;  // by guest path
  std::unique_ptr<gcs::GuestTransport> transport_;
  std::unique_ptr<gcs::PortListener> bridge_listener_;
  std::unique_ptr<gcs::GuestConnection> guest_;
  std::unique_ptr<hcs::ComputeSystem> system_;  // last: closed (its callbacks done) before the state they touch
};

}  // namespace shimcore::controller
