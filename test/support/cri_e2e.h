// Helpers shared by the CRI end-to-end tests: files, CRI log lines, shim bootstrap addresses, a pod guard.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cri_client.h"

namespace shimcore::testing::cri_e2e {

namespace fs = std::filesystem;

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The lines of `log` that CRI wrote for `stream` in its log format: "<RFC 3339 time> <stream> <F|P> <text>".
inline std::vector<std::string> cri_log_lines(const std::string& log, const std::string& stream) {
  static const std::regex line_format(
      R"(^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)) (stdout|stderr) ([FP]) (.*)$)");
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    std::smatch match;
    if (std::regex_match(line, match, line_format) && match[4] == stream && match[5] == "F") lines.push_back(match[6]);
  }
  return lines;
}

inline bool contains(const std::vector<std::string>& lines, const std::string& wanted) {
  return std::find(lines.begin(), lines.end(), wanted) != lines.end();
}

// Gone, or reparented to containerd (a subreaper) and not yet reaped.
inline bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  // Reparented to containerd (a subreaper) and not yet reaped counts as gone.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

inline std::string bootstrap_address(const fs::path& bundle) {
  std::ifstream in(bundle / "bootstrap.json");
  if (!in) return {};
  return nlohmann::json::parse(in).value("address", "");
}

// Stops and removes a pod that a failed assertion left behind, so that its shim and mounts go with it.
struct PodGuard {
  CriClient& cri;
  std::optional<std::string> pod_id;
  ~PodGuard() {
    if (!pod_id) return;
    try {
      cri.stop_pod_sandbox(*pod_id);
      cri.remove_pod_sandbox(*pod_id);
    } catch (const std::exception&) {  // the fixture's sweep handles what is left
    }
  }
};

}  // namespace shimcore::testing::cri_e2e
