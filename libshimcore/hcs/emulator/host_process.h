// Starting real host processes for the HCS emulator: Windows-style command lines, optional chroot, pipes or a pty.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "shimcore/hcs/os_handle.h"

namespace shimcore::hcs::emulator {

// Splits a command line the way CommandLineToArgvW does (the rules hcsshim's argument escaping targets):
// whitespace separates, double quotes group, 2n backslashes before a quote give n backslashes and a delimiter,
// 2n+1 give n backslashes and a literal quote, other backslashes are literal, "" inside quotes is a literal quote.
std::vector<std::string> split_command_line(std::string_view command_line);

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is resolved against PATH from `environment` (or the default PATH)
  std::map<std::string, std::string> environment;
  std::optional<std::filesystem::path> root;  // chroot here before exec (needs root)
  std::string working_directory;              // inside `root` when one is given
  bool terminal = false;                      // a pty instead of pipes; stderr joins stdout
  bool stdin_pipe = false;
  bool stdout_pipe = false;
  bool stderr_pipe = false;
  // Open cgroup.procs files the child joins before exec ("0" written to each): a job container's cgroups, so that
  // nothing it starts escapes them.
  std::vector<int> join_cgroups;
};

struct SpawnedProcess {
  pid_t pid = -1;       // also its process group id: signals go to the whole group
  OsHandle std_in;      // our end of the stdin pipe (or the pty master)
  OsHandle std_out;     // our end of the stdout pipe (or a duplicate of the pty master)
  OsHandle std_err;     // our end of the stderr pipe
  OsHandle pty_master;  // kept to resize the console
};

// A ProcessParameters document's command (CommandArgs, else CommandLine split as above), environment, working
// directory, console and pipe flags. Throws nlohmann::json::exception for fields of the wrong type.
SpawnRequest spawn_request_of(const nlohmann::json& parameters);

// Forks and execs. Failures before exec (bad root, missing program) are reported as HcsError with the HRESULT a
// Windows CreateProcess failure would give (ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND, ERROR_ACCESS_DENIED).
SpawnedProcess spawn_host_process(const SpawnRequest& request);

// The exit code HCS reports for a wait status: the exit code, or 128 + the signal number for a killed process (what
// containerd and CRI users expect from Linux tasks).
std::uint32_t exit_code_from_wait_status(int status) noexcept;

}  // namespace shimcore::hcs::emulator
