// The emulator's QEMU backend for LCOW utility VMs: the VM document becomes a QEMU command line, the VM boots the
// kernel and initrd it names, and its hvsock ports and Plan9 shares are carried over virtio-serial and virtio-9p.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "shimcore/hcs/emulator.h"

namespace shimcore::hcs::emulator {

// The per-VM host ends the command line names.
struct QemuPaths {
  std::filesystem::path channel_socket;  // QEMU dials it: the virtio-serial port "shimcore.mux"
  std::filesystem::path plan9_export;    // exported as 9p tag "plan9"; share N is the folder <plan9_export>/N
};

struct QemuMapping {
  std::vector<std::string> args;     // argv, the binary first
  std::vector<std::string> ignored;  // document fields with no QEMU counterpart that change nothing in the guest
};

// hcsshim's LCOW kernel command line for QEMU's PC: "pci=off" goes (virtio devices sit on PCI here, where Hyper-V's
// are on VMBus), 8250_core.nr_uarts=0 becomes 1 and console=ttyS0 is added (the serial console carries the guest's
// logs to the shim's log). Everything else, the init arguments after "--" included, is kept.
std::string qemu_kernel_command_line(std::string_view hcs_command_line);

// Maps a VirtualMachine document (processors, memory, LinuxKernelDirect kernel + initrd + command line) to QEMU's
// command line. Throws HcsError(E_NOTIMPL) naming the field for what it cannot map: UEFI boot, a VHD root filesystem
// (no InitRdPath), SCSI or VPMem attachments, vPCI devices, guest state files, confidential (SNP) settings.
QemuMapping qemu_command_line(const nlohmann::json& document, const QemuPaths& paths, const QemuOptions& options);

// start() boots QEMU in a mount namespace of its own (a slave of the host's), where each Plan9 share the system gets
// is bind-mounted into the export folder; the VM's ports reach the emulated hvsock sockets through a stream mux
// (shimcore/gcs/stream_mux.h). The serial console goes to the shim's stderr (its log). QEMU exiting reports the
// guest's end: exit status 0 (the guest powered off) is clean.
std::unique_ptr<EmulatedGuest> make_qemu_guest(const GuestContext& context, const QemuOptions& options);

}  // namespace shimcore::hcs::emulator
