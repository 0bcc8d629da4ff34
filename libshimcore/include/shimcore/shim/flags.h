// The command line containerd gives a shim binary: Go-style single-dash flags followed by the action.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "shimcore/sandbox_kind.h"

namespace shimcore::shim {

// What the invocation asks for. containerd runs `start` and `delete`; `serve` is the long-lived daemon that `start`
// spawns. No action is only valid together with -v, -info or -h.
// Pause is internal: the process that holds a pod sandbox on hosts without a pause image (the emulator).
enum class Action { None, Start, Delete, Serve, Pause };

std::string_view to_string(Action action) noexcept;

struct ShimFlags {
  std::string namespace_name;  // -namespace: containerd namespace that owns the shim
  std::string address;         // -address: containerd's gRPC socket (also $GRPC_ADDRESS)
  std::string publish_binary;  // -publish-binary: containerd executable (its `publish` subcommand)
  std::string id;              // -id: task or sandbox id
  std::string bundle;          // -bundle: bundle directory (given to `delete`; cwd otherwise)
  std::string socket;          // -socket: socket address to serve on (set by `start` for the daemon)
  bool debug = false;          // -debug: debug-level logging
  bool version = false;        // -v: print the version and exit
  bool info = false;           // -info: print containerd.types.RuntimeInfo and exit
  bool help = false;           // -h / -help: print usage and exit
  Action action = Action::None;
};

// Parses the arguments after argv[0] the way Go's flag package does: `-flag value`, `-flag=value`, `--flag`, boolean
// flags without a value or as `-flag=true|false`; the first non-flag argument (or the one after `--`) is the action.
// Throws shimcore::Error with ErrorKind::InvalidArgument naming the offending flag or argument.
ShimFlags parse_flags(std::span<const std::string> args);

// The usage text printed by -h and after a usage error.
std::string usage(const SandboxKind& kind);

}  // namespace shimcore::shim
