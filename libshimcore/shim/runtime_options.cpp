// Runtime options: the protobuf and CRI TOML forms containerd sends, mapped onto runhcs Options the way go-toml maps
// CRI's table onto hcsshim's Go struct, so that a config written for hcsshim means the same here.
#include "shimcore/shim/runtime_options.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>

#include "containerd/types/runtimeoptions/v1/api.pb.h"
#include "shimcore/errdefs.h"

// toml++ is compiled into this one translation unit (see libshimcore/CMakeLists.txt), hence no separate library.
#include <toml++/toml.h>

namespace shimcore::shim {
namespace {

namespace fs = std::filesystem;
namespace pb = google::protobuf;

// A config_path file larger than this is not a runtime options table.
constexpr std::size_t kMaxConfigFileBytes = 1 << 20;

std::string_view type_name_of(std::string_view type_url) {
  const auto slash = type_url.rfind('/');
  return slash == std::string_view::npos ? type_url : type_url.substr(slash + 1);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string_view toml_type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::none: return "nothing";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
  }
  return "a value";
}

// logrus.ParseLevel's names (hcsshim parses LogLevel with it and refuses anything else).
std::optional<LogLevel> parse_log_level(std::string_view name) {
  struct Name {
    std::string_view text;
    LogLevel level;
  };
  static constexpr std::array<Name, 8> kNames{{{"trace", LogLevel::Debug},
                                               {"debug", LogLevel::Debug},
                                               {"info", LogLevel::Info},
                                               {"warn", LogLevel::Warn},
                                               {"warning", LogLevel::Warn},
                                               {"error", LogLevel::Error},
                                               {"fatal", LogLevel::Error},
                                               {"panic", LogLevel::Error}}};
  for (const Name& entry : kNames) {
    if (iequals(entry.text, name)) return entry.level;
  }
  return std::nullopt;
}

void validate(const RuntimeOptions& options) {
  if (!options.log_level().empty() && !parse_log_level(options.log_level())) {
    throw make_error(ErrorKind::InvalidArgument,
                     "runtime options: LogLevel \"{}\" is not a log level (trace, debug, info, warn, error, fatal, "
                     "panic)",
                     options.log_level());
  }
}

// The field a TOML key names: the exact Go field name first, then a case-insensitive match (go-toml's rule).
const pb::FieldDescriptor* field_for_key(std::string_view key) {
  const pb::Descriptor* descriptor = RuntimeOptions::descriptor();
  const pb::FieldDescriptor* folded = nullptr;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const pb::FieldDescriptor* field = descriptor->field(i);
    const std::string name = go_field_name(field->name());
    if (name == key) return field;
    if (folded == nullptr && iequals(name, key)) folded = field;
  }
  return folded;
}

class TomlMapper {
 public:
  explicit TomlMapper(ParsedRuntimeOptions& result) : result_(result) {}

  void map_table(const toml::table& table) {
    for (const auto& [key, node] : table) {
      const pb::FieldDescriptor* field = field_for_key(key.str());
      if (field == nullptr) {
        result_.warnings.push_back(
            fmt::format("unknown runtime option \"{}\" (line {}) ignored", key.str(), key.source().begin.line));
        continue;
      }
      set_field(*field, key.str(), node);
    }
  }

 private:
  [[noreturn]] static void wrong_type(std::string_view key, const toml::node& node, std::string_view wanted) {
    throw make_error(ErrorKind::InvalidArgument, "runtime options: \"{}\" (line {}) must be {}, not {}", key,
                     node.source().begin.line, wanted, toml_type_name(node.type()));
  }

