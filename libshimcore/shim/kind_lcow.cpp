// The LCOW sandbox kind: Linux containers in a Linux utility VM. Compiled only with SHIMCORE_LCOW.
#include "shimcore/sandbox_kind.h"

namespace shimcore {

const SandboxKind& lcow_kind() noexcept {
  static constexpr SandboxKind kind{
      .id = "lcow",
      .binary_name = "containerd-shim-lcow-v2",
      .runtime_type = "io.containerd.lcow.v2",
      .guest_os = "linux",
      .isolation = Isolation::Hypervisor,
      .summary = "Linux containers in a Linux utility VM (one shim = one sandbox = one VM)",
  };
  return kind;
}

}  // namespace shimcore
