// The guest agent's state and request handlers: containers run by runc, processes in containers and in the utility
// VM, mounts, and the host's requests on them (hcs-api-and-schema.md §C.5, §C.8, §C.10).
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "mounts.h"
#include "pod_namespaces.h"
#include "posix.h"
#include "process.h"
#include "reaper.h"
#include "shimcore/errdefs.h"
#include "shimcore/gcs/messages.h"
#include "shimcore/gcs/protocol.h"

namespace shimcore::guest {

// An Error that knows the HRESULT the host must see in ResponseBase.Result.
class WireError : public Error {
 public:
  WireError(std::uint32_t hresult, ErrorKind kind, std::string message)
      : Error(kind, std::move(message)), hresult_(hresult) {}
  std::uint32_t hresult() const noexcept { return hresult_; }

 private:
  std::uint32_t hresult_;
};
template <typename... Args>
WireError wire_failure(std::uint32_t hresult, fmt::format_string<Args...> format, Args&&... args) {
  return WireError(hresult, ErrorKind::Unknown, fmt::format(format, std::forward<Args>(args)...));
}
// The HRESULT for any exception a handler throws: a WireError's own, else one chosen by the Error's kind.
std::uint32_t hresult_of(const std::exception& error);

struct AgentOptions {
  std::string root = "/run/gcs";  // absolute
  std::string runc = "runc";
  std::string cgroup_parent = "/gcs";
};

enum class ContainerState { Created, Running, Stopped, Deleted };
enum class ProcessState { Running, Exited };
std::string_view to_string(ContainerState state);
std::string_view to_string(ProcessState state);

// A process the agent started: a container's init or exec, or a process in the utility VM itself.
struct GuestProcess {
  pid_t pid = 0;
  std::string container_id;  // empty for a utility-VM process
  bool init = false;
  std::shared_ptr<Fd> pty_master;               // with EmulateConsole
  std::vector<std::unique_ptr<Relay>> outputs;  // stdout/stderr (or the pty) towards the host
  std::unique_ptr<Relay> input;                 // the host's stdin towards the process

  std::mutex mutex;
  std::condition_variable_any changed;
  ProcessState state = ProcessState::Running;
  int exit_code = 0;
  // WaitForProcess requests whose response is not yet written: the init's exit notification waits for them (briefly),
  // so that the host sees the exit code before the container's exit.
  int unanswered_waits = 0;

  std::jthread waiter;  // last member: destroyed (stopped and joined) before the relays it waits on
};

struct Container {
  std::string id;
  std::string activity_id;  // of the Create request; echoed by the exit notification
  std::string bundle;
  std::string pod;      // the CRI pod whose namespaces it shares (io.kubernetes.cri.sandbox-id), or empty
  nlohmann::json spec;  // the spec as written to config.json
  ContainerState state = ContainerState::Created;
  int last_signal = 0;  // the last SIGTERM or SIGKILL the host sent the init: decides the exit notification's Type
  bool notified = false;
  bool init_exited = false;  // may happen before `runc start` returns; start_init then completes the exit
  std::map<pid_t, std::shared_ptr<GuestProcess>> processes;  // init and execs
  // Serialises the runc operations on this container (start, exec, delete), which run without the agent's mutex.
  std::mutex operation;
};

// A handler's outcome: the response body, or none (a null-id shutdown, or a wait cut short by a disconnect).
struct Reply {
  Reply() = default;
  explicit Reply(std::optional<std::string> response, bool shut_down = false)
      : body(std::move(response)), shutdown(shut_down) {}
  std::optional<std::string> body;
  bool shutdown = false;
  std::function<void()> answered;  // when set, the bridge calls it once the body is written (or dropped)
};

class Agent {
 public:
  using Notifier = std::function<void(const gcs::ContainerNotification&)>;

  Agent(AgentOptions options, Reaper& reaper, Transport& transport, std::unique_ptr<ShareMounter> shares);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  void set_notifier(Notifier notifier);
  // Every request except NegotiateProtocol (a property of the connection, handled by the bridge). `stop` fires when
  // the connection goes away; only waits honour it.
  Reply handle(gcs::Rpc rpc, std::string_view body, std::stop_token stop);

 private:
  gcs::CreateResponse create(const gcs::CreateRequest& request);
  gcs::ExecuteProcessResponse execute(const gcs::ExecuteProcessRequest& request);
  // Sets `answered` as soon as the process is found: the caller must run it after writing whatever response.
  std::optional<gcs::WaitForProcessResponse> wait(const gcs::WaitForProcessRequest& request, std::stop_token stop,
                                                  std::function<void()>& answered);
  void signal(const gcs::SignalProcessRequest& request);
  void resize(const gcs::ResizeConsoleRequest& request);
  gcs::GetPropertiesResponse properties(const gcs::GetPropertiesRequest& request);
  void modify(const gcs::ModifySettingsRequest& request);
  void update_constraints(const gcs::ModifySettingsRequest& request);
  gcs::DumpStacksResponse dump_stacks();
  void delete_state(const gcs::RequestBase& request);
  // Returns true for the null container id: the utility VM is to shut down (no response).
  bool shutdown(const gcs::RequestBase& request, bool forced);

  struct Stdio;
  Stdio dial_stdio(const gcs::StdioPorts& ports);
  std::shared_ptr<GuestProcess> start_init(Container& container, const gcs::ProcessParameters& parameters, Stdio stdio);
  std::shared_ptr<GuestProcess> start_exec(Container& container, const gcs::ProcessParameters& parameters, Stdio stdio);
  std::shared_ptr<GuestProcess> start_uvm_process(const gcs::ProcessParameters& parameters, Stdio stdio);
  // Runs runc create/exec (`argv` ends with the container id) with the process's stdio; fills in the pid from the
  // pid file and the relays (over pipes, or over the pty master runc hands back on the console socket).
  void run_runc_starter(std::vector<std::string> argv, Container& container, bool terminal, Stdio stdio,
                        const std::string& what, GuestProcess& process);
  // Registers a started process and starts its waiter.
  void track(const std::shared_ptr<GuestProcess>& process, Container* container);
  void watch(GuestProcess& process, std::stop_token stop);
  void on_init_exit(const std::string& container_id);
  // Running -> Stopped and the one exit notification (to be sent by the caller, outside the lock).
  gcs::ContainerNotification stop_container(Container& container);  // caller holds mutex_
  std::shared_ptr<GuestProcess> find_process(const std::string& container_id, std::uint32_t pid);
  std::shared_ptr<Container> find_container(const std::string& container_id);  // caller holds mutex_
  void move(Container& container, ContainerState to);                          // caller holds mutex_
  std::vector<std::string> runc_command(std::initializer_list<std::string> args) const;
  std::string cgroup_path(const std::string& container_id) const;

  AgentOptions options_;
  Reaper& reaper_;
  Transport& transport_;
  std::unique_ptr<ShareMounter> shares_;
  PodNamespaces pod_namespaces_;

  std::mutex mutex_;
  Notifier notifier_;
  std::map<std::string, std::shared_ptr<Container>> containers_;
  std::map<pid_t, std::shared_ptr<GuestProcess>> uvm_processes_;
  std::set<std::string> share_mounts_;                         // MappedDirectory mount paths
  std::map<std::string, std::set<std::string>> layer_mounts_;  // container id -> CombinedLayers root paths
  std::map<std::string, nlohmann::json> network_adapters_;     // adapter id -> settings (recorded only)
  std::uint64_t sequence_ = 0;                                 // names of per-request files
};

}  // namespace shimcore::guest
