// The sandbox kinds compiled into this build: exactly those enabled at configure time, with containerd's naming rule.
#include <catch2/catch_test_macros.hpp>

#include <set>
#include <string>

#include "shimcore/build_config.h"
#include "shimcore/sandbox_kind.h"

TEST_CASE("compiled kinds follow the configure options", "[shim][kinds]") {
  std::set<std::string> ids;
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) ids.emplace(kind->id);
  std::set<std::string> expected;
  if (SHIMCORE_HAS_LCOW) expected.emplace("lcow");
  if (SHIMCORE_HAS_WCOW) expected.emplace("wcow");
  if (SHIMCORE_HAS_PROCESS) expected.emplace("process");
  CHECK(ids == expected);
  CHECK_FALSE(ids.empty());
}

TEST_CASE("binary and runtime names follow containerd's io.containerd.<name>.<version> rule", "[shim][kinds]") {
  for (const shimcore::SandboxKind* kind : shimcore::compiled_kinds()) {
    CAPTURE(kind->id);
    CHECK(kind->binary_name == "containerd-shim-" + std::string(kind->id) + "-v2");
    CHECK(kind->runtime_type == "io.containerd." + std::string(kind->id) + ".v2");
  }
}

TEST_CASE("each kind's platform and isolation", "[shim][kinds]") {
#if SHIMCORE_HAS_LCOW
  CHECK(shimcore::lcow_kind().guest_os == "linux");
  CHECK(shimcore::lcow_kind().isolation == shimcore::Isolation::Hypervisor);
#endif
#if SHIMCORE_HAS_WCOW
  CHECK(shimcore::wcow_kind().guest_os == "windows");
  CHECK(shimcore::wcow_kind().isolation == shimcore::Isolation::Hypervisor);
#endif
#if SHIMCORE_HAS_PROCESS
  CHECK(shimcore::process_kind().guest_os == "windows");
  CHECK(shimcore::process_kind().isolation == shimcore::Isolation::Process);
#endif
}
