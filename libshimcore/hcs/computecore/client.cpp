// ComputecoreClient: compute systems and processes over computecore.dll, after hcsshim's internal/hcs/v2.
#include "shimcore/hcs/computecore_client.h"

#ifdef _WIN32

#include <windows.h>

#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "api.h"
#include "handles.h"
#include "operation.h"
#include "shimcore/hcs/computecore_logic.h"

namespace shimcore::hcs::computecore {
namespace {

// MSDocs: requestedAccess "must be GENERIC_ALL" for HcsOpenComputeSystem; hcsshim passes it to HcsOpenProcess too.
constexpr DWORD kRequestedAccess = GENERIC_ALL;
// ERROR_VMCOMPUTE_OPERATION_PENDING (v1 "completing asynchronously"): hcsshim's Shutdown/Terminate accept it as done.
constexpr std::uint32_t kOperationPendingV1 = 0xC0370103;
// How long a process HCS reported gone may stay without its exit event before waiters are released (hcsshim: 1 s).
constexpr std::chrono::seconds kForcedExitGrace{1};
// Reserved options: hcsshim passes an empty string rather than NULL, and so do we.
constexpr const wchar_t* kNoOptions = L"";

// Documents go to HCS as UTF-16 JSON. A document holding invalid UTF-8 is the caller's mistake, reported as such.
std::wstring wide_json(const nlohmann::json& document) {
  try {
    return widen(document.dump());
  } catch (const nlohmann::json::exception& error) {
    throw make_error(ErrorKind::InvalidArgument, "hcs: document cannot be serialised: {}", error.what());
  }
}

nlohmann::json parse_document(const std::string& text, std::string_view name) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw HcsError(hresult::kInvalidJson, name, text);
  return parsed;
}

std::uint32_t as_hresult(HRESULT hr) noexcept { return static_cast<std::uint32_t>(hr); }

// Answers that mean the process is gone even though its exit event may never come (hcsshim processSignalResult).
bool process_gone(std::uint32_t hr) noexcept {
  return is_hcs_code(hr, hresult::kInvalidState) || is_hcs_code(hr, hresult::kSystemNotFound) ||
         hr == hresult::kElementNotFound;
}

// Used on failure paths only: a system HCS created for a request that then failed must not outlive it.
void terminate_quietly(HCS_SYSTEM system) noexcept {
  try {
    const auto terminate = api().HcsTerminateComputeSystem.get();
    submit_operation("HcsTerminateComputeSystem",
                     [&](HCS_OPERATION operation) { return terminate(system, operation, kNoOptions); });
  } catch (...) {
    // The original failure is what the caller needs to see.
  }
}

class ComputecoreProcess final : public Process {
 public:
  ComputecoreProcess(std::string system_id, ProcessHandle handle, std::uint32_t pid, ProcessStdio stdio,
                     const ComputecoreOptions& options)
      : system_id_(std::move(system_id)),
        handle_(std::move(handle)),
        pid_(pid),
        options_(options),
        stdio_(std::move(stdio)),
        latch_(std::make_shared<ExitLatch<ProcessExit>>()) {}

  ~ComputecoreProcess() override {
    handle_.reset();  // unregisters the callback and drains the invocations in flight
    registration_.reset();
    latch_->close();
  }

  ComputecoreProcess(const ComputecoreProcess&) = delete;
  ComputecoreProcess& operator=(const ComputecoreProcess&) = delete;

  // Registers for the exit event, then reads the process's status once: a process that exited before the callback
  // was set would otherwise never be seen to exit (whether HCS replays the event to a late callback is not
  // documented). The first of the two to report wins; both carry the same ProcessStatus.
  void watch() {
    registration_ =
        watch_process(handle_.get(), std::make_shared<ProcessEventSink>(latch_, pid_), name("HcsSetProcessCallback"));
    try {
      if (const auto exit = process_exit_from_status(properties(), pid_)) latch_->signal(*exit);
    } catch (const Error&) {
      // Best effort: hcsshim never asks, and the exit event still arrives.
    }
  }

  std::uint32_t pid() const override { return pid_; }

  ProcessStdio take_stdio() override {
    std::lock_guard lock(stdio_mutex_);
    return std::exchange(stdio_, ProcessStdio{});
  }

