// GCS bridge client: writer under one mutex, one reader thread that correlates responses and delivers notifications.
#include "shimcore/gcs/bridge.h"

#include <array>

#include <fmt/format.h>

#include "shimcore/hcs/hresult.h"
#include "shimcore/thread_name.h"

namespace shimcore::gcs {
namespace {

ErrorKind guest_kind(std::uint32_t hresult) {
  if (hresult == wire_error::kTimeout) return ErrorKind::DeadlineExceeded;
  return hcs::kind_of(hresult);
}

std::string rpc_name(Rpc rpc) { return describe_type(static_cast<std::uint32_t>(rpc)); }

}  // namespace

GuestError::GuestError(std::uint32_t hresult, Rpc rpc, std::string guest_message)
    : Error(guest_kind(hresult),
            fmt::format("guest {} failed: {} ({})", rpc_name(rpc),
                        guest_message.empty() ? std::string("no message") : guest_message, hcs::describe(hresult))),
      hresult_(hresult),
      rpc_(rpc),
      guest_message_(std::move(guest_message)) {}

Bridge::Bridge(std::unique_ptr<Stream> stream, Options options)
    : options_(std::move(options)), stream_(std::move(stream)) {
  reader_ = std::jthread([this](std::stop_token stop) { reader_loop(stop); });
}

Bridge::~Bridge() {
  close("bridge destroyed");
  reader_.request_stop();
  if (reader_.joinable()) reader_.join();
}

void Bridge::reader_loop(std::stop_token stop) {
  set_thread_name("gcs-bridge");
  MessageDecoder decoder(options_.max_message_size);
  std::array<std::uint8_t, 16 * 1024> buffer{};
  std::string reason = "the guest closed the bridge";
  try {
    while (!stop.stop_requested()) {
      const std::size_t n = stream_->read_some(buffer);
      if (n == 0) break;
      decoder.feed(std::span<const std::uint8_t>(buffer.data(), n));
      if (decoder.failed()) {
        reason = "protocol violation: " + decoder.error();
        break;
      }
      while (auto message = decoder.next()) dispatch(std::move(*message));
      if (closed()) return;
    }
  } catch (const Error& e) {
    reason = fmt::format("protocol violation: {}", e.what());
  } catch (const std::exception& e) {
    reason = fmt::format("bridge reader failed: {}", e.what());
  }
  close(reason);
}

// Throws Error for a fatal violation; the reader closes the bridge with it.
void Bridge::dispatch(Message message) {
  const std::uint32_t type = message.header.type;
  switch (message_class(type)) {
    case MessageClass::Response: {
      std::shared_ptr<Call> call;
      {
        std::lock_guard lock(mutex_);
        auto it = pending_.find(message.header.id);
        if (it == pending_.end()) {
          if (abandoned_.erase(message.header.id) != 0) {
            if (options_.debug_log) {
              options_.debug_log(
                  fmt::format("dropped the late {} for request {}", describe_type(type), message.header.id));
            }
            return;
          }
          throw make_error(ErrorKind::InvalidArgument, "{} for unknown request id {}", describe_type(type),
                           message.header.id);
        }
        if (response_type(it->second->rpc_) != type) {
          throw make_error(ErrorKind::InvalidArgument, "request {} ({}) answered with {}", message.header.id,
                           rpc_name(it->second->rpc_), describe_type(type));
        }
        call = std::move(it->second);
        pending_.erase(it);
      }
      finish(*call, std::move(message.body));
      return;
    }
    case MessageClass::Notification: {
      if (type != kContainerNotification) {
        throw make_error(ErrorKind::InvalidArgument, "unknown notification {}", describe_type(type));
      }
      const auto notification = decode<ContainerNotification>(message.body);
      if (!options_.on_notification || !options_.on_notification(notification)) {
        throw make_error(ErrorKind::InvalidArgument, "notification for unknown container {}",
                         notification.base.container_id);
      }
      return;
    }
    default: throw make_error(ErrorKind::InvalidArgument, "unexpected message {} from the guest", describe_type(type));
  }
}

// Decodes the response's base outside the lock; an unparseable body is fatal (the caller's reader closes the bridge,
// and this call fails with the same reason).
void Bridge::finish(Call& call, std::string body) {
  ResponseBase base;
  try {
    base = decode<ResponseBase>(body);
  } catch (const Error& e) {
    {
      std::lock_guard lock(mutex_);
      call.finished_ = true;
      call.failure_ = make_error(ErrorKind::Unavailable, "bridge closed: unparseable {} response: {}",
                                 rpc_name(call.rpc_), e.what());
    }
    changed_.notify_all();
    throw;
  }
  {
    std::lock_guard lock(mutex_);
    call.finished_ = true;
    if (base.result != 0) {
      call.guest_failure_.emplace(static_cast<std::uint32_t>(base.result), call.rpc_, std::move(base.error_message));
    } else {
      call.body_ = std::move(body);
    }
  }
  changed_.notify_all();
}

void Bridge::write(std::uint32_t type, std::uint64_t id, const std::string& body) {
  const std::string message = encode_message(type, id, body, BodyEnding::Newline, options_.max_message_size);
  std::lock_guard lock(write_mutex_);
  stream_->write_all(message);
}

std::shared_ptr<Bridge::Call> Bridge::start_call(Rpc rpc, const std::string& body) {
  std::shared_ptr<Call> call;
  {
    std::lock_guard lock(mutex_);
    if (closed_) throw make_error(ErrorKind::Unavailable, "bridge closed: {}", close_reason_);
    call = std::make_shared<Call>(Call::Key{}, *this, next_id_++, rpc);
    pending_.emplace(call->id_, call);
  }
  try {
    write(static_cast<std::uint32_t>(rpc), call->id_, body);
  } catch (const Error& e) {
    {
      std::lock_guard lock(mutex_);
      pending_.erase(call->id_);
    }
    if (e.kind() == ErrorKind::ResourceExhausted) throw;  // too big: this call fails, the bridge is fine
    close(fmt::format("write failed: {}", e.what()));
    throw make_error(ErrorKind::Unavailable, "bridge closed: {}", e.what());
  }
  return call;
}

std::string Bridge::call(Rpc rpc, const std::string& body, std::optional<std::chrono::milliseconds> timeout) {
  return start_call(rpc, body)->wait(timeout);
}

void Bridge::send_unanswered(Rpc rpc, const std::string& body) {
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    if (closed_) throw make_error(ErrorKind::Unavailable, "bridge closed: {}", close_reason_);
    id = next_id_++;
    abandoned_.insert(id);
  }
  try {
    write(static_cast<std::uint32_t>(rpc), id, body);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::ResourceExhausted) throw;
    close(fmt::format("write failed: {}", e.what()));
    throw make_error(ErrorKind::Unavailable, "bridge closed: {}", e.what());
  }
}