  void set_field(const pb::FieldDescriptor& field, std::string_view key, const toml::node& node) {
    RuntimeOptions& options = result_.options;
    const pb::Reflection* reflection = options.GetReflection();
    if (field.is_map()) {
      set_map(field, key, node);
      return;
    }
    switch (field.cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        if (!node.is_boolean()) wrong_type(key, node, "a boolean");
        reflection->SetBool(&options, &field, node.as_boolean()->get());
        return;
      case pb::FieldDescriptor::CPPTYPE_STRING:
        if (!node.is_string()) wrong_type(key, node, "a string");
        reflection->SetString(&options, &field, node.as_string()->get());
        return;
      case pb::FieldDescriptor::CPPTYPE_INT32: {
        if (!node.is_integer()) wrong_type(key, node, "an integer");
        const std::int64_t value = node.as_integer()->get();
        if (value < std::numeric_limits<std::int32_t>::min() || value > std::numeric_limits<std::int32_t>::max()) {
          throw make_error(ErrorKind::InvalidArgument, "runtime options: \"{}\" (line {}): {} is out of range (int32)",
                           key, node.source().begin.line, value);
        }
        reflection->SetInt32(&options, &field, static_cast<std::int32_t>(value));
        return;
      }
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        const pb::EnumDescriptor* type = field.enum_type();
        const pb::EnumValueDescriptor* value = nullptr;
        if (node.is_integer()) {
          const std::int64_t number = node.as_integer()->get();
          if (number >= std::numeric_limits<int>::min() && number <= std::numeric_limits<int>::max()) {
            value = type->FindValueByNumber(static_cast<int>(number));
          }
        } else if (node.is_string()) {
          value = type->FindValueByName(node.as_string()->get());
        } else {
          wrong_type(key, node, "an integer or a name of " + type->name());
        }
        if (value == nullptr) {
          std::string names;
          for (int i = 0; i < type->value_count(); ++i) {
            names += fmt::format("{}{} = {}", i == 0 ? "" : ", ", type->value(i)->name(), type->value(i)->number());
          }
          throw make_error(ErrorKind::InvalidArgument, "runtime options: \"{}\" (line {}) is not a {} ({})", key,
                           node.source().begin.line, type->name(), names);
        }
        reflection->SetEnum(&options, &field, value);
        return;
      }
      default:
        // Options has no other field types today; a new one must be mapped here before it can be set from TOML.
        throw make_error(ErrorKind::InvalidArgument, "runtime options: \"{}\" cannot be set from TOML", key);
    }
  }

  // map<string, string> (DefaultContainerAnnotations): a TOML table of strings.
  void set_map(const pb::FieldDescriptor& field, std::string_view key, const toml::node& node) {
    const toml::table* table = node.as_table();
    if (table == nullptr) wrong_type(key, node, "a table of strings");
    const pb::Descriptor* entry_type = field.message_type();
    const pb::FieldDescriptor* map_key = entry_type->map_key();
    const pb::FieldDescriptor* map_value = entry_type->map_value();
    RuntimeOptions& options = result_.options;
    for (const auto& [entry_key, entry_value] : *table) {
      if (!entry_value.is_string()) {
        wrong_type(fmt::format("{}.{}", key, entry_key.str()), entry_value, "a string");
      }
      pb::Message* entry = options.GetReflection()->AddMessage(&options, &field);
      entry->GetReflection()->SetString(entry, map_key, std::string(entry_key.str()));
      entry->GetReflection()->SetString(entry, map_value, entry_value.as_string()->get());
    }
  }

  ParsedRuntimeOptions& result_;
};

