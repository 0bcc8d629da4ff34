// The shim binary's three actions: start (spawn the daemon, print its address), serve (the daemon), delete (clean up
// after a dead shim).
#pragma once

#include <iosfwd>
#include <string>

#include "shimcore/sandbox_kind.h"
#include "shimcore/shim/flags.h"

namespace shimcore::shim {

// The ttrpc address the daemon of this namespace/id serves: unix://<socket dir>/<hash>.sock, short enough for
// sun_path whatever the id. The socket directory is /run/shimcore/s for root, else $XDG_RUNTIME_DIR/shimcore/s (or
// /tmp/shimcore-<uid>/s); SHIMCORE_SOCKET_DIR overrides it.
std::string daemon_address(const ShimFlags& flags);

// `start`: reads the runtime options from `in`, spawns `serve` in a new session with stdio on /dev/null, waits until
// it listens (or dies), prints {"version":3,"address":...,"protocol":"ttrpc"} to `out`. Nothing else is printed.
// Throws Error on failure (the caller prints it; containerd shows it).
void start(const SandboxKind& kind, const ShimFlags& flags, std::istream& in, std::ostream& out);

// `serve`: the long-lived daemon. Returns the process exit status.
int serve(const SandboxKind& kind, const ShimFlags& flags);

// `delete`: kills and removes what a dead shim of this id left (emulated systems, mounts, socket) and prints a
// serialized containerd.task.v3.DeleteResponse with the task's real exit status when known: the recorded one, 137 when
// it had to kill the task's processes itself, 255 otherwise. What it cleaned up is one log line on `err` (containerd
// logs it as "cleanup warnings"); nothing when there was nothing to clean.
void delete_after_death(const SandboxKind& kind, const ShimFlags& flags, std::ostream& out, std::ostream& err);

// `pause`: holds a pod sandbox until SIGTERM or SIGINT, then returns 0 (the pod stopped as asked).
int pause_until_signalled();

// Files the daemon keeps in the bundle so that `delete` can report the truth after it died.
inline constexpr const char* kExitStatusFile = "shimcore-exit-status";  // "<status> <pid> <unix seconds> <nanos>"

}  // namespace shimcore::shim
