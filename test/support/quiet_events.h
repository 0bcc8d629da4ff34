// TaskEvents that publish nothing, for controller tests that assert on states rather than on events.
#pragma once

#include "shimcore/controller/task_controller.h"

namespace shimcore::testing {

struct QuietEvents final : controller::TaskEvents {
  void created(const controller::CreateTaskRequest&, std::uint32_t) override {}
  void started(const std::string&, std::uint32_t) override {}
  void exited(const std::string&, const std::string&, const controller::ExitStatus&) override {}
  void deleted(const std::string&, const std::string&, const controller::ExitStatus&) override {}
  void exec_added(const std::string&, const std::string&) override {}
  void exec_started(const std::string&, const std::string&, std::uint32_t) override {}
};

}  // namespace shimcore::testing
