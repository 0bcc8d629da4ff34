// The WCOW sandbox kind: Hyper-V isolated Windows containers in a Windows utility VM. Compiled only with SHIMCORE_WCOW.
#include "shimcore/sandbox_kind.h"

namespace shimcore {

const SandboxKind& wcow_kind() noexcept {
  static constexpr SandboxKind kind{
      .id = "wcow",
      .binary_name = "containerd-shim-wcow-v2",
      .runtime_type = "io.containerd.wcow.v2",
      .guest_os = "windows",
      .isolation = Isolation::Hypervisor,
      .summary = "Hyper-V isolated Windows containers in a Windows utility VM",
  };
  return kind;
}

}  // namespace shimcore
