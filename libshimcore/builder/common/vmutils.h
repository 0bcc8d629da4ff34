// hcsshim's internal/vm/vmutils rules every utility-VM builder shares: processor and memory normalisation, vNUMA.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shimcore/hcs/host.h"
#include "shimcore/hcs/schema/virtual_machine.h"

namespace shimcore::builder::detail {

// vmutils.DefaultProcessorCountForUVM: 1 on a one-processor host (as Go's runtime.NumCPU sees it), else 2.
std::int32_t default_processor_count(const hcs::HostProfile& host);
// vmutils.NormalizeMemorySize: rounded up to an even number of MB (wrapping as Go's uint64 does).
std::uint64_t normalize_memory_size(std::uint64_t requested, std::vector<std::string>& warnings);
// vmutils.NormalizeProcessorCount: no more than the processors HCS reports for the host.
std::int32_t normalize_processor_count(std::int32_t requested, const hcs::HostProfile& host,
                                       std::vector<std::string>& warnings);

// The vNUMA request of vmutils.NumaConfig and its translation (PrepareVNumaTopology, validate, ValidateNumaForVM).
struct NumaRequest {
  std::uint32_t max_processors_per_node = 0;
  std::uint64_t max_size_per_node = 0;
  std::vector<std::uint32_t> preferred_physical_nodes;
  std::vector<std::uint32_t> mapped_physical_nodes;
  std::vector<std::uint32_t> processor_counts;
  std::vector<std::uint64_t> memory_block_counts;
};
struct NumaTopology {
  std::optional<hcs::schema::Numa> numa;
  std::optional<hcs::schema::NumaProcessors> processors;
};
NumaTopology prepare_vnuma(const NumaRequest& request, const hcs::HostProfile& host,
                           std::vector<std::string>& warnings);
void validate_numa_for_vm(const hcs::schema::Numa& numa, std::uint32_t processor_count, std::uint64_t memory_mb);

}  // namespace shimcore::builder::detail
