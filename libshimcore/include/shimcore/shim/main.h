// Entry point shared by the shim executables: each main() binds one sandbox kind and calls run().
#pragma once

#include <iosfwd>
#include <span>
#include <string>

#include "shimcore/sandbox_kind.h"

namespace shimcore::shim {

// Exit statuses of the shim binary. Usage errors use 2, as Go's flag package does.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Runs one invocation with explicit streams (what tests call). Never throws; returns the process exit status.
int run(const SandboxKind& kind, std::span<const std::string> args, std::istream& in, std::ostream& out,
        std::ostream& err);

// main() of a shim executable: binds argv and the process's standard streams to the overload above.
int run(const SandboxKind& kind, int argc, char** argv);

}  // namespace shimcore::shim
