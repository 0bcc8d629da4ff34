// The README's rule that status codes come from one table: no source of libshimcore names a status code itself,
// except the table (errdefs) and "OK", which is no error kind.
#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

TEST_CASE("libshimcore builds status codes only through the errdefs table", "[errdefs]") {
  const fs::path root = fs::path(SHIMCORE_SOURCE_DIR) / "libshimcore";
  REQUIRE(fs::is_directory(root));
  // Ours, not grpc::StatusCode (gRPC's own type, which the gRPC server converts through the table too).
  const std::regex named_code(R"((^|[^:A-Za-z_])StatusCode::(?!Ok\b)[A-Za-z]+)");
  std::vector<std::string> offenders;
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const fs::path& path = entry.path();
    if (!entry.is_regular_file() || (path.extension() != ".cpp" && path.extension() != ".h")) continue;
    if (path.stem() == "errdefs") continue;  // the table itself
    ++files;
    std::ifstream in(path);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (std::regex_search(line, named_code)) {
        offenders.push_back(fs::relative(path, root).string() + ":" + std::to_string(number) + ": " + line);
      }
    }
  }
  CHECK(files > 50);  // the walk saw the library
  INFO("status codes named outside the errdefs table:\n" << [&] {
    std::ostringstream list;
    for (const auto& offender : offenders) list << offender << "\n";
    return list.str();
  }());
  CHECK(offenders.empty());
}
