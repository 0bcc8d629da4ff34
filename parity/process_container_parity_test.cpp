// Parity of the process-isolated container builder with hcsshim: every case under golden/wcow/process-container is
// built from its input.json and compared with hcsshim's container-v2.json as parsed JSON, exactly; the cases hcsshim
// rejected (error.txt) must be rejected as InvalidArgument with hcsshim's reason in the message.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>

#include "shimcore/builder/process_container.h"
#include "shimcore/builder/process_container_input.h"
#include "shimcore/errdefs.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kCases = fs::path(SHIMCORE_PARITY_GOLDEN_DIR) / "wcow" / "process-container";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

std::vector<fs::path> case_directories() {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(kCases)) {
    if (entry.is_directory()) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// One line per differing leaf, "path: golden <value>, ours <value>", so that a mismatch reads at a glance.
void collect_differences(const json& golden, const json& ours, const std::string& path, std::vector<std::string>& out) {
  if (golden.is_object() && ours.is_object()) {
    std::set<std::string> keys;
    for (const auto& [key, value] : golden.items()) keys.insert(key);
    for (const auto& [key, value] : ours.items()) keys.insert(key);
    for (const std::string& key : keys) {
      const std::string child = path + "." + key;
      if (!golden.contains(key)) {
        out.push_back(child + ": absent in golden, ours " + ours[key].dump());
      } else if (!ours.contains(key)) {
        out.push_back(child + ": golden " + golden[key].dump() + ", absent in ours");
      } else {
        collect_differences(golden[key], ours[key], child, out);
      }
    }
  } else if (golden.is_array() && ours.is_array()) {
    const std::size_t common = std::min(golden.size(), ours.size());
    for (std::size_t i = 0; i < common; ++i) {
      collect_differences(golden[i], ours[i], path + "[" + std::to_string(i) + "]", out);
    }
    for (std::size_t i = common; i < golden.size(); ++i) {
      out.push_back(path + "[" + std::to_string(i) + "]: golden " + golden[i].dump() + ", absent in ours");
    }
    for (std::size_t i = common; i < ours.size(); ++i) {
      out.push_back(path + "[" + std::to_string(i) + "]: absent in golden, ours " + ours[i].dump());
    }
  } else if (golden != ours) {
    out.push_back(path + ": golden " + golden.dump() + ", ours " + ours.dump());
  }
}

std::string readable_diff(const json& golden, const json& ours) {
  std::vector<std::string> lines;
  collect_differences(golden, ours, "$", lines);
  std::string text;
  for (const std::string& line : lines) text += "  " + line + "\n";
  return text;
}

}  // namespace

TEST_CASE("the process-container builder matches hcsshim on every golden case", "[parity][process]") {
  const std::vector<fs::path> cases = case_directories();
  // The 11 cases of the golden set (8 documents, 3 rejections): a case that goes missing fails here.
  REQUIRE(cases.size() == 11);

  for (const fs::path& directory : cases) {
    DYNAMIC_SECTION(directory.filename().string()) {
      const bool has_document = fs::exists(directory / "container-v2.json");
      const bool has_error = fs::exists(directory / "error.txt");
      REQUIRE(has_document != has_error);  // each case is exactly one of the two

      const auto input =
          shimcore::builder::read_process_container_input(json::parse(read_text(directory / "input.json")));
      if (has_document) {
        const json golden = json::parse(read_text(directory / "container-v2.json"));
        json ours;
        try {
          ours = shimcore::builder::build_process_container(input.request, input.host);
        } catch (const shimcore::Error& error) {
          FAIL("rejected a case hcsshim accepts: " << error.what());
        }
        INFO("differences (golden vs ours):\n" << readable_diff(golden, ours) << "ours:\n" << ours.dump(2));
        CHECK(ours == golden);
      } else {
        const std::string reason = trim(read_text(directory / "error.txt"));
        try {
          const json ours = shimcore::builder::build_process_container(input.request, input.host);
          FAIL("accepted a case hcsshim rejects (" << reason << "); built:\n" << ours.dump(2));
        } catch (const shimcore::Error& error) {
          INFO("hcsshim: " << reason << "\nours:    " << error.what());
          CHECK(error.kind() == shimcore::ErrorKind::InvalidArgument);
          CHECK(std::string(error.what()).find(reason) != std::string::npos);
        }
      }
    }
  }
}

TEST_CASE("the compute system wraps the container as hcsshim's CreateContainer does", "[parity][process]") {
  const auto input =
      shimcore::builder::read_process_container_input(json::parse(read_text(kCases / "network" / "input.json")));
  const json system = shimcore::builder::build_process_compute_system(input.request, input.host);
  CHECK(system["Owner"] == "test-owner");
  CHECK(system["SchemaVersion"] == json({{"Major", 2}, {"Minor", 1}}));
  CHECK(system["ShouldTerminateOnLastHandleClosed"] == true);
  CHECK(system["Container"] == json::parse(read_text(kCases / "network" / "container-v2.json")));
}
