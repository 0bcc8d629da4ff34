// JSON field lists of the VirtualMachine types (virtual_machine.h).
#include "shimcore/hcs/schema/virtual_machine.h"

namespace shimcore::hcs::schema {

using detail::field;

SHIMCORE_HCS_SCHEMA_DEFINE(UefiBootEntry, field("DeviceType", &UefiBootEntry::device_type),
                           field("DevicePath", &UefiBootEntry::device_path),
                           field("DiskNumber", &UefiBootEntry::disk_number),
                           field("OptionalData", &UefiBootEntry::optional_data),
                           field("VmbFsRootPath", &UefiBootEntry::vmb_fs_root_path))

SHIMCORE_HCS_SCHEMA_DEFINE(Uefi, field("EnableDebugger", &Uefi::enable_debugger),
                           field("ApplySecureBootTemplate", &Uefi::apply_secure_boot_template),
                           field("SecureBootTemplateId", &Uefi::secure_boot_template_id),
                           field("BootThis", &Uefi::boot_this), field("Console", &Uefi::console),
                           field("StopOnBootFailure", &Uefi::stop_on_boot_failure))

SHIMCORE_HCS_SCHEMA_DEFINE(LinuxKernelDirect, field("KernelFilePath", &LinuxKernelDirect::kernel_file_path),
                           field("InitRdPath", &LinuxKernelDirect::init_rd_path),
                           field("KernelCmdLine", &LinuxKernelDirect::kernel_cmd_line))

SHIMCORE_HCS_SCHEMA_DEFINE(FirmwareFile, field("Parameters", &FirmwareFile::parameters))

SHIMCORE_HCS_SCHEMA_DEFINE(Chipset, field("Uefi", &Chipset::uefi),
                           field("IsNumLockDisabled", &Chipset::is_num_lock_disabled),
                           field("BaseBoardSerialNumber", &Chipset::base_board_serial_number),
                           field("ChassisSerialNumber", &Chipset::chassis_serial_number),
                           field("ChassisAssetTag", &Chipset::chassis_asset_tag),
                           field("EnableHibernation", &Chipset::enable_hibernation), field("UseUtc", &Chipset::use_utc),
                           field("LinuxKernelDirect", &Chipset::linux_kernel_direct),
                           field("FirmwareFile", &Chipset::firmware_file))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualMachineMemory, field("SizeInMB", &VirtualMachineMemory::size_in_mb),
                           field("Backing", &VirtualMachineMemory::backing),
                           field("AllowOvercommit", &VirtualMachineMemory::allow_overcommit),
                           field("BackingPageSize", &VirtualMachineMemory::backing_page_size),
                           field("FaultClusterSizeShift", &VirtualMachineMemory::fault_cluster_size_shift),
                           field("DirectMapFaultClusterSizeShift",
                                 &VirtualMachineMemory::direct_map_fault_cluster_size_shift),
                           field("PinBackingPages", &VirtualMachineMemory::pin_backing_pages),
                           field("ForbidSmallBackingPages", &VirtualMachineMemory::forbid_small_backing_pages),
                           field("EnableHotHint", &VirtualMachineMemory::enable_hot_hint),
                           field("EnableColdHint", &VirtualMachineMemory::enable_cold_hint),
                           field("EnableColdDiscardHint", &VirtualMachineMemory::enable_cold_discard_hint),
                           field("EnableDeferredCommit", &VirtualMachineMemory::enable_deferred_commit),
                           field("LowMmioGapInMB", &VirtualMachineMemory::low_mmio_gap_in_mb),
                           field("HighMmioBaseInMB", &VirtualMachineMemory::high_mmio_base_in_mb),
                           field("HighMmioGapInMB", &VirtualMachineMemory::high_mmio_gap_in_mb),
                           field("SlitType", &VirtualMachineMemory::slit_type))

SHIMCORE_HCS_SCHEMA_DEFINE(CpuGroup, field("Id", &CpuGroup::id))

SHIMCORE_HCS_SCHEMA_DEFINE(Range, field("max", &Range::max))

