// The host side of the bridge for the guest agent tests.
#include "guest_host.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "private_containerd.h"
#include "run_process.h"
#include "shimcore/gcs/messages.h"

namespace shimcore::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

int poll_one(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  int ready = 0;
  do {
    ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  return ready;
}

}  // namespace

PortListener::PortListener(std::string path) : path_(std::move(path)) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(address.sun_path)) throw std::runtime_error("socket path too long: " + path_);
  std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(fd_, 8) != 0) {
    throw std::runtime_error("listen " + path_ + ": " + std::strerror(errno));
  }
}

PortListener::~PortListener() {
  ::close(fd_);
  ::unlink(path_.c_str());
}

int PortListener::accept(std::chrono::milliseconds timeout) {
  if (poll_one(fd_, POLLIN, timeout) <= 0) return -1;
  return ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
}

std::string read_stream(int fd, std::chrono::milliseconds timeout, const std::string& until) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (until.empty() || out.find(until) == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || poll_one(fd, POLLIN, left) <= 0) break;
    char buffer[4096];
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

GuestHost::GuestHost() : cgroup_parent_("/shimcore-test-" + std::to_string(::getpid())) {
  fs::create_directories(dir() + "/plan9");
  bridge_listener_.emplace(dir() + "/" + std::to_string(gcs::kBridgePort));
  const std::string log_path = dir() + "/agent.log";
  std::vector<std::string> args = {
      "unshare",      "--mount",     "--propagation", "private",     SHIMCORE_GCS_PATH, "--unix-dir",
      dir(),          "--root",      gcs_root(),      "--plan9-dir", dir() + "/plan9",  "--cgroup-parent",
      cgroup_parent_, "--log-level", "debug"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  agent_ = ::fork();
  if (agent_ == 0) {
    ::dup2(log_fd, STDERR_FILENO);
    const int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::execvp("unshare", argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  REQUIRE(agent_ > 0);
  bridge_fd_ = bridge_listener_->accept(20s);
  INFO(agent_log());
  REQUIRE(bridge_fd_ >= 0);
  start_reader();
}

GuestHost::~GuestHost() {
  reader_ = {};
  if (bridge_fd_ >= 0) ::close(bridge_fd_);
  if (!agent_status_) {
    ::kill(agent_, SIGKILL);
    int status = 0;
    ::waitpid(agent_, &status, 0);
  }
  if (std::getenv("SHIMCORE_GUEST_LOG") != nullptr) std::fputs(agent_log().c_str(), stderr);
  // runc containers outlive a killed agent: remove them, then the test's cgroups.
  const std::string runc_root = gcs_root() + "/runc";
  if (fs::exists(runc_root)) {
    const ProcessResult list = run_process({"runc", "--root", runc_root, "list", "-q"});
    std::istringstream ids(list.out);
    for (std::string id; std::getline(ids, id);) {
      if (!id.empty()) run_process({"runc", "--root", runc_root, "delete", "--force", id});
    }
  }
  std::error_code ignored;
  for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ignored)) {
    const fs::path parent = controller.path() / cgroup_parent_.substr(1);
    if (!fs::is_directory(parent, ignored)) continue;
    for (const auto& child : fs::directory_iterator(parent, ignored)) {
      if (child.is_directory(ignored)) ::rmdir(child.path().c_str());
    }
    ::rmdir(parent.c_str());
  }
}

std::string GuestHost::agent_log() const {
  std::ifstream in(dir() + "/agent.log");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void GuestHost::start_reader() {
  {
    const std::lock_guard lock(mutex_);
    closed_ = false;
  }
  reader_ = std::jthread([this, fd = bridge_fd_](std::stop_token stop) {
    gcs::MessageDecoder decoder(gcs::kGuestMaxMessageSize);
    while (!stop.stop_requested()) {
      const int ready = poll_one(fd, POLLIN, 100ms);
      if (ready == 0) continue;
      char buffer[65536];
      const ssize_t n = ready < 0 ? -1 : ::read(fd, buffer, sizeof(buffer));
      if (n <= 0) break;
      decoder.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
      while (auto message = decoder.next()) {
        json body = json::parse(message->body, nullptr, false);
        const std::lock_guard lock(mutex_);
        ++arrivals_;
        if (message->header.type == gcs::kContainerNotification) {
          notifications_.emplace_back(std::move(body), arrivals_);
        } else {
          responses_[message->header.id] = {message->header.type, std::move(body)};
          response_arrivals_[message->header.id] = arrivals_;
        }
        changed_.notify_all();
      }
      if (decoder.failed()) break;
    }
    const std::lock_guard lock(mutex_);
    closed_ = true;
    changed_.notify_all();
  });
}

std::uint64_t GuestHost::send(std::uint32_t type, const json& body) {
  const std::uint64_t id = next_id_++;
  send_raw(gcs::encode_message(type, id, body.dump(), gcs::BodyEnding::Newline, gcs::kGuestMaxMessageSize));
  return id;
}

void GuestHost::send_raw(const std::string& bytes) {
  std::string_view rest = bytes;
  while (!rest.empty()) {
    const ssize_t n = ::send(bridge_fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // closed: the test looks at the response (none) or the closed flag
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::optional<json> GuestHost::response(std::uint64_t id, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return responses_.contains(id) || closed_; });
  const auto it = responses_.find(id);
  if (it == responses_.end()) return std::nullopt;
  return it->second.second;
}

std::uint32_t GuestHost::response_type_of(std::uint64_t id) {
  const std::lock_guard lock(mutex_);
  const auto it = responses_.find(id);
  return it == responses_.end() ? 0 : it->second.first;
}

json GuestHost::call(gcs::Rpc rpc, const json& body, std::chrono::milliseconds timeout) {
  const std::uint64_t id = send(static_cast<std::uint32_t>(rpc), body);
  const std::optional<json> reply = response(id, timeout);
  INFO("no response to " << gcs::describe_type(static_cast<std::uint32_t>(rpc)) << "; agent log:\n" << agent_log());
  REQUIRE(reply.has_value());
  CHECK(response_type_of(id) == gcs::response_type(rpc));
  return *reply;
}

std::optional<json> GuestHost::notification(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return !notifications_.empty() || closed_; });
  if (notifications_.empty()) return std::nullopt;
  json front = std::move(notifications_.front().first);
  last_notification_arrival_ = notifications_.front().second;
  notifications_.pop_front();
  return front;
}

std::uint64_t GuestHost::response_arrival(std::uint64_t id) {
  const std::lock_guard lock(mutex_);
  const auto it = response_arrivals_.find(id);
  return it == response_arrivals_.end() ? 0 : it->second;
}

bool GuestHost::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return closed_; });
}

