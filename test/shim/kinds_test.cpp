// The sandbox kinds compiled into this build: exactly those enabled at configure time, each with the identity written
// out below (containerd's binary and runtime names, platform, isolation), independently of the library's own table.
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "shimcore/build_config.h"
#include "shimcore/sandbox_kind.h"

namespace {

struct ExpectedKind {
  std::string id;
  std::string binary_name;  // what containerd resolves runtime_type io.containerd.<id>.v2 to
  std::string runtime_type;
  std::string guest_os;
  shimcore::Isolation isolation;
};

const std::vector<ExpectedKind> kEveryKind = {
    {"lcow", "containerd-shim-lcow-v2", "io.containerd.lcow.v2", "linux", shimcore::Isolation::Hypervisor},
    {"wcow", "containerd-shim-wcow-v2", "io.containerd.wcow.v2", "windows", shimcore::Isolation::Hypervisor},
    {"process", "containerd-shim-process-v2", "io.containerd.process.v2", "windows", shimcore::Isolation::Process},
};

// The kinds test/CMakeLists.txt saw enabled (SHIMCORE_LCOW/WCOW/PROCESS), in the order lcow, wcow, process.
std::vector<std::string> configured_kinds() {
  std::vector<std::string> kinds;
  std::istringstream list(SHIMCORE_TEST_CONFIGURED_KINDS);
  for (std::string kind; std::getline(list, kind, ',');) kinds.push_back(kind);
  return kinds;
}

}  // namespace

TEST_CASE("compiled kinds are the configured ones, in the order lcow, wcow, process", "[shim][kinds]") {
  std::vector<std::string> ids;
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) ids.emplace_back(kind->id);
  CHECK(ids == configured_kinds());
  CHECK_FALSE(ids.empty());
}

TEST_CASE("each compiled kind has its names, platform and isolation", "[shim][kinds]") {
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    CAPTURE(kind->id);
    const auto expected = std::find_if(kEveryKind.begin(), kEveryKind.end(),
                                       [&](const ExpectedKind& candidate) { return candidate.id == kind->id; });
    REQUIRE(expected != kEveryKind.end());
    CHECK(kind->binary_name == expected->binary_name);
    CHECK(kind->runtime_type == expected->runtime_type);
    CHECK(kind->guest_os == expected->guest_os);
    CHECK(kind->isolation == expected->isolation);
    CHECK_FALSE(kind->summary.empty());
  }
}

TEST_CASE("each kind's accessor is the entry compiled_kinds lists", "[shim][kinds]") {
  const auto listed = [](const shimcore::SandboxKind& kind) {
    const auto kinds = shimcore::compiled_kinds();
    return std::count(kinds.begin(), kinds.end(), &kind) == 1;
  };
#if SHIMCORE_HAS_LCOW
  CHECK(shimcore::lcow_kind().id == "lcow");
  CHECK(listed(shimcore::lcow_kind()));
#endif
#if SHIMCORE_HAS_WCOW
  CHECK(shimcore::wcow_kind().id == "wcow");
  CHECK(listed(shimcore::wcow_kind()));
#endif
#if SHIMCORE_HAS_PROCESS
  CHECK(shimcore::process_kind().id == "process");
  CHECK(listed(shimcore::process_kind()));
#endif
  CHECK(static_cast<bool>(SHIMCORE_HAS_LCOW) + static_cast<bool>(SHIMCORE_HAS_WCOW) +
            static_cast<bool>(SHIMCORE_HAS_PROCESS) ==
        static_cast<int>(configured_kinds().size()));
}