SHIMCORE_HCS_SCHEMA_DEFINE(NumaProcessors, field("count_per_node", &NumaProcessors::count_per_node),
                           field("node_per_socket", &NumaProcessors::node_per_socket))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualMachineProcessor, field("Count", &VirtualMachineProcessor::count),
                           field("Limit", &VirtualMachineProcessor::limit),
                           field("Weight", &VirtualMachineProcessor::weight),
                           field("Reservation", &VirtualMachineProcessor::reservation),
                           field("MaximumFrequencyMHz", &VirtualMachineProcessor::maximum_frequency_mhz),
                           field("ExposeVirtualizationExtensions",
                                 &VirtualMachineProcessor::expose_virtualization_extensions),
                           field("EnablePerfmonPmu", &VirtualMachineProcessor::enable_perfmon_pmu),
                           field("EnablePerfmonArchPmu", &VirtualMachineProcessor::enable_perfmon_arch_pmu),
                           field("EnablePerfmonPebs", &VirtualMachineProcessor::enable_perfmon_pebs),
                           field("EnablePerfmonLbr", &VirtualMachineProcessor::enable_perfmon_lbr),
                           field("EnablePerfmonIpt", &VirtualMachineProcessor::enable_perfmon_ipt),
                           field("EnablePageShattering", &VirtualMachineProcessor::enable_page_shattering),
                           field("DisableSpeculationControls", &VirtualMachineProcessor::disable_speculation_controls),
                           field("CpuGroup", &VirtualMachineProcessor::cpu_group),
                           field("NumaProcessorsSettings", &VirtualMachineProcessor::numa_processors_settings))

SHIMCORE_HCS_SCHEMA_DEFINE(NumaSetting, field("VirtualNodeNumber", &NumaSetting::virtual_node_number),
                           field("PhysicalNodeNumber", &NumaSetting::physical_node_number),
                           field("VirtualSocketNumber", &NumaSetting::virtual_socket_number),
                           field("CountOfProcessors", &NumaSetting::count_of_processors),
                           field("CountOfMemoryBlocks", &NumaSetting::count_of_memory_blocks),
                           field("MemoryBackingType", &NumaSetting::memory_backing_type))

SHIMCORE_HCS_SCHEMA_DEFINE(Numa, field("VirtualNodeCount", &Numa::virtual_node_count),
                           field("PreferredPhysicalNodes", &Numa::preferred_physical_nodes),
                           field("Settings", &Numa::settings), field("MaxSizePerNode", &Numa::max_size_per_node))

SHIMCORE_HCS_SCHEMA_DEFINE(Topology, field("Memory", &Topology::memory), field("Processor", &Topology::processor),
                           field("Numa", &Topology::numa))

SHIMCORE_HCS_SCHEMA_DEFINE(ProcessorLimits, field("Limit", &ProcessorLimits::limit),
                           field("Weight", &ProcessorLimits::weight),
                           field("Reservation", &ProcessorLimits::reservation),
                           field("MaximumFrequencyMHz", &ProcessorLimits::maximum_frequency_mhz))

SHIMCORE_HCS_SCHEMA_DEFINE(GuestState, field("GuestStateFilePath", &GuestState::guest_state_file_path),
                           field("GuestStateFileType", &GuestState::guest_state_file_type),
                           field("RuntimeStateFilePath", &GuestState::runtime_state_file_path),
                           field("ForceTransientState", &GuestState::force_transient_state))

SHIMCORE_HCS_SCHEMA_DEFINE(RestoreState, field("SaveStateFilePath", &RestoreState::save_state_file_path),
                           field("TemplateSystemId", &RestoreState::template_system_id))

SHIMCORE_HCS_SCHEMA_DEFINE(DebugOptions,
                           field("BugcheckSavedStateFileName", &DebugOptions::bugcheck_saved_state_file_name),
                           field("BugcheckNoCrashdumpSavedStateFileName",
                                 &DebugOptions::bugcheck_no_crashdump_saved_state_file_name),
                           field("TripleFaultSavedStateFileName", &DebugOptions::triple_fault_saved_state_file_name),
                           field("FirmwareDumpFileName", &DebugOptions::firmware_dump_file_name))

SHIMCORE_HCS_SCHEMA_DEFINE(GuestConnection, field("UseVsock", &GuestConnection::use_vsock),
                           field("UseConnectedSuspend", &GuestConnection::use_connected_suspend),
                           field("UseHostTimeZone", &GuestConnection::use_host_time_zone))

