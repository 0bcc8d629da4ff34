// Bridge connection handling: one reader, one worker per request, one write mutex.
#include "bridge.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <list>
#include <memory>
#include <thread>

#include "log.h"
#include "shimcore/gcs/protocol.h"

namespace shimcore::guest {
namespace {

namespace we = gcs::wire_error;

std::uint32_t response_type_of(std::uint32_t request_type) { return (request_type & 0x0fffffffu) | 0x20000000u; }

}  // namespace

struct Bridge::Connection {
  Fd fd;
  std::mutex write_mutex;

  // False when the host has gone away; the reader notices that too and ends the connection.
  bool send(std::uint32_t type, std::uint64_t id, const std::string& body) {
    const std::lock_guard lock(write_mutex);
    try {
      write_all(fd.get(), gcs::encode_message(type, id, body, gcs::BodyEnding::None, gcs::kGuestMaxMessageSize));
      return true;
    } catch (const std::exception& e) {
      log_warn("bridge write failed", {{"type", gcs::describe_type(type)}, {"error", e.what()}});
      return false;
    }
  }
};

Bridge::Bridge(Agent& agent, Transport& transport) : agent_(agent), transport_(transport) {}

void Bridge::notify(const gcs::ContainerNotification& notification) {
  const std::string body = gcs::encode_body(notification);
  const std::lock_guard lock(mutex_);
  if (current_ != nullptr && current_->send(gcs::kContainerNotification, 0, body)) return;
  {
    log_info("no host connected; queueing notification", {{"cid", notification.base.container_id}});
    pending_.push_back(body);
  }
}

Fd Bridge::dial_with_backoff() {
  auto delay = std::chrono::milliseconds(10);
  for (;;) {
    try {
      Fd fd = transport_.dial(gcs::kBridgePort);
      log_info("bridge connected", {{"address", transport_.describe(gcs::kBridgePort)}});
      return fd;
    } catch (const std::exception& e) {
      log_debug("bridge dial failed; retrying", {{"error", e.what()}, {"delayMs", delay.count()}});
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
}

void Bridge::run() {
  for (;;) {
    if (serve(dial_with_backoff())) return;
    log_info("bridge disconnected; dialling again");
  }
}

bool Bridge::serve(Fd fd) {
  Connection connection;
  connection.fd = std::move(fd);
  bool negotiated = false;
  bool shutdown = false;
  struct Worker {
    std::shared_ptr<std::atomic<bool>> done;
    std::jthread thread;
  };
  std::list<Worker> workers;  // every request thread is owned here and joined before the connection goes
  gcs::MessageDecoder decoder(gcs::kGuestMaxMessageSize);

  auto answer_negotiate = [&](const gcs::Message& message) {
    gcs::NegotiateProtocolRequest request;
    std::string body;
    try {
      request = gcs::decode<gcs::NegotiateProtocolRequest>(message.body);
    } catch (const std::exception& e) {
      connection.send(response_type_of(message.header.type), message.header.id,
                      gcs::encode_body(gcs::ResponseBase::failure(we::kInvalidJson, e.what())));
      return;
    }
    if (request.maximum_version < gcs::kProtocolVersion || request.minimum_version > gcs::kProtocolVersion) {
      auto failure = gcs::ResponseBase::failure(
          we::kUnsupportedProtocolVersion,
          fmt::format("protocol versions {}..{} not supported: this guest speaks version {}", request.minimum_version,
                      request.maximum_version, gcs::kProtocolVersion));
      failure.activity_id = request.base.activity_id;
      connection.send(response_type_of(message.header.type), message.header.id, gcs::encode_body(failure));
      return;
    }
    gcs::NegotiateProtocolResponse response;
    response.base.activity_id = request.base.activity_id;
    response.version = std::min(gcs::kProtocolVersion, request.maximum_version);
    response.capabilities = gcs::GcsCapabilities::linux_guest();
    connection.send(response_type_of(message.header.type), message.header.id, gcs::encode_body(response));
    negotiated = true;
    // Notifications that waited for a host go out now, after the answer the host needs first.
    const std::lock_guard lock(mutex_);
    current_ = &connection;
    for (const auto& pending : pending_) connection.send(gcs::kContainerNotification, 0, pending);
    pending_.clear();
    log_info("protocol negotiated", {{"version", response.version}});
  };

  auto dispatch = [&](gcs::Message message) {
    const std::uint32_t type = message.header.type;
    if (gcs::message_class(type) != gcs::MessageClass::Request) {
      log_warn("ignoring a message that is not a request", {{"type", gcs::describe_type(type)}});
      return;
    }
    const std::optional<gcs::Rpc> rpc = gcs::rpc_of(type);
    log_debug("request", {{"type", gcs::describe_type(type)}, {"id", message.header.id}});
    if (rpc == gcs::Rpc::NegotiateProtocol) {
      answer_negotiate(message);  // inline: requests after it must see the negotiated connection
      return;
    }
    if (!negotiated || !rpc) {
      const std::string reason = !negotiated ? fmt::format("{} before NegotiateProtocol", gcs::describe_type(type))
                                             : fmt::format("unknown request {}", gcs::describe_type(type));
      connection.send(response_type_of(type), message.header.id,
                      gcs::encode_body(gcs::ResponseBase::failure(we::kNotImplemented, reason)));
      return;
    }
    if (*rpc == gcs::Rpc::ShutdownGraceful || *rpc == gcs::Rpc::ShutdownForced) {
      // Inline, so that a null-id shutdown stops reading at once.
      const Reply reply = agent_.handle(*rpc, message.body, std::stop_token{});
      if (reply.body) connection.send(response_type_of(type), message.header.id, *reply.body);
      shutdown = reply.shutdown;
      return;
    }
    std::erase_if(workers, [](const Worker& w) { return w.done->load(); });
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers.push_back(Worker{
        done, std::jthread([this, &connection, rpc = *rpc, message = std::move(message), done](std::stop_token stop) {
          const Reply reply = agent_.handle(rpc, message.body, stop);
          if (reply.body) {
            connection.send(response_type_of(message.header.type), message.header.id, *reply.body);
          }
          if (reply.answered) reply.answered();
          done->store(true);
        })});
  };

  char buffer[64 * 1024];
  while (!shutdown) {
    const ssize_t n = ::read(connection.fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      log_info("bridge closed by the host");
      break;
    }
    if (n < 0) {
      log_warn("bridge read failed", {{"error", std::strerror(errno)}});
      break;
    }
    decoder.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
    while (!shutdown) {
      std::optional<gcs::Message> message = decoder.next();
      if (!message) break;
      dispatch(std::move(*message));
    }
    if (decoder.failed()) {
      log_error("bridge protocol violation; dropping the connection", {{"error", decoder.error()}});
      break;
    }
  }
  {
    const std::lock_guard lock(mutex_);
    if (current_ == &connection) current_ = nullptr;
  }
  // Waits end with the connection (their stop token); other requests finish their work first.
  for (auto& worker : workers) worker.thread.request_stop();
  workers.clear();
  ::shutdown(connection.fd.get(), SHUT_RDWR);
  return shutdown;
}

}  // namespace shimcore::guest
