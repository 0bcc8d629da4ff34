// Task statistics as the runhcs shims answer them (Task.Stats, Sandbox.SandboxMetrics).
#pragma once

#include "runhcs/stats/stats.pb.h"
#include "shimcore/controller/task_controller.h"
#include "shimcore/hcs/schema/properties.h"

namespace shimcore::service {

containerd::runhcs::stats::v1::Statistics windows_statistics(const hcs::schema::Statistics& hcs);
// A task's statistics whatever its kind: Windows HCS Statistics, or a Linux guest's cgroup v1 Metrics JSON (the
// guest's LCOWMetrics) in `linux`. Throws Error(Internal) for metrics that are not cgroups v1 Metrics JSON.
containerd::runhcs::stats::v1::Statistics task_statistics(const controller::TaskStatistics& statistics);

}  // namespace shimcore::service
