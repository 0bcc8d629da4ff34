// GCS bridge message bodies (hcs-api-and-schema.md §C.4, §C.5, §C.8, §C.10) as typed values, with the JSON shapes
// hcsshim's host and Linux guest exchange: Go field names, JSON documents carried inside JSON strings, omitted
// zero values. Parsing bytes from the peer throws Error(InvalidArgument) naming the field; it never crashes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "shimcore/gcs/protocol.h"

namespace shimcore::gcs {

// Parses a message body (the trailing newline of a host frame included). Throws Error(InvalidArgument) when the
// bytes are not one JSON object.
nlohmann::json parse_body(std::string_view body);

struct RequestBase {
  std::string container_id;
  std::string activity_id{kZeroActivityId};
};

struct ErrorRecord {
  std::int32_t result = 0;
  std::string message;
  std::string stack_trace;
  std::string module_name;
  std::string file_name;
  std::uint32_t line = 0;
  std::string function_name;
};

struct ResponseBase {
  std::int32_t result = 0;  // an HRESULT; non-zero is a failure
  std::string error_message;
  std::string activity_id;
  std::vector<ErrorRecord> error_records;

  static ResponseBase failure(std::uint32_t hresult, std::string message);
};

struct SchemaVersion {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
};

struct GcsCapabilities {
  bool send_host_create_message = false;
  bool send_host_start_message = false;
  bool hv_socket_config_on_startup = false;
  std::vector<SchemaVersion> supported_schema_versions;
  std::string runtime_os_type;
  // Free-form per OS; the Linux guest's keys are NamespaceAddRequestSupported, SignalProcessSupported,
  // DumpStacksSupported, DeleteContainerStateSupported.
  nlohmann::json guest_defined_capabilities = nlohmann::json::object();

