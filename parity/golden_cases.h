// Shared by the parity tests: reading golden JSON files and listing a golden set's case folders.
#pragma once

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace shimcore::parity {

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

// The case folders of a golden set, sorted.
inline std::vector<std::string> case_folders(const std::filesystem::path& set) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(set)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace shimcore::parity
