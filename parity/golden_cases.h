// Shared by the parity tests: reading golden files, listing a golden set's case folders, hcsshim's rejection reasons.
#pragma once

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
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

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The part of a golden error-*.txt that hcsshim wrote itself, which our rejection must contain: without the trailing
// newline, and without the Windows message of a failed file probe (": GetFileAttributesEx <path>: <message>"), whose
// wording is the OS's (it depends on the Windows release and language) and not hcsshim's.
inline std::string hcsshim_reason(const std::string& golden_text) {
  std::string reason = golden_text;
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == '\r' || reason.back() == ' ')) reason.pop_back();
  if (const auto os_error = reason.find(": GetFileAttributesEx "); os_error != std::string::npos) {
    reason.erase(os_error);
  }
  return reason;
}

}  // namespace shimcore::parity
