// HCS schema v2 process documents: ProcessParameters (HcsCreateProcess), ProcessStatus, ProcessModifyRequest.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shimcore/hcs/schema/json_support.h"

namespace shimcore::hcs::schema {

// How to start a process in a compute system.
struct ProcessParameters {
  std::optional<std::string> application_name;
  std::optional<std::string> command_line;  // Windows: the whole escaped command line
  std::vector<std::string> command_args;    // Linux guests only
  std::optional<std::string> user;
  std::optional<std::string> working_directory;
  std::map<std::string, std::string> environment;
  std::optional<bool> restricted_token;
  std::optional<bool> emulate_console;  // TTY; the stderr pipe is then ignored
  std::optional<bool> create_std_in_pipe;
  std::optional<bool> create_std_out_pipe;
  std::optional<bool> create_std_err_pipe;
  std::vector<std::uint16_t> console_size;  // [height, width]; uint16 in HCS (hcsshim declares int32)
  std::optional<bool> use_existing_login;
  std::optional<bool> use_legacy_console;
  bool operator==(const ProcessParameters&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ProcessParameters);

// HcsEventProcessExited data and HcsGetProcessProperties result. ExitCode is meaningful only when Exited and
// LastWaitResult is S_OK.
struct ProcessStatus {
  std::optional<std::uint32_t> process_id;
  std::optional<bool> exited;
  std::optional<std::uint32_t> exit_code;
  std::optional<std::int32_t> last_wait_result;  // HRESULT
  bool operator==(const ProcessStatus&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ProcessStatus);

enum class ProcessModifyOperation : std::uint8_t { ConsoleSize, CloseHandle };
constexpr EnumSpec<ProcessModifyOperation, 2> enum_spec(ProcessModifyOperation) {
  return {
      "ProcessModifyOperation",
      {{{ProcessModifyOperation::ConsoleSize, "ConsoleSize"}, {ProcessModifyOperation::CloseHandle, "CloseHandle"}}}};
}

enum class StdioHandle : std::uint8_t { StdIn, StdOut, StdErr, All };
constexpr EnumSpec<StdioHandle, 4> enum_spec(StdioHandle) {
  return {"StdHandle",
          {{{StdioHandle::StdIn, "StdIn"},
            {StdioHandle::StdOut, "StdOut"},
            {StdioHandle::StdErr, "StdErr"},
            {StdioHandle::All, "All"}}}};
}

struct ConsoleSize {
  std::optional<std::uint16_t> height;
  std::optional<std::uint16_t> width;
  bool operator==(const ConsoleSize&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ConsoleSize);

struct CloseHandle {
  std::optional<StdioHandle> handle;
  bool operator==(const CloseHandle&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(CloseHandle);

// HcsModifyProcess: resize the console, or close a stdio pipe (hcsshim closes StdIn only while the process runs).
struct ProcessModifyRequest {
  std::optional<ProcessModifyOperation> operation;
  std::optional<ConsoleSize> console_size;
  std::optional<CloseHandle> close_handle;
  bool operator==(const ProcessModifyRequest&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ProcessModifyRequest);

// Parse the JSON text of a document; failures throw SchemaError (InvalidArgument) naming the JSON path.
ProcessParameters parse_process_parameters(std::string_view json_text);
ProcessStatus parse_process_status(std::string_view json_text);
ProcessModifyRequest parse_process_modify_request(std::string_view json_text);

}  // namespace shimcore::hcs::schema
