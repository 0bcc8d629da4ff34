// hcsshim's diagnostics service (containerd.runhcs.v1.diag.ShimDiag) for the process kind, where "host" is the host.
#pragma once

#include "shimcore/controller/task_controller.h"
#include "shimcore/transport/long_calls.h"
#include "shimcore/transport/service_registry.h"

namespace shimcore::service {

// Registers containerd.runhcs.v1.diag.ShimDiag: DiagExecInHost runs a process on the host with the caller's stdio
// paths and returns its exit code; DiagStacks lists the shim's threads with their kernel stacks; DiagTasks lists the
// tasks (and execs); DiagPid is the shim's pid; DiagShare is Unimplemented (no utility VM to share into).
// DiagExecInHost runs on `long_calls` (a host process may run for minutes) and kills the process's group when the call
// is cancelled (Canceled).
void register_shimdiag_service(transport::ServiceRegistry& registry, controller::TaskController& tasks,
                               transport::LongCalls& long_calls);

}  // namespace shimcore::service
