// HCS schema v2 result and exit documents: ResultError (failed operations), SystemExitStatus, attribution records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shimcore/hcs/schema/json_support.h"

namespace shimcore::hcs::schema {

// One typed value of an error event. Type is an EVT_VARIANT_TYPE name ("String", "UInt32", ...); HCS produces it, so
// it stays a string.
struct EventData {
  std::optional<std::string> type;  // JSON "Type"
  std::optional<std::string> value;
  bool operator==(const EventData&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(EventData);

// One ETW-style event HCS attaches to a failure. hcsshim ignores Data; it is modelled so results round-trip.
struct ErrorEvent {
  std::optional<std::string> message;
  std::optional<std::string> stack_trace;
  std::optional<std::string> provider;    // GUID
  std::optional<std::uint16_t> event_id;  // JSON "EventId"
  std::optional<std::uint32_t> flags;
  std::optional<std::string> source;
  std::vector<EventData> data;
  bool operator==(const ErrorEvent&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ErrorEvent);

// Attribution record variants (schema 2.4). Their Detail/Type/Initiator values are HCS-owned enumerations
// (WorkerExitDetail, SystemExitDetail, ExitInitiator, ...) and stay strings so that newer Windows values still parse.
struct WorkerExit {
  std::optional<std::uint32_t> exit_code;
  std::optional<std::string> type;  // JSON "Type"
  std::optional<std::string> detail;
  std::optional<std::string> initiator;
  bool operator==(const WorkerExit&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(WorkerExit);

struct GuestCrash {
  std::vector<std::uint64_t> crash_parameters;
  bool operator==(const GuestCrash&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(GuestCrash);

struct TripleFault {
  std::optional<std::uint64_t> error_type;
  bool operator==(const TripleFault&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(TripleFault);

// Presence-only: an NMI was injected by a management client.
struct InjectNonMaskableInterrupt {
  bool operator==(const InjectNonMaskableInterrupt&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(InjectNonMaskableInterrupt);

struct OperationFailure {
  std::optional<std::string> detail;  // e.g. "Construct"
  bool operator==(const OperationFailure&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(OperationFailure);

struct SystemExit {
  std::optional<std::string> detail;     // Invalid, HcsApiFatalError, ServiceStop, Shutdown, Terminate, UnexpectedExit
  std::optional<std::string> initiator;  // None, GuestOS, Client, Internal, Unknown
  bool operator==(const SystemExit&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(SystemExit);

struct VirtualDeviceFailure {
  std::optional<std::string> detail;
  std::optional<std::string> name;
  std::optional<std::string> device_id;
  std::optional<std::string> instance_id;
  bool operator==(const VirtualDeviceFailure&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(VirtualDeviceFailure);

// Why something failed or exited: one of the variants is set.
struct AttributionRecord {
  std::optional<WorkerExit> worker_exit;
  std::optional<GuestCrash> guest_crash;
  std::optional<TripleFault> triple_fault;
  std::optional<InjectNonMaskableInterrupt> inject_non_maskable_interrupt;
  std::optional<OperationFailure> operation_failure;
  std::optional<SystemExit> system_exit;
  std::optional<VirtualDeviceFailure> virtual_device_failure;
  bool operator==(const AttributionRecord&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(AttributionRecord);

// The result document of a failed HCS operation, e.g.
// {"Error":-2147024891,"ErrorMessage":"","Attribution":[{"OperationFailure":{"Detail":"Construct"}}]}.
struct ResultError {
  std::optional<std::int32_t> error;  // JSON "Error": the HRESULT
  std::optional<std::string> error_message;
  std::vector<ErrorEvent> error_events;
  std::vector<AttributionRecord> attribution;
  bool operator==(const ResultError&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ResultError);

// HcsEventSystemExited data. ExitType (NotificationType: None, GracefulExit, ForcedExit, UnexpectedExit, Unknown)
// stays a string because HCS produces it; hcsshim maps "UnexpectedExit" to ERROR_VMCOMPUTE_UNEXPECTED_EXIT.
struct SystemExitStatus {
  std::optional<std::int32_t> status;  // HRESULT
  std::optional<std::string> exit_type;
  std::vector<AttributionRecord> attribution;
  bool operator==(const SystemExitStatus&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(SystemExitStatus);

// Parse the JSON text of a document; failures throw SchemaError (InvalidArgument) naming the JSON path.
ResultError parse_result_error(std::string_view json_text);
SystemExitStatus parse_system_exit_status(std::string_view json_text);

}  // namespace shimcore::hcs::schema
