// Configures and builds the single-shim presets in scratch folders and checks that each build holds exactly its own
// shim executable, and in libshimcore its own kind's code and none of the other kinds' (one function from each
// kind-specific source); and that a build with every shim disabled is refused.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "run_process.h"

namespace fs = std::filesystem;
using Catch::Matchers::ContainsSubstring;
using shimcore::testing::run_process;

namespace {

std::set<std::string> executables_in(const fs::path& dir) {
  std::set<std::string> names;
  if (!fs::is_directory(dir)) return names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const auto perms = entry.status().permissions();
    if (entry.is_regular_file() && (perms & fs::perms::owner_exec) != fs::perms::none) {
      names.insert(entry.path().filename().string());
    }
  }
  return names;
}

// One function defined by each kind-specific source of libshimcore (libshimcore/CMakeLists.txt), and the kinds whose
// builds compile that source. The prefixes end before the parameter types, which nm spells out in full.
const std::map<std::string, std::set<std::string>> kKindSpecificCode = {
    // shim/kind_<kind>.cpp
    {"shimcore::lcow_kind()", {"lcow"}},
    {"shimcore::wcow_kind()", {"wcow"}},
    {"shimcore::process_kind()", {"process"}},
    // gcs/ (host side of the bridge) and controller/lcow
    {"shimcore::gcs::Bridge::Bridge(", {"lcow"}},               // gcs/bridge.cpp
    {"shimcore::controller::UtilityVm::UtilityVm(", {"lcow"}},  // controller/lcow/utility_vm.cpp
    {"shimcore::controller::VmSandboxController::", {"lcow"}},  // controller/lcow/vm_sandbox_controller.cpp
    {"shimcore::controller::LcowTaskController::", {"lcow"}},   // controller/lcow/lcow_task_controller.cpp
    // builder/lcow
    {"shimcore::builder::lcow::run_case(", {"lcow"}},                // case.cpp
    {"shimcore::builder::lcow::build_legacy(", {"lcow"}},            // legacy.cpp
    {"shimcore::builder::lcow::detail::fail_not_found(", {"lcow"}},  // shared.cpp
    {"shimcore::builder::lcow::build_v2(", {"lcow"}},                // v2.cpp
    // builder/wcow
    {"shimcore::builder::wcow::run_case(", {"wcow"}},   // case.cpp
    {"shimcore::builder::wcow::build_uvm(", {"wcow"}},  // uvm.cpp
    // builder/process
    {"shimcore::builder::go::parse_bool(", {"process"}},                // go_values.cpp
    {"shimcore::builder::read_oci_spec(", {"process"}},                 // oci_spec.cpp
    {"shimcore::builder::build_process_container(", {"process"}},       // process_container.cpp
    {"shimcore::builder::read_process_container_input(", {"process"}},  // process_container_input.cpp
    // shared by two kinds
    {"shimcore::builder::parse_registry_annotation(", {"process", "wcow"}},   // registry_annotation.cpp
    {"shimcore::builder::detail::process_annotations(", {"lcow", "wcow"}},    // common/annotations.cpp
    {"shimcore::builder::detail::go_parse_bool(", {"lcow", "wcow"}},          // common/go_rules.cpp
    {"shimcore::builder::detail::normalize_memory_size(", {"lcow", "wcow"}},  // common/vmutils.cpp
};

// The names of the functions `nm -C --defined-only` lists in the text section ("<address> T <name>").
std::set<std::string> defined_functions(const std::string& nm_output) {
  std::set<std::string> names;
  std::istringstream lines(nm_output);
  for (std::string line; std::getline(lines, line);) {
    const std::size_t type = line.find(" T ");
    if (type != std::string::npos) names.insert(line.substr(type + 3));
  }
  return names;
}

}  // namespace

TEST_CASE("each single-shim preset builds exactly its own shim", "[presets][slow]") {
  const std::string kind = GENERATE("lcow", "wcow", "process");
  CAPTURE(kind);
  const fs::path build_dir = fs::path(SHIMCORE_SCRATCH_DIR) / kind;

  // The preset exactly as a user runs it, only redirected to a scratch folder and without the test binaries.
  const auto configure =
      run_process({SHIMCORE_CMAKE, "--preset", kind, "-B", build_dir.string(), "-DSHIMCORE_BUILD_TESTS=OFF"}, {},
                  SHIMCORE_SOURCE_DIR);
  INFO(configure.out << configure.err);
  REQUIRE(configure.exit_status == 0);
  const auto build = run_process({SHIMCORE_CMAKE, "--build", build_dir.string()});
  INFO(build.out << build.err);
  REQUIRE(build.exit_status == 0);

  // The lcow kind also builds the guest agent its utility VM runs (guest/); no other kind has a guest side.
  std::set<std::string> expected_executables{"containerd-shim-" + kind + "-v2"};
  if (kind == std::string("lcow")) expected_executables.insert("shimcore-gcs");
  CHECK(executables_in(build_dir / "bin") == expected_executables);

  // The library holds the kind-specific code of its own kind, and none of the other kinds'.
  const auto symbols = run_process({"nm", "-C", "--defined-only", (build_dir / "lib" / "libshimcore.a").string()});
  REQUIRE(symbols.exit_status == 0);
  const std::set<std::string> defined = defined_functions(symbols.out);
  for (const auto& [symbol, kinds] : kKindSpecificCode) {
    CAPTURE(symbol, kinds);
    const bool present =
        std::any_of(defined.begin(), defined.end(), [&](const std::string& name) { return name.starts_with(symbol); });
    CHECK(present == kinds.contains(kind));
  }
}

TEST_CASE("configuring with every shim disabled is an error that says why", "[presets]") {
  const fs::path build_dir = fs::path(SHIMCORE_SCRATCH_DIR) / "none";
  fs::remove_all(build_dir);
  const auto configure = run_process({SHIMCORE_CMAKE, "-S", SHIMCORE_SOURCE_DIR, "-B", build_dir.string(), "-G",
                                      "Ninja", "-DSHIMCORE_LCOW=OFF", "-DSHIMCORE_WCOW=OFF", "-DSHIMCORE_PROCESS=OFF"});
  CHECK(configure.exit_status != 0);
  // CMake wraps message text: compare with whitespace runs collapsed.
  const std::string message = std::regex_replace(configure.err, std::regex(R"(\s+)"), " ");
  CHECK_THAT(message, ContainsSubstring("SHIMCORE_LCOW, SHIMCORE_WCOW and SHIMCORE_PROCESS are all OFF; at least one "
                                        "shim must be enabled"));
  CHECK_FALSE(fs::exists(build_dir / "build.ninja"));
}
