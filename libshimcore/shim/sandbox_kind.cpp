// The list of sandbox kinds compiled into this build.
#include "shimcore/sandbox_kind.h"

#include <array>

namespace shimcore {

std::span<const SandboxKind* const> compiled_kinds() noexcept {
  static const auto kinds = std::to_array<const SandboxKind*>({
#if SHIMCORE_HAS_LCOW
      &lcow_kind(),
#endif
#if SHIMCORE_HAS_WCOW
      &wcow_kind(),
#endif
#if SHIMCORE_HAS_PROCESS
      &process_kind(),
#endif
  });
  return kinds;
}

}  // namespace shimcore
