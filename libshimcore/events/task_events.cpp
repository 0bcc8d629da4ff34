// Building containerd.events.Task* messages from the controller's events.
#include "shimcore/events/task_events.h"

#include "containerd/events/task.pb.h"
#include "shimcore/proto_time.h"
#include "shimcore/shim/log.h"

namespace shimcore::events {
namespace {

// The gate's key: the task for its init process, task/exec for an exec.
std::string process_key(const std::string& id, const std::string& exec_id) {
  return exec_id.empty() ? id : id + "/" + exec_id;
}

}  // namespace

void PublishingTaskEvents::publish(std::string_view topic, const google::protobuf::Message& event) {
  if (!publisher_.publish(std::string(topic), event)) {
    shim::log(shim::LogLevel::Warn, "event dropped: the publish queue is full or closed", {{"topic", topic}});
  }
}

void PublishingTaskEvents::created(const controller::CreateTaskRequest& request, std::uint32_t pid) {
  containerd::events::TaskCreate event;
  event.set_container_id(request.id);
  event.set_bundle(request.bundle);
  for (const auto& mount : request.rootfs) {
    auto* out = event.add_rootfs();
    out->set_type(mount.type);
    out->set_source(mount.source);
    out->set_target(mount.target);
    for (const auto& option : mount.options) out->add_options(option);
  }
  event.mutable_io()->set_stdin(request.stdio.stdin_path);
  event.mutable_io()->set_stdout(request.stdio.stdout_path);
  event.mutable_io()->set_stderr(request.stdio.stderr_path);
  event.mutable_io()->set_terminal(request.stdio.terminal);
  event.set_pid(pid);
  publish(kTaskCreateEventTopic, event);
}

void PublishingTaskEvents::started(const std::string& id, std::uint32_t pid) {
  containerd::events::TaskStart event;
  event.set_container_id(id);
  event.set_pid(pid);
  publish(kTaskStartEventTopic, event);
  gate_.started(process_key(id, ""));
}

void PublishingTaskEvents::exited(const std::string& id, const std::string& exec_id,
                                  const controller::ExitStatus& exit) {
  containerd::events::TaskExit event;
  event.set_container_id(id);
  event.set_id(exec_id.empty() ? id : exec_id);
  event.set_pid(exit.pid);
  event.set_exit_status(exit.exit_status);
  set_timestamp(*event.mutable_exited_at(), exit.exited_at);
  gate_.exited(process_key(id, exec_id), [this, event] { publish(kTaskExitEventTopic, event); });
}

void PublishingTaskEvents::deleted(const std::string& id, const std::string& exec_id,
                                   const controller::ExitStatus& exit) {
  gate_.forget(process_key(id, exec_id));
  if (!exec_id.empty()) return;  // containerd publishes /tasks/delete for tasks only
  containerd::events::TaskDelete event;
  event.set_container_id(id);
  event.set_id(id);
  event.set_pid(exit.pid);
  event.set_exit_status(exit.exit_status);
  set_timestamp(*event.mutable_exited_at(), exit.exited_at);
  publish(kTaskDeleteEventTopic, event);
}

void PublishingTaskEvents::exec_added(const std::string& id, const std::string& exec_id) {
  containerd::events::TaskExecAdded event;
  event.set_container_id(id);
  event.set_exec_id(exec_id);
  publish(kTaskExecAddedEventTopic, event);
}

void PublishingTaskEvents::exec_started(const std::string& id, const std::string& exec_id, std::uint32_t pid) {
  containerd::events::TaskExecStarted event;
  event.set_container_id(id);
  event.set_exec_id(exec_id);
  event.set_pid(pid);
  publish(kTaskExecStartedEventTopic, event);
  gate_.started(process_key(id, exec_id));
}

}  // namespace shimcore::events
