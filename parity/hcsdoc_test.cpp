// tools/hcsdoc run as a user runs it: a golden input prints hcsshim's document; rejections, usage errors and host
// overrides behave as its --help says.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

#include "run_process.h"

namespace {

namespace fs = std::filesystem;
using Catch::Matchers::ContainsSubstring;
using nlohmann::json;
using shimcore::testing::run_process;

const std::string kHcsdoc = std::string(SHIMCORE_HCSDOC);
const fs::path kCases = fs::path(SHIMCORE_PARITY_GOLDEN_DIR) / "wcow" / "process-container";

json read_json(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return json::parse(in);
}

}  // namespace

TEST_CASE("hcsdoc prints hcsshim's document for a golden input", "[parity][hcsdoc]") {
  const auto result = run_process(
      {kHcsdoc, "--pipeline", "wcow-container", "--input", (kCases / "mounts-and-pipes/input.json").string()});
  INFO(result.err);
  REQUIRE(result.exit_status == 0);
  CHECK(json::parse(result.out) == read_json(kCases / "mounts-and-pipes/container-v2.json"));
  CHECK(result.err.empty());
}

TEST_CASE("hcsdoc host options override the input's host profile", "[parity][hcsdoc]") {
  const std::string input = (kCases / "cpu-count-exceeds-host/input.json").string();
  const auto clamped = run_process({kHcsdoc, "--pipeline", "wcow-container", "--input", input, "--processors", "8"});
  REQUIRE(clamped.exit_status == 0);
  CHECK(json::parse(clamped.out)["Processor"] == json({{"Count", 8}}));

  const auto old_host = run_process({kHcsdoc, "--pipeline", "wcow-container", "--input", input, "--os-build", "17134"});
  CHECK(old_host.exit_status == 2);
  CHECK_THAT(old_host.err, ContainsSubstring("failed precondition") && ContainsSubstring("17134"));
}

TEST_CASE("hcsdoc reports a rejected input on stderr with exit status 2", "[parity][hcsdoc]") {
  const auto result =
      run_process({kHcsdoc, "--pipeline", "wcow-container", "--input", (kCases / "root-readonly/input.json").string()});
  CHECK(result.exit_status == 2);
  CHECK(result.out.empty());
  CHECK_THAT(result.err, ContainsSubstring("invalid argument") && ContainsSubstring("spec.root.readonly"));

  const auto missing = run_process({kHcsdoc, "--pipeline", "wcow-container", "--input", "/nonexistent/input.json"});
  CHECK(missing.exit_status == 2);
  CHECK_THAT(missing.err, ContainsSubstring("cannot read /nonexistent/input.json"));
}

TEST_CASE("hcsdoc usage errors exit 2 and name the known pipelines", "[parity][hcsdoc]") {
  const auto unknown = run_process({kHcsdoc, "--pipeline", "lcow-v9", "--input", "x.json"});
  CHECK(unknown.exit_status == 2);
  CHECK_THAT(unknown.err, ContainsSubstring("unknown pipeline \"lcow-v9\"") && ContainsSubstring("wcow-container"));

  CHECK(run_process({kHcsdoc, "--input", "x.json"}).exit_status == 2);
  CHECK(run_process({kHcsdoc, "--pipeline", "wcow-container"}).exit_status == 2);
  CHECK(run_process({kHcsdoc, "--bogus"}).exit_status == 2);
  const auto bad_number = run_process({kHcsdoc, "--pipeline", "wcow-container", "--input", "x", "--processors", "-1"});
  CHECK(bad_number.exit_status == 2);
  CHECK_THAT(bad_number.err, ContainsSubstring("--processors"));

  const auto help = run_process({kHcsdoc, "--help"});
  CHECK(help.exit_status == 0);
  CHECK_THAT(help.out, ContainsSubstring("--pipeline") && ContainsSubstring("--os-build") &&
                           ContainsSubstring("--processors") && ContainsSubstring("wcow-container"));
}
