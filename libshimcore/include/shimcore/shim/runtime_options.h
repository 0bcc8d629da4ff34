// The shim's runtime options (containerd.runhcs.v1.Options): parsed from `start`'s stdin, kept in the bundle for serve.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "runhcs/options/runhcs.pb.h"
#include "shimcore/shim/log.h"

namespace shimcore::shim {

// One typed structure whatever containerd sent: the runhcs Options message itself, so that a protobuf Any and a CRI
// TOML table end up identical, and hcsshim's option semantics carry over field by field.
using RuntimeOptions = containerd::runhcs::v1::Options;

// The bundle file `start` writes and `serve` reads: a serialized Any of containerd.runhcs.v1.Options (the parsed,
// normalized options, so that serve never re-reads TOML or a config_path that may have changed since).
inline constexpr const char* kRuntimeOptionsFile = "shimcore-options.pb";
inline constexpr std::string_view kRunhcsOptionsType = "containerd.runhcs.v1.Options";
inline constexpr std::string_view kCriRuntimeOptionsType = "runtimeoptions.v1.Options";

struct ParsedRuntimeOptions {
  RuntimeOptions options;
  // Keys of a TOML table that no option matches ("unknown runtime option \"X\" (line N) ignored"): logged, not fatal.
  std::vector<std::string> warnings;
};

// `start`'s stdin: nothing (defaults), or a serialized google.protobuf.Any of
//  - containerd.runhcs.v1.Options (protobuf), or
//  - runtimeoptions.v1.Options (CRI's generic options) whose config_body is the runtime's TOML options table, or whose
//    config_path names a TOML file (ctr --runtime-config-path); both empty means defaults.
// The type URL may carry a prefix ("type.googleapis.com/…"); containerd sends the bare name. Any other type, bytes that
// do not parse, a TOML syntax error (with line and column), a value of the wrong type or out of range, and an unknown
// log level are InvalidArgument.
ParsedRuntimeOptions parse_runtime_options(std::string_view any_bytes);

// A TOML options table as CRI writes it (containerd's GenerateRuntimeOptions marshals the runtime's `options` table
// with go-toml): keys are the Go field names of runhcs Options (Debug, DebugType, SandboxIsolation, VmMemorySizeInMb,
// GPUVHDPath, ...), matched exactly or, as go-toml does, case-insensitively. Enums take their number (as go-toml
// decodes them) or their proto name ("HYPERVISOR").
ParsedRuntimeOptions parse_runtime_options_toml(std::string_view toml_text);

// The Go field name go-toml matches for a runhcs Options field (protoc-gen-go's CamelCase of the proto name).
std::string go_field_name(std::string_view proto_field_name);

// Writes kRuntimeOptionsFile in `bundle` (atomically: serve may start reading at once).
void save_runtime_options(const std::filesystem::path& bundle, const RuntimeOptions& options);
// Reads kRuntimeOptionsFile from `bundle`; defaults when there is none (a bundle started without options).
RuntimeOptions load_runtime_options(const std::filesystem::path& bundle);

// The daemon's log level: LogLevel when set (it supersedes Debug, as in hcsshim), else debug when Debug or the
// -debug flag is set, else info.
LogLevel runtime_log_level(const RuntimeOptions& options, bool debug_flag);

}  // namespace shimcore::shim
