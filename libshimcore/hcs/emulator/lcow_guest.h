// The emulated LCOW utility VM's guest: the real guest agent (shimcore-gcs) as the init of its own pid and mount
// namespaces, dialling the host's ports as Unix sockets.
#pragma once

#include <filesystem>
#include <memory>

#include "shimcore/hcs/emulator.h"

namespace shimcore::hcs::emulator {

// start() launches `agent` as pid 1 of a new pid namespace with a private mount namespace (a fresh /proc and a tmpfs
// at /run/gcs), so that everything it starts dies with it and its mounts vanish with it, as with a VM. Its stdout
// and stderr are the shim's stderr (the shim's log). Its own exit (a guest-initiated shutdown, a crash, a kill)
// calls context.exited.
std::unique_ptr<EmulatedGuest> make_lcow_guest(const GuestContext& context, const std::filesystem::path& agent);

}  // namespace shimcore::hcs::emulator