  bool guest_capability(std::string_view name) const;
  // What the Linux GCS announces (internal/guest/bridge/bridge_v2.go).
  static GcsCapabilities linux_guest();
};

struct NegotiateProtocolRequest {
  RequestBase base;
  std::uint32_t minimum_version = kProtocolVersion;
  std::uint32_t maximum_version = kProtocolVersion;
};
struct NegotiateProtocolResponse {
  ResponseBase base;
  std::uint32_t version = 0;
  GcsCapabilities capabilities;
};

struct CreateRequest {
  RequestBase base;
  nlohmann::json container_config;  // sent as a JSON string
};
struct CreateResponse {
  ResponseBase base;
  std::uint32_t selected_protocol_version = 0;
};

// Ports of the per-process stdio connections; 0 = that stream is not wanted.
struct StdioPorts {
  std::uint32_t stdin_port = 0;
  std::uint32_t stdout_port = 0;
  std::uint32_t stderr_port = 0;
};

// The Linux guest's ProcessParameters (internal/guest/prot/protocol.go).
struct ProcessParameters {
  std::string command_line;
  std::vector<std::string> command_args;
  std::string working_directory;
  std::map<std::string, std::string> environment;
  bool emulate_console = false;
  bool create_stdin_pipe = false;
  bool create_stdout_pipe = false;
  bool create_stderr_pipe = false;
  bool create_in_utility_vm = false;
  // An OCI runtime-spec `process` object: absent for a container's init process (use the spec given at Create).
  std::optional<nlohmann::json> oci_process;
};

struct ExecuteProcessRequest {
  RequestBase base;
  ProcessParameters parameters;  // sent as a JSON string
  StdioPorts stdio;
};
struct ExecuteProcessResponse {
  ResponseBase base;
  std::uint32_t process_id = 0;
};

inline constexpr std::uint32_t kInfiniteTimeout = 0xFFFFFFFF;
struct WaitForProcessRequest {
  RequestBase base;
  std::uint32_t process_id = 0;
  std::uint32_t timeout_ms = kInfiniteTimeout;
};
struct WaitForProcessResponse {
  ResponseBase base;
  std::uint32_t exit_code = 0;
};

struct SignalProcessRequest {
  RequestBase base;
  std::uint32_t process_id = 0;
  std::optional<std::int32_t> signal;  // absent or 0 = SIGKILL on Linux
};

struct ResizeConsoleRequest {
  RequestBase base;
  std::uint32_t process_id = 0;
  std::uint16_t height = 0;
  std::uint16_t width = 0;
};

struct GetPropertiesRequest {
  RequestBase base;
  std::vector<std::string> property_types;  // "ProcessList", "Statistics"; sent as a JSON-string query
};
struct GetPropertiesResponse {
  ResponseBase base;
  nlohmann::json properties = nlohmann::json::object();  // {"ProcessList":[{"ProcessId":n}],"LCOWMetrics":{...}}
};

struct ModifySettingsRequest {
  RequestBase base;
  std::string resource_type;
  std::string request_type = "Add";  // Add | Remove | Update
  nlohmann::json settings = nlohmann::json::object();
};

struct DumpStacksResponse {
  ResponseBase base;
  std::string guest_stacks;
};

struct ContainerNotification {
  RequestBase base;                     // ContainerId and the Create's ActivityId
  std::string type = "UnexpectedExit";  // None | GracefulExit | ForcedExit | UnexpectedExit | ...
  std::string operation = "None";
  std::int32_t result = 0;
  std::optional<nlohmann::json> result_info;  // sent as a JSON string
};

// ModifySettings resource settings the host sends to a Linux guest (§C.10).
inline constexpr std::string_view kResourceMappedDirectory = "MappedDirectory";
inline constexpr std::string_view kResourceCombinedLayers = "CombinedLayers";
inline constexpr std::string_view kResourceNetwork = "Network";
// A container's Linux resources (Settings {"Linux": OCI LinuxResources}), RequestType "Update".
inline constexpr std::string_view kResourceContainerConstraints = "ContainerConstraints";

struct MappedDirectory {
  std::string mount_path;
  std::uint32_t port = 564;
  std::string share_name;
  bool read_only = false;
};

struct CombinedLayers {
  std::string container_id;
  std::string container_root_path;
  std::vector<std::string> layers;  // paths, lowest first as hcsshim lists them
  std::string scratch_path;
};

struct NetworkAdapter {
  std::string namespace_id;
  std::string id;
  std::string mac_address;
  std::string dns_suffix;
  std::string dns_server_list;
};

// One to_json/from_json pair per type. from_json throws Error(InvalidArgument) naming the first bad field.
#define SHIMCORE_GCS_JSON(T)                         \
  void to_json(nlohmann::json& out, const T& value); \
  void from_json(const nlohmann::json& in, T& value);
SHIMCORE_GCS_JSON(RequestBase)
SHIMCORE_GCS_JSON(ErrorRecord)
SHIMCORE_GCS_JSON(ResponseBase)
SHIMCORE_GCS_JSON(SchemaVersion)
SHIMCORE_GCS_JSON(GcsCapabilities)
SHIMCORE_GCS_JSON(NegotiateProtocolRequest)
SHIMCORE_GCS_JSON(NegotiateProtocolResponse)
SHIMCORE_GCS_JSON(CreateRequest)
SHIMCORE_GCS_JSON(CreateResponse)
SHIMCORE_GCS_JSON(ProcessParameters)
SHIMCORE_GCS_JSON(ExecuteProcessRequest)
SHIMCORE_GCS_JSON(ExecuteProcessResponse)
SHIMCORE_GCS_JSON(WaitForProcessRequest)
SHIMCORE_GCS_JSON(WaitForProcessResponse)
SHIMCORE_GCS_JSON(SignalProcessRequest)
SHIMCORE_GCS_JSON(ResizeConsoleRequest)
SHIMCORE_GCS_JSON(GetPropertiesRequest)
SHIMCORE_GCS_JSON(GetPropertiesResponse)
SHIMCORE_GCS_JSON(ModifySettingsRequest)
SHIMCORE_GCS_JSON(DumpStacksResponse)
SHIMCORE_GCS_JSON(ContainerNotification)
SHIMCORE_GCS_JSON(MappedDirectory)
SHIMCORE_GCS_JSON(CombinedLayers)
SHIMCORE_GCS_JSON(NetworkAdapter)
#undef SHIMCORE_GCS_JSON

// Decodes a body into T: parse_body plus from_json, every failure an Error(InvalidArgument).
template <class T>
T decode(std::string_view body) {
  return parse_body(body).get<T>();
}
// The compact JSON text of a message value (no trailing newline; encode_message adds the host's).
template <class T>
std::string encode_body(const T& value) {
  return nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace shimcore::gcs