  void signal(const nlohmann::json& options) override {
    const auto signal_process = api().HcsSignalProcess.get();
    const std::wstring text = wide_json(options);
    run_noting_gone(name("HcsSignalProcess"),
                    [&](HCS_OPERATION operation) { return signal_process(handle_.get(), operation, text.c_str()); });
  }

  void terminate() override {
    const std::string operation_name = name("HcsTerminateProcess");
    if (latch_->exited()) throw HcsError(hresult::kProcessAlreadyStopped, operation_name);
    const auto terminate_process = api().HcsTerminateProcess.get();
    // HCS serialises the signals for a pid per system handle: kill through fresh handles so that the kill does not
    // queue behind a signal still in flight on ours (hcsshim Process.Kill). Our own handle is the fallback.
    SystemHandle system;
    ProcessHandle fresh;
    const HCS_PROCESS target = open_fresh(system, fresh, operation_name) ? fresh.get() : handle_.get();
    try {
      run_noting_gone(operation_name,
                      [&](HCS_OPERATION operation) { return terminate_process(target, operation, kNoOptions); });
    } catch (const HcsError& error) {
      // TerminateProcess on a process that has already ended fails with ERROR_ACCESS_DENIED (hcsshim Kill); report
      // it as what it is, the answer the emulator gives.
      if (error.hresult() == hresult::kAccessDenied) {
        throw HcsError(hresult::kProcessAlreadyStopped, operation_name, error.result_document());
      }
      throw;
    }
  }

  void resize_console(std::uint16_t height, std::uint16_t width) override {
    modify({{"Operation", "ConsoleSize"}, {"ConsoleSize", {{"Height", height}, {"Width", width}}}},
           "HcsModifyProcess(ConsoleSize)");
  }

  void close_stdin() override {
    // HCS fails CloseHandle on a process that has exited (hcsshim CloseStdin skips it), and there is nothing to close.
    if (!latch_->exited()) {
      modify({{"Operation", "CloseHandle"}, {"CloseHandle", {{"Handle", "StdIn"}}}}, "HcsModifyProcess(CloseHandle)");
    }
    std::lock_guard lock(stdio_mutex_);
    stdio_.std_in.reset();  // our end too, if the caller has not taken it
  }

  nlohmann::json properties() override {
    const auto get_properties = api().HcsGetProcessProperties.get();
    const std::string operation_name = name("HcsGetProcessProperties");
    return parse_document(
        run_operation(operation_name, options_.call_timeout,
                      [&](HCS_OPERATION operation) { return get_properties(handle_.get(), operation, nullptr); }),
        operation_name);
  }

  std::optional<ProcessExit> wait(std::optional<std::chrono::milliseconds> timeout) override {
    return latch_->wait(timeout);
  }

  void on_exit(std::function<void(const ProcessExit&)> callback) override { latch_->on_exit(std::move(callback)); }

 private:
  std::string name(std::string_view function) const { return fmt::format("{}({} pid {})", function, system_id_, pid_); }

  void modify(const nlohmann::json& request, std::string_view what) {
    const auto modify_process = api().HcsModifyProcess.get();
    const std::wstring text = wide_json(request);
    run_operation(name(what), options_.call_timeout,
                  [&](HCS_OPERATION operation) { return modify_process(handle_.get(), operation, text.c_str()); });
  }

  // Runs a signal or kill. When HCS answers that the process is gone, its exit event may never come: waiters are then
  // released after a grace period with the answer as LastWaitResult (hcsshim's "force unblocking process waits").
  void run_noting_gone(std::string_view operation_name, const Submit& submit) {
    try {
      run_operation(operation_name, options_.call_timeout, submit);
    } catch (const HcsError& error) {
      note_gone(error.hresult());
      throw;
    }
  }

  void note_gone(std::uint32_t hr) {
    if (!process_gone(hr) || latch_->exited()) return;
    const std::lock_guard lock(forced_exit_mutex_);
    if (!forced_exit_)
      forced_exit_.emplace(std::weak_ptr(latch_), kForcedExitGrace, process_exit_from_failure(hr, pid_));
  }

