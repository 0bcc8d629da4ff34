// Test helper that plays the host side of the GCS bridge against a real shimcore-gcs: it listens on the emulator's
// Unix sockets (<dir>/<port>), starts the agent in its own mount namespace, and speaks the raw protocol.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "shimcore/gcs/protocol.h"
#include "test_util.h"

namespace shimcore::testing {

using namespace std::chrono_literals;

// A listening Unix socket for one port; the agent dials it.
class PortListener {
 public:
  explicit PortListener(std::string path);
  ~PortListener();
  PortListener(const PortListener&) = delete;
  PortListener& operator=(const PortListener&) = delete;
  // The accepted connection's fd (owned by the caller), or -1 when none arrives in time.
  int accept(std::chrono::milliseconds timeout = 20s);

 private:
  std::string path_;
  int fd_ = -1;
};

// Reads until EOF or the deadline; `until` (when not empty) also ends the read once the bytes contain it.
std::string read_stream(int fd, std::chrono::milliseconds timeout = 20s, const std::string& until = {});

class GuestHost {
 public:
  // Starts the agent and accepts its bridge connection (not yet negotiated).
  GuestHost();
  ~GuestHost();
  GuestHost(const GuestHost&) = delete;
  GuestHost& operator=(const GuestHost&) = delete;

  const std::string& dir() const { return dir_.path.native(); }
  std::string gcs_root() const { return dir() + "/gcs"; }
  pid_t agent_pid() const { return agent_; }

  // Sends a request (body encoded like the host: trailing newline) and returns its id.
  std::uint64_t send(std::uint32_t type, const nlohmann::json& body);
  void send_raw(const std::string& bytes);
  // The response to `id`, or nullopt on timeout or a closed connection.
  std::optional<nlohmann::json> response(std::uint64_t id, std::chrono::milliseconds timeout = 30s);
  // send + response; fails the test when no response comes.
  nlohmann::json call(gcs::Rpc rpc, const nlohmann::json& body, std::chrono::milliseconds timeout = 30s);
  std::uint32_t response_type_of(std::uint64_t id);
  std::optional<nlohmann::json> notification(std::chrono::milliseconds timeout = 30s);
  // Arrival order of messages on the bridge (1, 2, ...): of the response to `id` (0 if none), and of the
  // notification notification() returned last.
  std::uint64_t response_arrival(std::uint64_t id);
  std::uint64_t last_notification_arrival() const { return last_notification_arrival_; }
  bool wait_closed(std::chrono::milliseconds timeout = 20s);
  // The agent's wait status once it has exited; nullopt while it runs.
  std::optional<int> agent_exit(std::chrono::milliseconds timeout);
  // Accepts the agent's next bridge connection (after the previous one closed).
  bool reconnect(std::chrono::milliseconds timeout = 20s);
  void negotiate();

  // Stdio: a listener per port, allocated from 0x40000001.
  std::uint32_t listen_port();
  int accept_port(std::uint32_t port, std::chrono::milliseconds timeout = 20s);

  // The busybox layer as Plan9 share "busybox", mounted once at <gcs>/layers/busybox.
  void share_busybox();
  // MappedDirectory + CombinedLayers + Create for a container running `args`; returns the bundle path.
  std::string create_container(const std::string& id, const std::vector<std::string>& args,
                               const std::string& activity_id = "11111111-2222-3333-4444-555555555555",
                               const nlohmann::json& annotations = nlohmann::json::object());
  nlohmann::json exec_body(const std::string& id, const nlohmann::json& parameters, std::uint32_t in, std::uint32_t out,
                           std::uint32_t err);
  std::string agent_log() const;

 private:
  void start_reader();
  void reader_loop(int fd);

  TempDir dir_{"sc-gcs-"};
  std::string cgroup_parent_;
  std::optional<PortListener> bridge_listener_;
  pid_t agent_ = -1;
  std::optional<int> agent_status_;
  int bridge_fd_ = -1;
  std::uint64_t next_id_ = 1;
  std::uint32_t next_port_ = gcs::kFirstStdioPort;
  std::map<std::uint32_t, std::unique_ptr<PortListener>> ports_;
  bool busybox_shared_ = false;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::uint64_t, std::pair<std::uint32_t, nlohmann::json>> responses_;
  std::map<std::uint64_t, std::uint64_t> response_arrivals_;
  std::deque<std::pair<nlohmann::json, std::uint64_t>> notifications_;
  std::uint64_t arrivals_ = 0;
  std::uint64_t last_notification_arrival_ = 0;
  bool closed_ = false;
  std::jthread reader_;
};

}  // namespace shimcore::testing
