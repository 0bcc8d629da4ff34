// TaskEventGate: holds a process's exit event back until its start event has gone into the publisher.
#include "shimcore/events/publisher.h"

namespace shimcore::events {

void TaskEventGate::started(const std::string& id) {
  const std::lock_guard lock(mutex_);
  Entry& entry = entries_[id];
  entry.started = true;
  // Taken out first: a throwing function must not leave itself (or the ones before it) to run a second time.
  std::vector<PublishFn> held = std::move(entry.held);
  entry.held.clear();
  for (auto& publish_exit : held) publish_exit();
}

void TaskEventGate::exited(const std::string& id, PublishFn publish_exit) {
  const std::lock_guard lock(mutex_);
  Entry& entry = entries_[id];
  if (entry.started) {
    publish_exit();
  } else {
    entry.held.push_back(std::move(publish_exit));
  }
}

void TaskEventGate::forget(const std::string& id) {
  const std::lock_guard lock(mutex_);
  entries_.erase(id);
}

}  // namespace shimcore::events
