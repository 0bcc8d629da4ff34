// The real HCS backend: a Client over computecore.dll, loaded at run time (Windows only).
#pragma once

#ifdef _WIN32

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "shimcore/hcs/client.h"

namespace shimcore::hcs {

struct ComputecoreOptions {
  // Create, start, pause and resume: hcsshim's defaults (internal/timeout, 4 minutes each).
  std::chrono::milliseconds lifecycle_timeout = std::chrono::minutes(4);
  // Every other call that waits for an operation (properties, modify, enumerate, process calls). hcsshim bounds these
  // by the caller's context; the interface has none, so a hung HCS ends in HCS_E_OPERATION_TIMEOUT instead of a hung
  // shim.
  std::chrono::milliseconds call_timeout = std::chrono::minutes(4);
};

// Follows hcsshim's internal/hcs/v2 behaviour, with these points worth knowing:
// - computecore.dll is loaded from System32 on first use; if it is missing (Containers/Hyper-V feature off) every
//   call throws HcsError with HRESULT_FROM_WIN32(ERROR_MOD_NOT_FOUND); exports a Windows build lacks throw
//   HcsError(ERROR_PROC_NOT_FOUND), which classifies as Unimplemented.
// - ComputeSystem::shutdown() and terminate() submit the request and return without waiting (hcsshim's
//   submitOperation); wait() or on_exit() observe the exit. On a system already known to have exited they do nothing,
//   and "already stopped" / "not found" answers count as done.
// - An HcsEventServiceDisconnect releases waiters with status / LastWaitResult HCS_E_SERVICE_DISCONNECT.
// - Process::terminate() kills through freshly opened handles (HCS serialises signals per system handle); if the
//   process is already gone it throws HcsError(HCS_E_PROCESS_ALREADY_STOPPED) (or ERROR_NOT_FOUND), like the emulator.
// - Handles opened after an exit learn of it from the system's / process's properties, since HCS sends no event then.
// - on_exit callbacks run on HCS threads; they must not destroy the handle they are registered on.
class ComputecoreClient final : public Client {
 public:
  explicit ComputecoreClient(ComputecoreOptions options = {});

  std::unique_ptr<ComputeSystem> create_system(const std::string& id, const nlohmann::json& document) override;
  std::unique_ptr<ComputeSystem> open_system(const std::string& id) override;
  nlohmann::json enumerate_systems(const nlohmann::json& query = nlohmann::json::object()) override;
  nlohmann::json service_properties(const nlohmann::json& query) override;

 private:
  ComputecoreOptions options_;
};

std::unique_ptr<Client> make_computecore_client();
std::unique_ptr<Client> make_computecore_client(ComputecoreOptions options);

}  // namespace shimcore::hcs

#endif  // _WIN32
