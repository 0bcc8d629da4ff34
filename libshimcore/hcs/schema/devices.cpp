// JSON field lists of the virtual-machine device types (devices.h).
#include "shimcore/hcs/schema/devices.h"

namespace shimcore::hcs::schema {

using detail::field;

SHIMCORE_HCS_SCHEMA_DEFINE(ComPort, field("NamedPipe", &ComPort::named_pipe),
                           field("OptimizeForDebugger", &ComPort::optimize_for_debugger))

SHIMCORE_HCS_SCHEMA_DEFINE(Attachment, field("Type", &Attachment::type), field("Path", &Attachment::path),
                           field("IgnoreFlushes", &Attachment::ignore_flushes),
                           field("CachingMode", &Attachment::caching_mode),
                           field("NoWriteHardening", &Attachment::no_write_hardening),
                           field("DisableExpansionOptimization", &Attachment::disable_expansion_optimization),
                           field("IgnoreRelativeLocator", &Attachment::ignore_relative_locator),
                           field("CaptureIoAttributionContext", &Attachment::capture_io_attribution_context),
                           field("ReadOnly", &Attachment::read_only),
                           field("SupportCompressedVolumes", &Attachment::support_compressed_volumes),
                           field("AlwaysAllowSparseFiles", &Attachment::always_allow_sparse_files),
                           field("SupportEncryptedFiles", &Attachment::support_encrypted_files),
                           field("ExtensibleVirtualDiskType", &Attachment::extensible_virtual_disk_type))

SHIMCORE_HCS_SCHEMA_DEFINE(Scsi, field("Attachments", &Scsi::attachments),
                           field("DisableInterruptBatching", &Scsi::disable_interrupt_batching))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualPMemMapping, field("HostPath", &VirtualPMemMapping::host_path),
                           field("ImageFormat", &VirtualPMemMapping::image_format))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualPMemDevice, field("HostPath", &VirtualPMemDevice::host_path),
                           field("ReadOnly", &VirtualPMemDevice::read_only),
                           field("ImageFormat", &VirtualPMemDevice::image_format),
                           field("SizeBytes", &VirtualPMemDevice::size_bytes),
                           field("Mappings", &VirtualPMemDevice::mappings))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualPMemController, field("Devices", &VirtualPMemController::devices),
                           field("MaximumCount", &VirtualPMemController::maximum_count),
                           field("MaximumSizeBytes", &VirtualPMemController::maximum_size_bytes),
                           field("Backing", &VirtualPMemController::backing))

SHIMCORE_HCS_SCHEMA_DEFINE(IovSettings, field("OffloadWeight", &IovSettings::offload_weight),
                           field("QueuePairsRequested", &IovSettings::queue_pairs_requested),
                           field("InterruptModeration", &IovSettings::interrupt_moderation))

SHIMCORE_HCS_SCHEMA_DEFINE(NetworkAdapter, field("EndpointId", &NetworkAdapter::endpoint_id),
                           field("MacAddress", &NetworkAdapter::mac_address),
                           field("InstanceId", &NetworkAdapter::instance_id),
                           field("DisableInterruptBatching", &NetworkAdapter::disable_interrupt_batching),
                           field("IovSettings", &NetworkAdapter::iov_settings),
                           field("ConnectionState", &NetworkAdapter::connection_state))

SHIMCORE_HCS_SCHEMA_DEFINE(RdpConnectionOptions, field("AccessSids", &RdpConnectionOptions::access_sids),
                           field("NamedPipe", &RdpConnectionOptions::named_pipe))

SHIMCORE_HCS_SCHEMA_DEFINE(VideoMonitor, field("HorizontalResolution", &VideoMonitor::horizontal_resolution),
                           field("VerticalResolution", &VideoMonitor::vertical_resolution),
                           field("ConnectionOptions", &VideoMonitor::connection_options))

SHIMCORE_HCS_SCHEMA_DEFINE(Keyboard)
SHIMCORE_HCS_SCHEMA_DEFINE(Mouse)
SHIMCORE_HCS_SCHEMA_DEFINE(Battery)

SHIMCORE_HCS_SCHEMA_DEFINE(EnhancedModeVideo, field("ConnectionOptions", &EnhancedModeVideo::connection_options))

SHIMCORE_HCS_SCHEMA_DEFINE(HvSocket2, field("HvSocketConfig", &HvSocket2::hv_socket_config))

SHIMCORE_HCS_SCHEMA_DEFINE(WindowsCrashReporting, field("DumpFileName", &WindowsCrashReporting::dump_file_name),
                           field("MaxDumpSize", &WindowsCrashReporting::max_dump_size),
                           field("DumpType", &WindowsCrashReporting::dump_type))

