// hcsshim's diagnostics service (containerd.runhcs.v1.diag.ShimDiag): "host" is where the kind's containers live.
#pragma once

#include "shimcore/controller/diagnostics.h"
#include "shimcore/controller/task_controller.h"
#include "shimcore/transport/long_calls.h"
#include "shimcore/transport/service_registry.h"

namespace shimcore::service {

// Registers containerd.runhcs.v1.diag.ShimDiag: DiagExecInHost runs a process with the caller's stdio paths where
// `diagnostics` runs it (the host, the utility VM) and returns its exit code; DiagStacks, DiagShare go to
// `diagnostics`; DiagTasks lists the tasks (and execs); DiagPid is the shim's pid. DiagExecInHost runs on
// `long_calls` (a diagnostic process may run for minutes) and kills the process when the call is cancelled
// (Canceled).
void register_shimdiag_service(transport::ServiceRegistry& registry, controller::TaskController& tasks,
                               controller::Diagnostics& diagnostics, transport::LongCalls& long_calls);

}  // namespace shimcore::service
