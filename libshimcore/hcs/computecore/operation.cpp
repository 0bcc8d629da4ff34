// The HCS v2 operation model (create, submit, wait, close) and the one global event callback.
#include "operation.h"

#ifdef _WIN32

#include <algorithm>
#include <cstdint>

#include "handles.h"
#include "shimcore/hcs/os_handle.h"

namespace shimcore::hcs::computecore {
namespace {

constexpr DWORD kInfinite = 0xFFFFFFFF;
constexpr std::uint32_t kOutOfMemory = 0x8007000E;  // E_OUTOFMEMORY: HcsCreateOperation's only failure

static_assert(sizeof(void*) >= sizeof(std::uint64_t), "context ids travel in a pointer-sized HCS context");

DWORD timeout_ms(std::optional<std::chrono::milliseconds> timeout) {
  if (!timeout) return kInfinite;
  // INFINITE is a sentinel, so the longest finite wait is one millisecond less.
  const auto count = std::clamp<std::chrono::milliseconds::rep>(timeout->count(), 0, kInfinite - 1);
  return static_cast<DWORD>(count);
}

OperationHandle create_operation(std::string_view name) {
  // No per-operation callback and no context: results are always collected by waiting (hcsshim does the same), and
  // events reach us through the handle callbacks.
  OperationHandle operation(api().HcsCreateOperation.get()(nullptr, nullptr));
  if (!operation) throw HcsError(kOutOfMemory, name);
  return operation;
}

// After a submit failed synchronously, the operation may still hold a ResultError with the details.
std::string result_document_after_failed_submit(HCS_OPERATION operation) {
  const auto get_result = api().HcsGetOperationResult;
  if (!get_result.available()) return {};
  HcsString document;
  get_result.fn(operation, document.out());
  return document.utf8();
}

void cancel_after_timeout(HCS_OPERATION operation, std::uint32_t hr) {
  if (!is_hcs_code(hr, hresult::kOperationTimeout)) return;
  // Documented as E_NOTIMPL today; called anyway so that a future HCS can stop the work (hcsshim does the same).
  if (const auto cancel = api().HcsCancelOperation; cancel.available()) cancel.fn(operation);
}

// The callback for every system and process handle. HCS passes back the integer id we registered, never a pointer,
// so a late event for a closed handle finds no sink instead of freed memory. Nothing may propagate out of here into
// computecore.dll: exceptions are swallowed (the latch already isolates on_exit callbacks; what remains is allocation
// failure while decoding, after which the waiter would stay blocked exactly as if HCS had sent nothing).
void CALLBACK on_hcs_event(HCS_EVENT* event, void* context) noexcept {
  if (event == nullptr) return;
  try {
    const auto id = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(context));
    NotificationRegistry::global().dispatch(id, event->Type, narrow(event->EventData));
  } catch (...) {
  }
}

void* context_of(const Registration& registration) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(registration.id()));
}

}  // namespace

std::string run_operation(std::string_view name, std::optional<std::chrono::milliseconds> timeout,
                          const Submit& submit) {
  const auto wait = api().HcsWaitForOperationResult.get();
  const OperationHandle operation = create_operation(name);
  if (const auto hr = static_cast<std::uint32_t>(submit(operation.get())); failed(hr)) {
    throw HcsError(hr, name, result_document_after_failed_submit(operation.get()));
  }
  HcsString document;
  const auto hr = static_cast<std::uint32_t>(wait(operation.get(), timeout_ms(timeout), document.out()));
  if (failed(hr)) {
    cancel_after_timeout(operation.get(), hr);
    throw HcsError(hr, name, document.utf8());
  }
  return document.utf8();
}

HCS_PROCESS_INFORMATION run_process_operation(std::string_view name, std::optional<std::chrono::milliseconds> timeout,
                                              const Submit& submit) {
  const auto wait = api().HcsWaitForOperationResultAndProcessInfo.get();
  const OperationHandle operation = create_operation(name);
  if (const auto hr = static_cast<std::uint32_t>(submit(operation.get())); failed(hr)) {
    throw HcsError(hr, name, result_document_after_failed_submit(operation.get()));
  }
  HCS_PROCESS_INFORMATION info{};
  HcsString document;
  const auto hr = static_cast<std::uint32_t>(wait(operation.get(), timeout_ms(timeout), &info, document.out()));
  if (failed(hr)) {
    cancel_after_timeout(operation.get(), hr);
    // Whatever pipes came back with a failure are ours to close.
    for (const HANDLE pipe : {info.StdInput, info.StdOutput, info.StdError}) {
      const OsHandle owned(pipe);
    }
    throw HcsError(hr, name, document.utf8());
  }
  return info;
}

void submit_operation(std::string_view name, const Submit& submit) {
  const OperationHandle operation = create_operation(name);
  if (const auto hr = static_cast<std::uint32_t>(submit(operation.get())); failed(hr)) {
    throw HcsError(hr, name, result_document_after_failed_submit(operation.get()));
  }
  // `operation` closes here with the request still in flight: HCS completes it and discards the result.
}

Registration watch_system(HCS_SYSTEM system, std::shared_ptr<EventSink> sink, std::string_view name) {
  const auto set_callback = api().HcsSetComputeSystemCallback.get();
  Registration registration(NotificationRegistry::global(), std::move(sink));
  // No optional event groups: exits and ServiceDisconnect are always delivered; live migration is not used here.
  const auto hr =
      static_cast<std::uint32_t>(set_callback(system, kEventOptionNone, context_of(registration), &on_hcs_event));
  if (failed(hr)) throw HcsError(hr, name);
  return registration;
}

Registration watch_process(HCS_PROCESS process, std::shared_ptr<EventSink> sink, std::string_view name) {
  const auto set_callback = api().HcsSetProcessCallback.get();
  Registration registration(NotificationRegistry::global(), std::move(sink));
  const auto hr =
      static_cast<std::uint32_t>(set_callback(process, kEventOptionNone, context_of(registration), &on_hcs_event));
  if (failed(hr)) throw HcsError(hr, name);
  return registration;
}

}  // namespace shimcore::hcs::computecore

#endif  // _WIN32
