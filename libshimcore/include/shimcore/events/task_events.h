// The controller's task events as containerd's /tasks/* messages, published in order through a Publisher.
#pragma once

#include "shimcore/controller/task_controller.h"
#include "shimcore/events/publisher.h"

namespace shimcore::events {

class PublishingTaskEvents final : public controller::TaskEvents {
 public:
  explicit PublishingTaskEvents(Publisher& publisher) : publisher_(publisher) {}

  void created(const controller::CreateTaskRequest& request, std::uint32_t pid) override;
  void started(const std::string& id, std::uint32_t pid) override;
  void exited(const std::string& id, const std::string& exec_id, const controller::ExitStatus& exit) override;
  void deleted(const std::string& id, const std::string& exec_id, const controller::ExitStatus& exit) override;
  void exec_added(const std::string& id, const std::string& exec_id) override;
  void exec_started(const std::string& id, const std::string& exec_id, std::uint32_t pid) override;

 private:
  void publish(std::string_view topic, const google::protobuf::Message& event);

  Publisher& publisher_;
  TaskEventGate gate_;  // an exit waits for its start to be published
};

}  // namespace shimcore::events
