// How computecore requests are run (wait for the operation, or submit and forget) and how handles get events
// (Windows only).
#pragma once

#ifdef _WIN32

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api.h"
#include "shimcore/hcs/computecore_logic.h"

namespace shimcore::hcs::computecore {

// Submits a request with the operation it is given; returns the API's immediate HRESULT ("started" or not).
using Submit = std::function<HRESULT(HCS_OPERATION)>;

// Creates an operation, submits, waits up to `timeout` (nullopt: INFINITE) and returns the result document. A failed
// submit or result throws HcsError(hr, name, result document). On HCS_E_OPERATION_TIMEOUT the operation is cancelled
// (MSDocs: not implemented yet, so HCS simply keeps going) and closed, which HCS allows while it is in flight.
std::string run_operation(std::string_view name, std::optional<std::chrono::milliseconds> timeout,
                          const Submit& submit);
// The same for HcsCreateProcess and HcsGetProcessInfo, whose result carries HCS_PROCESS_INFORMATION. The returned
// pipe handles belong to the caller.
HCS_PROCESS_INFORMATION run_process_operation(std::string_view name, std::optional<std::chrono::milliseconds> timeout,
                                              const Submit& submit);
// Fire and forget, as hcsshim submits Shutdown and Terminate: the operation is closed without waiting and the outcome
// is observed through the exit event. Only a failed submit throws.
void submit_operation(std::string_view name, const Submit& submit);

// Registers `sink` under a fresh context id and sets the one global callback on the handle. The caller keeps the
// Registration alive until after it closed the handle; a throwing call leaves nothing registered.
Registration watch_system(HCS_SYSTEM system, std::shared_ptr<EventSink> sink, std::string_view name);
Registration watch_process(HCS_PROCESS process, std::shared_ptr<EventSink> sink, std::string_view name);

}  // namespace shimcore::hcs::computecore

#endif  // _WIN32
