// `serve`: the shim daemon's composition root: log FIFO, HCS client, event publisher, controllers, ttrpc server.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "shimcore/build_config.h"
#include "shimcore/controller/diagnostics.h"
#include "shimcore/controller/sandbox_controller.h"
#include "shimcore/controller/task_controller.h"
#include "shimcore/errdefs.h"
#include "shimcore/events/publisher.h"
#include "shimcore/events/task_events.h"
#include "shimcore/hcs/emulator.h"
#include "shimcore/service/sandbox_service.h"
#include "shimcore/service/shimdiag_service.h"
#include "shimcore/service/task_service.h"
#include "shimcore/shim/log.h"
#include "shimcore/shim/runtime.h"
#include "shimcore/shim/runtime_options.h"
#include "shimcore/transport/grpc_server.h"
#include "shimcore/transport/long_calls.h"
#include "shimcore/transport/ttrpc_server.h"
#if SHIMCORE_HAS_LCOW
#include "shim/lcow_tasks.h"
#include "shimcore/controller/vm_sandbox_controller.h"
#endif

namespace shimcore::shim {
namespace {

// Set by Task.Shutdown (with no task left) or SIGTERM/SIGINT; the main thread waits for it.
class ShutdownLatch {
 public:
  void trigger() {
    const std::lock_guard lock(mutex_);
    triggered_ = true;
    changed_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return triggered_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool triggered_ = false;
};

// containerd created <bundle>/log as a FIFO and reads it; our stderr goes there from now on.
void redirect_stderr_to_log_fifo() {
  const int fd = ::open("log", O_WRONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;  // run by hand without containerd: keep stderr
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);  // whole lines, even when containerd reads slowly
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
}

// The pod's pause process: this very executable's `pause` action (there is no pause image on Linux hosts).
std::vector<std::string> pause_command(const SandboxKind& kind) {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  return {error ? std::string(kind.binary_name) : self.string(), "pause"};
}

// What the pod's containers run on: containerd picks image platforms by it. With real HCS that is the kind's guest
// OS (windows for the process and WCOW kinds, linux for LCOW). The Linux emulator runs the host's own binaries in
// place of the guest's, so there it is the host: a shim built for the emulator answers linux whatever its kind's
// guest_os says, because a Windows image could not run there. This is the one place the two are reconciled.
controller::SandboxPlatform host_platform([[maybe_unused]] const SandboxKind& kind) {
#if defined(__aarch64__) || defined(_M_ARM64)
  constexpr const char* architecture = "arm64";
#else
  constexpr const char* architecture = "amd64";
#endif
#if defined(_WIN32)
  return {std::string(kind.guest_os), architecture, ""};
#else
  return {"linux", architecture, ""};
#endif
}

}  // namespace

int pause_until_signalled() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A signalfd rather than sigwait: the signals stay visibly blocked (/proc/<pid>/status SigBlk) while it waits,
  // which is how a caller can tell the pod is held.
  const int fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (fd < 0) return 1;
  signalfd_siginfo info{};
  while (::read(fd, &info, sizeof info) < 0 && errno == EINTR) {
  }
  ::close(fd);
  return 0;
}

int serve(const SandboxKind& kind, const ShimFlags& flags) {
  redirect_stderr_to_log_fifo();
  set_log_level(flags.debug ? LogLevel::Debug : LogLevel::Info);
  set_log_fields(flags.namespace_name, flags.id);
  if (flags.socket.empty()) {
    log(LogLevel::Error, "serve: -socket is required");
    return 1;
  }
  RuntimeOptions options;
  try {
    options = load_runtime_options(flags.bundle.empty() ? std::filesystem::current_path()
                                                        : std::filesystem::path(flags.bundle));
  } catch (const std::exception& error) {
    log(LogLevel::Error, "serve: cannot read the runtime options", {{"error", error.what()}});
    return 1;
  }
  set_log_level(runtime_log_level(options, flags.debug));
  if (log_enabled(LogLevel::Debug)) log(LogLevel::Debug, "runtime options", {{"options", options.ShortDebugString()}});
  // A reader that goes away must not kill the shim; and signals are taken by one thread, not at random.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ShutdownLatch latch;
  std::atomic<bool> stopping{false};
  std::thread signal_waiter([&] {
    int received = 0;
    ::sigwait(&stop_signals, &received);
    if (!stopping.load()) log(LogLevel::Info, "stopping on signal", {{"signal", std::to_string(received)}});
    latch.trigger();
  });

  int status = 0;
  try {
    const char* ttrpc_env = std::getenv("TTRPC_ADDRESS");
    const std::string ttrpc_address =
        ttrpc_env != nullptr && *ttrpc_env != '\0' ? std::string(ttrpc_env) : flags.address + ".ttrpc";
    auto client = hcs::make_default_client(flags.namespace_name);
#ifndef _WIN32
    // What the emulator accepts without modelling it goes to the debug log, not nowhere.
    hcs::set_emulator_debug_log([](const std::string& message) { shim::log(shim::LogLevel::Debug, message); });
#endif
    events::Publisher publisher(events::make_ttrpc_sink(ttrpc_address), flags.namespace_name);
    events::PublishingTaskEvents task_events(publisher);
    controller::ProcessTaskController process_tasks(*client, task_events, flags.namespace_name);
    controller::PauseSandboxController pause_sandbox(*client, process_tasks, pause_command(kind), host_platform(kind));
    // The LCOW kind's tasks run in its utility VM, which is also its sandbox; the others' run on the host (WCOW's VM
    // controller is not built yet).
#if SHIMCORE_HAS_LCOW
    std::unique_ptr<controller::LcowTaskController> lcow_tasks;
    std::unique_ptr<controller::VmSandboxController> vm_sandbox;
    if (kind.id == "lcow") {
      lcow_tasks = make_lcow_task_controller(*client, task_events, flags, options);
      vm_sandbox = std::make_unique<controller::VmSandboxController>(*lcow_tasks);
    }
    const bool vm_tasks = lcow_tasks != nullptr;
    controller::TaskController& tasks =
        vm_tasks ? static_cast<controller::TaskController&>(*lcow_tasks) : process_tasks;
    controller::SandboxController& sandbox =
        vm_tasks ? static_cast<controller::SandboxController&>(*vm_sandbox) : pause_sandbox;
    const std::unique_ptr<controller::Diagnostics> diagnostics =
        vm_tasks ? controller::make_lcow_diagnostics(*lcow_tasks) : controller::make_host_diagnostics();
#else
    const bool vm_tasks = false;
    controller::TaskController& tasks = process_tasks;
    controller::SandboxController& sandbox = pause_sandbox;
    const std::unique_ptr<controller::Diagnostics> diagnostics = controller::make_host_diagnostics();
#endif
    // After the controllers its calls use, so that it is closed (and its threads joined) before they go.
    transport::LongCalls long_calls;
    auto registry = std::make_shared<transport::ServiceRegistry>();
    const std::string refuse_create =
        kind.isolation == Isolation::Process || vm_tasks
            ? std::string()
            : fmt::format("{} does not run tasks yet: its utility-VM controller is not built", kind.binary_name);
    // A sandbox shim outlives its tasks: containerd ends it with ShutdownSandbox, not Task.Shutdown.
    service::register_task_service(
        *registry, tasks,
        [&] {
          if (!sandbox.serving()) latch.trigger();
        },
        refuse_create);
    if (kind.isolation == Isolation::Process || vm_tasks) {
      service::register_sandbox_service(*registry, sandbox, long_calls, [&] { latch.trigger(); });
    }
    service::register_shimdiag_service(*registry, tasks, *diagnostics, long_calls);
    transport::TtrpcServer server(registry);
    server.listen(flags.socket);
    server.start();
    log(LogLevel::Info, "serving", {{"address", flags.socket}, {"kind", kind.id}});
    // On request, ShimDiag alone also over gRPC beside the ttrpc socket (`shimdiag --grpc`); containerd never uses it.
    std::optional<transport::GrpcServer> diag_grpc;
    if (const char* wanted = std::getenv("SHIMCORE_DIAG_GRPC"); wanted != nullptr && std::string(wanted) == "1") {
      auto diag_registry = std::make_shared<transport::ServiceRegistry>();
      service::register_shimdiag_service(*diag_registry, tasks, *diagnostics, long_calls);
      diag_grpc.emplace(diag_registry);
      diag_grpc->listen(flags.socket + ".grpc");
      diag_grpc->start();
      log(LogLevel::Info, "serving ShimDiag over gRPC", {{"address", flags.socket + ".grpc"}});
    }
    latch.wait();
    stopping = true;
    if (diag_grpc) diag_grpc->shutdown(std::chrono::seconds(1));
    const bool drained = server.shutdown(std::chrono::seconds(2));
    long_calls.close();  // their calls were cancelled with the connections; this joins their threads
    if (!drained) {
      // A handler ignored its cancellation: joining it could hang forever, and SIGTERM must end the shim. Tear the
      // pod and the tasks down, then leave without running the destructors that would wait for that worker.
      log(LogLevel::Error, "a call did not end when cancelled; exiting without waiting for it");
      if (const auto id = sandbox.served_id()) sandbox.shutdown(*id);
      tasks.shutdown();
      publisher.close(std::chrono::seconds(2));
      ::_exit(1);
    }
    if (const auto id = sandbox.served_id()) sandbox.shutdown(*id);  // SIGTERM: the pod goes with the shim
    tasks.shutdown();
    publisher.close(std::chrono::seconds(2));
    log(LogLevel::Info, "shim exiting");
  } catch (const std::exception& error) {
    log(LogLevel::Error, "shim failed", {{"error", error.what()}});
    status = 1;
  }
  stopping = true;
  ::kill(::getpid(), SIGTERM);  // releases the signal waiter if it is still in sigwait
  signal_waiter.join();
  return status;
}

}  // namespace shimcore::shim
