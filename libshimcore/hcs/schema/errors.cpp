// JSON field lists of the result and exit documents (errors.h) and their parse entry points.
#include "shimcore/hcs/schema/errors.h"

namespace shimcore::hcs::schema {

using detail::field;

SHIMCORE_HCS_SCHEMA_DEFINE(EventData, field("Type", &EventData::type), field("Value", &EventData::value))

SHIMCORE_HCS_SCHEMA_DEFINE(ErrorEvent, field("Message", &ErrorEvent::message),
                           field("StackTrace", &ErrorEvent::stack_trace), field("Provider", &ErrorEvent::provider),
                           field("EventId", &ErrorEvent::event_id), field("Flags", &ErrorEvent::flags),
                           field("Source", &ErrorEvent::source), field("Data", &ErrorEvent::data))

SHIMCORE_HCS_SCHEMA_DEFINE(WorkerExit, field("ExitCode", &WorkerExit::exit_code), field("Type", &WorkerExit::type),
                           field("Detail", &WorkerExit::detail), field("Initiator", &WorkerExit::initiator))

SHIMCORE_HCS_SCHEMA_DEFINE(GuestCrash, field("CrashParameters", &GuestCrash::crash_parameters))

SHIMCORE_HCS_SCHEMA_DEFINE(TripleFault, field("ErrorType", &TripleFault::error_type))

SHIMCORE_HCS_SCHEMA_DEFINE(InjectNonMaskableInterrupt)

SHIMCORE_HCS_SCHEMA_DEFINE(OperationFailure, field("Detail", &OperationFailure::detail))

SHIMCORE_HCS_SCHEMA_DEFINE(SystemExit, field("Detail", &SystemExit::detail), field("Initiator", &SystemExit::initiator))

SHIMCORE_HCS_SCHEMA_DEFINE(VirtualDeviceFailure, field("Detail", &VirtualDeviceFailure::detail),
                           field("Name", &VirtualDeviceFailure::name),
                           field("DeviceId", &VirtualDeviceFailure::device_id),
                           field("InstanceId", &VirtualDeviceFailure::instance_id))

SHIMCORE_HCS_SCHEMA_DEFINE(AttributionRecord, field("WorkerExit", &AttributionRecord::worker_exit),
                           field("GuestCrash", &AttributionRecord::guest_crash),
                           field("TripleFault", &AttributionRecord::triple_fault),
                           field("InjectNonMaskableInterrupt", &AttributionRecord::inject_non_maskable_interrupt),
                           field("OperationFailure", &AttributionRecord::operation_failure),
                           field("SystemExit", &AttributionRecord::system_exit),
                           field("VirtualDeviceFailure", &AttributionRecord::virtual_device_failure))

SHIMCORE_HCS_SCHEMA_DEFINE(ResultError, field("Error", &ResultError::error),
                           field("ErrorMessage", &ResultError::error_message),
                           field("ErrorEvents", &ResultError::error_events),
                           field("Attribution", &ResultError::attribution))

SHIMCORE_HCS_SCHEMA_DEFINE(SystemExitStatus, field("Status", &SystemExitStatus::status),
                           field("ExitType", &SystemExitStatus::exit_type),
                           field("Attribution", &SystemExitStatus::attribution))

ResultError parse_result_error(std::string_view json_text) {
  return detail::parse_document<ResultError>(json_text, "ResultError");
}

SystemExitStatus parse_system_exit_status(std::string_view json_text) {
  return detail::parse_document<SystemExitStatus>(json_text, "SystemExitStatus");
}

}  // namespace shimcore::hcs::schema