  // Opens a second system handle and a process handle on it. False (use our own handle) when that is not possible;
  // throws when HCS says the process no longer exists.
  bool open_fresh(SystemHandle& system, ProcessHandle& process, std::string_view operation_name) {
    const auto open_system = api().HcsOpenComputeSystem;
    const auto open_process = api().HcsOpenProcess;
    if (!open_system.available() || !open_process.available()) return false;
    const std::wstring id = widen(system_id_);
    HCS_SYSTEM raw_system = nullptr;
    if (failed(as_hresult(open_system.fn(id.c_str(), kRequestedAccess, &raw_system)))) return false;
    system = SystemHandle(raw_system);
    HCS_PROCESS raw_process = nullptr;
    const std::uint32_t hr = as_hresult(open_process.fn(system.get(), pid_, kRequestedAccess, &raw_process));
    if (failed(hr)) {
      // ERROR_NOT_FOUND: "the process has either already exited, or does not exist" (hcsshim ErrElementNotFound).
      if (hr == hresult::kElementNotFound) {
        note_gone(hr);
        throw HcsError(hr, operation_name);
      }
      return false;
    }
    process = ProcessHandle(raw_process);
    return true;
  }

  const std::string system_id_;
  ProcessHandle handle_;
  const std::uint32_t pid_;
  const ComputecoreOptions options_;
  std::mutex stdio_mutex_;
  ProcessStdio stdio_;
  const std::shared_ptr<ExitLatch<ProcessExit>> latch_;
  // The grace-period signal once HCS said the process is gone; destroyed (stopped and joined) with this handle.
  std::mutex forced_exit_mutex_;
  std::optional<DelayedSignal<ProcessExit>> forced_exit_;
  Registration registration_;
};

class ComputecoreSystem final : public ComputeSystem {
 public:
  ComputecoreSystem(std::string id, SystemHandle handle, const ComputecoreOptions& options)
      : id_(std::move(id)),
        handle_(std::move(handle)),
        options_(options),
        latch_(std::make_shared<ExitLatch<SystemExit>>()) {}

  ~ComputecoreSystem() override {
    handle_.reset();  // unregisters the callback and drains the invocations in flight; no final event follows
    registration_.reset();
    latch_->close();
  }

  ComputecoreSystem(const ComputecoreSystem&) = delete;
  ComputecoreSystem& operator=(const ComputecoreSystem&) = delete;

  // Registers for exit events; hcsshim does this straight after create/open, before anything can exit.
  void watch() {
    registration_ =
        watch_system(handle_.get(), std::make_shared<SystemEventSink>(latch_), name("HcsSetComputeSystemCallback"));
  }

  // For an opened handle: a system that stopped before we opened it sends no event, so read its state once.
  void catch_up_on_exit() {
    try {
      if (const auto exit = system_exit_from_properties(properties(nlohmann::json::object()))) latch_->signal(*exit);
    } catch (const Error&) {
      // Best effort: the exit event still arrives for a system that stops later.
    }
  }

  // The failure path of create_system: the system HCS created must not outlive the failed request.
  void abandon() noexcept { terminate_quietly(handle_.get()); }

  const std::string& id() const override { return id_; }

  void start() override { run_lifecycle("HcsStartComputeSystem", api().HcsStartComputeSystem); }
  void shutdown() override { submit_stop("HcsShutDownComputeSystem", api().HcsShutDownComputeSystem); }
  void terminate() override { submit_stop("HcsTerminateComputeSystem", api().HcsTerminateComputeSystem); }
  void pause() override { run_lifecycle("HcsPauseComputeSystem", api().HcsPauseComputeSystem); }
  void resume() override { run_lifecycle("HcsResumeComputeSystem", api().HcsResumeComputeSystem); }

  nlohmann::json properties(const nlohmann::json& query) override {
    const auto get_properties = api().HcsGetComputeSystemProperties.get();
    const std::wstring text = wide_json(query);
    const std::string operation_name = name("HcsGetComputeSystemProperties");
    return parse_document(
        run_operation(operation_name, options_.call_timeout,
                      [&](HCS_OPERATION operation) { return get_properties(handle_.get(), operation, text.c_str()); }),
        operation_name);
  }

  void modify(const nlohmann::json& request) override {
    const auto modify_system = api().HcsModifyComputeSystem.get();
    const std::wstring text = wide_json(request);
    run_operation(name("HcsModifyComputeSystem"), options_.call_timeout, [&](HCS_OPERATION operation) {
      return modify_system(handle_.get(), operation, text.c_str(), nullptr);  // no identity token (hcsshim passes 0)
    });
  }

