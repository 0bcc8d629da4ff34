// The platform-neutral parts of the computecore backend: event decoding, UTF-16 conversion, the callback registry.
#include "shimcore/hcs/computecore_logic.h"

#include <fmt/format.h>

namespace shimcore::hcs::computecore {
namespace {

// HRESULTs travel in JSON as signed 32-bit numbers (Status: -2143878906); accept unsigned spellings too.
std::uint32_t hresult_field(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end()) return 0;
  if (it->is_number_integer()) return static_cast<std::uint32_t>(it->get<std::int64_t>());
  if (it->is_number_unsigned()) return static_cast<std::uint32_t>(it->get<std::uint64_t>());
  return 0;
}

std::uint32_t u32_field(const nlohmann::json& object, const char* name, std::uint32_t fallback) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_number()) return fallback;
  if (it->is_number_float()) return static_cast<std::uint32_t>(it->get<double>());
  return static_cast<std::uint32_t>(it->get<std::int64_t>());
}

std::string string_field(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

nlohmann::json parse_object(std::string_view text) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : nlohmann::json();  // null when not an object
}

SystemExit system_exit_from_status(nlohmann::json document) {
  SystemExit exit;
  exit.exit_type = string_field(document, "ExitType");
  exit.status = exit.exit_type == "UnexpectedExit" ? hresult::kUnexpectedExit : hresult_field(document, "Status");
  exit.document = std::move(document);
  return exit;
}

ProcessExit process_exit_from_document(const nlohmann::json& status, std::uint32_t pid) {
  ProcessExit exit;
  exit.process_id = u32_field(status, "ProcessId", pid);
  exit.last_wait_result = static_cast<std::int32_t>(hresult_field(status, "LastWaitResult"));
  // ExitCode is only meaningful when the wait that read it succeeded (SchemaReference ProcessStatus).
  exit.exit_code = exit.last_wait_result == 0 ? u32_field(status, "ExitCode", kUnknownExitCode) : kUnknownExitCode;
  return exit;
}

void append_utf8(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

[[noreturn]] void invalid_utf8(std::size_t offset) {
  throw make_error(ErrorKind::InvalidArgument, "hcs: invalid UTF-8 at byte {}", offset);
}

}  // namespace

std::string event_type_name(std::uint32_t type) {
  switch (type) {
    case event_type::kInvalid: return "Invalid";
    case event_type::kSystemExited: return "SystemExited";
    case event_type::kSystemCrashInitiated: return "SystemCrashInitiated";
    case event_type::kSystemCrashReport: return "SystemCrashReport";
    case event_type::kSystemRdpEnhancedModeStateChanged: return "SystemRdpEnhancedModeStateChanged";
    case event_type::kSystemSiloJobCreated: return "SystemSiloJobCreated";
    case event_type::kSystemGuestConnectionClosed: return "SystemGuestConnectionClosed";
    case event_type::kProcessExited: return "ProcessExited";
    case event_type::kOperationCallback: return "OperationCallback";
    case event_type::kServiceDisconnect: return "ServiceDisconnect";
    case event_type::kGroupVmLifecycle: return "GroupVmLifecycle";
    case event_type::kGroupLiveMigration: return "GroupLiveMigration";
    case event_type::kGroupOperationInfo: return "GroupOperationInfo";
    default: return fmt::format("Unknown({:#010x})", type);
  }
}

SystemExit system_exit_from_event(std::string_view event_data) {
  nlohmann::json document = parse_object(event_data);
  if (document.is_null()) {
    SystemExit exit;
    exit.status = hresult::kInvalidJson;
    exit.exit_type = "Unknown";
    exit.document = nlohmann::json::object();
    return exit;
  }
  return system_exit_from_status(std::move(document));
}

SystemExit system_exit_from_service_disconnect() {
  // A synthesized SystemExitStatus, so that callers reading `document` see the same shape as for a real exit.
  return system_exit_from_status(
      {{"Status", static_cast<std::int32_t>(hresult::kServiceDisconnect)}, {"ExitType", "Unknown"}});
}

std::optional<SystemExit> system_exit_from_properties(const nlohmann::json& properties) {
  if (!properties.is_object()) return std::nullopt;
  const bool stopped =
      string_field(properties, "State") == "Stopped" ||
      (properties.contains("Stopped") && properties["Stopped"].is_boolean() && properties["Stopped"].get<bool>());
  if (!stopped) return std::nullopt;
  std::string exit_type = string_field(properties, "ExitType");
  if (exit_type.empty()) exit_type = "Unknown";
  return system_exit_from_status({{"Status", 0}, {"ExitType", exit_type}});
}

ProcessExit process_exit_from_event(std::string_view event_data, std::uint32_t pid) {
  const nlohmann::json status = parse_object(event_data);
  if (status.is_null()) return process_exit_from_failure(hresult::kInvalidJson, pid);
  return process_exit_from_document(status, pid);
}

