// HCS schema v2 property documents: PropertyQuery, Properties (statistics, memory, process list), service properties.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shimcore/hcs/schema/common.h"
#include "shimcore/hcs/schema/errors.h"
#include "shimcore/hcs/schema/json_support.h"

namespace shimcore::hcs::schema {

// HcsGetComputeSystemProperties / HcsGetServiceProperties query. PropertyTypes ("Memory", "Statistics",
// "ProcessList", "ProcessorTopology", ...) stay strings: the set grows with Windows releases. Queries (2.5) values
// are per-type query objects, open-ended, so JSON.
struct PropertyQuery {
  std::vector<std::string> property_types;
  std::map<std::string, Json> queries;
  bool operator==(const PropertyQuery&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(PropertyQuery);

// HcsEnumerateComputeSystems filter.
struct SystemQuery {
  std::vector<std::string> ids;
  std::vector<std::string> names;
  std::vector<std::string> types;
  std::vector<std::string> owners;
  bool operator==(const SystemQuery&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(SystemQuery);

struct ProcessorStats {
  std::optional<std::uint64_t> total_runtime_100ns;
  std::optional<std::uint64_t> runtime_user_100ns;
  std::optional<std::uint64_t> runtime_kernel_100ns;
  bool operator==(const ProcessorStats&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ProcessorStats);

struct MemoryStats {
  std::optional<std::uint64_t> memory_usage_commit_bytes;
  std::optional<std::uint64_t> memory_usage_commit_peak_bytes;
  std::optional<std::uint64_t> memory_usage_private_working_set_bytes;
  bool operator==(const MemoryStats&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(MemoryStats);

struct StorageStats {
  std::optional<std::uint64_t> read_count_normalized;
  std::optional<std::uint64_t> read_size_bytes;
  std::optional<std::uint64_t> write_count_normalized;
  std::optional<std::uint64_t> write_size_bytes;
  bool operator==(const StorageStats&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(StorageStats);

// Runtime statistics (property type "Statistics"); timestamps are RFC 3339 text as HCS sends them.
struct Statistics {
  std::optional<std::string> timestamp;
  std::optional<std::string> container_start_time;
  std::optional<std::uint64_t> uptime_100ns;
  std::optional<ProcessorStats> processor;
  std::optional<MemoryStats> memory;
  std::optional<StorageStats> storage;
  bool operator==(const Statistics&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Statistics);

// One process of a container (property type "ProcessList"). Widths as HCS documents them; hcsshim's int32 would
// overflow on real byte counts.
struct ProcessDetails {
  std::optional<std::uint32_t> process_id;
  std::optional<std::string> image_name;
  std::optional<std::string> create_timestamp;
  std::optional<std::uint64_t> user_time_100ns;
  std::optional<std::uint64_t> kernel_time_100ns;
  std::optional<std::uint64_t> memory_commit_bytes;
  std::optional<std::uint64_t> memory_working_set_private_bytes;
  std::optional<std::uint64_t> memory_working_set_shared_bytes;
  bool operator==(const ProcessDetails&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ProcessDetails);

struct VmMemory {
  std::optional<std::int32_t> available_memory;
  std::optional<std::int32_t> available_memory_buffer;
  std::optional<std::uint64_t> reserved_memory;
  std::optional<std::uint64_t> assigned_memory;
  std::optional<bool> slp_active;
  std::optional<bool> balancing_enabled;
  std::optional<bool> dm_operation_in_progress;
  bool operator==(const VmMemory&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VmMemory);

struct VirtualNodeInfo {
  std::optional<std::uint8_t> virtual_node_index;
  std::optional<std::uint8_t> physical_node_number;
  std::optional<std::uint32_t> virtual_processor_count;
  std::optional<std::uint64_t> memory_usage_in_pages;
  bool operator==(const VirtualNodeInfo&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualNodeInfo);

// Property type "Memory" of a VM.
struct MemoryInformationForVm {
  std::optional<std::uint8_t> virtual_node_count;
  std::optional<VmMemory> virtual_machine_memory;
  std::vector<VirtualNodeInfo> virtual_nodes;
  bool operator==(const MemoryInformationForVm&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(MemoryInformationForVm);

struct SharedMemoryRegionInfo {
  std::optional<std::string> section_name;
  std::optional<std::uint64_t> guest_physical_address;
  bool operator==(const SharedMemoryRegionInfo&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(SharedMemoryRegionInfo);

// What HCS's own guest connection negotiated. GuestDefinedCapabilities is whatever the guest reports: JSON.
struct GuestConnectionInfo {
  std::vector<Version> supported_schema_versions;
  std::optional<std::uint32_t> protocol_version;
  Json guest_defined_capabilities;
  bool operator==(const GuestConnectionInfo&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(GuestConnectionInfo);

// One answer of a 2.5 query: the property (its type depends on the property name, so JSON) or an error.
struct PropertyResponse {
  std::optional<ResultError> error;
  Json response;
  bool operator==(const PropertyResponse&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(PropertyResponse);

// HcsGetComputeSystemProperties result. SystemType ("Container"/"VirtualMachine"), RuntimeOsType, State and
// ExitType are HCS-produced enumerations and stay strings so that newer values still parse. hcsshim needs
// RuntimeId to open hvsockets to a utility VM.
struct Properties {
  std::optional<std::string> id;
  std::optional<std::string> system_type;
  std::optional<std::string> runtime_os_type;
  std::optional<std::string> name;
  std::optional<std::string> owner;
  std::optional<std::string> runtime_id;
  std::optional<std::string> system_guid;  // JSON "SystemGUID"
  std::optional<std::string> runtime_template_id;
  std::optional<std::string> state;
  std::optional<bool> stopped;
  std::optional<std::string> exit_type;
  std::optional<MemoryInformationForVm> memory;
  std::optional<Statistics> statistics;
  std::vector<ProcessDetails> process_list;
  std::optional<bool> terminate_on_last_handle_closed;
  std::optional<std::string> hosting_system_id;
  std::vector<SharedMemoryRegionInfo> shared_memory_region_info;
  std::optional<GuestConnectionInfo> guest_connection_info;
  std::map<std::string, PropertyResponse> property_responses;
  // JSON "LCOWMetrics": the guest's cgroup statistics (containerd's cgroups v1 Metrics message), filled in by the
  // GCS bridge, never by HCS. A foreign, protobuf-defined document: kept as JSON.
  Json lcow_metrics;
  bool operator==(const Properties&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Properties);

struct Subnode {
  std::optional<std::string> type;  // JSON "Type"
  std::optional<std::uint64_t> id;
  bool operator==(const Subnode&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Subnode);

struct LogicalProcessor {
  std::optional<std::uint32_t> lp_index;
  std::optional<std::uint8_t> node_number;
  std::optional<std::uint32_t> package_id;
  std::optional<std::uint32_t> core_id;
  std::optional<std::int32_t> root_vp_index;
  std::vector<Subnode> subnodes;
  bool operator==(const LogicalProcessor&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(LogicalProcessor);

// Service property "ProcessorTopology": hcsshim clamps a UVM's processor count to LogicalProcessorCount.
struct ProcessorTopology {
  std::optional<std::uint32_t> logical_processor_count;
  std::vector<LogicalProcessor> logical_processors;
  bool operator==(const ProcessorTopology&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ProcessorTopology);

// HcsGetServiceProperties result: one entry per requested property type, each of that type's shape (JSON; read a
// ProcessorTopology with `properties[0].get<ProcessorTopology>()`).
struct ServiceProperties {
  std::vector<Json> properties;
  std::map<std::string, PropertyResponse> property_responses;
  bool operator==(const ServiceProperties&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ServiceProperties);

// Parse the JSON text of a document; failures throw SchemaError (InvalidArgument) naming the JSON path.
Properties parse_properties(std::string_view json_text);
// HcsEnumerateComputeSystems result: a JSON array of Properties.
std::vector<Properties> parse_properties_list(std::string_view json_text);
PropertyQuery parse_property_query(std::string_view json_text);
SystemQuery parse_system_query(std::string_view json_text);
ServiceProperties parse_service_properties(std::string_view json_text);
ProcessorTopology parse_processor_topology(std::string_view json_text);

}  // namespace shimcore::hcs::schema
