// What the ShimDiag service asks of a shim's kind: a diagnostic process where its containers live (the host, or the
// utility VM), the shim's and its guest's stacks, and host paths shared into the utility VM.
#pragma once

#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "shimcore/controller/task_controller.h"

namespace shimcore::controller {

// DiagExecInHost's process: argv, working directory ("" = "/"), and the caller's stdio paths (FIFOs or files it
// created; "" = none).
struct DiagExecRequest {
  std::vector<std::string> args;
  std::string workdir;
  Stdio stdio;
};

// DiagStacks' answer: the shim's threads, and the guest agent's stacks for a VM kind (its own field, as hcsshim's).
struct DiagStacks {
  std::string shim;
  std::string guest;  // empty for a kind without a utility VM
};

class Diagnostics {
 public:
  virtual ~Diagnostics() = default;
  // Runs the process to its end and returns its exit code (128 + signal for a signalled one). Once `stop` is
  // requested (the caller went away, its deadline passed, the shim stops) the process is killed and the call throws
  // Error(Canceled). InvalidArgument for no args or a bad workdir, NotFound for a missing program or stdio path,
  // FailedPrecondition when the kind cannot run it now (no VM running, a terminal it cannot lend).
  virtual std::int32_t exec(const DiagExecRequest& request, std::stop_token stop) = 0;
  // The shim's threads and, for a VM kind, the guest agent's stacks (or why there are none).
  virtual DiagStacks stacks() = 0;
  // Shares `host_path` (a directory) into the utility VM at `uvm_path`, read-only when asked, until the VM shuts
  // down. Unimplemented for a kind without a utility VM.
  virtual void share(const std::string& host_path, const std::string& uvm_path, bool read_only) = 0;
};

// The shim's own threads: id, name, state, wait channel and (where the kernel shows it, as root) the kernel stack.
std::string shim_thread_dump();

// The process kind: DiagExecInHost runs on the host in its own process group with the caller's stdio; no terminal
// (the process kind has no console to lend); no utility VM to share into.
std::unique_ptr<Diagnostics> make_host_diagnostics();

class LcowTaskController;
// The LCOW kind (compiled with SHIMCORE_LCOW): the process runs in the utility VM (a guest process outside every
// container, hcsshim's ExecInUvm), with a terminal when asked; stacks include the guest agent's DumpStacks; shares are
// Plan9 shares mounted by the guest at `uvm_path`. FailedPrecondition naming the VM's state unless it runs.
std::unique_ptr<Diagnostics> make_lcow_diagnostics(LcowTaskController& tasks);

}  // namespace shimcore::controller
