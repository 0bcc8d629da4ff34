// JSON field lists of the property documents (properties.h) and their parse entry points.
#include "shimcore/hcs/schema/properties.h"

namespace shimcore::hcs::schema {

using detail::field;

SHIMCORE_HCS_SCHEMA_DEFINE(PropertyQuery, field("PropertyTypes", &PropertyQuery::property_types),
                           field("Queries", &PropertyQuery::queries))

SHIMCORE_HCS_SCHEMA_DEFINE(SystemQuery, field("Ids", &SystemQuery::ids), field("Names", &SystemQuery::names),
                           field("Types", &SystemQuery::types), field("Owners", &SystemQuery::owners))

SHIMCORE_HCS_SCHEMA_DEFINE(ProcessorStats, field("TotalRuntime100ns", &ProcessorStats::total_runtime_100ns),
                           field("RuntimeUser100ns", &ProcessorStats::runtime_user_100ns),
                           field("RuntimeKernel100ns", &ProcessorStats::runtime_kernel_100ns))

SHIMCORE_HCS_SCHEMA_DEFINE(MemoryStats, field("MemoryUsageCommitBytes", &MemoryStats::memory_usage_commit_bytes),
                           field("MemoryUsageCommitPeakBytes", &MemoryStats::memory_usage_commit_peak_bytes),
                           field("MemoryUsagePrivateWorkingSetBytes",
                                 &MemoryStats::memory_usage_private_working_set_bytes))

SHIMCORE_HCS_SCHEMA_DEFINE(StorageStats, field("ReadCountNormalized", &StorageStats::read_count_normalized),
                           field("ReadSizeBytes", &StorageStats::read_size_bytes),
                           field("WriteCountNormalized", &StorageStats::write_count_normalized),
                           field("WriteSizeBytes", &StorageStats::write_size_bytes))

SHIMCORE_HCS_SCHEMA_DEFINE(Statistics, field("Timestamp", &Statistics::timestamp),
                           field("ContainerStartTime", &Statistics::container_start_time),
                           field("Uptime100ns", &Statistics::uptime_100ns), field("Processor", &Statistics::processor),
                           field("Memory", &Statistics::memory), field("Storage", &Statistics::storage))

SHIMCORE_HCS_SCHEMA_DEFINE(ProcessDetails, field("ProcessId", &ProcessDetails::process_id),
                           field("ImageName", &ProcessDetails::image_name),
                           field("CreateTimestamp", &ProcessDetails::create_timestamp),
                           field("UserTime100ns", &ProcessDetails::user_time_100ns),
                           field("KernelTime100ns", &ProcessDetails::kernel_time_100ns),
                           field("MemoryCommitBytes", &ProcessDetails::memory_commit_bytes),
                           field("MemoryWorkingSetPrivateBytes", &ProcessDetails::memory_working_set_private_bytes),
                           field("MemoryWorkingSetSharedBytes", &ProcessDetails::memory_working_set_shared_bytes))

SHIMCORE_HCS_SCHEMA_DEFINE(VmMemory, field("AvailableMemory", &VmMemory::available_memory),
                           field("AvailableMemoryBuffer", &VmMemory::available_memory_buffer),
                           field("ReservedMemory", &VmMemory::reserved_memory),
                           field("AssignedMemory", &VmMemory::assigned_memory),
                           field("SlpActive", &VmMemory::slp_active),
                           field("BalancingEnabled", &VmMemory::balancing_enabled),
                           field("DmOperationInProgress", &VmMemory::dm_operation_in_progress))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualNodeInfo, field("VirtualNodeIndex", &VirtualNodeInfo::virtual_node_index),
                           field("PhysicalNodeNumber", &VirtualNodeInfo::physical_node_number),
                           field("VirtualProcessorCount", &VirtualNodeInfo::virtual_processor_count),
                           field("MemoryUsageInPages", &VirtualNodeInfo::memory_usage_in_pages))

SHIMCORE_HCS_SCHEMA_DEFINE(MemoryInformationForVm,
                           field("VirtualNodeCount", &MemoryInformationForVm::virtual_node_count),
                           field("VirtualMachineMemory", &MemoryInformationForVm::virtual_machine_memory),
                           field("VirtualNodes", &MemoryInformationForVm::virtual_nodes))

