// The typed host API over one GCS bridge (hcsshim internal/gcs/guestconnection.go, container.go, process.go):
// negotiation, container and process RPCs, stdio ports, exit notifications.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shimcore/gcs/bridge.h"
#include "shimcore/gcs/messages.h"
#include "shimcore/gcs/transport.h"
#include "shimcore/hcs/client.h"

namespace shimcore::gcs {

struct GuestConnectionOptions {
  std::chrono::milliseconds call_timeout = std::chrono::minutes(5);
  // How long the guest may take to dial a process's stdio ports after answering ExecuteProcess.
  std::chrono::milliseconds stdio_accept_timeout = std::chrono::seconds(30);
  // hcsshim bounds container shutdown RPCs by 30 s (internal/gcs/container.go).
  std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(30);
  std::function<void(const std::string& reason)> on_closed;
  std::function<void(const std::string& line)> debug_log;
};

class GuestConnection;

// A process the guest started. Its exit code comes from the WaitForProcess call sent right after ExecuteProcess.
class GuestProcess {
 public:
  std::uint32_t pid() const noexcept { return pid_; }
  const std::string& container_id() const noexcept { return container_id_; }
  // The accepted stdio connections (absent streams invalid); call once, before relaying.
  hcs::ProcessStdio take_stdio();
  // The exit code. Throws Error(Unavailable) when the bridge closed before the process exited, DeadlineExceeded
  // when `timeout` elapsed first (the wait itself continues).
  std::uint32_t wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  bool exited() const;
  // SignalProcess; no signal = SIGKILL. Throws Error(NotFound) when the guest no longer knows the process.
  void signal(std::optional<int> signal);
  void resize_console(std::uint16_t height, std::uint16_t width);

  // Only a GuestConnection can make the key.
  class Key {
    friend class GuestConnection;
    Key() = default;
  };
  GuestProcess(Key, GuestConnection& connection, std::string container_id, std::uint32_t pid) noexcept
      : connection_(&connection), container_id_(std::move(container_id)), pid_(pid) {}

 private:
  friend class GuestConnection;
  GuestConnection* connection_;
  std::string container_id_;
  std::uint32_t pid_;
  hcs::ProcessStdio stdio_;
  std::shared_ptr<Bridge::Call> wait_call_;
};

class GuestConnection {
 public:
  using ExitCallback = std::function<void(const ContainerNotification&)>;

  // Accepts the guest's dial on `bridge_listener` within `connect_timeout` (DeadlineExceeded otherwise) and
  // negotiates protocol version 4 (FailedPrecondition when the guest offers another). `transport` is kept for the
  // stdio ports and must outlive the connection.
  static std::unique_ptr<GuestConnection> connect(GuestTransport& transport, PortListener& bridge_listener,
                                                  std::chrono::milliseconds connect_timeout,
                                                  GuestConnectionOptions options);
  ~GuestConnection();
  GuestConnection(const GuestConnection&) = delete;
  GuestConnection& operator=(const GuestConnection&) = delete;

  std::uint32_t protocol_version() const noexcept { return version_; }
  const GcsCapabilities& capabilities() const noexcept { return capabilities_; }

  // Create registers `on_exit` for the container's notification before sending (hcsshim does the same, so that an
  // early exit is not an unknown-container violation). A failed Create unregisters it.
  void create_container(const std::string& id, const nlohmann::json& config, ExitCallback on_exit);
  void start_container(const std::string& id);
  // ShutdownGraceful/Forced for a container; "already gone" (0xC037010E) counts as done.
  void shutdown_container(const std::string& id, bool forced);
  void delete_container_state(const std::string& id);
  // ExecuteProcess: a fresh port is listened on for each requested pipe before sending, the guest's connections are
  // accepted after its answer, then WaitForProcess is sent.
  std::unique_ptr<GuestProcess> execute_process(const std::string& container_id, const ProcessParameters& parameters);
  void modify_settings(const std::string& container_id, std::string resource_type, std::string request_type,
                       nlohmann::json settings);
  nlohmann::json get_properties(const std::string& container_id, std::vector<std::string> property_types);
  std::string dump_stacks(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // ShutdownGraceful/Forced on the null container: the guest powers the VM off without answering. Returns true when
  // the guest hung up within `bound`.
  bool shutdown_vm(bool forced, std::chrono::milliseconds bound);

  void close(const std::string& reason);
  bool closed() const;
  std::string close_reason() const;

  class Key {
    friend class GuestConnection;
    Key() = default;
  };
  GuestConnection(Key, GuestTransport& transport, GuestConnectionOptions options);

 private:
  friend class GuestProcess;
  bool notify(const ContainerNotification& notification);
  std::string call(Rpc rpc, const nlohmann::json& body, std::optional<std::chrono::milliseconds> timeout = {});
  std::uint32_t next_port();

  GuestTransport& transport_;
  GuestConnectionOptions options_;
  std::uint32_t version_ = 0;
  GcsCapabilities capabilities_;
  std::mutex mutex_;
  std::uint32_t next_port_ = kFirstStdioPort;
  std::map<std::string, ExitCallback> exit_callbacks_;
  std::unique_ptr<Bridge> bridge_;  // last: destroyed (reader joined) before the state its callbacks use
};

}  // namespace shimcore::gcs