std::optional<int> GuestHost::agent_exit(std::chrono::milliseconds timeout) {
  if (agent_status_) return agent_status_;
  eventually(
      [&] {
        int status = 0;
        if (::waitpid(agent_, &status, WNOHANG) == agent_) agent_status_ = status;
        return agent_status_.has_value();
      },
      timeout);
  return agent_status_;
}

bool GuestHost::reconnect(std::chrono::milliseconds timeout) {
  reader_ = {};
  ::close(bridge_fd_);
  bridge_fd_ = bridge_listener_->accept(timeout);
  if (bridge_fd_ < 0) return false;
  start_reader();
  return true;
}

void GuestHost::negotiate() {
  const json reply = call(gcs::Rpc::NegotiateProtocol, {{"ContainerId", gcs::kNullContainerId},
                                                        {"ActivityId", gcs::kZeroActivityId},
                                                        {"MinimumVersion", 4},
                                                        {"MaximumVersion", 4}});
  REQUIRE(reply.value("Result", -1) == 0);
}

std::uint32_t GuestHost::listen_port() {
  const std::uint32_t port = next_port_++;
  ports_[port] = std::make_unique<PortListener>(dir() + "/" + std::to_string(port));
  return port;
}

int GuestHost::accept_port(std::uint32_t port, std::chrono::milliseconds timeout) {
  return ports_.at(port)->accept(timeout);
}

