// The list of sandbox kinds compiled into this build.
#include "shimcore/sandbox_kind.h"

#include <vector>

namespace shimcore {

std::span<const SandboxKind* const> compiled_kinds() noexcept {
  static const std::vector<const SandboxKind*> kinds = [] {
    std::vector<const SandboxKind*> list;
#if SHIMCORE_HAS_LCOW
    list.push_back(&lcow_kind());
#endif
#if SHIMCORE_HAS_WCOW
    list.push_back(&wcow_kind());
#endif
#if SHIMCORE_HAS_PROCESS
    list.push_back(&process_kind());
#endif
    return list;
  }();
  return kinds;
}

}  // namespace shimcore
