// The pod sandbox of a process-kind shim: its pause container's state machine, its member tasks, stop and shutdown.
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

// One sandbox per shim. Thread-safe; throws shimcore::Error: NotFound for another sandbox id (naming the one served),
// FailedPrecondition for a wrong state, InvalidArgument for bad input, AlreadyExists for a second CreateSandbox.
class SandboxController {
 public:
  // `pause_command` is the pause container's process (argv). On the emulator it runs on the host, as the pause
  // container of a host-process pod would.
  SandboxController(hcs::Client& client, ProcessTaskController& tasks, std::vector<std::string> pause_command,
                    SandboxPlatform platform);
  ~SandboxController();
  SandboxController(const SandboxController&) = delete;
  SandboxController& operator=(const SandboxController&) = delete;

  // Reads <bundle>/config.json when present (its annotations join the request's); creates the pause container.
  void create(const CreateSandboxRequest& request);
  // Starts the pause process; returns its pid and the time the sandbox became ready. Idempotent while running.
  std::pair<std::uint32_t, TimePoint> start(const std::string& id);
  SandboxPlatform platform(const std::string& id);
  // Kills the member tasks, asks the pause process to stop (SIGTERM) and terminates it after `grace`, or at once
  // when `cancel` fires (the caller went away or the shim is stopping). A member that could not be killed fails the
  // stop with that member's error: the pod is then not stopped, and StopSandbox may be retried.
  void stop(const std::string& id, std::chrono::milliseconds grace, std::stop_token cancel = {});
  // Calls `on_exit` once the sandbox has stopped (at once if it has), from any thread.
  void wait(const std::string& id, std::function<void(const ExitStatus&)> on_exit);
  SandboxStatus status(const std::string& id, bool verbose);
  // Proves the sandbox answers: its pause container is queried through HCS.
  void ping(const std::string& id);
  // Stops everything, tasks included; the shim exits afterwards. Records the exit for `delete`. With no sandbox
  // created (CreateSandbox failed) there is nothing to stop and it succeeds.
  void shutdown(const std::string& id);
  // The pause container's HCS Statistics; FailedPrecondition naming the state unless the sandbox runs.
  hcs::schema::Statistics statistics(const std::string& id);

  // True once CreateSandbox succeeded and until ShutdownSandbox: Task.Shutdown must then leave the shim running.
  bool serving();
  // The sandbox id while serving().
  std::optional<std::string> served_id();

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
