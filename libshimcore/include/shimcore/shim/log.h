// The shim's logger: logrus-style key=value lines on stderr, which `serve` points at the bundle's `log` FIFO.
#pragma once

#include <fmt/format.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace shimcore::shim {

enum class LogLevel { Debug, Info, Warn, Error };

// Process-wide settings, set once by `serve` before any thread starts.
void set_log_level(LogLevel level) noexcept;
void set_log_fields(std::string namespace_name, std::string id);
bool log_enabled(LogLevel level) noexcept;

using LogField = std::pair<std::string_view, std::string_view>;

// One line as log() writes it, newline included (for writers that cannot use stderr, such as `start`).
std::string format_log_line(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

// One line: time="..." level=info msg="..." namespace=... id=... key=value... (values quoted when needed).
void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

template <typename... Args>
void logf(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(level)) log(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace shimcore::shim
