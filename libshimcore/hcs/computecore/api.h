// The computecore.dll C API as we use it: our own declarations of its types and a table of its functions, resolved
// at run time (Windows only).
#pragma once

#ifdef _WIN32

#include <windows.h>

#include <cstdint>

#include "shimcore/hcs/hresult.h"

namespace shimcore::hcs::computecore {

// Declared here rather than taken from ComputeCore.h/ComputeDefs.h: those headers are not in every toolchain (and
// differ between SDK versions), and we link nothing at build time; the layouts follow MSDocs
// (virtualization/api/hcs/Reference) and match hcsshim's internal/computecore/types.go.
struct HcsOperationTag;
struct HcsSystemTag;
struct HcsProcessTag;
using HCS_OPERATION = HcsOperationTag*;
using HCS_SYSTEM = HcsSystemTag*;
using HCS_PROCESS = HcsProcessTag*;

using HCS_EVENT_TYPE = std::uint32_t;     // event_type:: in computecore_logic.h
using HCS_EVENT_OPTIONS = std::uint32_t;  // kEventOption*
using HCS_OPERATION_TYPE = std::int32_t;

inline constexpr HCS_EVENT_OPTIONS kEventOptionNone = 0x00000000;

struct HCS_EVENT {
  HCS_EVENT_TYPE Type;
  PCWSTR EventData;  // JSON, owned by HCS for the duration of the callback
  HCS_OPERATION Operation;
};

struct HCS_PROCESS_INFORMATION {
  DWORD ProcessId;
  DWORD Reserved;
  HANDLE StdInput;  // NULL or INVALID_HANDLE_VALUE when the pipe was not requested
  HANDLE StdOutput;
  HANDLE StdError;
};
static_assert(sizeof(void*) != 8 || sizeof(HCS_PROCESS_INFORMATION) == 32, "HCS_PROCESS_INFORMATION layout");

using HCS_EVENT_CALLBACK = void(CALLBACK*)(HCS_EVENT* event, void* context);
using HCS_OPERATION_COMPLETION = void(CALLBACK*)(HCS_OPERATION operation, void* context);

// One export: its name (for errors) and its address, null when this Windows build lacks it.
template <typename Fn>
struct Proc {
  Fn fn = nullptr;
  const char* name = "";

  bool available() const noexcept { return fn != nullptr; }
  // The function, or HcsError(ERROR_PROC_NOT_FOUND) naming it: a missing export means "not supported here".
  Fn get() const {
    if (fn == nullptr) throw HcsError(hresult::kProcNotFound, name);
    return fn;
  }
};

struct Api {
  // Operations.
  Proc<HCS_OPERATION(WINAPI*)(const void* context, HCS_OPERATION_COMPLETION callback)> HcsCreateOperation;
  Proc<void(WINAPI*)(HCS_OPERATION operation)> HcsCloseOperation;
  Proc<HRESULT(WINAPI*)(HCS_OPERATION operation, PWSTR* result_document)> HcsGetOperationResult;
  Proc<HRESULT(WINAPI*)(HCS_OPERATION operation, HCS_PROCESS_INFORMATION* info, PWSTR* result_document)>
      HcsGetOperationResultAndProcessInfo;
  Proc<HRESULT(WINAPI*)(HCS_OPERATION operation, DWORD timeout_ms, PWSTR* result_document)> HcsWaitForOperationResult;
  Proc<HRESULT(WINAPI*)(HCS_OPERATION operation, DWORD timeout_ms, HCS_PROCESS_INFORMATION* info,
                        PWSTR* result_document)>
      HcsWaitForOperationResultAndProcessInfo;
  Proc<HRESULT(WINAPI*)(HCS_OPERATION operation)> HcsCancelOperation;

  // Compute systems.
  Proc<HRESULT(WINAPI*)(PCWSTR query, HCS_OPERATION operation)> HcsEnumerateComputeSystems;
  Proc<HRESULT(WINAPI*)(PCWSTR id, PCWSTR configuration, HCS_OPERATION operation,
                        const SECURITY_DESCRIPTOR* security_descriptor, HCS_SYSTEM* system)>
      HcsCreateComputeSystem;
  Proc<HRESULT(WINAPI*)(PCWSTR id, DWORD requested_access, HCS_SYSTEM* system)> HcsOpenComputeSystem;
  Proc<void(WINAPI*)(HCS_SYSTEM system)> HcsCloseComputeSystem;
  Proc<HRESULT(WINAPI*)(HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR options)> HcsStartComputeSystem;
  Proc<HRESULT(WINAPI*)(HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR options)> HcsShutDownComputeSystem;
  Proc<HRESULT(WINAPI*)(HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR options)> HcsTerminateComputeSystem;
  Proc<HRESULT(WINAPI*)(HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR options)> HcsPauseComputeSystem;
  Proc<HRESULT(WINAPI*)(HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR options)> HcsResumeComputeSystem;
  Proc<HRESULT(WINAPI*)(HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR property_query)>
      HcsGetComputeSystemProperties;
  Proc<HRESULT(WINAPI*)(HCS_SYSTEM system, HCS_OPERATION operation, PCWSTR configuration, HANDLE identity)>
      HcsModifyComputeSystem;
  Proc<HRESULT(WINAPI*)(HCS_SYSTEM system, HCS_EVENT_OPTIONS options, const void* context, HCS_EVENT_CALLBACK callback)>
      HcsSetComputeSystemCallback;

  // Processes.
  Proc<HRESULT(WINAPI*)(HCS_SYSTEM system, PCWSTR parameters, HCS_OPERATION operation,
                        const SECURITY_DESCRIPTOR* security_descriptor, HCS_PROCESS* process)>
      HcsCreateProcess;
  Proc<HRESULT(WINAPI*)(HCS_SYSTEM system, DWORD process_id, DWORD requested_access, HCS_PROCESS* process)>
      HcsOpenProcess;
  Proc<void(WINAPI*)(HCS_PROCESS process)> HcsCloseProcess;
  Proc<HRESULT(WINAPI*)(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR options)> HcsTerminateProcess;
  Proc<HRESULT(WINAPI*)(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR options)> HcsSignalProcess;
  Proc<HRESULT(WINAPI*)(HCS_PROCESS process, HCS_OPERATION operation)> HcsGetProcessInfo;
  Proc<HRESULT(WINAPI*)(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR property_query)> HcsGetProcessProperties;
  Proc<HRESULT(WINAPI*)(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR settings)> HcsModifyProcess;
  // The context parameter is `void*` here (not const) in MSDocs and ComputeCore.h alike.
  Proc<HRESULT(WINAPI*)(HCS_PROCESS process, HCS_EVENT_OPTIONS options, void* context, HCS_EVENT_CALLBACK callback)>
      HcsSetProcessCallback;

  // The service.
  Proc<HRESULT(WINAPI*)(PCWSTR property_query, PWSTR* result)> HcsGetServiceProperties;
};

// The table for this process: computecore.dll is loaded from System32 on first use and stays loaded (HCS threads run
// our callback until the process ends, so unloading is never safe). Throws HcsError with the Win32 error as an
// HRESULT (e.g. ERROR_MOD_NOT_FOUND when the Containers/Hyper-V feature is absent); a failed load is retried on the
// next call. Exports this Windows build lacks are left null (Proc::get throws).
const Api& api();

}  // namespace shimcore::hcs::computecore

#endif  // _WIN32
