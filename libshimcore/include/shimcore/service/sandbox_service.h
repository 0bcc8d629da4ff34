// containerd's Sandbox API (containerd.runtime.sandbox.v1.Sandbox) over a SandboxController: decode, call, encode.
#pragma once

#include <functional>

#include "shimcore/controller/sandbox_controller.h"
#include "shimcore/transport/long_calls.h"
#include "shimcore/transport/service_registry.h"

namespace shimcore::service {

// Registers containerd.runtime.sandbox.v1.Sandbox. `request_shutdown` is called after ShutdownSandbox has replied
// (the shim then exits); it must not block.
// StopSandbox runs on `long_calls` (it may wait out a grace period). CreateSandbox refuses an id that breaks
// containerd's identifier rules or a relative bundle path (InvalidArgument).
void register_sandbox_service(transport::ServiceRegistry& registry, controller::SandboxController& sandbox,
                              transport::LongCalls& long_calls, std::function<void()> request_shutdown);

// The type CRI gives CreateSandbox's `options` (the pod's config). CreateSandbox also accepts the runtime options types
// (containerd.runhcs.v1.Options, runtimeoptions.v1.Options) and no options; any other type is InvalidArgument.
inline constexpr const char* kPodSandboxConfigType = "runtime.v1.PodSandboxConfig";

}  // namespace shimcore::service