void GuestHost::share_busybox() {
  if (busybox_shared_) return;
  const fs::path layer = dir() + "/plan9/busybox";
  fs::create_directories(layer / "bin");
  fs::copy_file(busybox_path(), layer / "bin/busybox");
  for (const char* applet : {"sh", "echo", "sleep", "readlink", "cat", "true", "false", "ls", "env"}) {
    fs::create_symlink("busybox", layer / "bin" / applet);
  }
  const json reply = call(gcs::Rpc::ModifySettings, {{"ContainerId", gcs::kNullContainerId},
                                                     {"ActivityId", gcs::kZeroActivityId},
                                                     {"Request",
                                                      {{"ResourceType", "MappedDirectory"},
                                                       {"RequestType", "Add"},
                                                       {"Settings",
                                                        {{"MountPath", gcs_root() + "/layers/busybox"},
                                                         {"Port", 564},
                                                         {"ShareName", "busybox"},
                                                         {"ReadOnly", true}}}}}});
  INFO(reply.dump());
  REQUIRE(reply.value("Result", -1) == 0);
  busybox_shared_ = true;
}

std::string GuestHost::create_container(const std::string& id, const std::vector<std::string>& args,
                                        const std::string& activity_id, const json& annotations) {
  share_busybox();
  const std::string bundle = gcs_root() + "/c/" + id;
  json layers =
      call(gcs::Rpc::ModifySettings, {{"ContainerId", id},
                                      {"ActivityId", activity_id},
                                      {"Request",
                                       {{"ResourceType", "CombinedLayers"},
                                        {"RequestType", "Add"},
                                        {"Settings",
                                         {{"ContainerID", id},
                                          {"ContainerRootPath", bundle + "/rootfs"},
                                          {"Layers", json::array({{{"Path", gcs_root() + "/layers/busybox"}}})},
                                          {"ScratchPath", gcs_root() + "/scratch/" + id}}}}}});
  INFO(layers.dump());
  REQUIRE(layers.value("Result", -1) == 0);
  const json spec = {{"ociVersion", "1.0.2"},
                     {"process",
                      {{"terminal", false},
                       {"user", {{"uid", 0}, {"gid", 0}}},
                       {"args", args},
                       {"env", {"PATH=/bin", "TERM=xterm"}},
                       {"cwd", "/"}}},
                     {"root", {{"path", bundle + "/rootfs"}, {"readonly", false}}},
                     {"hostname", "guest-test"},
                     {"annotations", annotations},
                     {"mounts",
                      {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                       {{"destination", "/dev"},
                        {"type", "tmpfs"},
                        {"source", "tmpfs"},
                        {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
                       {{"destination", "/dev/pts"},
                        {"type", "devpts"},
                        {"source", "devpts"},
                        {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}}}},
                     {"hooks", {{"prestart", {{{"path", "/host/only/hook"}}}}}},
                     {"linux",
                      {{"namespaces",
                        {{{"type", "pid"}},
                         {{"type", "ipc"}},
                         {{"type", "uts"}},
                         {{"type", "mount"}},
                         {{"type", "network"}, {"path", "/var/run/netns/does-not-exist-in-guest"}}}}}}};
  const json config = {{"SchemaVersion", {{"Major", 2}, {"Minor", 1}}},
                       {"OciBundlePath", bundle},
                       {"OciSpecification", spec},
                       {"ScratchDirPath", gcs_root() + "/scratch/" + id}};
  const json created =
      call(gcs::Rpc::Create, {{"ContainerId", id}, {"ActivityId", activity_id}, {"ContainerConfig", config.dump()}});
  INFO(created.dump());
  REQUIRE(created.value("Result", -1) == 0);
  return bundle;
}

json GuestHost::exec_body(const std::string& id, const json& parameters, std::uint32_t in, std::uint32_t out,
                          std::uint32_t err) {
  json ports = json::object();
  if (in != 0) ports["StdIn"] = in;
  if (out != 0) ports["StdOut"] = out;
  if (err != 0) ports["StdErr"] = err;
  return {{"ContainerId", id},
          {"ActivityId", gcs::kZeroActivityId},
          {"Settings", {{"ProcessParameters", parameters.dump()}, {"VsockStdioRelaySettings", ports}}}};
}

}  // namespace shimcore::testing