// toml++ 3.3 (Debian 12) reaches __builtin_unreachable() when it asks whether certain non-ASCII code points are
// whitespace (marzer/tomlplusplus#190, #295; found again by fuzz_runtime_options). It asks only outside strings and
// comments, where TOML allows no non-ASCII at all, and after a line-ending backslash in a multi-line basic string.
// Those inputs are invalid or pathological, so they are refused here before the parser sees them. A quote opens a
// string here only where a value or a key surely starts (after = [ { , or at the start of a line); after anything else
// toml++ may be scanning a bare value across it, so the rest of that line admits no non-ASCII at all (which also
// refuses non-ASCII in the rare quoted part of a dotted key).
void refuse_unsafe_unicode(std::string_view text) {
  enum class State { Normal, Comment, Basic, Literal, MultiBasic, MultiLiteral, AsciiLine };
  State state = State::Normal;
  char last = '\n';  // the last non-blank character seen in Normal state ('\n' at the start of a line)
  std::size_t line = 1, column = 1;
  const auto fail = [&](std::string_view what) {
    throw make_error(ErrorKind::InvalidArgument, "runtime options: TOML syntax error at line {}, column {}: {}", line,
                     column, what);
  };
  const auto starts = [&](std::size_t i, std::string_view token) { return text.substr(i, token.size()) == token; };
  // Skips the run of quotes that closes a multi-line string: up to five, as TOML allows two more inside.
  const auto close_run = [&](std::size_t& i, char quote) {
    std::size_t run = 0;
    while (i + run < text.size() && text[i + run] == quote && run < 5) ++run;
    column += run - 1;
    i += run - 1;
  };
  // After a backslash in a basic string toml++ asks whether the next character is whitespace (a line-ending
  // backslash swallows whitespace and newlines, and it asks again for each): only ASCII may follow there.
  const auto skip_escape = [&](std::size_t& i) {
    std::size_t next = i + 1;
    while (next < text.size() && std::isspace(static_cast<unsigned char>(text[next])) != 0) {
      if (text[next] == '\n') {
        ++line;
        column = 0;
      }
      ++next;
      ++column;
    }
    if (next < text.size() && static_cast<unsigned char>(text[next]) >= 0x80) {
      fail("a non-ASCII character after a backslash");
    }
    if (next == i + 1) {
      i = next;  // an escaped character is no delimiter
      ++column;
    } else {
      i = next - 1;  // after swallowed whitespace the loop goes on with the next character as usual
    }
  };
  for (std::size_t i = 0; i < text.size(); ++i, ++column) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      column = 0;
      if (state == State::Comment || state == State::Basic || state == State::Literal || state == State::AsciiLine) {
        state = State::Normal;
      }
      if (state == State::Normal) last = '\n';
      continue;
    }
    switch (state) {
      case State::Normal:
        if (static_cast<unsigned char>(c) >= 0x80) fail("a non-ASCII character outside a string or comment");
        if (c == ' ' || c == '\t' || c == '\r') break;
        if ((c == '"' || c == '\'') && std::string_view("\n=[{,").find(last) == std::string_view::npos) {
          state = State::AsciiLine;
          break;
        }
        last = c;
        if (c == '#') {
          state = State::Comment;
        } else if (starts(i, "\"\"\"") || starts(i, "'''")) {
          state = c == '"' ? State::MultiBasic : State::MultiLiteral;
          i += 2;
          column += 2;
        } else if (c == '"') {
          state = State::Basic;
        } else if (c == '\'') {
          state = State::Literal;
        }
        break;
      case State::Comment: break;
      case State::AsciiLine:
        if (static_cast<unsigned char>(c) >= 0x80) fail("a non-ASCII character after a quote that starts no string");
        break;
      case State::Basic:
        if (c == '\\') {
          skip_escape(i);
        } else if (c == '"') {
          state = State::Normal;
        }
        break;
      case State::Literal:
        if (c == '\'') state = State::Normal;
        break;
      case State::MultiBasic:
        if (c == '\\') {
          skip_escape(i);
        } else if (starts(i, "\"\"\"")) {
          close_run(i, '"');
          state = State::Normal;
        }
        break;
      case State::MultiLiteral:
        if (starts(i, "'''")) {
          close_run(i, '\'');
          state = State::Normal;
        }
        break;
    }
  }
}

