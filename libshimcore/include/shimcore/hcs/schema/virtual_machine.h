// HCS schema v2 VirtualMachine: chipset and boot, compute topology (memory, processors, NUMA), security, migration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shimcore/hcs/schema/common.h"
#include "shimcore/hcs/schema/devices.h"
#include "shimcore/hcs/schema/json_support.h"

namespace shimcore::hcs::schema {

enum class UefiBootDevice : std::uint8_t { ScsiDrive, VmbFs, Network, File };
constexpr EnumSpec<UefiBootDevice, 4> enum_spec(UefiBootDevice) {
  return {"UefiBootDevice",
          {{{UefiBootDevice::ScsiDrive, "ScsiDrive"},
            {UefiBootDevice::VmbFs, "VmbFs"},
            {UefiBootDevice::Network, "Network"},
            {UefiBootDevice::File, "File"}}}};
}

// What UEFI boots: WCOW boots bootmgfw.efi from VmbFs; LCOW's UEFI boot passes the kernel command line as
// OptionalData.
struct UefiBootEntry {
  std::optional<UefiBootDevice> device_type;
  std::optional<std::string> device_path;
  std::optional<std::uint16_t> disk_number;  // uint16 in HCS; hcsshim declares int32
  std::optional<std::string> optional_data;
  std::optional<std::string> vmb_fs_root_path;
  bool operator==(const UefiBootEntry&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(UefiBootEntry);

// UEFI firmware settings. ApplySecureBootTemplate ("Apply"/"Skip") and Console stay strings: only hcsshim's
// confidential path sets them, and HCS validates them itself.
struct Uefi {
  std::optional<bool> enable_debugger;
  std::optional<std::string> apply_secure_boot_template;
  std::optional<std::string> secure_boot_template_id;
  std::optional<UefiBootEntry> boot_this;
  std::optional<std::string> console;
  std::optional<bool> stop_on_boot_failure;
  bool operator==(const Uefi&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Uefi);

// LCOW's default boot: the host loads the kernel and initrd directly, no firmware (schema 2.2+).
struct LinuxKernelDirect {
  std::optional<std::string> kernel_file_path;
  std::optional<std::string> init_rd_path;
  std::optional<std::string> kernel_cmd_line;
  bool operator==(const LinuxKernelDirect&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(LinuxKernelDirect);

struct FirmwareFile {
  std::optional<std::string> parameters;  // base64, as Go encodes []byte
  bool operator==(const FirmwareFile&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(FirmwareFile);

// Exactly one of Uefi or LinuxKernelDirect decides how the VM boots.
struct Chipset {
  std::optional<Uefi> uefi;
  std::optional<bool> is_num_lock_disabled;
  std::optional<std::string> base_board_serial_number;
  std::optional<std::string> chassis_serial_number;
  std::optional<std::string> chassis_asset_tag;
  std::optional<bool> enable_hibernation;
  std::optional<bool> use_utc;
  std::optional<LinuxKernelDirect> linux_kernel_direct;
  std::optional<FirmwareFile> firmware_file;
  bool operator==(const Chipset&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Chipset);

enum class MemoryBackingType : std::uint8_t { Physical, Virtual, Hybrid };
constexpr EnumSpec<MemoryBackingType, 3> enum_spec(MemoryBackingType) {
  return {"MemoryBackingType",
          {{{MemoryBackingType::Physical, "Physical"},
            {MemoryBackingType::Virtual, "Virtual"},
            {MemoryBackingType::Hybrid, "Hybrid"}}}};
}

enum class VirtualSlitType : std::uint8_t { None, Firmware, Measured, FirmwareFallbackMeasured };
constexpr EnumSpec<VirtualSlitType, 4> enum_spec(VirtualSlitType) {
  return {"VirtualSlitType",
          {{{VirtualSlitType::None, "None"},
            {VirtualSlitType::Firmware, "Firmware"},
            {VirtualSlitType::Measured, "Measured"},
            {VirtualSlitType::FirmwareFallbackMeasured, "FirmwareFallbackMeasured"}}}};
}

// VM memory. AllowOvercommit = pagefile-backed (false = physically backed); the MMIO gaps are spelled "Mmio" in JSON.
struct VirtualMachineMemory {
  std::optional<std::uint64_t> size_in_mb;
  std::optional<MemoryBackingType> backing;
  std::optional<bool> allow_overcommit;
  std::optional<std::string> backing_page_size;
  std::optional<std::uint32_t> fault_cluster_size_shift;
  std::optional<std::uint32_t> direct_map_fault_cluster_size_shift;
  std::optional<bool> pin_backing_pages;
  std::optional<bool> forbid_small_backing_pages;
  std::optional<bool> enable_hot_hint;
  std::optional<bool> enable_cold_hint;
  std::optional<bool> enable_cold_discard_hint;
  std::optional<bool> enable_deferred_commit;         // requires AllowOvercommit
  std::optional<std::uint64_t> low_mmio_gap_in_mb;    // JSON "LowMmioGapInMB"
  std::optional<std::uint64_t> high_mmio_base_in_mb;  // JSON "HighMmioBaseInMB"
  std::optional<std::uint64_t> high_mmio_gap_in_mb;   // JSON "HighMmioGapInMB"
  std::optional<VirtualSlitType> slit_type;
  bool operator==(const VirtualMachineMemory&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualMachineMemory);

// A host CPU group the VM's processors run in.
struct CpuGroup {
  std::optional<std::string> id;
  bool operator==(const CpuGroup&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(CpuGroup);

// NumaProcessors.count_per_node (snake_case JSON, as all device-extension style NUMA fields).
struct Range {
  std::optional<std::uint32_t> max;  // JSON "max"
  bool operator==(const Range&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Range);

// Processors per virtual NUMA node; JSON names are snake_case ("count_per_node", "node_per_socket").
struct NumaProcessors {
  std::optional<Range> count_per_node;
  std::optional<std::uint32_t> node_per_socket;
  bool operator==(const NumaProcessors&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(NumaProcessors);

// VM processors. Limit and Weight are passed through from annotations unchanged, hence uint64.
struct VirtualMachineProcessor {
  std::optional<std::uint32_t> count;
  std::optional<std::uint64_t> limit;
  std::optional<std::uint64_t> weight;
  std::optional<std::uint64_t> reservation;
  std::optional<std::uint32_t> maximum_frequency_mhz;  // JSON "MaximumFrequencyMHz"
  std::optional<bool> expose_virtualization_extensions;
  std::optional<bool> enable_perfmon_pmu;
  std::optional<bool> enable_perfmon_arch_pmu;
  std::optional<bool> enable_perfmon_pebs;
  std::optional<bool> enable_perfmon_lbr;
  std::optional<bool> enable_perfmon_ipt;
  std::optional<bool> enable_page_shattering;
  std::optional<bool> disable_speculation_controls;
  std::optional<CpuGroup> cpu_group;
  std::optional<NumaProcessors> numa_processors_settings;
  bool operator==(const VirtualMachineProcessor&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualMachineProcessor);

// Placement of one virtual NUMA node.
struct NumaSetting {
  std::optional<std::uint32_t> virtual_node_number;
  std::optional<std::uint32_t> physical_node_number;
  std::optional<std::uint32_t> virtual_socket_number;
  std::optional<std::uint32_t> count_of_processors;
  std::optional<std::uint64_t> count_of_memory_blocks;
  std::optional<MemoryBackingType> memory_backing_type;
  bool operator==(const NumaSetting&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(NumaSetting);

// Virtual NUMA topology (schema 2.4+).
struct Numa {
  std::optional<std::uint8_t> virtual_node_count;
  std::vector<std::int64_t> preferred_physical_nodes;
  std::vector<NumaSetting> settings;
  std::optional<std::uint64_t> max_size_per_node;
  bool operator==(const Numa&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Numa);

// VirtualMachine.ComputeTopology (HCS type Topology).
struct Topology {
  std::optional<VirtualMachineMemory> memory;
  std::optional<VirtualMachineProcessor> processor;
  std::optional<Numa> numa;
  bool operator==(const Topology&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Topology);

// Settings of ModifySettingRequest on VirtualMachine/ComputeTopology/Processor/Limits.
struct ProcessorLimits {
  std::optional<std::uint64_t> limit;
  std::optional<std::uint64_t> weight;
  std::optional<std::uint64_t> reservation;
  std::optional<std::uint32_t> maximum_frequency_mhz;  // JSON "MaximumFrequencyMHz"
  bool operator==(const ProcessorLimits&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ProcessorLimits);

// The VMGS file of a confidential or TPM-enabled VM. GuestStateFileType: "FileMode" or "BlockStorage".
struct GuestState {
  std::optional<std::string> guest_state_file_path;
  std::optional<std::string> guest_state_file_type;
  std::optional<std::string> runtime_state_file_path;
  std::optional<bool> force_transient_state;
  bool operator==(const GuestState&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(GuestState);

struct RestoreState {
  std::optional<std::string> save_state_file_path;
  std::optional<std::string> template_system_id;
  bool operator==(const RestoreState&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(RestoreState);

// Where the worker process saves VM state on a bugcheck or triple fault.
struct DebugOptions {
  std::optional<std::string> bugcheck_saved_state_file_name;
  std::optional<std::string> bugcheck_no_crashdump_saved_state_file_name;
  std::optional<std::string> triple_fault_saved_state_file_name;
  std::optional<std::string> firmware_dump_file_name;
  bool operator==(const DebugOptions&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(DebugOptions);

// HCS's own guest connection. hcsshim never sets it (it runs its own GCS bridge); without it the VM counts as started
// once the chipset powers on.
struct GuestConnection {
  std::optional<bool> use_vsock;
  std::optional<bool> use_connected_suspend;
  std::optional<bool> use_host_time_zone;
  bool operator==(const GuestConnection&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(GuestConnection);

// Hardware isolation. IsolationType: "SecureNestedPaging", "VirtualizationBasedSecurity", "GuestStateOnly".
struct IsolationSettings {
  std::optional<std::string> isolation_type;
  std::optional<std::string> debug_host;
  std::optional<std::int64_t> debug_port;
  std::optional<std::string> launch_data;  // base64
  std::optional<bool> hcl_enabled;         // a pointer in hcsshim: written even when false
  bool operator==(const IsolationSettings&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(IsolationSettings);

struct SecuritySettings {
  std::optional<bool> enable_tpm;
  std::optional<IsolationSettings> isolation;
  bool operator==(const SecuritySettings&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(SecuritySettings);

struct MemoryMigrationTransferThrottleParams {
  std::optional<bool> skip_throttling;
  std::optional<double> throttling_scale;
  std::optional<std::uint8_t> minimum_throttle_percentage;
  std::optional<std::uint32_t> target_number_of_brownout_transfer_passes;
  std::optional<std::uint32_t> starting_brownout_pass_number_for_throttling;
  std::optional<std::uint32_t> maximum_number_of_brownout_transfer_passes;
  std::optional<std::uint32_t> target_blackout_transfer_time;
  std::optional<std::uint32_t> blackout_time_threshold_for_cancelling_migration;
  bool operator==(const MemoryMigrationTransferThrottleParams&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(MemoryMigrationTransferThrottleParams);

struct MigrationCompressionSettings {
  std::optional<std::uint32_t> throttle_worker_count;
  bool operator==(const MigrationCompressionSettings&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(MigrationCompressionSettings);

struct CompatibilityInfo {
  std::optional<std::string> data;  // base64, as Go encodes []byte
  bool operator==(const CompatibilityInfo&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(CompatibilityInfo);

// Live-migration setup of a VM created as a migration source or destination. Origin ("Source"/"Destination") and
// MemoryTransport ("TCP") stay strings: HCS owns those value sets.
struct MigrationInitializeOptions {
  std::optional<std::string> origin;
  std::optional<std::string> memory_transport;
  std::optional<MemoryMigrationTransferThrottleParams> memory_transfer_throttle_params;
  std::optional<MigrationCompressionSettings> compression_settings;
  std::optional<bool> checksum_verification;
  std::optional<bool> perf_tracing_enabled;
  std::optional<bool> cancel_if_blackout_threshold_exceeds;
  std::optional<bool> prepare_memory_transfer_mode;
  std::optional<CompatibilityInfo> compatibility_data;
  bool operator==(const MigrationInitializeOptions&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(MigrationInitializeOptions);

// A utility VM (LCOW or WCOW) or any other Hyper-V VM HCS runs.
struct VirtualMachine {
  std::optional<Version> version;     // virtual hardware version ({12,0} for confidential WCOW)
  std::optional<bool> stop_on_reset;  // hcsshim: true (a guest reboot stops the VM)
  std::optional<Chipset> chipset;
  std::optional<Topology> compute_topology;
  std::optional<Devices> devices;
  std::optional<GuestState> guest_state;
  std::optional<RestoreState> restore_state;
  std::optional<RegistryChanges> registry_changes;
  std::optional<StorageQoS> storage_qos;  // JSON "StorageQoS"
  std::optional<DebugOptions> debug_options;
  std::optional<GuestConnection> guest_connection;
  std::optional<SecuritySettings> security_settings;
  std::optional<std::string> resource_partition_id;
  std::optional<MigrationInitializeOptions> migration_options;
  bool operator==(const VirtualMachine&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualMachine);

}  // namespace shimcore::hcs::schema
