// Log lines in the format containerd's own logs use, so that they read naturally in containerd's output.
#include "shimcore/shim/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>

namespace shimcore::shim {
namespace {

std::atomic<LogLevel> g_level{LogLevel::Info};
std::mutex g_mutex;  // one write per line, and the fields below
std::string g_namespace;
std::string g_id;

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warning";
    case LogLevel::Error: return "error";
  }
  return "info";
}

void append_value(std::string& line, std::string_view value) {
  const bool plain = !value.empty() && value.find_first_of(" \"=\t\n\\") == std::string_view::npos;
  if (plain) {
    line.append(value);
    return;
  }
  line.push_back('"');
  for (const char c : value) {
    if (c == '"' || c == '\\') line.push_back('\\');
    if (c == '\n') {
      line.append("\\n");
      continue;
    }
    line.push_back(c);
  }
  line.push_back('"');
}

}  // namespace

void set_log_level(LogLevel level) noexcept { g_level = level; }

void set_log_fields(std::string namespace_name, std::string id) {
  const std::lock_guard lock(g_mutex);
  g_namespace = std::move(namespace_name);
  g_id = std::move(id);
}

bool log_enabled(LogLevel level) noexcept { return level >= g_level.load(); }

std::string format_log_line(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count() % 1000000000;
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  std::string line =
      fmt::format("time=\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z\" level={} msg=", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, nanos, level_name(level));
  append_value(line, message);
  const std::lock_guard lock(g_mutex);
  if (!g_namespace.empty()) {
    line += " namespace=";
    append_value(line, g_namespace);
  }
  if (!g_id.empty()) {
    line += " id=";
    append_value(line, g_id);
  }
  for (const auto& [key, value] : fields) {
    line.push_back(' ');
    line.append(key);
    line.push_back('=');
    append_value(line, value);
  }
  line.push_back('\n');
  return line;
}

void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (!log_enabled(level)) return;
  const std::string line = format_log_line(level, message, fields);
  // Straight to fd 2: one write() per line keeps lines whole on the FIFO even with several threads.
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n <= 0) break;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace shimcore::shim
