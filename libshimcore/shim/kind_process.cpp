// The process sandbox kind: process-isolated and host-process Windows containers. Compiled only with SHIMCORE_PROCESS.
#include "shimcore/sandbox_kind.h"

namespace shimcore {

const SandboxKind& process_kind() noexcept {
  static constexpr SandboxKind kind{
      .id = "process",
      .binary_name = "containerd-shim-process-v2",
      .runtime_type = "io.containerd.process.v2",
      .guest_os = "windows",
      .isolation = Isolation::Process,
      .summary = "process-isolated and host-process Windows containers; the sandbox is a pause container",
  };
  return kind;
}

}  // namespace shimcore
