// What the emulator reports as a container's Statistics: CPU, memory and I/O of its processes, read from /proc.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace shimcore::hcs::emulator {

// Sums in HCS's units (100 ns, bytes). The mapping from Linux figures, for a job object's counters:
//  - user/kernel time: utime/stime of every live process, plus cutime/cstime (their reaped children);
//  - private working set: RssAnon (resident private memory);
//  - commit: VmData + VmStk (private writable memory, resident or not: what Windows charges as commit);
//  - reads/writes: syscr/syscw and read_bytes/write_bytes of /proc/<pid>/io.
struct ProcessUsage {
  std::uint64_t user_100ns = 0;
  std::uint64_t kernel_100ns = 0;
  std::uint64_t private_working_set_bytes = 0;
  std::uint64_t commit_bytes = 0;
  std::uint64_t read_count = 0;
  std::uint64_t read_bytes = 0;
  std::uint64_t write_count = 0;
  std::uint64_t write_bytes = 0;

  ProcessUsage& operator+=(const ProcessUsage& other) noexcept;
};

// The live processes of the trees rooted at `roots` (each root and all its descendants), summed; processes that
// vanish while being read are skipped.
ProcessUsage live_usage(const std::vector<pid_t>& roots);

// A reaped process (wait4's rusage, which includes its own reaped descendants): CPU time and block I/O (in 512-byte
// blocks, counted once per block); nothing is resident any more.
ProcessUsage reaped_usage(const rusage& usage) noexcept;

}  // namespace shimcore::hcs::emulator