SHIMCORE_HCS_SCHEMA_DEFINE(SharedMemoryRegionInfo, field("SectionName", &SharedMemoryRegionInfo::section_name),
                           field("GuestPhysicalAddress", &SharedMemoryRegionInfo::guest_physical_address))

SHIMCORE_HCS_SCHEMA_DEFINE(GuestConnectionInfo,
                           field("SupportedSchemaVersions", &GuestConnectionInfo::supported_schema_versions),
                           field("ProtocolVersion", &GuestConnectionInfo::protocol_version),
                           field("GuestDefinedCapabilities", &GuestConnectionInfo::guest_defined_capabilities))

SHIMCORE_HCS_SCHEMA_DEFINE(PropertyResponse, field("Error", &PropertyResponse::error),
                           field("Response", &PropertyResponse::response))

SHIMCORE_HCS_SCHEMA_DEFINE(Properties, field("Id", &Properties::id), field("SystemType", &Properties::system_type),
                           field("RuntimeOsType", &Properties::runtime_os_type), field("Name", &Properties::name),
                           field("Owner", &Properties::owner), field("RuntimeId", &Properties::runtime_id),
                           field("SystemGUID", &Properties::system_guid),
                           field("RuntimeTemplateId", &Properties::runtime_template_id),
                           field("State", &Properties::state), field("Stopped", &Properties::stopped),
                           field("ExitType", &Properties::exit_type), field("Memory", &Properties::memory),
                           field("Statistics", &Properties::statistics),
                           field("ProcessList", &Properties::process_list),
                           field("TerminateOnLastHandleClosed", &Properties::terminate_on_last_handle_closed),
                           field("HostingSystemId", &Properties::hosting_system_id),
                           field("SharedMemoryRegionInfo", &Properties::shared_memory_region_info),
                           field("GuestConnectionInfo", &Properties::guest_connection_info),
                           field("PropertyResponses", &Properties::property_responses),
                           field("LCOWMetrics", &Properties::lcow_metrics))

SHIMCORE_HCS_SCHEMA_DEFINE(Subnode, field("Type", &Subnode::type), field("Id", &Subnode::id))

SHIMCORE_HCS_SCHEMA_DEFINE(LogicalProcessor, field("LpIndex", &LogicalProcessor::lp_index),
                           field("NodeNumber", &LogicalProcessor::node_number),
                           field("PackageId", &LogicalProcessor::package_id),
                           field("CoreId", &LogicalProcessor::core_id),
                           field("RootVpIndex", &LogicalProcessor::root_vp_index),
                           field("Subnodes", &LogicalProcessor::subnodes))

SHIMCORE_HCS_SCHEMA_DEFINE(ProcessorTopology,
                           field("LogicalProcessorCount", &ProcessorTopology::logical_processor_count),
                           field("LogicalProcessors", &ProcessorTopology::logical_processors))

SHIMCORE_HCS_SCHEMA_DEFINE(ServiceProperties, field("Properties", &ServiceProperties::properties),
                           field("PropertyResponses", &ServiceProperties::property_responses))

Properties parse_properties(std::string_view json_text) {
  return detail::parse_document<Properties>(json_text, "Properties");
}

std::vector<Properties> parse_properties_list(std::string_view json_text) {
  return detail::parse_document<std::vector<Properties>>(json_text, "Properties list");
}

PropertyQuery parse_property_query(std::string_view json_text) {
  return detail::parse_document<PropertyQuery>(json_text, "PropertyQuery");
}

SystemQuery parse_system_query(std::string_view json_text) {
  return detail::parse_document<SystemQuery>(json_text, "SystemQuery");
}

ServiceProperties parse_service_properties(std::string_view json_text) {
  return detail::parse_document<ServiceProperties>(json_text, "ServiceProperties");
}

ProcessorTopology parse_processor_topology(std::string_view json_text) {
  return detail::parse_document<ProcessorTopology>(json_text, "ProcessorTopology");
}

}  // namespace shimcore::hcs::schema
