// The sandbox kinds a shim binary can bind to (LCOW, WCOW, process) and which of them this build compiled in.
#pragma once

#include <span>
#include <string_view>

#include "shimcore/build_config.h"

namespace shimcore {

enum class Isolation { Hypervisor, Process };

// Identity of one shim flavour. Each executable's main() passes exactly one of these to shim::run; there is no
// run-time "mode" switch. Only the kinds enabled at configure time (SHIMCORE_LCOW/WCOW/PROCESS) exist in the library.
struct SandboxKind {
  std::string_view id;            // "lcow", "wcow", "process" (hcsshim's build tag)
  std::string_view binary_name;   // containerd-shim-<id>-v2: what containerd resolves runtime_type to
  std::string_view runtime_type;  // io.containerd.<id>.v2: the runtime name operators put in containerd's config
  // OCI/containerd platform OS of the containers it runs in production: "linux" or "windows". On the Linux emulator
  // the Sandbox API's Platform answers linux for every kind (see host_platform in shim/serve.cpp).
  std::string_view guest_os;
  Isolation isolation;
  std::string_view summary;  // one line for -h
};

#if SHIMCORE_HAS_LCOW
const SandboxKind& lcow_kind() noexcept;
#endif
#if SHIMCORE_HAS_WCOW
const SandboxKind& wcow_kind() noexcept;
#endif
#if SHIMCORE_HAS_PROCESS
const SandboxKind& process_kind() noexcept;
#endif

// The kinds compiled into this build of libshimcore, in the order lcow, wcow, process.
std::span<const SandboxKind* const> compiled_kinds() noexcept;

}  // namespace shimcore
