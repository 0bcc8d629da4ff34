// hcsshim's specToUVMCreateOptionsCommon: the annotations (and OCI windows.resources) both utility-VM kinds read alike.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "builder/common/annotations.h"
#include "builder/common/go_rules.h"
#include "builder/common/vmutils.h"
#include "shimcore/builder/common.h"
#include "shimcore/errdefs.h"

namespace shimcore::builder::detail {

// The ParseAnnotations{CPU,Storage,Memory}* family: a non-zero annotation, else a positive windows.resources value,
// else the current value.
inline std::int32_t annotation_or_resource(const AnnotationReader& reader, const char* key,
                                           std::optional<std::uint64_t> resource, std::int32_t fallback) {
  if (const std::int32_t value = reader.get_int32(key, 0); value != 0) return value;
  if (resource && *resource > 0) return static_cast<std::int32_t>(*resource);
  return fallback;
}

// UpdateSpecFromOptions: the runtime options become annotations where the spec has none of its own.
inline Annotations with_runtime_options(Annotations annotations, const std::optional<RuntimeOptions>& runtime_options) {
  if (!runtime_options) return annotations;
  const RuntimeOptions& options = *runtime_options;
  if (!options.boot_files_root_path.empty())
    annotations.emplace(keys::kBootFilesRootPath, options.boot_files_root_path);
  if (options.vm_processor_count != 0) {
    annotations.emplace(keys::kProcessorCount, std::to_string(options.vm_processor_count));
  }
  if (options.vm_memory_size_in_mb != 0) {
    annotations.emplace(keys::kMemorySizeInMb, std::to_string(options.vm_memory_size_in_mb));
  }
  if (!options.ncproxy_addr.empty()) annotations.emplace(keys::kNetworkConfigProxy, options.ncproxy_addr);
  for (const auto& [key, value] : options.default_container_annotations) annotations.emplace(key, value);
  return annotations;
}

// uvm.Options: what both utility-VM kinds' options hold (each kind's options extend it).
struct CommonUvmOptions {
  std::uint64_t memory_size_in_mb = 1024;
  std::uint64_t low_mmio_gap_in_mb = 0;
  std::uint64_t high_mmio_base_in_mb = 0;
  std::uint64_t high_mmio_gap_in_mb = 0;
  bool allow_overcommit = true;
  bool fully_physically_backed = false;
  bool enable_deferred_commit = false;
  std::int32_t processor_count = 2;
  std::int32_t processor_limit = 0;
  std::int32_t processor_weight = 0;
  std::int32_t storage_qos_iops = 0;
  std::int32_t storage_qos_bandwidth = 0;
  std::string cpu_group_id;
  std::optional<std::string> resource_partition_id;
  std::string process_dump_location;
  bool no_writable_file_shares = false;
  std::map<std::string, hcs::schema::HvSocketServiceConfig> additional_hv_socket;
  NumaRequest numa;
  std::string console_pipe;
};

// Applies the settings LCOW and WCOW share to `o`.
inline void apply_common_uvm_options(CommonUvmOptions& o, const AnnotationReader& reader,
                                     const Annotations& annotations, const WindowsResources& resources,
                                     std::vector<std::string>& warnings) {
  const auto widen = [](const std::optional<std::uint16_t>& value) -> std::optional<std::uint64_t> {
    if (!value) return std::nullopt;
    return std::uint64_t{*value};
  };
  if (const std::uint64_t value = reader.get_uint64(keys::kMemorySizeInMb, 0); value != 0) {
    o.memory_size_in_mb = value;
  } else if (resources.memory_limit && *resources.memory_limit > 0) {
    o.memory_size_in_mb = *resources.memory_limit / 1024 / 1024;
  }
  o.low_mmio_gap_in_mb = reader.get_uint64(keys::kLowMmioGap, o.low_mmio_gap_in_mb);
  o.high_mmio_base_in_mb = reader.get_uint64(keys::kHighMmioBase, o.high_mmio_base_in_mb);
  o.high_mmio_gap_in_mb = reader.get_uint64(keys::kHighMmioGap, o.high_mmio_gap_in_mb);
  o.allow_overcommit = reader.get_bool(keys::kAllowOvercommit, o.allow_overcommit);
  o.enable_deferred_commit = reader.get_bool(keys::kEnableDeferredCommit, o.enable_deferred_commit);
  o.processor_count = annotation_or_resource(reader, keys::kProcessorCount, resources.cpu_count, o.processor_count);
  o.processor_limit =
      annotation_or_resource(reader, keys::kProcessorLimit, widen(resources.cpu_maximum), o.processor_limit);
  o.processor_weight =
      annotation_or_resource(reader, keys::kProcessorWeight, widen(resources.cpu_shares), o.processor_weight);
  o.storage_qos_bandwidth =
      annotation_or_resource(reader, keys::kStorageQosBandwidth, resources.storage_bps, o.storage_qos_bandwidth);
  o.storage_qos_iops =
      annotation_or_resource(reader, keys::kStorageQosIops, resources.storage_iops, o.storage_qos_iops);
  o.cpu_group_id = reader.get_string(keys::kCpuGroupId, o.cpu_group_id);
  o.process_dump_location = reader.get_string(keys::kProcessDumpLocation, o.process_dump_location);
  o.no_writable_file_shares = reader.get_bool(keys::kDisableWritableFileShares, o.no_writable_file_shares);
  o.console_pipe = reader.get_string(keys::kConsolePipe, o.console_pipe);
  o.numa.max_processors_per_node = reader.get_uint32(keys::kNumaMaxProcessorsPerNode, 0);
  o.numa.max_size_per_node = reader.get_uint64(keys::kNumaMaxSizePerNode, 0);
  o.numa.preferred_physical_nodes = reader.get_uint32_list(keys::kNumaPreferredPhysicalNodes, {});
  o.numa.mapped_physical_nodes = reader.get_uint32_list(keys::kNumaMappedPhysicalNodes, {});
  o.numa.processor_counts = reader.get_uint32_list(keys::kNumaCountOfProcessors, {});
  o.numa.memory_block_counts = reader.get_uint64_list(keys::kNumaCountOfMemoryBlocks, {});
  o.additional_hv_socket = parse_hv_socket_service_table(annotations, warnings);
  if (reader.has(keys::kResourcePartitionId)) {
    const std::string value = reader.get_string(keys::kResourcePartitionId, "");
    o.resource_partition_id = go_parse_guid(value);
    if (!o.resource_partition_id) {
      throw Error(ErrorKind::InvalidArgument, fmt::format("failed to parse annotation {:?} with value {:?} as GUID",
                                                          keys::kResourcePartitionId, value));
    }
  }
}

}  // namespace shimcore::builder::detail
