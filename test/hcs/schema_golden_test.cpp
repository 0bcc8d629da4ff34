// Every golden document hcsshim produced (parity/golden, copied from ../shared/golden) parses into the schema types
// and serialises back to JSON equal to the original, field for field.
#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>

#include "shimcore/hcs/schema/schema.h"

namespace {

namespace fs = std::filesystem;
namespace schema = shimcore::hcs::schema;
using schema::Json;

// Which documents the golden set holds. container-v1.json (schema v1) is not part of it: schema v1 is not modelled.
bool is_compute_system_document(const fs::path& path) {
  const std::string name = path.filename().string();
  return name == "legacy.json" || name == "v2.json" || name == "doc.json";
}

bool is_container_document(const fs::path& path) {
  const std::string name = path.filename().string();
  return name.starts_with("container-") && name.ends_with(".json") && name != "container-v1.json";
}

std::vector<fs::path> golden_documents(bool (*select)(const fs::path&)) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::recursive_directory_iterator(SHIMCORE_GOLDEN_DIR)) {
    if (entry.is_regular_file() && select(entry.path())) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string relative_name(const fs::path& path) { return fs::relative(path, SHIMCORE_GOLDEN_DIR).generic_string(); }

}  // namespace

TEST_CASE("every golden ComputeSystem document round-trips through the schema types", "[hcs][schema][golden]") {
  const std::vector<fs::path> documents = golden_documents(is_compute_system_document);
  // 35 LCOW cases x (legacy.json, v2.json) + 10 WCOW utility VMs (doc.json). A glob that finds nothing fails here.
  REQUIRE(documents.size() == 80);

  for (const fs::path& path : documents) {
    DYNAMIC_SECTION(relative_name(path)) {
      const std::string text = read_text(path);
      const Json original = Json::parse(text);
      const schema::ComputeSystem system = schema::parse_compute_system(text);
      REQUIRE_NOTHROW(schema::validate(system));

      const Json reserialised = system;
      INFO("JSON patch from the golden document to ours: " << Json::diff(original, reserialised).dump(2));
      REQUIRE(reserialised == original);
      // The compact text we send HCS parses back to the same value.
      REQUIRE(schema::parse_compute_system(schema::to_json_text(system)) == system);
    }
  }
}

TEST_CASE("every golden Container document round-trips through the schema types", "[hcs][schema][golden]") {
  const std::vector<fs::path> documents = golden_documents(is_container_document);
  // The 8 wcow/process-container cases that produced a schema v2 document (container-v2.json).
  REQUIRE(documents.size() == 8);

  for (const fs::path& path : documents) {
    DYNAMIC_SECTION(relative_name(path)) {
      const std::string text = read_text(path);
      const Json original = Json::parse(text);
      const schema::Container container = schema::parse_container(text);

      const Json reserialised = container;
      INFO("JSON patch from the golden document to ours: " << Json::diff(original, reserialised).dump(2));
      REQUIRE(reserialised == original);

      // hcsoci wraps it as the Container of a ComputeSystem; that must satisfy validate.
      schema::ComputeSystem system;
      system.owner = "test-owner";
      system.schema_version = schema::Version{2, 1};
      system.container = container;
      system.should_terminate_on_last_handle_closed = true;
      REQUIRE_NOTHROW(schema::validate(system));
      REQUIRE(schema::parse_compute_system(schema::to_json_text(system)) == system);
    }
  }
}
