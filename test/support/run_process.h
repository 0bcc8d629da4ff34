// Test helper: runs a program with arguments and captures its exit status, stdout and stderr separately.
#pragma once

#include <string>
#include <vector>

namespace shimcore::testing {

struct ProcessResult {
  int exit_status = -1;  // exit code, or 128 + signal number if it was killed
  std::string out;
  std::string err;
};

// Runs `argv[0]` (looked up in PATH when it has no slash) with the given stdin bytes; blocks until it exits.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_bytes = {},
                          const std::string& working_directory = {});

}  // namespace shimcore::testing