ProcessExit process_exit_from_service_disconnect(std::uint32_t pid) {
  return process_exit_from_failure(hresult::kServiceDisconnect, pid);
}

std::optional<ProcessExit> process_exit_from_status(const nlohmann::json& status, std::uint32_t pid) {
  if (!status.is_object()) return std::nullopt;
  const auto exited = status.find("Exited");
  if (exited == status.end() || !exited->is_boolean() || !exited->get<bool>()) return std::nullopt;
  return process_exit_from_document(status, pid);
}

ProcessExit process_exit_from_failure(std::uint32_t hr, std::uint32_t pid) {
  ProcessExit exit;
  exit.process_id = pid;
  exit.exit_code = kUnknownExitCode;
  exit.last_wait_result = static_cast<std::int32_t>(hr);
  return exit;
}

std::u16string utf8_to_utf16(std::string_view utf8) {
  std::u16string out;
  out.reserve(utf8.size());
  std::size_t i = 0;
  while (i < utf8.size()) {
    const auto lead = static_cast<unsigned char>(utf8[i]);
    std::size_t length = 0;
    char32_t code_point = 0;
    char32_t minimum = 0;  // the smallest code point this length may encode: smaller ones are overlong forms
    if (lead < 0x80) {
      out.push_back(static_cast<char16_t>(lead));
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code_point = lead & 0x1F;
      minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code_point = lead & 0x0F;
      minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code_point = lead & 0x07;
      minimum = 0x10000;
    } else {
      invalid_utf8(i);
    }
    if (utf8.size() - i < length) invalid_utf8(i);
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(utf8[i + k]);
      if ((next & 0xC0) != 0x80) invalid_utf8(i + k);
      code_point = (code_point << 6) | (next & 0x3F);
    }
    if (code_point < minimum || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      invalid_utf8(i);
    }
    if (code_point < 0x10000) {
      out.push_back(static_cast<char16_t>(code_point));
    } else {
      code_point -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (code_point >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (code_point & 0x3FF)));
    }
    i += length;
  }
  return out;
}

std::string utf16_to_utf8(std::u16string_view utf16) {
  constexpr char32_t kReplacement = 0xFFFD;
  std::string out;
  out.reserve(utf16.size());
  for (std::size_t i = 0; i < utf16.size(); ++i) {
    const char16_t unit = utf16[i];
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      if (i + 1 < utf16.size() && utf16[i + 1] >= 0xDC00 && utf16[i + 1] <= 0xDFFF) {
        append_utf8(out, 0x10000 + ((static_cast<char32_t>(unit) - 0xD800) << 10) + (utf16[i + 1] - 0xDC00));
        ++i;
      } else {
        append_utf8(out, kReplacement);
      }
    } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
      append_utf8(out, kReplacement);
    } else {
      append_utf8(out, unit);
    }
  }
  return out;
}

void SystemEventSink::on_event(std::uint32_t type, std::string_view data) {
  if (type == event_type::kSystemExited) {
    latch_->signal(system_exit_from_event(data));
  } else if (type == event_type::kServiceDisconnect) {
    latch_->signal(system_exit_from_service_disconnect());
  }
}

void ProcessEventSink::on_event(std::uint32_t type, std::string_view data) {
  if (type == event_type::kProcessExited) {
    latch_->signal(process_exit_from_event(data, pid_));
  } else if (type == event_type::kServiceDisconnect) {
    latch_->signal(process_exit_from_service_disconnect(pid_));
  }
}

NotificationRegistry& NotificationRegistry::global() {
  // Deliberately never destroyed (the Google-style idiom for such statics): HCS threads can still deliver an event
  // while static destructors run at exit, and must then find a working registry, not a destroyed mutex.
  static NotificationRegistry* const registry = new NotificationRegistry();
  return *registry;
}

std::uint64_t NotificationRegistry::add(std::shared_ptr<EventSink> sink) {
  std::lock_guard lock(mutex_);
  const std::uint64_t id = ++last_id_;
  sinks_.emplace(id, std::move(sink));
  return id;
}

void NotificationRegistry::remove(std::uint64_t id) noexcept {
  std::shared_ptr<EventSink> removed;  // released outside the lock
  std::lock_guard lock(mutex_);
  if (const auto it = sinks_.find(id); it != sinks_.end()) {
    removed = std::move(it->second);
    sinks_.erase(it);
  }
}

bool NotificationRegistry::dispatch(std::uint64_t id, std::uint32_t type, std::string_view data) const {
  std::shared_ptr<EventSink> sink;
  {
    std::lock_guard lock(mutex_);
    const auto it = sinks_.find(id);
    if (it == sinks_.end()) return false;
    sink = it->second;
  }
  sink->on_event(type, data);
  return true;
}

std::size_t NotificationRegistry::size() const {
  std::lock_guard lock(mutex_);
  return sinks_.size();
}

}  // namespace shimcore::hcs::computecore
