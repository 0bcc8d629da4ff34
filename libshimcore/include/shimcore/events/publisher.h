// Publishes a shim's task events to containerd strictly in order, through one owned sender thread and a bounded queue.
#pragma once

#include <google/protobuf/message.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "containerd/types/event.pb.h"

namespace shimcore::events {

// Topic names, as containerd defines them (core/runtime/events.go); the names mirror the Go constants.
inline constexpr std::string_view kTaskCreateEventTopic = "/tasks/create";
inline constexpr std::string_view kTaskStartEventTopic = "/tasks/start";
inline constexpr std::string_view kTaskExitEventTopic = "/tasks/exit";
inline constexpr std::string_view kTaskDeleteEventTopic = "/tasks/delete";
inline constexpr std::string_view kTaskExecAddedEventTopic = "/tasks/exec-added";
inline constexpr std::string_view kTaskExecStartedEventTopic = "/tasks/exec-started";
inline constexpr std::string_view kTaskOOMEventTopic = "/tasks/oom";
inline constexpr std::string_view kTaskPausedEventTopic = "/tasks/paused";
inline constexpr std::string_view kTaskResumedEventTopic = "/tasks/resumed";
inline constexpr std::string_view kTaskCheckpointedEventTopic = "/tasks/checkpointed";

// Where events go. The ordered queue in front of it is the Publisher's; a sink just delivers one event, throwing
// shimcore::Error on failure. Only the Publisher's sender thread calls a sink, so a sink needs no locking.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void deliver(const containerd::types::Envelope& envelope) = 0;
  // The Publisher hands its PublisherOptions::attempt_timeout here once, before the first deliver(), so that a sink
  // that talks to the network bounds every attempt by it. A sink that never blocks may ignore it.
  virtual void set_attempt_timeout(std::chrono::milliseconds timeout) { static_cast<void>(timeout); }
};

// containerd.services.events.ttrpc.v1.Events/Forward on containerd's ttrpc socket ($TTRPC_ADDRESS, "unix:///abs" or
// "/abs"). The envelope travels whole, so containerd keeps our timestamp. Reconnects on demand after a failure.
std::unique_ptr<Sink> make_ttrpc_sink(std::string ttrpc_address);
// containerd.services.events.v1.Events/Publish on containerd's gRPC socket ($GRPC_ADDRESS, the shim's -address), with
// the namespace as containerd-namespace metadata. Publish carries no timestamp: containerd stamps its own time.
std::unique_ptr<Sink> make_grpc_sink(std::string grpc_address);

struct PublisherOptions {
  std::size_t capacity = 256;  // events waiting to be sent (the one being sent is not counted); at least 1
  int attempts = 5;            // deliveries tried per event before it is dropped; at least 1
  std::chrono::milliseconds attempt_timeout{5000};
  std::chrono::milliseconds retry_delay{100};
  // Called on the sender thread (or in close()) for each accepted event that will never be delivered, with the reason,
  // e.g. to log it; publish() itself never reports anything. Must not call back into the Publisher.
  std::function<void(const containerd::types::Envelope& envelope, std::string_view reason)> on_drop;
};

// The shim's ordered event queue. containerd does not reorder events and the task lifecycle (create -> start -> exit
// -> delete) must reach subscribers in that order, so one sender thread delivers strictly in publish order: an event
// is retried up to `attempts` times before the next one is tried.
//
// Counting: every publish() call that returns ends up in exactly one of delivered() and dropped() (refused because
// full or closed, failed all attempts, or discarded when close() ran out of time) once the sender is done: after a
// close() that drained, or after the destructor.
class Publisher {
 public:
  // `ns` is the containerd namespace (the shim's -namespace). Throws Error(InvalidArgument) for a null sink, a
  // namespace containerd would refuse, or a capacity or attempts of 0.
  Publisher(std::unique_ptr<Sink> sink, std::string ns, PublisherOptions options = {});
  // close() without a time bound (delivers what is queued, each event bounded by its attempts), then joins. With
  // containerd gone that can take attempts x (attempt_timeout + retry_delay) per queued event, so a shim that must
  // exit promptly calls close(bound) first.
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Stamps the envelope with the current time and enqueues it. Returns false when the queue is full or closed (and
  // logs nothing itself). Never blocks on the network; thread-safe, and events from one thread keep their order.
  // The Any's type_url is the message's bare full name (e.g. "containerd.events.TaskExit"), as containerd expects.
  // Throws Error(InvalidArgument) for a topic containerd would refuse: a programming error, not worth 5 retries.
  bool publish(std::string topic, const google::protobuf::Message& event);

  // Stops accepting new events and waits up to `bound` for the queue to drain. If it does not drain in time, the
  // events still queued are dropped and the event being sent is not retried again; close() then returns without
  // waiting for that last attempt (the destructor joins it). Idempotent; safe from several threads.
  void close(std::chrono::milliseconds bound);

  std::uint64_t delivered() const;
  std::uint64_t dropped() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Holds back a task's or exec's /tasks/exit until its /tasks/start (or /tasks/exec-started) has been published, so
// that a process which exits at once still gives create -> start -> exit -> delete: the exit is noticed on a
// different thread than the one finishing Start, and containerd does not reorder. Keys are the caller's: one per
// process, e.g. the container id for an init process and "<container id>/<exec id>" for an exec.
//
// Usage: Start publishes its start event and then calls started(id); the exit watcher calls exited(id, fn) where fn
// publishes the exit; Delete calls forget(id) once the process is gone for good. Thread-safe. The functions run with
// the gate's lock held, which is what keeps a concurrent started()/exited() pair in order; so they must be quick
// (Publisher::publish is) and must not call back into the gate.
class TaskEventGate {
 public:
  using PublishFn = std::function<void()>;

  // The start of `id` has been published: runs any exit held for it, then lets later exits through at once.
  void started(const std::string& id);
  // Runs `publish_exit` now if `id` has started, or holds it until started(id).
  void exited(const std::string& id, PublishFn publish_exit);
  // Forgets `id`, discarding a held exit: a process that never started has no exit to report (its /tasks/delete
  // follows /tasks/create directly). Call it when the process is deleted so that the gate does not grow.
  void forget(const std::string& id);

 private:
  struct Entry {
    bool started = false;
    std::vector<PublishFn> held;
  };
  std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace shimcore::events
