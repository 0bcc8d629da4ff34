// LongCalls: one owned jthread per long call, joined when it is found finished, on close() and on destruction.
#include "shimcore/transport/long_calls.h"

#include <atomic>

#include "shimcore/errdefs.h"
#include "shimcore/thread_name.h"

namespace shimcore::transport {

struct LongCalls::Entry {
  std::atomic<bool> finished{false};
  std::jthread thread;  // last member: joined before `finished` goes away
};

LongCalls::LongCalls(std::size_t limit) : limit_(limit) {}

LongCalls::~LongCalls() { close(); }

void LongCalls::reap_finished_locked() {
  // A finished body's thread is about to return, so joining it here is short.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if ((*it)->finished.load()) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

void LongCalls::run(std::stop_token call_stop, Body body) {
  const std::lock_guard lock(mutex_);
  if (closed_) throw make_error(ErrorKind::Unavailable, "the shim is shutting down");
  reap_finished_locked();
  if (entries_.size() >= limit_) {
    throw make_error(ErrorKind::ResourceExhausted, "too many long-running calls in flight (limit {})", limit_);
  }
  auto entry = std::make_unique<Entry>();
  Entry& slot = *entry;
  slot.thread = std::jthread([&slot, call_stop = std::move(call_stop), body = std::move(body)](std::stop_token own) {
    set_thread_name("long-call");
    std::stop_source combined;
    {
      // Either source stops the body; the callbacks end before the thread does.
      const std::stop_callback on_own(own, [&combined] { combined.request_stop(); });
      const std::stop_callback on_caller(call_stop, [&combined] { combined.request_stop(); });
      body(combined.get_token());
    }
    slot.finished.store(true);
  });
  entries_.push_back(std::move(entry));
}

void LongCalls::close() {
  std::list<std::unique_ptr<Entry>> entries;
  {
    const std::lock_guard lock(mutex_);
    closed_ = true;
    entries.swap(entries_);
  }
  for (const auto& entry : entries) entry->thread.request_stop();
  entries.clear();  // joins
}

}  // namespace shimcore::transport
