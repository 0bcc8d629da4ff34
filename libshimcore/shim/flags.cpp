// Go-style flag parsing for the shim binary.
//
// Written by hand on purpose: Go's flag package has rules that Boost.Program_options cannot express (a boolean flag
// never takes the next argument, `-flag=` sets an empty value, an unknown `-name` is an error rather than a
// positional argument, parsing stops at the first non-flag), and containerd's command line depends on them.
#include "shimcore/shim/flags.h"

#include <algorithm>
#include <array>
#include <optional>

#include "shimcore/errdefs.h"

namespace shimcore::shim {
namespace {

enum class FlagType { String, Bool };

struct FlagSpec {
  std::string_view name;
  FlagType type;
  std::string_view help;
  std::string ShimFlags::*string_target = nullptr;
  bool ShimFlags::*bool_target = nullptr;
};

// The flags containerd's shim protocol defines (pkg/shim), in the order -h lists them.
const std::array kFlags{
    FlagSpec{"address", FlagType::String, "grpc address back to main containerd", &ShimFlags::address},
    FlagSpec{"bundle", FlagType::String, "path to the bundle if not workdir", &ShimFlags::bundle},
    FlagSpec{"debug", FlagType::Bool, "enable debug output in logs", nullptr, &ShimFlags::debug},
    FlagSpec{"id", FlagType::String, "id of the task or sandbox", &ShimFlags::id},
    FlagSpec{"info", FlagType::Bool, "print the runtime info (containerd.types.RuntimeInfo, protobuf) and exit",
             nullptr, &ShimFlags::info},
    FlagSpec{"namespace", FlagType::String, "namespace that owns the shim", &ShimFlags::namespace_name},
    FlagSpec{"publish-binary", FlagType::String, "path to publish binary (used for publishing events)",
             &ShimFlags::publish_binary},
    FlagSpec{"socket", FlagType::String, "socket path to serve", &ShimFlags::socket},
    FlagSpec{"v", FlagType::Bool, "show the shim version and exit", nullptr, &ShimFlags::version},
};

// Go's strconv.ParseBool spellings.
std::optional<bool> parse_go_bool(std::string_view text) {
  for (std::string_view yes : {"1", "t", "T", "true", "TRUE", "True"}) {
    if (text == yes) return true;
  }
  for (std::string_view no : {"0", "f", "F", "false", "FALSE", "False"}) {
    if (text == no) return false;
  }
  return std::nullopt;
}

const FlagSpec* find_flag(std::string_view name) {
  const auto it = std::find_if(kFlags.begin(), kFlags.end(), [&](const FlagSpec& flag) { return flag.name == name; });
  return it == kFlags.end() ? nullptr : &*it;
}

Action parse_action(std::string_view word) {
  if (word == "start") return Action::Start;
  if (word == "delete") return Action::Delete;
  if (word == "serve") return Action::Serve;
  if (word == "pause") return Action::Pause;
  throw make_error(ErrorKind::InvalidArgument, "unknown action \"{}\" (want start, delete, serve or pause)", word);
}

}  // namespace

std::string_view to_string(Action action) noexcept {
  switch (action) {
    case Action::None: return "";
    case Action::Start: return "start";
    case Action::Delete: return "delete";
    case Action::Serve: return "serve";
    case Action::Pause: return "pause";
  }
  return "";
}

ShimFlags parse_flags(std::span<const std::string> args) {
  ShimFlags flags;
  std::size_t index = 0;
  // Flags, as Go's flag.FlagSet.Parse reads them, up to the first non-flag argument or "--".
  while (index < args.size()) {
    const std::string_view arg = args[index];
    if (arg.size() < 2 || arg[0] != '-') break;
    ++index;
    if (arg == "--") break;
    std::string_view name = arg.substr(arg[1] == '-' ? 2 : 1);
    if (name.empty() || name[0] == '-' || name[0] == '=') {
      throw make_error(ErrorKind::InvalidArgument, "bad flag syntax: {}", arg);
    }
    std::optional<std::string_view> value;
    if (const auto equals = name.find('='); equals != std::string_view::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
    }
    if (name == "h" || name == "help") {
      flags.help = true;
      continue;
    }
    const FlagSpec* flag = find_flag(name);
    if (flag == nullptr) throw make_error(ErrorKind::InvalidArgument, "flag provided but not defined: -{}", name);
    if (flag->type == FlagType::Bool) {
      // A boolean flag only takes a value written as -flag=value; it never consumes the next argument.
      const std::optional<bool> parsed = value ? parse_go_bool(*value) : std::optional<bool>(true);
      if (!parsed) {
        throw make_error(ErrorKind::InvalidArgument, "invalid boolean value \"{}\" for -{}", *value, name);
      }
      flags.*(flag->bool_target) = *parsed;
      continue;
    }
    if (!value) {
      if (index == args.size()) throw make_error(ErrorKind::InvalidArgument, "flag needs an argument: -{}", name);
      value = args[index++];
    }
    flags.*(flag->string_target) = std::string(*value);
  }
  // What follows the flags: at most one action word.
  if (index < args.size()) {
    flags.action = parse_action(args[index]);
    if (index + 1 < args.size()) {
      throw make_error(ErrorKind::InvalidArgument, "unexpected argument \"{}\" after the action \"{}\"",
                       args[index + 1], args[index]);
    }
  }
  return flags;
}

std::string usage(const SandboxKind& kind) {
  std::string text = fmt::format(
      "Usage: {} [flags] start|delete|serve|pause\n"
      "\n"
      "containerd runtime v2 shim for runtime type {}: {}.\n"
      "containerd runs it as `{} -namespace NS -address ADDR -publish-binary BIN -id ID [-debug] start`.\n"
      "\n"
      "Actions:\n"
      "  start    start the shim daemon for this id and print its address as JSON\n"
      "  delete   clean up after a dead shim of this id (-bundle) and print a DeleteResponse\n"
      "  serve    run the shim daemon in the foreground (what start spawns)\n"
      "  pause    hold a pod sandbox until SIGTERM or SIGINT, then exit 0 (the sandbox's process on hosts\n"
      "           without a pause image; the shim daemon starts it)\n"
      "\n"
      "Flags (Go style: -flag value, -flag=value; --flag is accepted too):\n",
      kind.binary_name, kind.runtime_type, kind.summary, kind.binary_name);
  for (const FlagSpec& flag : kFlags) {
    const std::string left = fmt::format("-{}{}", flag.name, flag.type == FlagType::String ? " string" : "");
    text += fmt::format("  {:<24}{}\n", left, flag.help);
  }
  text += fmt::format("  {:<24}{}\n", "-h, -help", "show this help and exit");
  text +=
      "\n"
      "Getting started (install, the containerd drop-in conf.d/shimcore.toml, a first pod): docs/getting-started.md,\n"
      "installed as <prefix>/share/doc/shimcore/getting-started.md.\n";
  return text;
}

}  // namespace shimcore::shim
