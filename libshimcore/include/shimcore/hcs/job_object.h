// Host-process containers (microsoft.com/hostprocess-container=true) are no HCS compute systems: hcsshim runs them as
// job objects (internal/jobcontainers). This is the narrow seam: a Win32 job object on Windows, a set of cgroups
// (v1 or v2) holding a process group on Linux, with the job's limits, its processes, statistics and kill-all.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shimcore/hcs/client.h"

namespace shimcore::hcs {

// hcsshim's job limits from the spec's windows.resources (and Task.Update).
struct JobLimits {
  std::optional<std::uint64_t> memory_bytes;  // a hard limit on the job's committed memory
  std::optional<std::uint32_t> cpu_count;     // processors' worth of CPU time
  std::optional<std::uint32_t> cpu_maximum;   // 1..10000: hundredths of a percent of the whole machine
  std::optional<std::uint32_t> cpu_weight;    // 1..10000
  bool empty() const { return !memory_bytes && !cpu_count && !cpu_maximum && !cpu_weight; }
};

struct JobStatistics {
  std::uint64_t memory_bytes = 0;  // in use now
  std::uint64_t cpu_time_ns = 0;   // consumed by the job's processes so far
  std::uint32_t processes = 0;
};

class JobObject {
 public:
  virtual ~JobObject() = default;  // kills what is left in the job and releases it (Linux: removes its cgroups)
  // Throws Error(InvalidArgument) for values out of range, Error(Unavailable) when the system refuses them.
  virtual void set_limits(const JobLimits& limits) = 0;
  // Starts a process in the job (HCS ProcessParameters: CommandLine or CommandArgs, Environment, WorkingDirectory,
  // the Create*Pipe flags, EmulateConsole), on the host's root: every process it starts stays in the job.
  virtual std::unique_ptr<Process> create_process(const nlohmann::json& parameters) = 0;
  // Every process in the job, children included.
  virtual std::vector<std::uint32_t> pids() = 0;
  virtual void signal_all(int signal) = 0;
  virtual void terminate() = 0;  // kills every process in the job
  virtual JobStatistics statistics() = 0;
  // Where the job lives, for logs and tests (the cgroup folders; the job's name on Windows).
  virtual std::vector<std::string> locations() const = 0;
};

// A job as the ComputeSystem a pod's pause container is (hcsshim's job containers implement the same container
// interface as HCS systems): processes start in the job, Terminate/Shutdown kill it and count as the system's exit,
// Properties answers Statistics from the job; Pause, Resume, Modify and OpenProcess are Unimplemented.
std::unique_ptr<ComputeSystem> job_compute_system(std::string id, std::unique_ptr<JobObject> job);

// Creates the job object for container `id`. Throws Error(Unavailable) when the platform cannot (no writable
// cgroup hierarchy), Error(Unimplemented) where job objects are not built.
std::unique_ptr<JobObject> create_job_object(const std::string& id);

}  // namespace shimcore::hcs
