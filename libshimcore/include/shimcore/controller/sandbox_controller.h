// The sandbox API a shim serves, and the process kind's pod sandbox: its pause container's state machine, its member
// tasks, stop and shutdown.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "shimcore/controller/task_controller.h"
#include "shimcore/hcs/client.h"
#include "shimcore/hcs/schema/properties.h"
#include "shimcore/oci/pod.h"

namespace shimcore::controller {

// NotCreated -> Created -> Running -> Stopped -> ShutDown (Created -> Stopped when stopped before it ran). Any other
// move is FailedPrecondition naming the current state.
enum class SandboxState { NotCreated, Created, Running, Stopped, ShutDown };
std::string_view to_string(SandboxState state) noexcept;

struct CreateSandboxRequest {
  std::string id;
  std::string bundle;
  std::string netns_path;
  std::map<std::string, std::string> annotations;   // CreateSandboxRequest.annotations
  std::optional<oci::PodSandboxConfig> pod_config;  // from CRI, when options carried one
};

struct SandboxPlatform {
  std::string os;
  std::string architecture;
  std::string os_version;
};

struct SandboxStatus {
  std::string id;
  std::uint32_t pid = 0;
  SandboxState state = SandboxState::NotCreated;
  std::optional<TimePoint> created_at;
  std::optional<TimePoint> exited_at;
  std::map<std::string, std::string> info;  // filled when verbose
};

// One sandbox per shim, whatever holds it (a pause container, a utility VM). Thread-safe; throws shimcore::Error:
// NotFound for another sandbox id (naming the one served), FailedPrecondition for a wrong state, InvalidArgument for
// bad input, AlreadyExists for a second CreateSandbox.
class SandboxController {
 public:
  virtual ~SandboxController() = default;

  virtual void create(const CreateSandboxRequest& request) = 0;
  // Returns the sandbox's pid and the time it became ready. Idempotent while running.
  virtual std::pair<std::uint32_t, TimePoint> start(const std::string& id) = 0;
  virtual SandboxPlatform platform(const std::string& id) = 0;
  // Kills the member tasks and stops the sandbox within `grace`, at once when `cancel` fires.
  virtual void stop(const std::string& id, std::chrono::milliseconds grace, std::stop_token cancel = {}) = 0;
  // Calls `on_exit` once the sandbox has stopped (at once if it has), from any thread.
  virtual void wait(const std::string& id, std::function<void(const ExitStatus&)> on_exit) = 0;
  virtual SandboxStatus status(const std::string& id, bool verbose) = 0;
  // Proves the sandbox answers.
  virtual void ping(const std::string& id) = 0;
  // Stops everything, tasks included; the shim exits afterwards. With no sandbox created it succeeds.
  virtual void shutdown(const std::string& id) = 0;
  // The sandbox's statistics; FailedPrecondition naming the state unless it runs.
  virtual TaskStatistics statistics(const std::string& id) = 0;
  // True once CreateSandbox succeeded and until ShutdownSandbox: Task.Shutdown must then leave the shim running.
  virtual bool serving() = 0;
  // The sandbox id while serving().
  virtual std::optional<std::string> served_id() = 0;
};

// The process kind's sandbox: a pause container on the host and its member tasks.
class PauseSandboxController final : public SandboxController {
 public:
  // `pause_command` is the pause container's process (argv). On the emulator it runs on the host, as the pause
  // container of a host-process pod would.
  PauseSandboxController(hcs::Client& client, ProcessTaskController& tasks, std::vector<std::string> pause_command,
                         SandboxPlatform platform);
  ~PauseSandboxController() override;
  PauseSandboxController(const PauseSandboxController&) = delete;
  PauseSandboxController& operator=(const PauseSandboxController&) = delete;

  // Reads <bundle>/config.json when present (its annotations join the request's); creates the pause container.
  void create(const CreateSandboxRequest& request) override;
  // Starts the pause process.
  std::pair<std::uint32_t, TimePoint> start(const std::string& id) override;
  SandboxPlatform platform(const std::string& id) override;
  // Kills the member tasks, asks the pause process to stop (SIGTERM) and terminates it after `grace`, or at once
  // when `cancel` fires (the caller went away or the shim is stopping). A member that could not be killed fails the
  // stop with that member's error: the pod is then not stopped, and StopSandbox may be retried.
  void stop(const std::string& id, std::chrono::milliseconds grace, std::stop_token cancel = {}) override;
  void wait(const std::string& id, std::function<void(const ExitStatus&)> on_exit) override;
  SandboxStatus status(const std::string& id, bool verbose) override;
  // Its pause container is queried through HCS.
  void ping(const std::string& id) override;
  // Records the exit for `delete`.
  void shutdown(const std::string& id) override;
  // The pause container's HCS Statistics (as `windows`).
  TaskStatistics statistics(const std::string& id) override;
  bool serving() override;
  std::optional<std::string> served_id() override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Files a sandbox shim keeps in its bundle for `delete` after a crash.
// A JSON array, rewritten whole on every change: [{"system": "<HCS system id>", "bundle": "<task bundle or empty>"}].
inline constexpr const char* kSandboxMembersFile = "shimcore-members";

struct SandboxMember {
  std::string system;  // HCS system id
  std::string bundle;  // the member task's bundle; empty for the pause container
};
// Reads <bundle>/kSandboxMembersFile for `delete`. Never throws: a missing file is no members, and a file that is not
// such an array (a crash cannot leave one, the writes are atomic, but someone may edit it) yields the entries that
// are well formed, with `malformed` set.
std::vector<SandboxMember> read_sandbox_members(const std::string& bundle, bool* malformed = nullptr);
// The same for the file's bytes.
std::vector<SandboxMember> parse_sandbox_members(std::string_view text, bool* malformed = nullptr);

}  // namespace shimcore::controller
