// Version and source revision of this build, stamped at configure time.
#pragma once

#include <string_view>

namespace shimcore {

struct BuildInfo {
  std::string_view version;   // project version from CMakeLists.txt, e.g. "0.1.0"
  std::string_view revision;  // `git describe --always --dirty` of the source tree, or "unknown" outside git
};

const BuildInfo& build_info() noexcept;

}  // namespace shimcore