  std::optional<SystemExit> wait(std::optional<std::chrono::milliseconds> timeout) override {
    return latch_->wait(timeout);
  }

  void on_exit(std::function<void(const SystemExit&)> callback) override { latch_->on_exit(std::move(callback)); }

  std::unique_ptr<Process> create_process(const nlohmann::json& parameters) override {
    const auto create = api().HcsCreateProcess.get();
    const std::wstring text = wide_json(parameters);
    const std::string operation_name = name("HcsCreateProcess");
    ProcessHandle process;
    HCS_PROCESS_INFORMATION info{};
    try {
      info = run_process_operation(operation_name, options_.call_timeout, [&](HCS_OPERATION operation) {
        return create(handle_.get(), text.c_str(), operation, nullptr, process.out());
      });
    } catch (const HcsError& error) {
      if (!process) throw;
      // A handle came back although the wait failed. hcsshim: on process-isolated containers (seen on WS2022)
      // HcsCreateProcess can complete synchronously and the wait then fails spuriously (e.g. E_INVALIDARG); the
      // process exists, so ask for its information instead.
      info = recover_process_information(process.get(), error);
    }
    // Own the pipes before anything else can throw.
    ProcessStdio stdio{OsHandle(info.StdInput), OsHandle(info.StdOutput), OsHandle(info.StdError)};
    auto created =
        std::make_unique<ComputecoreProcess>(id_, std::move(process), info.ProcessId, std::move(stdio), options_);
    created->watch();
    return created;
  }

  std::unique_ptr<Process> open_process(std::uint32_t pid) override {
    const auto open = api().HcsOpenProcess.get();
    HCS_PROCESS raw = nullptr;
    const std::uint32_t hr = as_hresult(open(handle_.get(), pid, kRequestedAccess, &raw));
    if (failed(hr)) throw HcsError(hr, fmt::format("HcsOpenProcess({} pid {})", id_, pid));
    auto opened = std::make_unique<ComputecoreProcess>(id_, ProcessHandle(raw), pid, ProcessStdio{}, options_);
    opened->watch();
    return opened;
  }

 private:
  std::string name(std::string_view function) const { return fmt::format("{}({})", function, id_); }

  template <typename Fn>
  void run_lifecycle(std::string_view function, const Proc<Fn>& proc) {
    const auto call = proc.get();
    run_operation(name(function), options_.lifecycle_timeout,
                  [&](HCS_OPERATION operation) { return call(handle_.get(), operation, kNoOptions); });
  }

  // Shutdown and Terminate, fire and forget (hcsshim submitOperation): the exit event tells when it is done.
  template <typename Fn>
  void submit_stop(std::string_view function, const Proc<Fn>& proc) {
    // Same contract as the emulator and HCS itself: stopping a stopped system is HCS_E_SYSTEM_ALREADY_STOPPED, which
    // callers that tear down recognise with HcsError::already_stopped().
    if (latch_->exited()) throw HcsError(hresult::kSystemAlreadyStopped, name(function));
    const auto call = proc.get();
    try {
      submit_operation(name(function),
                       [&](HCS_OPERATION operation) { return call(handle_.get(), operation, kNoOptions); });
    } catch (const HcsError& error) {
      if (!is_hcs_code(error.hresult(), kOperationPendingV1)) throw;  // "completing asynchronously" is success
    }
  }

  HCS_PROCESS_INFORMATION recover_process_information(HCS_PROCESS process, const HcsError& create_error) {
    const auto get_info = api().HcsGetProcessInfo;
    if (!get_info.available()) throw create_error;
    try {
      return run_process_operation(name("HcsGetProcessInfo"), options_.call_timeout,
                                   [&](HCS_OPERATION operation) { return get_info.fn(process, operation); });
    } catch (const HcsError&) {
      // The recovery's own failure (e.g. RPC_E_NULL_CONTEXT_HANDLE on a stale handle) would hide the real cause.
      throw create_error;
    }
  }

