// JSON encoding and strict decoding of the GCS bridge message bodies.
#include "shimcore/gcs/messages.h"

#include <limits>

#include "shimcore/errdefs.h"

namespace shimcore::gcs {
namespace {

using nlohmann::json;

[[noreturn]] void bad_field(std::string_view key, std::string_view expected) {
  throw make_error(ErrorKind::InvalidArgument, "bridge message field {}: expected {}", key, expected);
}

void require_object(const json& in) {
  if (!in.is_object()) throw make_error(ErrorKind::InvalidArgument, "bridge message: expected a JSON object");
}

// The member `key`, or nullptr when it is absent or null (Go leaves the zero value then).
const json* member(const json& in, std::string_view key) {
  require_object(in);
  const auto it = in.find(key);
  if (it == in.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string get_string(const json& in, std::string_view key) {
  const json* value = member(in, key);
  if (value == nullptr) return {};
  if (!value->is_string()) bad_field(key, "a string");
  return value->get<std::string>();
}

bool get_bool(const json& in, std::string_view key) {
  const json* value = member(in, key);
  if (value == nullptr) return false;
  if (!value->is_boolean()) bad_field(key, "a boolean");
  return value->get<bool>();
}

template <class Int>
Int get_int(const json& in, std::string_view key) {
  const json* value = member(in, key);
  if (value == nullptr) return 0;
  if (value->is_number_unsigned()) {
    const auto v = value->get<std::uint64_t>();
    if (v <= static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) return static_cast<Int>(v);
  } else if (value->is_number_integer()) {
    const auto v = value->get<std::int64_t>();
    if (v >= static_cast<std::int64_t>(std::numeric_limits<Int>::min()) &&
        v <= static_cast<std::int64_t>(std::numeric_limits<Int>::max())) {
      return static_cast<Int>(v);
    }
  }
  bad_field(key, std::is_signed_v<Int> ? "a signed integer in range" : "an unsigned integer in range");
}

// A JSON document carried as a JSON string (hcsshim AnyInString); nullopt when absent or the empty string.
std::optional<json> get_embedded(const json& in, std::string_view key) {
  const std::string text = get_string(in, key);
  if (text.empty()) return std::nullopt;
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) bad_field(key, "a string holding a JSON document");
  return doc;
}

template <class T>
T get_object(const json& in, std::string_view key) {
  const json* value = member(in, key);
  if (value == nullptr) return T{};
  if (!value->is_object()) bad_field(key, "an object");
  return value->get<T>();
}

std::vector<std::string> get_strings(const json& in, std::string_view key) {
  std::vector<std::string> out;
  const json* value = member(in, key);
  if (value == nullptr) return out;
  if (!value->is_array()) bad_field(key, "an array of strings");
  for (const auto& item : *value) {
    if (!item.is_string()) bad_field(key, "an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

template <class T>
std::vector<T> get_objects(const json& in, std::string_view key) {
  std::vector<T> out;
  const json* value = member(in, key);
  if (value == nullptr) return out;
  if (!value->is_array()) bad_field(key, "an array of objects");
  for (const auto& item : *value) {
    if (!item.is_object()) bad_field(key, "an array of objects");
    out.push_back(item.get<T>());
  }
  return out;
}

void put_if(json& out, const char* key, bool value) {
  if (value) out[key] = true;
}
void put_if(json& out, const char* key, const std::string& value) {
  if (!value.empty()) out[key] = value;
}
template <class Int>
void put_if_nonzero(json& out, const char* key, Int value) {
  if (value != 0) out[key] = value;
}

// Compact JSON text; invalid UTF-8 from our own inputs (an environment value, say) is replaced, never thrown.
std::string dump(const json& doc) { return doc.dump(-1, ' ', false, json::error_handler_t::replace); }

void put_base(json& out, const RequestBase& base) {
  out["ContainerId"] = base.container_id;
  out["ActivityId"] = base.activity_id;
}
void put_base(json& out, const ResponseBase& base) { to_json(out, base); }

}  // namespace

json parse_body(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw make_error(ErrorKind::InvalidArgument, "bridge message body is not valid JSON");
  require_object(doc);
  return doc;
}

ResponseBase ResponseBase::failure(std::uint32_t hresult, std::string message) {
  ResponseBase base;
  base.result = static_cast<std::int32_t>(hresult);
  base.error_message = std::move(message);
  return base;
}

bool GcsCapabilities::guest_capability(std::string_view name) const {
  if (!guest_defined_capabilities.is_object()) return false;
  const auto it = guest_defined_capabilities.find(name);
  return it != guest_defined_capabilities.end() && it->is_boolean() && it->get<bool>();
}

GcsCapabilities GcsCapabilities::linux_guest() {
  GcsCapabilities caps;
  caps.supported_schema_versions = {SchemaVersion{2, 1}};
  caps.runtime_os_type = "Linux";
  caps.guest_defined_capabilities = {{"NamespaceAddRequestSupported", true},
                                     {"SignalProcessSupported", true},
                                     {"DumpStacksSupported", true},
                                     {"DeleteContainerStateSupported", true}};
  return caps;
}

void to_json(json& out, const RequestBase& value) {
  out = json::object();
  put_base(out, value);
}
void from_json(const json& in, RequestBase& value) {
  value.container_id = get_string(in, "ContainerId");
  value.activity_id = get_string(in, "ActivityId");
}

void to_json(json& out, const ErrorRecord& value) {
  out = json::object();
  out["Result"] = value.result;
  out["Message"] = value.message;
  put_if(out, "StackTrace", value.stack_trace);
  out["ModuleName"] = value.module_name;
  out["FileName"] = value.file_name;
  out["Line"] = value.line;
  put_if(out, "FunctionName", value.function_name);
}
void from_json(const json& in, ErrorRecord& value) {
  value.result = get_int<std::int32_t>(in, "Result");
  value.message = get_string(in, "Message");
  value.stack_trace = get_string(in, "StackTrace");
  value.module_name = get_string(in, "ModuleName");
  value.file_name = get_string(in, "FileName");
  value.line = get_int<std::uint32_t>(in, "Line");
  value.function_name = get_string(in, "FunctionName");
}

void to_json(json& out, const ResponseBase& value) {
  out = json::object();
  out["Result"] = value.result;
  put_if(out, "ErrorMessage", value.error_message);
  put_if(out, "ActivityId", value.activity_id);
  if (!value.error_records.empty()) out["ErrorRecords"] = value.error_records;
}
void from_json(const json& in, ResponseBase& value) {
  value.result = get_int<std::int32_t>(in, "Result");
  value.error_message = get_string(in, "ErrorMessage");
  value.activity_id = get_string(in, "ActivityId");
  value.error_records = get_objects<ErrorRecord>(in, "ErrorRecords");
}

void to_json(json& out, const SchemaVersion& value) { out = {{"Major", value.major}, {"Minor", value.minor}}; }
void from_json(const json& in, SchemaVersion& value) {
  value.major = get_int<std::uint32_t>(in, "Major");
  value.minor = get_int<std::uint32_t>(in, "Minor");
}

void to_json(json& out, const GcsCapabilities& value) {
  out = json::object();
  put_if(out, "SendHostCreateMessage", value.send_host_create_message);
  put_if(out, "SendHostStartMessage", value.send_host_start_message);
  put_if(out, "HvSocketConfigOnStartup", value.hv_socket_config_on_startup);
  if (!value.supported_schema_versions.empty()) out["SupportedSchemaVersions"] = value.supported_schema_versions;
  put_if(out, "RuntimeOsType", value.runtime_os_type);
  if (!value.guest_defined_capabilities.empty()) out["GuestDefinedCapabilities"] = value.guest_defined_capabilities;
}
void from_json(const json& in, GcsCapabilities& value) {
  value.send_host_create_message = get_bool(in, "SendHostCreateMessage");
  value.send_host_start_message = get_bool(in, "SendHostStartMessage");
  value.hv_socket_config_on_startup = get_bool(in, "HvSocketConfigOnStartup");
  value.supported_schema_versions = get_objects<SchemaVersion>(in, "SupportedSchemaVersions");
  value.runtime_os_type = get_string(in, "RuntimeOsType");
  const json* caps = member(in, "GuestDefinedCapabilities");
  if (caps != nullptr && !caps->is_object()) bad_field("GuestDefinedCapabilities", "an object");
  value.guest_defined_capabilities = caps != nullptr ? *caps : json::object();
}

void to_json(json& out, const NegotiateProtocolRequest& value) {
  out = json::object();
  put_base(out, value.base);
  out["MinimumVersion"] = value.minimum_version;
  out["MaximumVersion"] = value.maximum_version;
}
void from_json(const json& in, NegotiateProtocolRequest& value) {
  value.base = in.get<RequestBase>();
  value.minimum_version = get_int<std::uint32_t>(in, "MinimumVersion");
  value.maximum_version = get_int<std::uint32_t>(in, "MaximumVersion");
}

void to_json(json& out, const NegotiateProtocolResponse& value) {
  put_base(out, value.base);
  out["Version"] = value.version;
  out["Capabilities"] = value.capabilities;
}
void from_json(const json& in, NegotiateProtocolResponse& value) {
  value.base = in.get<ResponseBase>();
  value.version = get_int<std::uint32_t>(in, "Version");
  value.capabilities = get_object<GcsCapabilities>(in, "Capabilities");
}

void to_json(json& out, const CreateRequest& value) {
  out = json::object();
  put_base(out, value.base);
  out["ContainerConfig"] = dump(value.container_config);
}
void from_json(const json& in, CreateRequest& value) {
  value.base = in.get<RequestBase>();
  auto config = get_embedded(in, "ContainerConfig");
  if (!config || !config->is_object()) bad_field("ContainerConfig", "a string holding a JSON object");
  value.container_config = std::move(*config);
}

void to_json(json& out, const CreateResponse& value) {
  put_base(out, value.base);
  out["SelectedProtocolVersion"] = value.selected_protocol_version;
}
void from_json(const json& in, CreateResponse& value) {
  value.base = in.get<ResponseBase>();
  value.selected_protocol_version = get_int<std::uint32_t>(in, "SelectedProtocolVersion");
}

void to_json(json& out, const ProcessParameters& value) {
  out = json::object();
  put_if(out, "CommandLine", value.command_line);
  if (!value.command_args.empty()) out["CommandArgs"] = value.command_args;
  put_if(out, "WorkingDirectory", value.working_directory);
  if (!value.environment.empty()) out["Environment"] = value.environment;
  put_if(out, "EmulateConsole", value.emulate_console);
  put_if(out, "CreateStdInPipe", value.create_stdin_pipe);
  put_if(out, "CreateStdOutPipe", value.create_stdout_pipe);
  put_if(out, "CreateStdErrPipe", value.create_stderr_pipe);
  put_if(out, "CreateInUtilityVM", value.create_in_utility_vm);
  if (value.oci_process) out["OciProcess"] = *value.oci_process;
}
void from_json(const json& in, ProcessParameters& value) {
  value.command_line = get_string(in, "CommandLine");
  value.command_args = get_strings(in, "CommandArgs");
  value.working_directory = get_string(in, "WorkingDirectory");
  value.environment.clear();
  if (const json* env = member(in, "Environment")) {
    if (!env->is_object()) bad_field("Environment", "an object of strings");
    for (const auto& [key, item] : env->items()) {
      if (!item.is_string()) bad_field("Environment", "an object of strings");
      value.environment[key] = item.get<std::string>();
    }
  }
  value.emulate_console = get_bool(in, "EmulateConsole");
  value.create_stdin_pipe = get_bool(in, "CreateStdInPipe");
  value.create_stdout_pipe = get_bool(in, "CreateStdOutPipe");
  value.create_stderr_pipe = get_bool(in, "CreateStdErrPipe");
  value.create_in_utility_vm = get_bool(in, "CreateInUtilityVM");
  value.oci_process.reset();
  if (const json* process = member(in, "OciProcess")) {
    if (!process->is_object()) bad_field("OciProcess", "an object");
    value.oci_process = *process;
  }
}

void to_json(json& out, const ExecuteProcessRequest& value) {
  out = json::object();
  put_base(out, value.base);
  json settings = json::object();
  settings["ProcessParameters"] = dump(json(value.parameters));
  json ports = json::object();
  put_if_nonzero(ports, "StdIn", value.stdio.stdin_port);
  put_if_nonzero(ports, "StdOut", value.stdio.stdout_port);
  put_if_nonzero(ports, "StdErr", value.stdio.stderr_port);
  settings["VsockStdioRelaySettings"] = std::move(ports);
  out["Settings"] = std::move(settings);
}
void from_json(const json& in, ExecuteProcessRequest& value) {
  value.base = in.get<RequestBase>();
  const json* settings = member(in, "Settings");
  if (settings == nullptr || !settings->is_object()) bad_field("Settings", "an object");
  auto parameters = get_embedded(*settings, "ProcessParameters");
  if (!parameters || !parameters->is_object()) bad_field("ProcessParameters", "a string holding a JSON object");
  value.parameters = parameters->get<ProcessParameters>();
  value.stdio = {};
  if (const json* ports = member(*settings, "VsockStdioRelaySettings")) {
    if (!ports->is_object()) bad_field("VsockStdioRelaySettings", "an object");
    value.stdio.stdin_port = get_int<std::uint32_t>(*ports, "StdIn");
    value.stdio.stdout_port = get_int<std::uint32_t>(*ports, "StdOut");
    value.stdio.stderr_port = get_int<std::uint32_t>(*ports, "StdErr");
  }
}

void to_json(json& out, const ExecuteProcessResponse& value) {
  put_base(out, value.base);
  out["ProcessId"] = value.process_id;
}
void from_json(const json& in, ExecuteProcessResponse& value) {
  value.base = in.get<ResponseBase>();
  value.process_id = get_int<std::uint32_t>(in, "ProcessId");
}

void to_json(json& out, const WaitForProcessRequest& value) {
  out = json::object();
  put_base(out, value.base);
  out["ProcessId"] = value.process_id;
  out["TimeoutInMs"] = value.timeout_ms;
}
void from_json(const json& in, WaitForProcessRequest& value) {
  value.base = in.get<RequestBase>();
  value.process_id = get_int<std::uint32_t>(in, "ProcessId");
  value.timeout_ms = get_int<std::uint32_t>(in, "TimeoutInMs");
}

void to_json(json& out, const WaitForProcessResponse& value) {
  put_base(out, value.base);
  out["ExitCode"] = value.exit_code;
}
void from_json(const json& in, WaitForProcessResponse& value) {
  value.base = in.get<ResponseBase>();
  value.exit_code = get_int<std::uint32_t>(in, "ExitCode");
}

void to_json(json& out, const SignalProcessRequest& value) {
  out = json::object();
  put_base(out, value.base);
  out["ProcessId"] = value.process_id;
  if (value.signal) {
    out["Options"] = {{"Signal", *value.signal}};
  } else {
    out["Options"] = nullptr;  // hcsshim's Kill sends nil options
  }
}
void from_json(const json& in, SignalProcessRequest& value) {
  value.base = in.get<RequestBase>();
  value.process_id = get_int<std::uint32_t>(in, "ProcessId");
  value.signal.reset();
  if (const json* options = member(in, "Options")) {
    if (!options->is_object()) bad_field("Options", "an object");
    if (member(*options, "Signal") != nullptr) value.signal = get_int<std::int32_t>(*options, "Signal");
  }
}

void to_json(json& out, const ResizeConsoleRequest& value) {
  out = json::object();
  put_base(out, value.base);
  out["ProcessId"] = value.process_id;
  out["Height"] = value.height;
  out["Width"] = value.width;
}
void from_json(const json& in, ResizeConsoleRequest& value) {
  value.base = in.get<RequestBase>();
  value.process_id = get_int<std::uint32_t>(in, "ProcessId");
  value.height = get_int<std::uint16_t>(in, "Height");
  value.width = get_int<std::uint16_t>(in, "Width");
}

void to_json(json& out, const GetPropertiesRequest& value) {
  out = json::object();
  put_base(out, value.base);
  out["Query"] = dump(json{{"PropertyTypes", value.property_types}});
}
void from_json(const json& in, GetPropertiesRequest& value) {
  value.base = in.get<RequestBase>();
  value.property_types.clear();
  if (auto query = get_embedded(in, "Query")) {
    if (!query->is_object()) bad_field("Query", "a string holding a JSON object");
    value.property_types = get_strings(*query, "PropertyTypes");
  }
}

void to_json(json& out, const GetPropertiesResponse& value) {
  put_base(out, value.base);
  out["Properties"] = dump(value.properties);
}
void from_json(const json& in, GetPropertiesResponse& value) {
  value.base = in.get<ResponseBase>();
  auto properties = get_embedded(in, "Properties");
  if (properties && !properties->is_object()) bad_field("Properties", "a string holding a JSON object");
  value.properties = properties ? std::move(*properties) : json::object();
}

void to_json(json& out, const ModifySettingsRequest& value) {
  out = json::object();
  put_base(out, value.base);
  out["Request"] = {
      {"ResourceType", value.resource_type}, {"RequestType", value.request_type}, {"Settings", value.settings}};
}
void from_json(const json& in, ModifySettingsRequest& value) {
  value.base = in.get<RequestBase>();
  const json* request = member(in, "Request");
  if (request == nullptr || !request->is_object()) bad_field("Request", "an object");
  value.resource_type = get_string(*request, "ResourceType");
  value.request_type = get_string(*request, "RequestType");
  if (value.request_type.empty()) value.request_type = "Add";
  if (value.request_type != "Add" && value.request_type != "Remove" && value.request_type != "Update") {
    bad_field("RequestType", "Add, Remove or Update");
  }
  const json* settings = member(*request, "Settings");
  value.settings = settings != nullptr ? *settings : json::object();
}

void to_json(json& out, const DumpStacksResponse& value) {
  put_base(out, value.base);
  out["GuestStacks"] = value.guest_stacks;
}
void from_json(const json& in, DumpStacksResponse& value) {
  value.base = in.get<ResponseBase>();
  value.guest_stacks = get_string(in, "GuestStacks");
}

void to_json(json& out, const ContainerNotification& value) {
  out = json::object();
  put_base(out, value.base);
  out["Type"] = value.type;
  out["Operation"] = value.operation;
  out["Result"] = value.result;
  if (value.result_info) out["ResultInfo"] = dump(*value.result_info);
}
void from_json(const json& in, ContainerNotification& value) {
  value.base = in.get<RequestBase>();
  value.type = get_string(in, "Type");
  value.operation = get_string(in, "Operation");
  value.result = get_int<std::int32_t>(in, "Result");
  value.result_info = get_embedded(in, "ResultInfo");
}

void to_json(json& out, const MappedDirectory& value) {
  out = {{"MountPath", value.mount_path},
         {"Port", value.port},
         {"ShareName", value.share_name},
         {"ReadOnly", value.read_only}};
}
void from_json(const json& in, MappedDirectory& value) {
  value.mount_path = get_string(in, "MountPath");
  value.port = get_int<std::uint32_t>(in, "Port");
  value.share_name = get_string(in, "ShareName");
  value.read_only = get_bool(in, "ReadOnly");
}

void to_json(json& out, const CombinedLayers& value) {
  out = json::object();
  put_if(out, "ContainerID", value.container_id);
  put_if(out, "ContainerRootPath", value.container_root_path);
  json layers = json::array();
  for (const auto& path : value.layers) layers.push_back({{"Path", path}});
  if (!value.layers.empty()) out["Layers"] = std::move(layers);
  put_if(out, "ScratchPath", value.scratch_path);
}
void from_json(const json& in, CombinedLayers& value) {
  value.container_id = get_string(in, "ContainerID");
  value.container_root_path = get_string(in, "ContainerRootPath");
  value.layers.clear();
  if (const json* layers = member(in, "Layers")) {
    if (!layers->is_array()) bad_field("Layers", "an array of {Path}");
    for (const auto& layer : *layers) {
      if (!layer.is_object()) bad_field("Layers", "an array of {Path}");
      value.layers.push_back(get_string(layer, "Path"));
    }
  }
  value.scratch_path = get_string(in, "ScratchPath");
}

void to_json(json& out, const NetworkAdapter& value) {
  out = json::object();
  put_if(out, "NamespaceID", value.namespace_id);
  put_if(out, "ID", value.id);
  put_if(out, "MacAddress", value.mac_address);
  put_if(out, "DNSSuffix", value.dns_suffix);
  put_if(out, "DNSServerList", value.dns_server_list);
}
void from_json(const json& in, NetworkAdapter& value) {
  value.namespace_id = get_string(in, "NamespaceID");
  value.id = get_string(in, "ID");
  value.mac_address = get_string(in, "MacAddress");
  value.dns_suffix = get_string(in, "DNSSuffix");
  value.dns_server_list = get_string(in, "DNSServerList");
}

}  // namespace shimcore::gcs
