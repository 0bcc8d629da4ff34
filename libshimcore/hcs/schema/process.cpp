// JSON field lists of the process documents (process.h) and their parse entry points.
#include "shimcore/hcs/schema/process.h"

namespace shimcore::hcs::schema {

using detail::field;

SHIMCORE_HCS_SCHEMA_DEFINE(ProcessParameters, field("ApplicationName", &ProcessParameters::application_name),
                           field("CommandLine", &ProcessParameters::command_line),
                           field("CommandArgs", &ProcessParameters::command_args),
                           field("User", &ProcessParameters::user),
                           field("WorkingDirectory", &ProcessParameters::working_directory),
                           field("Environment", &ProcessParameters::environment),
                           field("RestrictedToken", &ProcessParameters::restricted_token),
                           field("EmulateConsole", &ProcessParameters::emulate_console),
                           field("CreateStdInPipe", &ProcessParameters::create_std_in_pipe),
                           field("CreateStdOutPipe", &ProcessParameters::create_std_out_pipe),
                           field("CreateStdErrPipe", &ProcessParameters::create_std_err_pipe),
                           field("ConsoleSize", &ProcessParameters::console_size),
                           field("UseExistingLogin", &ProcessParameters::use_existing_login),
                           field("UseLegacyConsole", &ProcessParameters::use_legacy_console))

SHIMCORE_HCS_SCHEMA_DEFINE(ProcessStatus, field("ProcessId", &ProcessStatus::process_id),
                           field("Exited", &ProcessStatus::exited), field("ExitCode", &ProcessStatus::exit_code),
                           field("LastWaitResult", &ProcessStatus::last_wait_result))

SHIMCORE_HCS_SCHEMA_DEFINE(ConsoleSize, field("Height", &ConsoleSize::height), field("Width", &ConsoleSize::width))

SHIMCORE_HCS_SCHEMA_DEFINE(CloseHandle, field("Handle", &CloseHandle::handle))

SHIMCORE_HCS_SCHEMA_DEFINE(ProcessModifyRequest, field("Operation", &ProcessModifyRequest::operation),
                           field("ConsoleSize", &ProcessModifyRequest::console_size),
                           field("CloseHandle", &ProcessModifyRequest::close_handle))

ProcessParameters parse_process_parameters(std::string_view json_text) {
  return detail::parse_document<ProcessParameters>(json_text, "ProcessParameters");
}

ProcessStatus parse_process_status(std::string_view json_text) {
  return detail::parse_document<ProcessStatus>(json_text, "ProcessStatus");
}

ProcessModifyRequest parse_process_modify_request(std::string_view json_text) {
  return detail::parse_document<ProcessModifyRequest>(json_text, "ProcessModifyRequest");
}

}  // namespace shimcore::hcs::schema
