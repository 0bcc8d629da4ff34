// Loads computecore.dll from System32 and resolves the exports the backend uses.
#include "api.h"

#ifdef _WIN32

#include "handles.h"

namespace shimcore::hcs::computecore {
namespace {

template <typename Fn>
void resolve(HMODULE module, Proc<Fn>& proc, const char* name) {
  proc.name = name;
  // GetProcAddress returns FARPROC; going through the generic `void (*)()` is the documented way to convert one
  // function pointer type to another without -Wcast-function-type complaining.
  proc.fn = reinterpret_cast<Fn>(reinterpret_cast<void (*)()>(::GetProcAddress(module, name)));
}

Api load() {
  // System32 only: never a computecore.dll planted next to the executable or on PATH.
  const HMODULE module = ::LoadLibraryExW(L"computecore.dll", nullptr, LOAD_LIBRARY_SEARCH_SYSTEM32);
  if (module == nullptr) throw HcsError(win32_hresult(::GetLastError()), "LoadLibraryExW(computecore.dll)");

  Api table;
  resolve(module, table.HcsCreateOperation, "HcsCreateOperation");
  resolve(module, table.HcsCloseOperation, "HcsCloseOperation");
  resolve(module, table.HcsGetOperationResult, "HcsGetOperationResult");
  resolve(module, table.HcsGetOperationResultAndProcessInfo, "HcsGetOperationResultAndProcessInfo");
  resolve(module, table.HcsWaitForOperationResult, "HcsWaitForOperationResult");
  resolve(module, table.HcsWaitForOperationResultAndProcessInfo, "HcsWaitForOperationResultAndProcessInfo");
  resolve(module, table.HcsCancelOperation, "HcsCancelOperation");
  resolve(module, table.HcsEnumerateComputeSystems, "HcsEnumerateComputeSystems");
  resolve(module, table.HcsCreateComputeSystem, "HcsCreateComputeSystem");
  resolve(module, table.HcsOpenComputeSystem, "HcsOpenComputeSystem");
  resolve(module, table.HcsCloseComputeSystem, "HcsCloseComputeSystem");
  resolve(module, table.HcsStartComputeSystem, "HcsStartComputeSystem");
  resolve(module, table.HcsShutDownComputeSystem, "HcsShutDownComputeSystem");  // capital D, unlike vmcompute.dll
  resolve(module, table.HcsTerminateComputeSystem, "HcsTerminateComputeSystem");
  resolve(module, table.HcsPauseComputeSystem, "HcsPauseComputeSystem");
  resolve(module, table.HcsResumeComputeSystem, "HcsResumeComputeSystem");
  resolve(module, table.HcsGetComputeSystemProperties, "HcsGetComputeSystemProperties");
  resolve(module, table.HcsModifyComputeSystem, "HcsModifyComputeSystem");
  resolve(module, table.HcsSetComputeSystemCallback, "HcsSetComputeSystemCallback");
  resolve(module, table.HcsCreateProcess, "HcsCreateProcess");
  resolve(module, table.HcsOpenProcess, "HcsOpenProcess");
  resolve(module, table.HcsCloseProcess, "HcsCloseProcess");
  resolve(module, table.HcsTerminateProcess, "HcsTerminateProcess");
  resolve(module, table.HcsSignalProcess, "HcsSignalProcess");
  resolve(module, table.HcsGetProcessInfo, "HcsGetProcessInfo");
  resolve(module, table.HcsGetProcessProperties, "HcsGetProcessProperties");
  resolve(module, table.HcsModifyProcess, "HcsModifyProcess");
  resolve(module, table.HcsSetProcessCallback, "HcsSetProcessCallback");
  resolve(module, table.HcsGetServiceProperties, "HcsGetServiceProperties");
  // The module handle is dropped on purpose, never freed: see api() in api.h.
  return table;
}

}  // namespace

const Api& api() {
  // A static initialised by a throwing function is initialised again on the next call, so a failed load is retried.
  static const Api table = load();
  return table;
}

}  // namespace shimcore::hcs::computecore

#endif  // _WIN32
