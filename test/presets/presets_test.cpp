// Configures and builds the single-shim presets in scratch folders and checks that each build holds exactly its own
// shim executable and only its own kind's code in libshimcore; and that a build with every shim disabled is refused.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <regex>
#include <set>
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

  CHECK(executables_in(build_dir / "bin") == std::set<std::string>{"containerd-shim-" + kind + "-v2"});

  // The kind-specific sources of the other kinds are not compiled into the library either.
  const auto symbols = run_process({"nm", "-C", "--defined-only", (build_dir / "lib" / "libshimcore.a").string()});
  REQUIRE(symbols.exit_status == 0);
  for (const std::string other : {"lcow", "wcow", "process"}) {
    CAPTURE(other);
    const bool present = symbols.out.find("shimcore::" + other + "_kind()") != std::string::npos;
    CHECK(present == (other == kind));
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
