// The LCOW kind's task controller as `serve` composes it: runhcs options, host profile and boot files for the VM
// document. Compiled only with SHIMCORE_LCOW.
#pragma once

#include <memory>

#include "shimcore/builder/common.h"
#include "shimcore/controller/lcow_task_controller.h"
#include "shimcore/hcs/client.h"
#include "shimcore/shim/flags.h"
#include "shimcore/shim/runtime_options.h"

namespace shimcore::shim {

// The builder's view of the runhcs options (Go field names).
builder::RuntimeOptions lcow_builder_options(const RuntimeOptions& options);

// Boot files: hcsshim's rule, <shim dir>/LinuxBootFiles when it exists, else %ProgramFiles%\Linux Containers.
std::unique_ptr<controller::LcowTaskController> make_lcow_task_controller(hcs::Client& client,
                                                                          controller::TaskEvents& events,
                                                                          const ShimFlags& flags,
                                                                          const RuntimeOptions& options);

}  // namespace shimcore::shim
