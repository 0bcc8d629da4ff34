// The containerd Task API (v3, also served as v2) over a TaskController: decode, call, encode; errors keep their kind.
#pragma once

#include <functional>
#include <string_view>

#include "shimcore/controller/task_controller.h"
#include "shimcore/transport/service_registry.h"

namespace shimcore::service {

// Task.Stats answers an Any of this type (hcsshim's stats.proto), with `windows` filled from HCS's Statistics.
inline constexpr std::string_view kStatisticsTypeUrl = "containerd.runhcs.stats.v1.Statistics";

// Registers containerd.task.v3.Task and its v2 alias. `request_shutdown` is called when Task.Shutdown finds no task
// left or says `now` (the shim then exits, its tasks torn down); it must not block. Create and Exec refuse ids that
// break containerd's identifier rules, and a relative bundle, with InvalidArgument. A non-empty `refuse_create` makes
// Create answer Unimplemented with that reason (a shim kind whose controller is not built yet still answers Connect,
// State, Pids and Shutdown).
void register_task_service(transport::ServiceRegistry& registry, controller::TaskController& tasks,
                           std::function<void()> request_shutdown, std::string refuse_create = {});

}  // namespace shimcore::service