SHIMCORE_HCS_SCHEMA_DEFINE(IsolationSettings, field("IsolationType", &IsolationSettings::isolation_type),
                           field("DebugHost", &IsolationSettings::debug_host),
                           field("DebugPort", &IsolationSettings::debug_port),
                           field("LaunchData", &IsolationSettings::launch_data),
                           field("HclEnabled", &IsolationSettings::hcl_enabled))

SHIMCORE_HCS_SCHEMA_DEFINE(SecuritySettings, field("EnableTpm", &SecuritySettings::enable_tpm),
                           field("Isolation", &SecuritySettings::isolation))

SHIMCORE_HCS_SCHEMA_DEFINE(
    MemoryMigrationTransferThrottleParams,
    field("SkipThrottling", &MemoryMigrationTransferThrottleParams::skip_throttling),
    field("ThrottlingScale", &MemoryMigrationTransferThrottleParams::throttling_scale),
    field("MinimumThrottlePercentage", &MemoryMigrationTransferThrottleParams::minimum_throttle_percentage),
    field("TargetNumberOfBrownoutTransferPasses",
          &MemoryMigrationTransferThrottleParams::target_number_of_brownout_transfer_passes),
    field("StartingBrownoutPassNumberForThrottling",
          &MemoryMigrationTransferThrottleParams::starting_brownout_pass_number_for_throttling),
    field("MaximumNumberOfBrownoutTransferPasses",
          &MemoryMigrationTransferThrottleParams::maximum_number_of_brownout_transfer_passes),
    field("TargetBlackoutTransferTime", &MemoryMigrationTransferThrottleParams::target_blackout_transfer_time),
    field("BlackoutTimeThresholdForCancellingMigration",
          &MemoryMigrationTransferThrottleParams::blackout_time_threshold_for_cancelling_migration))

SHIMCORE_HCS_SCHEMA_DEFINE(MigrationCompressionSettings,
                           field("ThrottleWorkerCount", &MigrationCompressionSettings::throttle_worker_count))

SHIMCORE_HCS_SCHEMA_DEFINE(CompatibilityInfo, field("Data", &CompatibilityInfo::data))

SHIMCORE_HCS_SCHEMA_DEFINE(
    MigrationInitializeOptions, field("Origin", &MigrationInitializeOptions::origin),
    field("MemoryTransport", &MigrationInitializeOptions::memory_transport),
    field("MemoryTransferThrottleParams", &MigrationInitializeOptions::memory_transfer_throttle_params),
    field("CompressionSettings", &MigrationInitializeOptions::compression_settings),
    field("ChecksumVerification", &MigrationInitializeOptions::checksum_verification),
    field("PerfTracingEnabled", &MigrationInitializeOptions::perf_tracing_enabled),
    field("CancelIfBlackoutThresholdExceeds", &MigrationInitializeOptions::cancel_if_blackout_threshold_exceeds),
    field("PrepareMemoryTransferMode", &MigrationInitializeOptions::prepare_memory_transfer_mode),
    field("CompatibilityData", &MigrationInitializeOptions::compatibility_data))

SHIMCORE_HCS_SCHEMA_DEFINE(
    VirtualMachine, field("Version", &VirtualMachine::version), field("StopOnReset", &VirtualMachine::stop_on_reset),
    field("Chipset", &VirtualMachine::chipset), field("ComputeTopology", &VirtualMachine::compute_topology),
    field("Devices", &VirtualMachine::devices), field("GuestState", &VirtualMachine::guest_state),
    field("RestoreState", &VirtualMachine::restore_state), field("RegistryChanges", &VirtualMachine::registry_changes),
    field("StorageQoS", &VirtualMachine::storage_qos), field("DebugOptions", &VirtualMachine::debug_options),
    field("GuestConnection", &VirtualMachine::guest_connection),
    field("SecuritySettings", &VirtualMachine::security_settings),
    field("ResourcePartitionId", &VirtualMachine::resource_partition_id),
    field("MigrationOptions", &VirtualMachine::migration_options))

}  // namespace shimcore::hcs::schema
