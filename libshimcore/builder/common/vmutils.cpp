// vmutils: processor and memory normalisation and the vNUMA topology, as hcsshim computes them.
#include "builder/common/vmutils.h"

#include <set>

#include <fmt/format.h>

#include "builder/common/annotations.h"
#include "shimcore/errdefs.h"

namespace shimcore::builder::detail {

namespace {

constexpr std::uint32_t kBuild25H1Server = 26100;  // vNUMA

[[noreturn]] void vmutils_fail(std::string message) { throw Error(ErrorKind::InvalidArgument, std::move(message)); }

}  // namespace

std::int32_t default_processor_count(const hcs::HostProfile& host) { return host.active_processors == 1 ? 1 : 2; }

std::uint64_t normalize_memory_size(std::uint64_t requested, std::vector<std::string>& warnings) {
  const std::uint64_t actual = (requested + 1) & ~std::uint64_t{1};
  if (actual != requested) {
    warnings.push_back(fmt::format("memory size {} MB rounded to {} MB (2 MB alignment)", requested, actual));
  }
  return actual;
}

std::int32_t normalize_processor_count(std::int32_t requested, const hcs::HostProfile& host,
                                       std::vector<std::string>& warnings) {
  const auto host_count = static_cast<std::int32_t>(host.logical_processors);
  if (requested > host_count) {
    warnings.push_back(
        fmt::format("processor count {} lowered to the host's {} logical processors", requested, host_count));
    return host_count;
  }
  return requested;
}

namespace {

constexpr std::uint32_t kWildcardPhysicalNode = 0xFF;
constexpr std::uint32_t kNumaTopologyNodeCountMax = 64;
constexpr std::uint32_t kNumaChildNodeCountMax = 64;

void validate_numa(const hcs::schema::Numa& numa) {
  if (numa.settings.empty()) return;
  std::set<std::uint32_t> virtual_nodes;
  std::uint64_t total_processors = 0;
  std::uint64_t total_memory = 0;
  const bool wildcard = numa.settings.front().physical_node_number.value_or(0) == kWildcardPhysicalNode;
  for (const auto& setting : numa.settings) {
    const std::uint32_t virtual_node = setting.virtual_node_number.value_or(0);
    const std::uint32_t physical_node = setting.physical_node_number.value_or(0);
    if (virtual_node > kNumaChildNodeCountMax) {
      vmutils_fail(fmt::format("vNUMA virtual node number {} exceeds maximum allowed value {}", virtual_node,
                               kNumaChildNodeCountMax));
    }
    if (physical_node != kWildcardPhysicalNode && physical_node >= kNumaTopologyNodeCountMax) {
      vmutils_fail(fmt::format("vNUMA physical node number {} exceeds maximum allowed value {}", physical_node,
                               kNumaTopologyNodeCountMax));
    }
    if (wildcard != (physical_node == kWildcardPhysicalNode)) {
      vmutils_fail(fmt::format("vNUMA has a mix of wildcard ({}) and non-wildcard ({}) physical node numbers",
                               kWildcardPhysicalNode, physical_node));
    }
    if (setting.count_of_memory_blocks.value_or(0) == 0) vmutils_fail("vNUMA nodes with no memory are not allowed");
    // hcsshim sums in uint32/uint64: the processor total wraps like Go's.
    total_processors = static_cast<std::uint32_t>(total_processors + setting.count_of_processors.value_or(0));
    total_memory += setting.count_of_memory_blocks.value_or(0);
    if (!virtual_nodes.insert(virtual_node).second) {
      vmutils_fail(fmt::format("vNUMA virtual node number {} is duplicated", virtual_node));
    }
  }
  if ((total_memory == 0) != (total_processors == 0)) vmutils_fail("partial resource allocation is not allowed");
  if (total_memory == 0 && wildcard) vmutils_fail("completely empty topology is not allowed");
}

}  // namespace

NumaTopology prepare_vnuma(const NumaRequest& request, const hcs::HostProfile& host,
                           std::vector<std::string>& warnings) {
  NumaTopology topology;
  if (request.max_processors_per_node == 0 && request.mapped_physical_nodes.empty()) {
    if (request.max_size_per_node > 0 || !request.preferred_physical_nodes.empty()) {
      warnings.push_back("potentially incomplete implicit vNUMA topology: ignored");
    }
    if (!request.processor_counts.empty() || !request.memory_block_counts.empty()) {
      warnings.push_back("potentially incomplete explicit vNUMA topology: ignored");
    }
    return topology;
  }
  if (host.os_build < kBuild25H1Server) {
    vmutils_fail(fmt::format("vNUMA topology is not supported on {} version of Windows", host.os_build));
  }
  std::vector<std::int64_t> preferred(request.preferred_physical_nodes.begin(), request.preferred_physical_nodes.end());

  if (request.max_processors_per_node > 0) {
    if (request.max_size_per_node == 0) {
      vmutils_fail("max size per node must be set when max processors per numa node is set");
    }
    hcs::schema::NumaProcessors processors;
    processors.count_per_node = hcs::schema::Range{non_zero(request.max_processors_per_node)};
    hcs::schema::Numa numa;
    numa.max_size_per_node = non_zero(request.max_size_per_node);
    numa.preferred_physical_nodes = preferred;
    topology.numa = numa;
    topology.processors = processors;
    return topology;
  }

  const std::size_t count = request.mapped_physical_nodes.size();
  if (count != request.processor_counts.size() || count != request.memory_block_counts.size()) {
    vmutils_fail("mismatch in number of physical numa nodes and the corresponding processor and memory blocks count");
  }
  hcs::schema::Numa numa;
  numa.virtual_node_count = non_zero(static_cast<std::uint8_t>(count));
  numa.preferred_physical_nodes = preferred;
  for (std::size_t i = 0; i < count; ++i) {
    hcs::schema::NumaSetting setting;
    setting.virtual_node_number = non_zero(static_cast<std::uint32_t>(i));
    setting.physical_node_number = non_zero(request.mapped_physical_nodes[i]);
    setting.virtual_socket_number = non_zero(static_cast<std::uint32_t>(i));
    setting.memory_backing_type = hcs::schema::MemoryBackingType::Physical;
    setting.count_of_processors = non_zero(request.processor_counts[i]);
    setting.count_of_memory_blocks = non_zero(request.memory_block_counts[i]);
    numa.settings.push_back(setting);
  }
  validate_numa(numa);
  topology.numa = numa;
  return topology;
}

void validate_numa_for_vm(const hcs::schema::Numa& numa, std::uint32_t processor_count, std::uint64_t memory_mb) {
  std::uint32_t total_processors = 0;
  std::uint64_t total_memory = 0;
  for (const auto& setting : numa.settings) {
    total_processors += setting.count_of_processors.value_or(0);
    total_memory += setting.count_of_memory_blocks.value_or(0);
  }
  if (total_processors != 0 && total_processors != processor_count) {
    vmutils_fail(fmt::format("vNUMA total processor count {} does not match UVM processor count {}", total_processors,
                             processor_count));
  }
  if (total_memory != 0 && total_memory != memory_mb) {
    vmutils_fail(fmt::format("vNUMA total memory {} does not match UVM memory {}", total_memory, memory_mb));
  }
}

}  // namespace shimcore::builder::detail
