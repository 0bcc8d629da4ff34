// HCS schema v2 virtual-machine devices: SCSI, vPMem, Plan9, VirtualSmb, hvsocket, COM ports, NICs, vPCI and more.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shimcore/hcs/schema/common.h"
#include "shimcore/hcs/schema/json_support.h"

namespace shimcore::hcs::schema {

// A serial port backed by a host named pipe; the Devices.ComPorts key "0" is COM1.
struct ComPort {
  std::optional<std::string> named_pipe;
  std::optional<bool> optimize_for_debugger;
  bool operator==(const ComPort&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ComPort);

// A disk on a SCSI controller. Type stays a string: HCS documents VirtualDisk/Iso/PassThru, and hcsshim also sends
// "ExtensibleVirtualDisk" (with ExtensibleVirtualDiskType), so the set is not closed.
struct Attachment {
  std::optional<std::string> type;  // JSON "Type"
  std::optional<std::string> path;
  std::optional<bool> ignore_flushes;
  std::optional<std::string> caching_mode;
  std::optional<bool> no_write_hardening;
  std::optional<bool> disable_expansion_optimization;
  std::optional<bool> ignore_relative_locator;
  std::optional<bool> capture_io_attribution_context;
  std::optional<bool> read_only;
  std::optional<bool> support_compressed_volumes;
  std::optional<bool> always_allow_sparse_files;
  std::optional<bool> support_encrypted_files;
  std::optional<std::string> extensible_virtual_disk_type;
  bool operator==(const Attachment&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Attachment);

// One SCSI controller; Attachments is keyed by LUN ("0".."63"). hcsshim declares empty controllers up front.
struct Scsi {
  std::map<std::string, Attachment> attachments;
  std::optional<bool> disable_interrupt_batching;
  bool operator==(const Scsi&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Scsi);

// A file mapped into a vPMem device (multi-mapping mode).
struct VirtualPMemMapping {
  std::optional<std::string> host_path;
  std::optional<std::string> image_format;
  bool operator==(const VirtualPMemMapping&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualPMemMapping);

// A persistent-memory device backed by a VHD (LCOW read-only layers and rootfs.vhd).
struct VirtualPMemDevice {
  std::optional<std::string> host_path;
  std::optional<bool> read_only;
  std::optional<std::string> image_format;  // "Vhd1" or "Vhdx"
  std::optional<std::uint64_t> size_bytes;
  std::map<std::string, VirtualPMemMapping> mappings;  // keyed by offset
  bool operator==(const VirtualPMemDevice&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualPMemDevice);

// The vPMem controller; MaximumCount is uint8 in HCS (hcsshim declares uint32, and caps it at 128 anyway).
struct VirtualPMemController {
  std::map<std::string, VirtualPMemDevice> devices;  // keyed by device number
  std::optional<std::uint8_t> maximum_count;
  std::optional<std::uint64_t> maximum_size_bytes;
  std::optional<std::string> backing;
  bool operator==(const VirtualPMemController&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualPMemController);

// SR-IOV tuning of a NIC. InterruptModeration is Default/Adaptive/Off/Low/Medium/High.
struct IovSettings {
  std::optional<std::uint32_t> offload_weight;
  std::optional<std::uint32_t> queue_pairs_requested;
  std::optional<std::string> interrupt_moderation;
  bool operator==(const IovSettings&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(IovSettings);

// A synthetic NIC attached to an HNS endpoint.
struct NetworkAdapter {
  std::optional<std::string> endpoint_id;
  std::optional<std::string> mac_address;
  std::optional<std::string> instance_id;
  std::optional<bool> disable_interrupt_batching;
  std::optional<IovSettings> iov_settings;
  std::optional<std::string> connection_state;
  bool operator==(const NetworkAdapter&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(NetworkAdapter);

// Who may connect to the VM's RDP console pipe.
struct RdpConnectionOptions {
  std::vector<std::string> access_sids;
  std::optional<std::string> named_pipe;
  bool operator==(const RdpConnectionOptions&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(RdpConnectionOptions);

struct VideoMonitor {
  std::optional<std::uint16_t> horizontal_resolution;
  std::optional<std::uint16_t> vertical_resolution;
  std::optional<RdpConnectionOptions> connection_options;
  bool operator==(const VideoMonitor&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VideoMonitor);

// Presence-only devices: an empty object turns the device on.
struct Keyboard {
  bool operator==(const Keyboard&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Keyboard);

struct Mouse {
  bool operator==(const Mouse&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Mouse);

struct Battery {
  bool operator==(const Battery&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Battery);

struct EnhancedModeVideo {
  std::optional<RdpConnectionOptions> connection_options;
  bool operator==(const EnhancedModeVideo&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(EnhancedModeVideo);

// The VM's hvsocket configuration (HCS type HvSocket2; containers use HvSocket, see container.h).
struct HvSocket2 {
  std::optional<HvSocketSystemConfig> hv_socket_config;
  bool operator==(const HvSocket2&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(HvSocket2);

// Where a Windows guest's bugcheck dump goes (hcsshim sets it with a dump directory).
struct WindowsCrashReporting {
  std::optional<std::string> dump_file_name;
  std::optional<std::int64_t> max_dump_size;
  std::optional<std::string> dump_type;
  bool operator==(const WindowsCrashReporting&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(WindowsCrashReporting);

struct GuestCrashReporting {
  std::optional<WindowsCrashReporting> windows_crash_settings;
  bool operator==(const GuestCrashReporting&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(GuestCrashReporting);

// VSMB share flags. Every one is a plain bool in HCS; they are listed so a share round-trips whatever it sets.
struct VirtualSmbShareOptions {
  std::optional<bool> read_only;
  std::optional<bool> share_read;
  std::optional<bool> cache_io;
  std::optional<bool> no_oplocks;
  std::optional<bool> take_backup_privilege;
  std::optional<bool> use_share_root_identity;
  std::optional<bool> no_directmap;
  std::optional<bool> no_locks;
  std::optional<bool> no_dirnotify;
  std::optional<bool> vm_shared_memory;
  std::optional<bool> restrict_file_access;
  std::optional<bool> force_level_ii_oplocks;
  std::optional<bool> reparse_base_layer;
  std::optional<bool> pseudo_oplocks;
  std::optional<bool> non_cache_io;
  std::optional<bool> pseudo_dirnotify;
  std::optional<bool> single_file_mapping;
  bool operator==(const VirtualSmbShareOptions&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualSmbShareOptions);

// A host directory (or, with AllowedFiles, some of its files) shared into a Windows guest over VSMB.
struct VirtualSmbShare {
  std::optional<std::string> name;
  std::optional<std::string> path;
  std::vector<std::string> allowed_files;
  std::optional<VirtualSmbShareOptions> options;
  bool operator==(const VirtualSmbShare&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualSmbShare);

struct VirtualSmb {
  std::vector<VirtualSmbShare> shares;
  std::optional<std::int64_t> direct_file_mapping_in_mb;
  bool operator==(const VirtualSmb&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualSmb);

// Plan9Share.Flags bits (hcsshim plan9_share_flags.go).
namespace plan9_share_flags {
inline constexpr std::int32_t kNone = 0x0;
inline constexpr std::int32_t kReadOnly = 0x1;
inline constexpr std::int32_t kLinuxMetadata = 0x4;
inline constexpr std::int32_t kCaseSensitive = 0x8;
inline constexpr std::int32_t kUseShareRootIdentity = 0x10;
inline constexpr std::int32_t kRestrictFileAccess = 0x80;
inline constexpr std::int32_t kUnlimitedConnections = 0x100;
}  // namespace plan9_share_flags

// A host directory shared into a Linux guest over 9p on an hvsocket port.
struct Plan9Share {
  std::optional<std::string> name;
  std::optional<std::string> access_name;
  std::optional<std::string> path;
  std::optional<std::uint32_t> port;
  std::optional<std::int32_t> flags;  // plan9_share_flags bits
  std::vector<std::string> allowed_files;
  bool operator==(const Plan9Share&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Plan9Share);

// LCOW documents carry an empty Plan9 object so that shares can be hot-added later.
struct Plan9 {
  std::vector<Plan9Share> shares;
  bool operator==(const Plan9&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Plan9);

struct FlexibleIoDevice {
  std::optional<std::string> emulator_id;
  std::optional<std::string> hosting_model;
  std::vector<std::string> configuration;
  bool operator==(const FlexibleIoDevice&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(FlexibleIoDevice);

struct SharedMemoryRegion {
  std::optional<std::string> section_name;
  std::optional<std::uint64_t> start_offset;
  std::optional<std::uint64_t> length;
  std::optional<bool> allow_guest_write;
  std::optional<bool> hidden_from_guest;
  bool operator==(const SharedMemoryRegion&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(SharedMemoryRegion);

struct SharedMemoryConfiguration {
  std::vector<SharedMemoryRegion> regions;
  bool operator==(const SharedMemoryConfiguration&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(SharedMemoryConfiguration);

// One function of an assigned PCI device (a GPU, or one virtual function of an SR-IOV device).
struct VirtualPciFunction {
  std::optional<std::string> device_instance_path;
  std::optional<std::uint16_t> virtual_function;
  std::optional<bool> allow_direct_translated_p2p;  // JSON "AllowDirectTranslatedP2P"
  bool operator==(const VirtualPciFunction&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualPciFunction);

// An assigned device; Devices.VirtualPci is keyed by the VMBus GUID of the device.
struct VirtualPciDevice {
  std::vector<VirtualPciFunction> functions;
  std::optional<bool> propagate_numa_affinity;
  bool operator==(const VirtualPciDevice&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualPciDevice);

// VirtualMachine.Devices. Map keys are strings even where HCS means numbers ("0" = COM1, LUN "0").
struct Devices {
  std::map<std::string, ComPort> com_ports;
  std::map<std::string, Scsi> scsi;                   // controller name or GUID
  std::optional<VirtualPMemController> virtual_pmem;  // JSON "VirtualPMem"
  std::map<std::string, NetworkAdapter> network_adapters;
  std::optional<VideoMonitor> video_monitor;
  std::optional<Keyboard> keyboard;
  std::optional<Mouse> mouse;
  std::optional<HvSocket2> hv_socket;
  std::optional<EnhancedModeVideo> enhanced_mode_video;
  std::optional<GuestCrashReporting> guest_crash_reporting;
  std::optional<VirtualSmb> virtual_smb;
  std::optional<Plan9> plan9;
  std::optional<Battery> battery;
  std::map<std::string, FlexibleIoDevice> flexible_iov;
  std::optional<SharedMemoryConfiguration> shared_memory;
  std::map<std::string, VirtualPciDevice> virtual_pci;
  bool operator==(const Devices&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Devices);

}  // namespace shimcore::hcs::schema
