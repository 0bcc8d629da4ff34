// /proc readers for the emulator's Statistics (see proc_usage.h for how Linux figures map to HCS's).
#include "hcs/emulator/proc_usage.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>

namespace shimcore::hcs::emulator {
namespace {

namespace fs = std::filesystem;

struct StatLine {
  pid_t ppid = 0;
  std::uint64_t utime = 0, stime = 0, cutime = 0, cstime = 0;  // clock ticks
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// /proc/<pid>/stat after the command name (which may hold spaces and parentheses): fields 3 onwards.
bool read_stat(pid_t pid, StatLine& out) {
  const std::string text = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto close = text.rfind(')');
  if (close == std::string::npos || close + 2 > text.size()) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  for (int index = 3; index <= 17 && (fields >> field); ++index) {
    const std::uint64_t value = std::strtoull(field.c_str(), nullptr, 10);
    switch (index) {
      case 4: out.ppid = static_cast<pid_t>(value); break;
      case 14: out.utime = value; break;
      case 15: out.stime = value; break;
      case 16: out.cutime = value; break;
      case 17: out.cstime = value; return true;
      default: break;
    }
  }
  return false;
}

// "Key:   123 kB" lines of /proc/<pid>/status (kB) or "key: 123" lines of /proc/<pid>/io, by key.
std::map<std::string, std::uint64_t> read_keyed(const fs::path& path) {
  std::map<std::string, std::uint64_t> values;
  std::istringstream lines(read_text(path));
  for (std::string line; std::getline(lines, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    values[line.substr(0, colon)] = std::strtoull(line.c_str() + colon + 1, nullptr, 10);
  }
  return values;
}

std::uint64_t ticks_to_100ns(std::uint64_t ticks) {
  static const long hz = std::max(1L, ::sysconf(_SC_CLK_TCK));
  return ticks * (10'000'000ULL / static_cast<std::uint64_t>(hz));
}

std::uint64_t timeval_to_100ns(const timeval& time) {
  return static_cast<std::uint64_t>(time.tv_sec) * 10'000'000ULL + static_cast<std::uint64_t>(time.tv_usec) * 10ULL;
}

}  // namespace

ProcessUsage& ProcessUsage::operator+=(const ProcessUsage& other) noexcept {
  user_100ns += other.user_100ns;
  kernel_100ns += other.kernel_100ns;
  private_working_set_bytes += other.private_working_set_bytes;
  commit_bytes += other.commit_bytes;
  read_count += other.read_count;
  read_bytes += other.read_bytes;
  write_count += other.write_count;
  write_bytes += other.write_bytes;
  return *this;
}

ProcessUsage live_usage(const std::vector<pid_t>& roots) {
  // One pass over /proc for the parent links, then the trees below the roots.
  std::multimap<pid_t, pid_t> children;
  std::map<pid_t, StatLine> stats;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::strtol(name.c_str(), nullptr, 10));
    StatLine stat;
    if (!read_stat(pid, stat)) continue;
    stats.emplace(pid, stat);
    children.emplace(stat.ppid, pid);
  }
  ProcessUsage total;
  std::vector<pid_t> pending(roots.begin(), roots.end());
  std::map<pid_t, bool> seen;
  while (!pending.empty()) {
    const pid_t pid = pending.back();
    pending.pop_back();
    const auto stat = stats.find(pid);
    if (stat == stats.end() || seen[pid]) continue;
    seen[pid] = true;
    const auto [first, last] = children.equal_range(pid);
    for (auto it = first; it != last; ++it) pending.push_back(it->second);

    total.user_100ns += ticks_to_100ns(stat->second.utime + stat->second.cutime);
    total.kernel_100ns += ticks_to_100ns(stat->second.stime + stat->second.cstime);
    const fs::path dir = "/proc/" + std::to_string(pid);
    auto status = read_keyed(dir / "status");
    total.private_working_set_bytes += status["RssAnon"] * 1024;
    total.commit_bytes += (status["VmData"] + status["VmStk"]) * 1024;
    auto io = read_keyed(dir / "io");
    total.read_count += io["syscr"];
    total.read_bytes += io["read_bytes"];
    total.write_count += io["syscw"];
    total.write_bytes += io["write_bytes"];
  }
  return total;
}

ProcessUsage reaped_usage(const rusage& usage) noexcept {
  ProcessUsage total;
  total.user_100ns = timeval_to_100ns(usage.ru_utime);
  total.kernel_100ns = timeval_to_100ns(usage.ru_stime);
  total.read_count = static_cast<std::uint64_t>(usage.ru_inblock);
  total.read_bytes = static_cast<std::uint64_t>(usage.ru_inblock) * 512;
  total.write_count = static_cast<std::uint64_t>(usage.ru_oublock);
  total.write_bytes = static_cast<std::uint64_t>(usage.ru_oublock) * 512;
  return total;
}

}  // namespace shimcore::hcs::emulator
