// The ordered event queue: publish() stamps and enqueues under a lock, one sender thread delivers with retries.
#include "shimcore/events/publisher.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <optional>
#include <thread>

#include "shimcore/errdefs.h"
#include "shimcore/thread_name.h"

namespace shimcore::events {

namespace {

bool is_alnum(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// containerd's identifiers.Validate (pkg/identifiers): 1..76 characters, alphanumeric runs joined by single '.', '_'
// or '-'. Checked here because containerd refuses anything else and retrying such an event could never succeed.
bool valid_identifier(std::string_view s) noexcept {
  constexpr std::size_t kMaxLength = 76;
  if (s.empty() || s.size() > kMaxLength) return false;
  bool after_separator = true;  // a separator may neither start nor end the identifier, nor follow another
  for (const char c : s) {
    if (is_alnum(c)) {
      after_separator = false;
    } else if (c == '.' || c == '_' || c == '-') {
      if (after_separator) return false;
      after_separator = true;
    } else {
      return false;
    }
  }
  return !after_separator;
}

// containerd's exchange.validateTopic: "/" followed by identifiers separated by "/".
bool valid_topic(std::string_view topic) noexcept {
  if (topic.size() < 2 || topic.front() != '/') return false;
  topic.remove_prefix(1);
  while (true) {
    const auto slash = topic.find('/');
    if (!valid_identifier(topic.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    topic.remove_prefix(slash + 1);
  }
}

void set_now(google::protobuf::Timestamp& timestamp) {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  timestamp.set_seconds(seconds.count());
  timestamp.set_nanos(
      static_cast<std::int32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count()));
}

}  // namespace

class Publisher::Impl {
 public:
  Impl(std::unique_ptr<Sink> sink, std::string ns, PublisherOptions options)
      : sink_(std::move(sink)), ns_(std::move(ns)), options_(std::move(options)) {
    if (!sink_) throw Error(ErrorKind::InvalidArgument, "events: publisher needs a sink");
    if (!valid_identifier(ns_)) throw make_error(ErrorKind::InvalidArgument, "events: invalid namespace {:?}", ns_);
    if (options_.capacity == 0 || options_.attempts < 1) {
      throw make_error(ErrorKind::InvalidArgument, "events: capacity ({}) and attempts ({}) must be at least 1",
                       options_.capacity, options_.attempts);
    }
    sink_->set_attempt_timeout(options_.attempt_timeout);
    // Started last: nothing above may throw once a thread would need joining.
    sender_ = std::thread([this] {
      set_thread_name("shim-events");
      run();
    });
  }

  ~Impl() {
    close_until(std::nullopt);
    join();
  }

  bool publish(std::string topic, const google::protobuf::Message& event) {
    if (!valid_topic(topic)) throw make_error(ErrorKind::InvalidArgument, "events: invalid topic {:?}", topic);
    containerd::types::Envelope envelope;
    envelope.set_namespace_(ns_);
    envelope.set_topic(std::move(topic));
    // containerd's Any for events is the bare full name, not "type.googleapis.com/...": ctr events decodes that.
    envelope.mutable_event()->set_type_url(event.GetDescriptor()->full_name());
    envelope.mutable_event()->set_value(event.SerializeAsString());
    {
      const std::lock_guard lock(mutex_);
      if (closed_ || queue_.size() >= options_.capacity) {
        ++dropped_;
        return false;
      }
      // Stamped under the lock so that timestamps never go backwards along the queue (clock steps aside).
      set_now(*envelope.mutable_timestamp());
      queue_.push_back(std::move(envelope));
    }
    changed_.notify_all();
    return true;
  }

  // `deadline` nullopt: wait as long as the attempts take.
  void close_until(std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::deque<containerd::types::Envelope> discarded;
    bool drained = false;
    {
      std::unique_lock lock(mutex_);
      closed_ = true;
      changed_.notify_all();  // the sender may be idle, waiting for work or the end
      const auto idle = [&] { return queue_.empty() && !sending_; };
      if (deadline) {
        drained = changed_.wait_until(lock, *deadline, idle);
      } else {
        changed_.wait(lock, idle);
        drained = true;
      }
      if (!drained) {
        abandoned_ = true;  // stops the retries of the event being sent, too
        discarded.swap(queue_);
        dropped_ += discarded.size();
        changed_.notify_all();
      }
    }
    for (const auto& envelope : discarded) report_drop(envelope, "publisher closed before it was sent");
    // The sender thread exits once closed and idle; when it is still inside a sink, the destructor joins it instead.
    if (drained) join();
  }

  std::uint64_t delivered() const { return delivered_.load(); }
  std::uint64_t dropped() const { return dropped_.load(); }

 private:
  void run() {
    while (true) {
      containerd::types::Envelope envelope;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) return;  // closed, and nothing left to send
        envelope = std::move(queue_.front());
        queue_.pop_front();
        sending_ = true;
      }
      send(envelope);
      {
        const std::lock_guard lock(mutex_);
        sending_ = false;
      }
      changed_.notify_all();
    }
  }

  // One event, up to `attempts` tries; the next event waits, which is the point.
  void send(const containerd::types::Envelope& envelope) {
    std::string failure;
    for (int attempt = 1;; ++attempt) {
      try {
        sink_->deliver(envelope);
        ++delivered_;
        return;
      } catch (const std::exception& error) {
        failure = error.what();
      } catch (...) {
        failure = "unknown exception";
      }
      if (attempt >= options_.attempts) break;
      std::unique_lock lock(mutex_);
      // Sleeps between attempts, but wakes at once when close() gives up on the queue.
      if (changed_.wait_for(lock, options_.retry_delay, [&] { return abandoned_; })) break;
    }
    ++dropped_;
    report_drop(envelope, failure);
  }

  void report_drop(const containerd::types::Envelope& envelope, std::string_view reason) noexcept {
    if (!options_.on_drop) return;
    try {
      options_.on_drop(envelope, reason);
    } catch (...) {  // a logging hook must not take the sender thread down with it
    }
  }

  void join() {
    const std::lock_guard lock(join_mutex_);  // close() may run on several threads at once
    if (sender_.joinable()) sender_.join();
  }

  const std::unique_ptr<Sink> sink_;
  const std::string ns_;
  const PublisherOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // queue, closed_, sending_ or abandoned_ changed
  std::deque<containerd::types::Envelope> queue_;
  bool closed_ = false;     // publish() refuses
  bool sending_ = false;    // the sender holds an event taken off the queue
  bool abandoned_ = false;  // close() ran out of time: no more retries

  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> dropped_{0};

  std::mutex join_mutex_;
  std::thread sender_;
};

Publisher::Publisher(std::unique_ptr<Sink> sink, std::string ns, PublisherOptions options)
    : impl_(std::make_unique<Impl>(std::move(sink), std::move(ns), std::move(options))) {}

Publisher::~Publisher() = default;

bool Publisher::publish(std::string topic, const google::protobuf::Message& event) {
  return impl_->publish(std::move(topic), event);
}

void Publisher::close(std::chrono::milliseconds bound) {
  const auto now = std::chrono::steady_clock::now();
  const auto room =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::time_point::max() - now);
  // A bound too large to add to now() (e.g. milliseconds::max()) means "no bound"; a negative one means "now".
  if (bound >= room) {
    impl_->close_until(std::nullopt);
  } else {
    impl_->close_until(now + std::max(bound, std::chrono::milliseconds(0)));
  }
}

std::uint64_t Publisher::delivered() const { return impl_->delivered(); }
std::uint64_t Publisher::dropped() const { return impl_->dropped(); }

}  // namespace shimcore::events
