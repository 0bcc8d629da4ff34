// The Windows job object: a Win32 job (CreateJobObjectW) with hcsshim's limits, its process list, accounting and
// TerminateJobObject. Starting processes in it (CreateProcess suspended, AssignProcessToJobObject, resume, on the
// container's own token) is not built yet: create_process is Unimplemented.
#include <windows.h>

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "shimcore/errdefs.h"
#include "shimcore/hcs/job_object.h"

namespace shimcore::hcs {
namespace {

Error last_error(std::string_view what) {
  return make_error(ErrorKind::Unavailable, "job object: {} failed: Win32 error {}", what, ::GetLastError());
}

class Win32Job final : public JobObject {
 public:
  explicit Win32Job(const std::string& id) : id_(id) {
    handle_ = OsHandle(::CreateJobObjectW(nullptr, nullptr));
    if (!handle_) throw last_error("CreateJobObjectW");
    // The job's processes die with its last handle, as hcsshim's job containers do.
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (!::SetInformationJobObject(handle_.get(), JobObjectExtendedLimitInformation, &limits, sizeof limits)) {
      throw last_error("SetInformationJobObject(kill on close)");
    }
  }

  ~Win32Job() override { ::TerminateJobObject(handle_.get(), 1); }

  void set_limits(const JobLimits& requested) override {
    if (requested.cpu_maximum && (*requested.cpu_maximum == 0 || *requested.cpu_maximum > 10000)) {
      throw make_error(ErrorKind::InvalidArgument, "job {}: CPU maximum {} is outside 1..10000", id_,
                       *requested.cpu_maximum);
    }
    if (requested.memory_bytes) {
      JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
      limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_JOB_MEMORY;
      limits.JobMemoryLimit = static_cast<SIZE_T>(*requested.memory_bytes);
      if (!::SetInformationJobObject(handle_.get(), JobObjectExtendedLimitInformation, &limits, sizeof limits)) {
        throw last_error("SetInformationJobObject(memory)");
      }
    }
    if (requested.cpu_count || requested.cpu_maximum || requested.cpu_weight) {
      JOBOBJECT_CPU_RATE_CONTROL_INFORMATION rate{};
      SYSTEM_INFO system{};
      ::GetSystemInfo(&system);
      const DWORD processors = std::max<DWORD>(1, system.dwNumberOfProcessors);
      if (requested.cpu_weight) {
        // hcsshim maps the weight 1..10000 onto the job's 1..9.
        rate.ControlFlags = JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED;
        rate.Weight = std::clamp<DWORD>(static_cast<DWORD>(*requested.cpu_weight * 9 / 10000), 1, 9);
      } else {
        rate.ControlFlags = JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP;
        rate.CpuRate = requested.cpu_maximum ? *requested.cpu_maximum
                                             : std::min<DWORD>(10000, *requested.cpu_count * 10000 / processors);
      }
      if (!::SetInformationJobObject(handle_.get(), JobObjectCpuRateControlInformation, &rate, sizeof rate)) {
        throw last_error("SetInformationJobObject(CPU rate)");
      }
    }
  }

  std::unique_ptr<Process> create_process(const nlohmann::json&) override {
    throw make_error(ErrorKind::Unimplemented,
                     "job {}: starting processes in a host-process container is not built on Windows yet", id_);
  }

  std::vector<std::uint32_t> pids() override {
    std::vector<std::uint8_t> buffer(sizeof(JOBOBJECT_BASIC_PROCESS_ID_LIST) + 1024 * sizeof(ULONG_PTR));
    auto* list = reinterpret_cast<JOBOBJECT_BASIC_PROCESS_ID_LIST*>(buffer.data());
    if (!::QueryInformationJobObject(handle_.get(), JobObjectBasicProcessIdList, list,
                                     static_cast<DWORD>(buffer.size()), nullptr)) {
      throw last_error("QueryInformationJobObject(process list)");
    }
    std::vector<std::uint32_t> out;
    for (DWORD i = 0; i < list->NumberOfProcessIdsInList; ++i) {
      out.push_back(static_cast<std::uint32_t>(list->ProcessIdList[i]));
    }
    return out;
  }

  // Windows has no signals for arbitrary processes: every stop request terminates, as hcsshim's job containers do.
  void signal_all(int) override { terminate(); }

  void terminate() override {
    if (!::TerminateJobObject(handle_.get(), 1)) throw last_error("TerminateJobObject");
  }

  JobStatistics statistics() override {
    JOBOBJECT_BASIC_AND_IO_ACCOUNTING_INFORMATION accounting{};
    if (!::QueryInformationJobObject(handle_.get(), JobObjectBasicAndIoAccountingInformation, &accounting,
                                     sizeof accounting, nullptr)) {
      throw last_error("QueryInformationJobObject(accounting)");
    }
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    if (!::QueryInformationJobObject(handle_.get(), JobObjectExtendedLimitInformation, &limits, sizeof limits,
                                     nullptr)) {
      throw last_error("QueryInformationJobObject(memory)");
    }
    JobStatistics statistics;
    statistics.cpu_time_ns = static_cast<std::uint64_t>(accounting.BasicInfo.TotalUserTime.QuadPart +
                                                        accounting.BasicInfo.TotalKernelTime.QuadPart) *
                             100;
    statistics.memory_bytes = static_cast<std::uint64_t>(limits.PeakJobMemoryUsed);
    statistics.processes = accounting.BasicInfo.ActiveProcesses;
    return statistics;
  }

  std::vector<std::string> locations() const override { return {fmt::format("job object of {}", id_)}; }

 private:
  std::string id_;
  OsHandle handle_;
};

}  // namespace

std::unique_ptr<JobObject> create_job_object(const std::string& id) {
  if (id.empty()) throw make_error(ErrorKind::InvalidArgument, "job object: empty container id");
  return std::make_unique<Win32Job>(id);
}

}  // namespace shimcore::hcs