  const std::string id_;
  SystemHandle handle_;
  const ComputecoreOptions options_;
  const std::shared_ptr<ExitLatch<SystemExit>> latch_;
  Registration registration_;
};

std::unique_ptr<ComputeSystem> create_system(const ComputecoreOptions& options, const std::string& id,
                                             const nlohmann::json& document) {
  const auto create = api().HcsCreateComputeSystem.get();
  const std::wstring wide_id = widen(id);
  const std::wstring configuration = wide_json(document);
  const std::string operation_name = fmt::format("HcsCreateComputeSystem({})", id);
  SystemHandle handle;
  try {
    // HCS returns the handle before the operation completes (the result may still be pending): wait for it.
    run_operation(operation_name, options.lifecycle_timeout, [&](HCS_OPERATION operation) {
      return create(wide_id.c_str(), configuration.c_str(), operation, nullptr, handle.out());
    });
  } catch (const HcsError&) {
    // Whatever HCS created for this request must not outlive the failure (hcsshim terminates and closes it on every
    // failure path, a synchronous one included).
    if (handle) terminate_quietly(handle.get());
    throw;
  }
  auto system = std::make_unique<ComputecoreSystem>(id, std::move(handle), options);
  try {
    system->watch();
  } catch (const Error&) {
    system->abandon();
    throw;
  }
  return system;
}

std::unique_ptr<ComputeSystem> open_system(const ComputecoreOptions& options, const std::string& id) {
  const auto open = api().HcsOpenComputeSystem.get();
  HCS_SYSTEM raw = nullptr;
  const std::uint32_t hr = as_hresult(open(widen(id).c_str(), kRequestedAccess, &raw));  // synchronous, no operation
  if (failed(hr)) throw HcsError(hr, fmt::format("HcsOpenComputeSystem({})", id));
  auto system = std::make_unique<ComputecoreSystem>(id, SystemHandle(raw), options);
  system->watch();
  system->catch_up_on_exit();
  return system;
}

nlohmann::json enumerate_systems(const ComputecoreOptions& options, const nlohmann::json& query) {
  const auto enumerate = api().HcsEnumerateComputeSystems.get();
  const std::wstring text = wide_json(query);
  const std::string operation_name = "HcsEnumerateComputeSystems";
  const std::string result = run_operation(operation_name, options.call_timeout,
                                           [&](HCS_OPERATION operation) { return enumerate(text.c_str(), operation); });
  // hcsshim treats an empty result as unexpected; an empty document lists no systems either, so it is read as [].
  if (result.empty()) return nlohmann::json::array();
  nlohmann::json systems = parse_document(result, operation_name);
  if (systems.is_null()) return nlohmann::json::array();
  if (!systems.is_array()) throw HcsError(hresult::kInvalidJson, operation_name, result);
  return systems;
}

nlohmann::json service_properties(const nlohmann::json& query) {
  const auto get_properties = api().HcsGetServiceProperties.get();
  const std::wstring text = wide_json(query);
  const std::string operation_name = fmt::format("HcsGetServiceProperties({})", query.dump());
  HcsString result;  // synchronous: the result (or the ResultError) comes back directly
  const std::uint32_t hr = as_hresult(get_properties(text.c_str(), result.out()));
  if (failed(hr)) throw HcsError(hr, operation_name, result.utf8());
  return parse_document(result.utf8(), operation_name);
}

}  // namespace
}  // namespace shimcore::hcs::computecore

namespace shimcore::hcs {

ComputecoreClient::ComputecoreClient(ComputecoreOptions options) : options_(options) {}

std::unique_ptr<ComputeSystem> ComputecoreClient::create_system(const std::string& id, const nlohmann::json& document) {
  return computecore::create_system(options_, id, document);
}

std::unique_ptr<ComputeSystem> ComputecoreClient::open_system(const std::string& id) {
  return computecore::open_system(options_, id);
}

nlohmann::json ComputecoreClient::enumerate_systems(const nlohmann::json& query) {
  return computecore::enumerate_systems(options_, query);
}

nlohmann::json ComputecoreClient::service_properties(const nlohmann::json& query) {
  return computecore::service_properties(query);
}

std::unique_ptr<Client> make_computecore_client() { return std::make_unique<ComputecoreClient>(); }

std::unique_ptr<Client> make_computecore_client(ComputecoreOptions options) {
  return std::make_unique<ComputecoreClient>(options);
}

}  // namespace shimcore::hcs

#endif  // _WIN32
