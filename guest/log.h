// Structured logging to stderr, one JSON object per line ({"time","level","msg", fields...}) as hcsshim's GCS logs.
#pragma once

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace shimcore::guest {

enum class LogLevel { Debug, Info, Warn, Error };

std::optional<LogLevel> parse_log_level(std::string_view name);
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
// One line, written with a single write(2) so that lines from concurrent threads never interleave.
void log(LogLevel level, std::string_view message, const nlohmann::json& fields = nlohmann::json::object());

inline void log_debug(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  log(LogLevel::Debug, m, f);
}
inline void log_info(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  log(LogLevel::Info, m, f);
}
inline void log_warn(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  log(LogLevel::Warn, m, f);
}
inline void log_error(std::string_view m, const nlohmann::json& f = nlohmann::json::object()) {
  log(LogLevel::Error, m, f);
}

}  // namespace shimcore::guest
