// JSON-lines logger for the guest agent (the host relays these lines into its own log).
#include "log.h"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <string>

#include <fmt/format.h>

namespace shimcore::guest {
namespace {

std::atomic<LogLevel> g_level{LogLevel::Info};

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warning";  // logrus spells it so, and the host parses logrus levels
    case LogLevel::Error: return "error";
  }
  return "info";
}

// RFC 3339 with nanoseconds in UTC, the format logrus' JSON formatter uses.
std::string now_rfc3339() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  ::gmtime_r(&now.tv_sec, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                     utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec);
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::Debug;
  if (name == "info") return LogLevel::Info;
  if (name == "warn" || name == "warning") return LogLevel::Warn;
  if (name == "error") return LogLevel::Error;
  return std::nullopt;
}

void set_log_level(LogLevel level) { g_level.store(level); }
bool log_enabled(LogLevel level) { return level >= g_level.load(); }

void log(LogLevel level, std::string_view message, const nlohmann::json& fields) {
  if (!log_enabled(level)) return;
  nlohmann::json line = nlohmann::json::object();
  line["time"] = now_rfc3339();
  line["level"] = level_name(level);
  line["msg"] = message;
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) line[key] = value;
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;  // nowhere left to report a failing stderr
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace shimcore::guest
