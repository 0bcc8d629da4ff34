// The narrow HCS client interface the controllers use; implemented by the computecore backend (Windows) and the
// emulator (Linux, and Windows tests).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "shimcore/hcs/hresult.h"
#include "shimcore/hcs/os_handle.h"

namespace shimcore::hcs {

// Documents cross this interface as JSON, exactly as HCS takes and returns them; the typed schema (hcs/schema/)
// converts to and from it. Every call that fails throws HcsError (an Error with the HRESULT and the errdefs kind).

// How a compute system stopped: HcsEventSystemExited's SystemExitStatus.
struct SystemExit {
  std::uint32_t status = 0;  // HRESULT; 0 for a clean exit
  std::string exit_type;     // "GracefulExit", "ForcedExit", "UnexpectedExit"
  nlohmann::json document;   // the whole SystemExitStatus
};

// How a process ended: HcsEventProcessExited's ProcessStatus.
struct ProcessExit {
  std::uint32_t process_id = 0;
  std::uint32_t exit_code = 0;  // valid when last_wait_result == 0
  std::int32_t last_wait_result = 0;
};

// The pipe ends HCS hands back for a process created with Create*Pipe (HCS_PROCESS_INFORMATION); absent ones are
// invalid handles. Ownership passes to the caller.
struct ProcessStdio {
  OsHandle std_in;
  OsHandle std_out;
  OsHandle std_err;
};

class Process {
 public:
  virtual ~Process() = default;  // closes the handle; the process itself keeps running

  virtual std::uint32_t pid() const = 0;
  // The stdio pipes from creation; a second call returns invalid handles.
  virtual ProcessStdio take_stdio() = 0;
  // SignalProcessOptions, e.g. {"Signal":"CtrlC"} (Windows) or {"Signal":15} (Linux guests).
  virtual void signal(const nlohmann::json& options) = 0;
  virtual void terminate() = 0;
  virtual void resize_console(std::uint16_t height, std::uint16_t width) = 0;
  virtual void close_stdin() = 0;
  // ProcessStatus.
  virtual nlohmann::json properties() = 0;
  // Blocks until the process exits or the timeout passes (nullopt); no timeout waits forever.
  virtual std::optional<ProcessExit> wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt) = 0;
  // Called once, on an HCS thread, when the process exits (at once if it already has). One callback per handle.
  virtual void on_exit(std::function<void(const ProcessExit&)> callback) = 0;
};

class ComputeSystem {
 public:
  virtual ~ComputeSystem() = default;  // closes the handle (the system stops if it asked to on last close)

  virtual const std::string& id() const = 0;
  virtual void start() = 0;
  // On a system that already stopped both throw HcsError(HCS_E_SYSTEM_ALREADY_STOPPED): check already_stopped().
  virtual void shutdown() = 0;
  virtual void terminate() = 0;
  virtual void pause() = 0;
  virtual void resume() = 0;
  // PropertyQuery in, Properties out. An empty query asks for the basic properties.
  virtual nlohmann::json properties(const nlohmann::json& query = nlohmann::json::object()) = 0;
  // ModifySettingRequest.
  virtual void modify(const nlohmann::json& request) = 0;
  virtual std::optional<SystemExit> wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt) = 0;
  virtual void on_exit(std::function<void(const SystemExit&)> callback) = 0;
  // ProcessParameters in.
  virtual std::unique_ptr<Process> create_process(const nlohmann::json& parameters) = 0;
  virtual std::unique_ptr<Process> open_process(std::uint32_t pid) = 0;
};

// A container's storage made usable (HCS's layer storage API, computestorage.dll): the union of its read-only layers
// over its scratch, as the volume a Container document's Storage.Path names, and the layers as Storage.Layers lists
// them (hcsshim's mounted WCOW layers).
struct ContainerVolume {
  std::string volume_path;  // \\?\Volume{GUID}\ .
  struct Layer {
    std::string id;    // the layer's GUID (hcsshim: NameToGuid of the folder's name)
    std::string path;  // the layer folder
  };
  std::vector<Layer> layers;  // top-most first, as given
};

class Client {
 public:
  virtual ~Client() = default;

  // Prepares `layers` (read-only folders, top-most first) over the writable `scratch` folder for container `id` and
  // returns the volume to name in its document. Throws Error(Unimplemented) where the backend has no layer storage,
  // HcsError for a layer or scratch that does not exist.
  virtual ContainerVolume attach_container_storage(const std::string& id, const std::vector<std::string>& layers,
                                                   const std::string& scratch);
  // Undoes attach_container_storage; a container without storage is no error.
  virtual void detach_container_storage(const std::string& id);

  // `document` is a ComputeSystem document with exactly one of Container, VirtualMachine, HostedSystem.
  virtual std::unique_ptr<ComputeSystem> create_system(const std::string& id, const nlohmann::json& document) = 0;
  virtual std::unique_ptr<ComputeSystem> open_system(const std::string& id) = 0;
  // SystemQuery {Ids, Names, Types, Owners} in; a JSON array of Properties out.
  virtual nlohmann::json enumerate_systems(const nlohmann::json& query = nlohmann::json::object()) = 0;
  // e.g. {"PropertyTypes":["ProcessorTopology"]} -> {"Properties":[...]}.
  virtual nlohmann::json service_properties(const nlohmann::json& query) = 0;
};

}  // namespace shimcore::hcs
