// The LCOW kind's diagnostics: processes in the utility VM itself (hcsshim's ExecInUvm), the guest agent's stacks,
// Plan9 shares at a path the operator chose.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "shimcore/controller/diagnostics.h"
#include "shimcore/controller/lcow_task_controller.h"
#include "shimcore/errdefs.h"
#include "shimcore/gcs/protocol.h"
#include "shimcore/io/stdio_relay.h"

namespace shimcore::controller {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// hcsshim's ExecInUvm environment (internal/cmd/diag.go).
constexpr const char* kGuestPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Output still in flight after the process exited (hcsshim's CopyAfterExitTimeout).
constexpr auto kDrainBound = 1s;
// hcsshim bounds DumpStacks by 5 s (internal/controller/vm: guest stacks are best effort).
constexpr auto kGuestStacksTimeout = 5s;

class LcowDiagnostics final : public Diagnostics {
 public:
  explicit LcowDiagnostics(LcowTaskController& tasks) : tasks_(tasks) {}

  std::int32_t exec(const DiagExecRequest& request, std::stop_token stop) override {
    if (request.args.empty()) throw make_error(ErrorKind::InvalidArgument, "DiagExecInHost: no args");
    if (request.stdio.terminal && !request.stdio.stderr_path.empty()) {
      // A console has one output stream; hcsshim refuses the combination the same way.
      throw make_error(ErrorKind::FailedPrecondition, "DiagExecInHost: a terminal cannot have a separate stderr");
    }
    gcs::GuestConnection& guest = running_vm("DiagExecInHost").guest();
    // Containerd's kind of stdio paths (FIFOs or files the caller made): the relay opens them without blocking.
    const auto relay = io::StdioRelay::open({request.stdio.stdin_path,
                                             request.stdio.stdout_path,
                                             request.stdio.stderr_path,
                                             request.stdio.terminal,
                                             {},
                                             {}});
    gcs::ProcessParameters parameters;
    parameters.command_args = request.args;
    parameters.working_directory = request.workdir.empty() ? "/" : request.workdir;
    parameters.environment = {{"PATH", kGuestPath}};
    parameters.create_in_utility_vm = true;
    parameters.emulate_console = request.stdio.terminal;
    parameters.create_stdin_pipe = !request.stdio.stdin_path.empty();
    parameters.create_stdout_pipe = true;  // read (and dropped without a path) so that the process never blocks
    parameters.create_stderr_pipe = !request.stdio.terminal;
    const std::unique_ptr<gcs::GuestProcess> process =
        guest.execute_process(std::string(gcs::kNullContainerId), parameters);
    relay->attach(process->take_stdio());
    std::uint32_t code = 0;
    {
      const std::stop_callback cancel(stop, [&process] {
        try {
          process->signal(std::nullopt);  // SIGKILL
        } catch (const Error&) {
          // Already gone, or the guest is: the wait below ends either way.
        }
      });
      code = process->wait();
    }
    relay->drain(kDrainBound);
    if (stop.stop_requested()) {
      throw make_error(ErrorKind::Canceled, "DiagExecInHost: {} was killed in the guest: the call was cancelled",
                       request.args.front());
    }
    return static_cast<std::int32_t>(code);
  }

  DiagStacks stacks() override {
    DiagStacks dump{"=== shim (pid " + std::to_string(::getpid()) + ") ===\n" + shim_thread_dump(), {}};
    UtilityVm* vm = tasks_.vm();
    if (vm == nullptr || vm->state() != VmState::Running) {
      dump.guest = "no guest stacks: the utility VM is " +
                   std::string(vm == nullptr ? "not created" : to_string(vm->state())) + "\n";
      return dump;
    }
    try {
      dump.guest = "=== guest (" + vm->id() + ") ===\n" + vm->guest().dump_stacks(kGuestStacksTimeout);
    } catch (const Error& error) {
      // Stacks are for diagnosing a stuck shim: what the shim knows is still worth returning.
      dump.guest = fmt::format("no guest stacks: {}\n", error.what());
    }
    return dump;
  }

  void share(const std::string& host_path, const std::string& uvm_path, bool read_only) override {
    std::error_code error;
    if (host_path.empty() || !fs::path(host_path).is_absolute()) {
      throw make_error(ErrorKind::InvalidArgument, "DiagShare: the host path \"{}\" is not absolute", host_path);
    }
    if (!fs::exists(host_path, error)) {
      throw make_error(ErrorKind::NotFound, "DiagShare: the host path {} does not exist", host_path);
    }
    if (!fs::is_directory(host_path, error)) {
      throw make_error(ErrorKind::InvalidArgument, "DiagShare: {} is not a directory (only directories are shared)",
                       host_path);
    }
    if (uvm_path.empty()) throw make_error(ErrorKind::InvalidArgument, "DiagShare: no uvm_path");
    running_vm("DiagShare").add_share(host_path, read_only, uvm_path);
  }

 private:
  UtilityVm& running_vm(std::string_view call) {
    UtilityVm* vm = tasks_.vm();
    if (vm == nullptr) {
      throw make_error(ErrorKind::FailedPrecondition, "{}: this shim has no utility VM yet (no sandbox or task)", call);
    }
    if (vm->state() != VmState::Running) {
      throw make_error(ErrorKind::FailedPrecondition, "{}: the utility VM {} is {}", call, vm->id(),
                       to_string(vm->state()));
    }
    return *vm;
  }

  LcowTaskController& tasks_;
};

}  // namespace

std::unique_ptr<Diagnostics> make_lcow_diagnostics(LcowTaskController& tasks) {
  return std::make_unique<LcowDiagnostics>(tasks);
}

}  // namespace shimcore::controller