std::string Bridge::Call::wait(std::optional<std::chrono::milliseconds> timeout) {
  return bridge_->await(*this, timeout.value_or(bridge_->options_.call_timeout));
}

std::string Bridge::Call::wait_unbounded() { return bridge_->await(*this, std::nullopt); }

bool Bridge::Call::wait_done(std::chrono::milliseconds bound) const {
  std::unique_lock lock(bridge_->mutex_);
  return bridge_->changed_.wait_for(lock, bound, [&] { return finished_; });
}

bool Bridge::Call::done() const {
  std::lock_guard lock(bridge_->mutex_);
  return finished_;
}

std::string Bridge::await(Call& call, std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock lock(mutex_);
  if (!timeout) {
    changed_.wait(lock, [&] { return call.finished_; });
  } else if (!changed_.wait_for(lock, *timeout, [&] { return call.finished_; })) {
    // Still pending: give up on it, and remember the id so that its late response is not fatal.
    if (pending_.erase(call.id_) != 0) abandoned_.insert(call.id_);
    throw make_error(ErrorKind::DeadlineExceeded, "guest {} did not answer within {} ms", rpc_name(call.rpc_),
                     timeout->count());
  }
  if (call.guest_failure_) throw *call.guest_failure_;
  if (call.failure_) throw *call.failure_;
  return call.body_;
}

void Bridge::close(const std::string& reason) {
  std::map<std::uint64_t, std::shared_ptr<Call>> failed;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    close_reason_ = reason;
    failed.swap(pending_);
    for (auto& [id, call] : failed) {
      call->finished_ = true;
      call->failure_ = make_error(ErrorKind::Unavailable, "bridge closed: {}", reason);
    }
  }
  stream_->shutdown();
  changed_.notify_all();
  if (options_.debug_log) options_.debug_log(fmt::format("bridge closed: {}", reason));
  if (options_.on_closed) options_.on_closed(reason);
}

bool Bridge::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

std::string Bridge::close_reason() const {
  std::lock_guard lock(mutex_);
  return close_reason_;
}

bool Bridge::wait_closed(std::chrono::milliseconds bound) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, bound, [&] { return closed_; });
}

}  // namespace shimcore::gcs