SHIMCORE_HCS_SCHEMA_DEFINE(GuestCrashReporting,
                           field("WindowsCrashSettings", &GuestCrashReporting::windows_crash_settings))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualSmbShareOptions, field("ReadOnly", &VirtualSmbShareOptions::read_only),
                           field("ShareRead", &VirtualSmbShareOptions::share_read),
                           field("CacheIo", &VirtualSmbShareOptions::cache_io),
                           field("NoOplocks", &VirtualSmbShareOptions::no_oplocks),
                           field("TakeBackupPrivilege", &VirtualSmbShareOptions::take_backup_privilege),
                           field("UseShareRootIdentity", &VirtualSmbShareOptions::use_share_root_identity),
                           field("NoDirectmap", &VirtualSmbShareOptions::no_directmap),
                           field("NoLocks", &VirtualSmbShareOptions::no_locks),
                           field("NoDirnotify", &VirtualSmbShareOptions::no_dirnotify),
                           field("VmSharedMemory", &VirtualSmbShareOptions::vm_shared_memory),
                           field("RestrictFileAccess", &VirtualSmbShareOptions::restrict_file_access),
                           field("ForceLevelIIOplocks", &VirtualSmbShareOptions::force_level_ii_oplocks),
                           field("ReparseBaseLayer", &VirtualSmbShareOptions::reparse_base_layer),
                           field("PseudoOplocks", &VirtualSmbShareOptions::pseudo_oplocks),
                           field("NonCacheIo", &VirtualSmbShareOptions::non_cache_io),
                           field("PseudoDirnotify", &VirtualSmbShareOptions::pseudo_dirnotify),
                           field("SingleFileMapping", &VirtualSmbShareOptions::single_file_mapping))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualSmbShare, field("Name", &VirtualSmbShare::name),
                           field("Path", &VirtualSmbShare::path),
                           field("AllowedFiles", &VirtualSmbShare::allowed_files),
                           field("Options", &VirtualSmbShare::options))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualSmb, field("Shares", &VirtualSmb::shares),
                           field("DirectFileMappingInMB", &VirtualSmb::direct_file_mapping_in_mb))

SHIMCORE_HCS_SCHEMA_DEFINE(Plan9Share, field("Name", &Plan9Share::name), field("AccessName", &Plan9Share::access_name),
                           field("Path", &Plan9Share::path), field("Port", &Plan9Share::port),
                           field("Flags", &Plan9Share::flags), field("AllowedFiles", &Plan9Share::allowed_files))

SHIMCORE_HCS_SCHEMA_DEFINE(Plan9, field("Shares", &Plan9::shares))

SHIMCORE_HCS_SCHEMA_DEFINE(FlexibleIoDevice, field("EmulatorId", &FlexibleIoDevice::emulator_id),
                           field("HostingModel", &FlexibleIoDevice::hosting_model),
                           field("Configuration", &FlexibleIoDevice::configuration))

SHIMCORE_HCS_SCHEMA_DEFINE(SharedMemoryRegion, field("SectionName", &SharedMemoryRegion::section_name),
                           field("StartOffset", &SharedMemoryRegion::start_offset),
                           field("Length", &SharedMemoryRegion::length),
                           field("AllowGuestWrite", &SharedMemoryRegion::allow_guest_write),
                           field("HiddenFromGuest", &SharedMemoryRegion::hidden_from_guest))

SHIMCORE_HCS_SCHEMA_DEFINE(SharedMemoryConfiguration, field("Regions", &SharedMemoryConfiguration::regions))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualPciFunction, field("DeviceInstancePath", &VirtualPciFunction::device_instance_path),
                           field("VirtualFunction", &VirtualPciFunction::virtual_function),
                           field("AllowDirectTranslatedP2P", &VirtualPciFunction::allow_direct_translated_p2p))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualPciDevice, field("Functions", &VirtualPciDevice::functions),
                           field("PropagateNumaAffinity", &VirtualPciDevice::propagate_numa_affinity))

SHIMCORE_HCS_SCHEMA_DEFINE(Devices, field("ComPorts", &Devices::com_ports), field("Scsi", &Devices::scsi),
                           field("VirtualPMem", &Devices::virtual_pmem),
                           field("NetworkAdapters", &Devices::network_adapters),
                           field("VideoMonitor", &Devices::video_monitor), field("Keyboard", &Devices::keyboard),
                           field("Mouse", &Devices::mouse), field("HvSocket", &Devices::hv_socket),
                           field("EnhancedModeVideo", &Devices::enhanced_mode_video),
                           field("GuestCrashReporting", &Devices::guest_crash_reporting),
                           field("VirtualSmb", &Devices::virtual_smb), field("Plan9", &Devices::plan9),
                           field("Battery", &Devices::battery), field("FlexibleIov", &Devices::flexible_iov),
                           field("SharedMemory", &Devices::shared_memory), field("VirtualPci", &Devices::virtual_pci))

}  // namespace shimcore::hcs::schema