std::string read_config_file(const std::string& path) {
  std::error_code error;
  // Only a regular file: a FIFO or a device named here would block or never end.
  if (!fs::is_regular_file(path, error)) {
    throw make_error(ErrorKind::InvalidArgument, "runtime options: config_path {} is not a readable file", path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw make_error(ErrorKind::InvalidArgument, "runtime options: cannot read config_path {}", path);
  // Bounded by reading, not by the size the file claims (files under /proc claim 0).
  std::string text(kMaxConfigFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxConfigFileBytes) {
    throw make_error(ErrorKind::InvalidArgument, "runtime options: config_path {} is larger than {} bytes", path,
                     kMaxConfigFileBytes);
  }
  return text;
}

}  // namespace

std::string go_field_name(std::string_view proto_field_name) {
  std::string name;
  const auto lower = [](char c) { return c >= 'a' && c <= 'z'; };
  for (std::size_t i = 0; i < proto_field_name.size(); ++i) {
    const char c = proto_field_name[i];
    if (c == '_' && i == 0) {
      name.push_back('X');  // an exported Go name cannot start with '_'
    } else if (c == '_' && i + 1 < proto_field_name.size() && lower(proto_field_name[i + 1])) {
      continue;  // the next word starts with a capital instead
    } else if (c >= '0' && c <= '9') {
      name.push_back(c);
    } else {
      name.push_back(lower(c) ? static_cast<char>(c - 'a' + 'A') : c);
      while (i + 1 < proto_field_name.size() && lower(proto_field_name[i + 1])) name.push_back(proto_field_name[++i]);
    }
  }
  return name;
}

ParsedRuntimeOptions parse_runtime_options_toml(std::string_view toml_text) {
  ParsedRuntimeOptions result;
  refuse_unsafe_unicode(toml_text);
  toml::table table;
  try {
    table = toml::parse(toml_text);
  } catch (const toml::parse_error& error) {
    throw make_error(ErrorKind::InvalidArgument, "runtime options: TOML syntax error at line {}, column {}: {}",
                     error.source().begin.line, error.source().begin.column, error.description());
  }
  TomlMapper(result).map_table(table);
  validate(result.options);
  return result;
}

ParsedRuntimeOptions parse_runtime_options(std::string_view any_bytes) {
  if (any_bytes.empty()) return {};
  pb::Any any;
  if (!any.ParseFromArray(any_bytes.data(), static_cast<int>(any_bytes.size()))) {
    throw make_error(ErrorKind::InvalidArgument, "runtime options on stdin are not a serialized google.protobuf.Any");
  }
  const std::string_view type = type_name_of(any.type_url());
  if (type == kRunhcsOptionsType) {
    ParsedRuntimeOptions result;
    if (!result.options.ParseFromString(any.value())) {
      throw make_error(ErrorKind::InvalidArgument, "runtime options: the {} value does not parse", type);
    }
    validate(result.options);
    return result;
  }
  if (type == kCriRuntimeOptionsType) {
    runtimeoptions::v1::Options cri;
    if (!cri.ParseFromString(any.value())) {
      throw make_error(ErrorKind::InvalidArgument, "runtime options: the {} value does not parse", type);
    }
    // CRI fills config_body only when no config_path was configured (GenerateRuntimeOptions).
    if (!cri.config_body().empty()) return parse_runtime_options_toml(cri.config_body());
    if (!cri.config_path().empty()) return parse_runtime_options_toml(read_config_file(cri.config_path()));
    return {};
  }
  throw make_error(ErrorKind::InvalidArgument, "unsupported runtime options type \"{}\" (want {} or {})",
                   any.type_url(), kRunhcsOptionsType, kCriRuntimeOptionsType);
}

void save_runtime_options(const fs::path& bundle, const RuntimeOptions& options) {
  pb::Any any;
  any.set_type_url(std::string(kRunhcsOptionsType));
  any.set_value(options.SerializeAsString());
  const fs::path path = bundle / kRuntimeOptionsFile;
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << any.SerializeAsString();
    if (!out.flush()) {
      throw make_error(ErrorKind::Unavailable, "cannot write the runtime options to {}", temporary.string());
    }
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) {
    throw make_error(ErrorKind::Unavailable, "cannot write the runtime options to {}: {}", path.string(),
                     error.message());
  }
}

RuntimeOptions load_runtime_options(const fs::path& bundle) {
  std::ifstream in(bundle / kRuntimeOptionsFile, std::ios::binary);
  if (!in) return {};
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_runtime_options(bytes).options;
}

LogLevel runtime_log_level(const RuntimeOptions& options, bool debug_flag) {
  if (const auto level = parse_log_level(options.log_level())) return *level;
  return options.debug() || debug_flag ? LogLevel::Debug : LogLevel::Info;
}

}  // namespace shimcore::shim
