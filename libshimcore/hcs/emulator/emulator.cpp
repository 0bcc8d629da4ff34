// The HCS emulator: compute systems and processes with HCS's state machines, errors and exit notifications, backed
// by real host processes. State lives in this process (as HCS ties systems to their handles); a small record per
// system on disk lets a later `delete` clean up after a dead shim.
#include "shimcore/hcs/emulator.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>

#include "hcs/emulator/container_storage.h"
#include "hcs/emulator/host_process.h"
#include "hcs/emulator/lcow_guest.h"
#include "hcs/emulator/orphaned_threads.h"
#include "hcs/emulator/proc_usage.h"
#include "hcs/emulator/qemu_guest.h"
#include "shimcore/hcs/schema/compute_system.h"
#include "shimcore/hcs/schema/modify.h"
#include "shimcore/hcs/schema/process.h"
#include "shimcore/thread_name.h"

namespace shimcore::hcs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::system_clock;
using emulator::escape_file_name_part;

std::mutex debug_log_mutex;
std::function<void(const std::string&)> debug_log;  // set_emulator_debug_log

void emulator_debug(const std::string& message) {
  const std::lock_guard lock(debug_log_mutex);
  if (debug_log) debug_log(message);
}

constexpr std::uint32_t kPlan9ShareReadOnly = 0x00000001;  // Plan9Share.Flags (hcsshim internal/uvm/plan9.go)

enum class SystemState { Created, Running, Paused, Stopped };

std::string_view state_name(SystemState state) {
  switch (state) {
    case SystemState::Created: return "Created";
    case SystemState::Running: return "Running";
    case SystemState::Paused: return "Paused";
    case SystemState::Stopped: return "Stopped";
  }
  return "Unknown";
}

// Throws the HCS error for `hr` with a ResultError document, as computecore returns it.
[[noreturn]] void fail(std::uint32_t hr, std::string_view operation, std::string_view message) {
  const json result{{"Error", static_cast<std::int32_t>(hr)}, {"ErrorMessage", std::string(message)}};
  throw HcsError(hr, std::string(operation) + ": " + std::string(message), result.dump());
}

std::string new_guid() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  const std::uint64_t high = random();
  const std::uint64_t low = random();
  char text[37];
  std::snprintf(text, sizeof(text), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(high >> 32),
                static_cast<unsigned>((high >> 16) & 0xffff), static_cast<unsigned>((high & 0x0fff) | 0x4000),
                static_cast<unsigned>(((low >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(low & 0xffffffffffffULL));
  return text;
}

// RFC 3339 in UTC with nanoseconds, as HCS's JSON carries times (Go's time.Time marshalling).
std::string rfc3339(Clock::time_point time) {
  const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(since_epoch.count() / 1'000'000'000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[48];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<long long>(since_epoch.count() % 1'000'000'000));
  return text;
}

// The 22nd field of /proc/<pid>/stat: when the process started, to tell a pid from a later reuse of it. With
// `living_only`, a process that has died and waits to be reaped (state Z or X) has none: a SIGKILLed shim stays a
// zombie until containerd, its subreaper, gets to it, and it is dead all the same.
std::optional<std::uint64_t> process_start_time(pid_t pid, bool living_only = false) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  for (int index = 3; index <= 22 && (fields >> field); ++index) {
    if (index == 3 && living_only && (field == "Z" || field == "X")) return std::nullopt;
    if (index == 22) {
      char* end = nullptr;
      errno = 0;
      const unsigned long long value = std::strtoull(field.c_str(), &end, 10);
      if (errno != 0 || end == field.c_str() || *end != '\0') return std::nullopt;
      return value;
    }
  }
  return std::nullopt;
}

// <namespace>+<id>.json, each part with every byte outside [A-Za-z0-9._@-] escaped as %XX (so '+' only separates):
// task ids repeat across namespaces, and each namespace's task has its own record.
fs::path record_file(const fs::path& runtime_dir, std::string_view namespace_name, std::string_view id) {
  return runtime_dir / (escape_file_name_part(namespace_name) + "+" + escape_file_name_part(id) + ".json");
}

// ---------------------------------------------------------------------------------------------------------------
// Document validation: what HCS checks before it creates anything.

// Runs a schema parser; its InvalidArgument (with the JSON path) becomes HCS_E_INVALID_JSON.
template <typename Parse>
void check_with_schema(std::string_view operation, Parse parse) {
  try {
    parse();
  } catch (const Error& error) {
    fail(hresult::kInvalidJson, operation, error.what());
  }
}

void validate_document(const json& document) {
  constexpr std::string_view op = "CreateComputeSystem";
  if (!document.is_object()) fail(hresult::kInvalidJson, op, "the configuration is not a JSON object");
  static const std::set<std::string> known{"SchemaVersion",
                                           "Owner",
                                           "HostingSystemId",
                                           "HostedSystem",
                                           "Container",
                                           "VirtualMachine",
                                           "ShouldTerminateOnLastHandleClosed"};
  for (const auto& [key, value] : document.items()) {
    if (!known.contains(key)) fail(hresult::kInvalidJson, op, "unknown field \"" + key + "\" in ComputeSystem");
  }
  const auto version = document.find("SchemaVersion");
  if (version == document.end() || !version->is_object() || !version->contains("Major") ||
      !(*version)["Major"].is_number_integer() ||
      (version->contains("Minor") && !(*version)["Minor"].is_number_integer())) {
    fail(hresult::kInvalidJson, op, "SchemaVersion must be {\"Major\":2,\"Minor\":n}");
  }
  if ((*version)["Major"].get<int>() != 2) fail(hresult::kInvalidJson, op, "unsupported SchemaVersion.Major");
  int kinds = 0;
  for (const char* kind : {"Container", "VirtualMachine", "HostedSystem"}) {
    if (const auto it = document.find(kind); it != document.end()) {
      if (!it->is_object()) fail(hresult::kInvalidJson, op, std::string(kind) + " must be an object");
      ++kinds;
    }
  }
  if (kinds != 1) fail(hresult::kInvalidJson, op, "exactly one of Container, VirtualMachine, HostedSystem is required");
  if (document.contains("Owner") && !document["Owner"].is_string()) fail(hresult::kInvalidJson, op, "Owner: string");
  if (document.contains("ShouldTerminateOnLastHandleClosed") &&
      !document["ShouldTerminateOnLastHandleClosed"].is_boolean()) {
    fail(hresult::kInvalidJson, op, "ShouldTerminateOnLastHandleClosed: boolean");
  }
  // Every field the schema knows, at every depth: types and closed value sets.
  check_with_schema(op, [&] { schema::validate(schema::parse_compute_system(document.dump())); });
}

// A guest that accepts everything: the seam the LCOW/WCOW guest emulation replaces.
class NullGuest final : public EmulatedGuest {
 public:
  void start() override {}
  void stop() override {}
  void modify(const json&) override {}
};

// ---------------------------------------------------------------------------------------------------------------
// Objects

struct Service;

// An exit callback is the caller's code running on an emulator thread: like HCS, which calls back across a C
// boundary, the emulator must not let an exception escape into its own thread (std::terminate). It is reported on
// stderr (the shim's log FIFO) and the next callback still runs.
template <typename Callback, typename Exit>
void run_exit_callback(std::string_view what, Callback& callback, const Exit& exit) noexcept {
  try {
    callback(exit);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "hcs emulator: a %.*s exit callback threw: %s\n", static_cast<int>(what.size()), what.data(),
                 error.what());
  } catch (...) {
    std::fprintf(stderr, "hcs emulator: a %.*s exit callback threw a non-exception\n", static_cast<int>(what.size()),
                 what.data());
  }
}

using emulator::OrphanedThreads;

class ProcessObject {
 public:
  ProcessObject(emulator::SpawnedProcess spawned, std::string image)
      : image_(std::move(image)), created_(Clock::now()), state_(std::make_shared<State>()) {
    state_->pid = spawned.pid;
    state_->pty_master = std::move(spawned.pty_master);
    start_time_ = process_start_time(spawned.pid);
    state_->stdio.std_in = std::move(spawned.std_in);
    state_->stdio.std_out = std::move(spawned.std_out);
    state_->stdio.std_err = std::move(spawned.std_err);
    // The reaper shares the state it touches, so that it may outlive this object: the last reference to a process
    // can drop inside one of its exit callbacks, on the reaper thread itself.
    reaper_ = std::thread([state = state_] {
      set_thread_name("hcs-reaper");
      state->reap();
    });
  }

  ~ProcessObject() {
    kill_group(SIGKILL);
    if (reaper_.get_id() == std::this_thread::get_id()) {
      OrphanedThreads::adopt(std::move(reaper_));  // it is returning from a callback; it touches only the state
    } else if (reaper_.joinable()) {
      reaper_.join();
    }
  }

  std::uint32_t pid() const { return static_cast<std::uint32_t>(state_->pid); }
  std::optional<std::uint64_t> start_time() const { return start_time_; }
  const std::string& image() const { return image_; }
  Clock::time_point created() const { return created_; }

  bool exited() {
    const std::lock_guard lock(state_->mutex);
    return state_->exit.has_value();
  }
  std::optional<ProcessExit> exit_status() {
    const std::lock_guard lock(state_->mutex);
    return state_->exit;
  }
  // What the process used, once reaped (its own reaped descendants included).
  std::optional<rusage> usage() {
    const std::lock_guard lock(state_->mutex);
    return state_->usage;
  }
  void kill_group(int signal) {
    const std::lock_guard lock(state_->mutex);
    if (!state_->exit) ::kill(-state_->pid, signal);  // its own group (setpgid or setsid in the child)
  }
  ProcessStdio take_stdio() {
    const std::lock_guard lock(state_->mutex);
    return std::exchange(state_->stdio, ProcessStdio{});
  }
  // HCS closes its side of stdin; here that is our copy, if the caller has not taken it.
  void close_stdin() {
    const std::lock_guard lock(state_->mutex);
    state_->stdio.std_in.reset();
  }
  void resize(std::uint16_t height, std::uint16_t width) {
    const std::lock_guard lock(state_->mutex);
    if (!state_->pty_master) return;  // a process without a console has nothing to resize
    winsize size{};
    size.ws_row = height;
    size.ws_col = width;
    ::ioctl(state_->pty_master.get(), TIOCSWINSZ, &size);
  }

  std::optional<ProcessExit> wait(std::optional<std::chrono::milliseconds> timeout,
                                  const std::atomic<bool>& disconnected) {
    std::unique_lock lock(state_->mutex);
    const auto done = [&] { return state_->exit.has_value() || disconnected.load(); };
    if (timeout) {
      state_->changed.wait_for(lock, *timeout, done);
    } else {
      state_->changed.wait(lock, done);
    }
    if (!state_->exit && disconnected.load())
      fail(hresult::kServiceDisconnect, "WaitForProcessExit", "lost communication with compute service");
    return state_->exit;
  }
  void wake() { state_->changed.notify_all(); }

  // Registers a callback for one handle; runs it at once (here) if the process already exited.
  void on_exit(std::uint64_t handle, std::function<void(const ProcessExit&)> callback) {
    std::unique_lock lock(state_->mutex);
    if (state_->callbacks.contains(handle))
      fail(hresult::kCallbackAlreadySet, "SetProcessCallback", "a callback is already set");
    if (state_->exit) {
      const ProcessExit status = *state_->exit;
      lock.unlock();
      run_exit_callback("process", callback, status);
      return;
    }
    state_->callbacks.emplace(handle, std::move(callback));
  }
  // Closing a handle unregisters its callback and, as HCS does, waits for one that is running right now, so that the
  // caller may free what the callback uses. From inside a callback (the reaper thread) there is nothing to wait for.
  void forget(std::uint64_t handle) {
    std::unique_lock lock(state_->mutex);
    state_->callbacks.erase(handle);
    if (std::this_thread::get_id() != state_->delivering_thread) {
      state_->changed.wait(lock, [&] { return state_->delivering_thread == std::thread::id(); });
    }
  }

 private:
  // Everything the reaper thread touches.
  struct State {
    void reap() {
      int status = 0;
      rusage reaped{};
      while (::wait4(pid, &status, 0, &reaped) < 0 && errno == EINTR) {
      }
      std::map<std::uint64_t, std::function<void(const ProcessExit&)>> delivering;
      const ProcessExit result{static_cast<std::uint32_t>(pid), emulator::exit_code_from_wait_status(status), 0};
      {
        const std::lock_guard lock(mutex);
        exit = result;
        usage = reaped;
        delivering.swap(callbacks);
        pty_master.reset();
        if (!delivering.empty()) delivering_thread = std::this_thread::get_id();
      }
      changed.notify_all();
      for (auto& [handle, callback] : delivering) run_exit_callback("process", callback, result);
      if (!delivering.empty()) {
        const std::lock_guard lock(mutex);
        delivering_thread = std::thread::id();
      }
      changed.notify_all();
    }

    pid_t pid = -1;
    std::mutex mutex;
    std::condition_variable changed;
    std::optional<ProcessExit> exit;
    std::thread::id delivering_thread;  // the reaper while it runs exit callbacks
    std::optional<rusage> usage;
    ProcessStdio stdio;
    OsHandle pty_master;
    std::map<std::uint64_t, std::function<void(const ProcessExit&)>> callbacks;
  };

  std::string image_;
  Clock::time_point created_;
  std::optional<std::uint64_t> start_time_;
  std::shared_ptr<State> state_;
  std::thread reaper_;  // last: started once everything it reads exists
};

struct SystemObject {
  std::string id;
  json document;            // as modified since
  json created_document;    // as the client created it (kept in the record, for operators and fidelity tests)
  std::string system_type;  // "Container" or "VirtualMachine"
  std::string runtime_os;   // "Windows" or "Linux"
  std::string owner;
  std::string runtime_id = new_guid();
  bool terminate_on_last_close = false;
  std::optional<fs::path> root;          // a Container's root filesystem on this host
  std::optional<fs::path> mounted_root;  // the overlay assembled for it, unmounted when the system stops
  ~SystemObject() {
    if (mounted_root) emulator::release_container_root(*mounted_root);
  }

  std::mutex mutex;
  std::condition_variable changed;
  SystemState state = SystemState::Created;
  std::optional<SystemExit> exit;
  Clock::time_point started;
  std::uint64_t commit_peak_bytes = 0;  // the highest commit any Statistics query saw
  int open_handles = 0;
  std::map<std::uint32_t, std::shared_ptr<ProcessObject>> processes;
  std::map<std::uint64_t, std::function<void(const SystemExit&)>> exit_callbacks;
  std::unique_ptr<EmulatedGuest> guest;
};

struct Service : std::enable_shared_from_this<Service> {
  explicit Service(EmulatorOptions options) : options(std::move(options)) {
    if (this->options.logical_processors == 0) {
      this->options.logical_processors = std::max(1u, std::thread::hardware_concurrency());
    }
    if (!this->options.guest_factory) {
      this->options.guest_factory = [agent = this->options.lcow_guest_agent, backend = this->options.linux_vm_backend,
                                     backend_error = this->options.linux_vm_backend_error, qemu = this->options.qemu](
                                        const GuestContext& context) -> std::unique_ptr<EmulatedGuest> {
        const json& vm = context.document.contains("VirtualMachine") ? context.document["VirtualMachine"] : json();
        const json chipset = vm.is_object() ? vm.value("Chipset", json::object()) : json::object();
        const bool linux_vm = chipset.is_object() && chipset.contains("LinuxKernelDirect");
        if (linux_vm && !backend_error.empty()) fail(hresult::kInvalidArgument, "StartComputeSystem", backend_error);
        if (linux_vm && backend == LinuxVmBackend::Qemu) return emulator::make_qemu_guest(context, qemu);
        if (linux_vm && !agent.empty()) return emulator::make_lcow_guest(context, agent);
        return std::make_unique<NullGuest>();
      };
    }
  }

  void check_connected(std::string_view operation) const {
    if (disconnected.load()) fail(hresult::kServiceDisconnect, operation, "lost communication with compute service");
  }

  // The per-VM folder of emulated hvsock ports and Plan9 shares (see emulated_vm_directory).
  fs::path vm_directory(const std::string& runtime_id) const {
    const fs::path base = options.runtime_dir.empty()
                              ? fs::temp_directory_path() / ("shimcore-hcs-emulator-" + std::to_string(::getpid()))
                              : options.runtime_dir;
    return emulated_vm_directory(base, runtime_id);
  }

  fs::path record_path(const std::string& id) const {
    return record_file(options.runtime_dir, options.namespace_name, id);
  }

  // The on-disk record: enough for `delete` to find the processes of a dead shim's system.
  void write_record(SystemObject& system) {
    if (options.runtime_dir.empty()) return;
    json processes = json::array();
    {
      const std::lock_guard lock(system.mutex);
      for (const auto& [pid, process] : system.processes) {
        if (process->exited()) continue;
        json entry{{"Pid", pid}};
        if (const auto start = process->start_time()) entry["StartTime"] = *start;
        processes.push_back(entry);
      }
      // The process that stands for a VM's guest (the LCOW guest agent, pid 1 of its namespaces).
      if (system.guest && system.state != SystemState::Stopped) {
        if (const int guest_pid = system.guest->host_pid(); guest_pid > 0) {
          json entry{{"Pid", guest_pid}};
          if (const auto start = process_start_time(guest_pid)) entry["StartTime"] = *start;
          processes.push_back(entry);
        }
      }
    }
    json record{{"Namespace", options.namespace_name}, {"Id", system.id},       {"Owner", system.owner},
                {"SystemType", system.system_type},    {"ShimPid", ::getpid()}, {"Processes", processes},
                {"Document", system.created_document}};
    if (shim_start_time) record["ShimStartTime"] = *shim_start_time;
    std::error_code error;
    fs::create_directories(options.runtime_dir, error);
    const fs::path path = record_path(system.id);
    const fs::path temporary = path.string() + ".tmp";
    {
      std::ofstream out(temporary, std::ios::trunc);
      out << record.dump();
    }
    fs::rename(temporary, path, error);
  }
  void remove_record(const std::string& id) {
    if (options.runtime_dir.empty()) return;
    std::error_code error;
    fs::remove(record_path(id), error);
  }

  EmulatorOptions options;
  // With ShimPid, tells `delete` whether the record's shim is still the one alive at that pid.
  const std::optional<std::uint64_t> shim_start_time = process_start_time(::getpid());
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<SystemObject>> systems;
  std::atomic<bool> disconnected{false};
  std::atomic<std::uint64_t> next_handle{1};
};

// Moves a system to Stopped: its processes are killed and reaped first, then one exit notification per handle.
// Returns false when it was already stopped.
bool stop_system(Service& service, const std::shared_ptr<SystemObject>& system, const std::string& exit_type,
                 std::uint32_t status, const std::string& detail, const std::string& initiator,
                 std::chrono::milliseconds grace) {
  std::vector<std::shared_ptr<ProcessObject>> running;
  std::unique_ptr<EmulatedGuest> guest;
  {
    const std::lock_guard lock(system->mutex);
    if (system->state == SystemState::Stopped) return false;
    for (const auto& [pid, process] : system->processes) running.push_back(process);
    guest = std::move(system->guest);
  }
  // A graceful stop asks first (SIGTERM, after SIGCONT in case the system was paused), then insists.
  for (const auto& process : running) process->kill_group(SIGCONT);
  if (grace.count() > 0) {
    for (const auto& process : running) process->kill_group(SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    for (const auto& process : running) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() > 0) process->wait(left, service.disconnected);
    }
  }
  for (const auto& process : running) process->kill_group(SIGKILL);
  for (const auto& process : running) process->wait(std::nullopt, service.disconnected);
  if (guest) guest->stop();
  std::optional<fs::path> mounted;
  {
    const std::lock_guard lock(system->mutex);
    mounted.swap(system->mounted_root);
  }
  if (mounted) emulator::release_container_root(*mounted);
  if (system->system_type == "VirtualMachine") {
    std::error_code removed;
    fs::remove_all(service.vm_directory(system->runtime_id), removed);
  }

  SystemExit exit;
  exit.status = status;
  exit.exit_type = exit_type;
  exit.document =
      json{{"Status", static_cast<std::int32_t>(status)},
           {"ExitType", exit_type},
           {"Attribution", json::array({{{"SystemExit", {{"Detail", detail}, {"Initiator", initiator}}}}})}};
  std::map<std::uint64_t, std::function<void(const SystemExit&)>> callbacks;
  {
    const std::lock_guard lock(system->mutex);
    if (system->state == SystemState::Stopped) return false;
    system->state = SystemState::Stopped;
    system->exit = exit;
    callbacks.swap(system->exit_callbacks);
  }
  system->changed.notify_all();
  service.write_record(*system);
  for (auto& [handle, callback] : callbacks) run_exit_callback("system", callback, exit);
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Handles

class EmulatedProcess final : public Process {
 public:
  EmulatedProcess(std::shared_ptr<Service> service, std::shared_ptr<SystemObject> system,
                  std::shared_ptr<ProcessObject> process)
      : service_(std::move(service)),
        system_(std::move(system)),
        process_(std::move(process)),
        handle_(service_->next_handle++) {}
  ~EmulatedProcess() override { process_->forget(handle_); }

  std::uint32_t pid() const override { return process_->pid(); }
  ProcessStdio take_stdio() override { return process_->take_stdio(); }

  void signal(const json& options) override {
    constexpr std::string_view op = "SignalProcess";
    service_->check_connected(op);
    require_running(op);
    const auto value = options.is_object() ? options.find("Signal") : options.end();
    if (!options.is_object() || value == options.end()) fail(hresult::kInvalidArgument, op, "options need a Signal");
    int signal = 0;
    if (value->is_number_integer()) {
      signal = value->get<int>();
      if (signal <= 0 || signal >= NSIG) fail(hresult::kInvalidArgument, op, "signal number out of range");
    } else if (value->is_string()) {
      // Windows console control events, as the POSIX signals a Linux process understands.
      static const std::map<std::string, int> controls{{"CtrlC", SIGINT},
                                                       {"CtrlBreak", SIGTERM},
                                                       {"CtrlClose", SIGHUP},
                                                       {"CtrlLogOff", SIGHUP},
                                                       {"CtrlShutdown", SIGTERM}};
      const auto it = controls.find(value->get<std::string>());
      if (it == controls.end())
        fail(hresult::kInvalidArgument, op, "unknown signal \"" + value->get<std::string>() + "\"");
      signal = it->second;
    } else {
      fail(hresult::kInvalidArgument, op, "Signal must be a number or a console control name");
    }
    process_->kill_group(signal);
  }
  void terminate() override {
    service_->check_connected("TerminateProcess");
    require_running("TerminateProcess");
    process_->kill_group(SIGKILL);
  }
  void resize_console(std::uint16_t height, std::uint16_t width) override {
    require_running("ModifyProcess(ConsoleSize)");
    process_->resize(height, width);
  }
  void close_stdin() override {
    require_running("ModifyProcess(CloseHandle)");
    process_->close_stdin();
  }
  json properties() override {
    service_->check_connected("GetProcessProperties");
    const auto exit = process_->exit_status();
    json status{{"ProcessId", pid()}, {"Exited", exit.has_value()}};
    if (exit) {
      status["ExitCode"] = exit->exit_code;
      status["LastWaitResult"] = exit->last_wait_result;
    }
    return status;
  }
  std::optional<ProcessExit> wait(std::optional<std::chrono::milliseconds> timeout) override {
    return process_->wait(timeout, service_->disconnected);
  }
  void on_exit(std::function<void(const ProcessExit&)> callback) override {
    process_->on_exit(handle_, std::move(callback));
  }

 private:
  void require_running(std::string_view operation) {
    if (process_->exited()) fail(hresult::kProcessAlreadyStopped, operation, "the process has already exited");
  }

  std::shared_ptr<Service> service_;
  std::shared_ptr<SystemObject> system_;
  std::shared_ptr<ProcessObject> process_;
  std::uint64_t handle_;
};

class EmulatedSystem final : public ComputeSystem {
 public:
  EmulatedSystem(std::shared_ptr<Service> service, std::shared_ptr<SystemObject> system)
      : service_(std::move(service)), system_(std::move(system)), handle_(service_->next_handle++) {}

  ~EmulatedSystem() override {
    // A destructor must not throw: stopping the system on last close can fail (a record that cannot be written, the
    // service disconnected), and that must not end the process.
    try {
      close_handle();
    } catch (const std::exception& error) {
      std::fprintf(stderr, "hcs emulator: closing system %s failed: %s\n", system_->id.c_str(), error.what());
    }
  }

  const std::string& id() const override { return system_->id; }

  void start() override {
    constexpr std::string_view op = "StartComputeSystem";
    service_->check_connected(op);
    std::unique_lock lock(system_->mutex);
    if (system_->state != SystemState::Created) {
      fail(hresult::kInvalidState, op, std::string("the system is ") + std::string(state_name(system_->state)));
    }
    const bool vm = system_->system_type == "VirtualMachine";
    if (vm) {
      GuestContext context;
      context.system_id = system_->id;
      context.runtime_id = system_->runtime_id;
      context.document = system_->document;
      const fs::path directory = service_->vm_directory(system_->runtime_id);
      context.ports_directory = directory / "ports";
      context.plan9_directory = directory / "plan9";
      // The guest ending on its own stops the system (HcsEventSystemExited), as a VM that powered off or crashed.
      context.exited = [weak_service = std::weak_ptr<Service>(service_),
                        weak_system = std::weak_ptr<SystemObject>(system_)](bool clean) {
        const auto service = weak_service.lock();
        const auto system = weak_system.lock();
        if (!service || !system) return;
        stop_system(*service, system, clean ? "GracefulExit" : "UnexpectedExit", clean ? 0 : hresult::kUnexpectedExit,
                    clean ? "Shutdown" : "UnexpectedExit", "GuestOS", std::chrono::milliseconds(0));
      };
      system_->guest = service_->options.guest_factory(context);
      system_->guest->start();
    }
    system_->state = SystemState::Running;
    system_->started = Clock::now();
    lock.unlock();
    if (vm) service_->write_record(*system_);
  }

  void shutdown() override {
    constexpr std::string_view op = "ShutDownComputeSystem";
    service_->check_connected(op);
    {
      const std::lock_guard lock(system_->mutex);
      if (system_->state == SystemState::Stopped) fail(hresult::kSystemAlreadyStopped, op, "the system is stopped");
      if (system_->state != SystemState::Running) {
        fail(hresult::kInvalidState, op, std::string("the system is ") + std::string(state_name(system_->state)));
      }
    }
    if (!stop_system(*service_, system_, "GracefulExit", 0, "Shutdown", "Client", std::chrono::seconds(5))) {
      fail(hresult::kSystemAlreadyStopped, op, "the system is stopped");
    }
  }

  void terminate() override {
    constexpr std::string_view op = "TerminateComputeSystem";
    service_->check_connected(op);
    if (!stop_system(*service_, system_, "ForcedExit", 0, "Terminate", "Client", std::chrono::milliseconds(0))) {
      fail(hresult::kSystemAlreadyStopped, op, "the system is stopped");
    }
  }

  void pause() override { suspend(true); }
  void resume() override { suspend(false); }

  json properties(const json& query) override {
    constexpr std::string_view op = "GetComputeSystemProperties";
    service_->check_connected(op);
    std::set<std::string> types;
    if (!query.is_null() && !query.is_object()) fail(hresult::kInvalidJson, op, "the query is not a JSON object");
    if (query.is_object() && query.contains("PropertyTypes") && !query["PropertyTypes"].is_null()) {
      if (!query["PropertyTypes"].is_array()) fail(hresult::kInvalidJson, op, "PropertyTypes must be an array");
      static const std::set<std::string> known{"Memory",
                                               "GuestMemory",
                                               "Statistics",
                                               "ProcessList",
                                               "TerminateOnLastHandleClosed",
                                               "SharedMemoryRegion",
                                               "ContainerCredentialGuard",
                                               "GuestConnection",
                                               "ICHeartbeatStatus",
                                               "ProcessorTopology",
                                               "CpuGroup",
                                               "SystemGUID"};
      for (const auto& type : query["PropertyTypes"]) {
        if (!type.is_string() || !known.contains(type.get<std::string>())) {
          fail(hresult::kInvalidArgument, op, "unknown property type " + type.dump());
        }
        types.insert(type.get<std::string>());
      }
    }
    return describe(types, types.contains("Statistics") ? statistics() : json());
  }

  void modify(const json& request) override {
    constexpr std::string_view op = "ModifyComputeSystem";
    service_->check_connected(op);
    if (!request.is_object()) fail(hresult::kInvalidJson, op, "the request is not a JSON object");
    check_with_schema(op, [&] { schema::parse_modify_setting_request(request.dump()); });
    std::unique_lock lock(system_->mutex);
    if (system_->state == SystemState::Stopped) fail(hresult::kSystemAlreadyStopped, op, "the system is stopped");
    if (const auto guest_request = request.find("GuestRequest"); guest_request != request.end()) {
      if (!system_->guest) fail(hresult::kInvalidState, op, "the system has no running guest");
      system_->guest->modify(*guest_request);
      if (!request.contains("ResourcePath")) return;
    }
    apply_modification(request);
  }

  std::optional<SystemExit> wait(std::optional<std::chrono::milliseconds> timeout) override {
    std::unique_lock lock(system_->mutex);
    const auto done = [&] { return system_->exit.has_value() || service_->disconnected.load(); };
    if (timeout) {
      system_->changed.wait_for(lock, *timeout, done);
    } else {
      system_->changed.wait(lock, done);
    }
    if (!system_->exit) service_->check_connected("WaitForComputeSystemExit");
    return system_->exit;
  }

  void on_exit(std::function<void(const SystemExit&)> callback) override {
    std::unique_lock lock(system_->mutex);
    if (system_->exit_callbacks.contains(handle_)) {
      fail(hresult::kCallbackAlreadySet, "SetComputeSystemCallback", "a callback is already set");
    }
    if (system_->exit) {
      const SystemExit exit = *system_->exit;
      lock.unlock();
      run_exit_callback("system", callback, exit);
      return;
    }
    system_->exit_callbacks.emplace(handle_, std::move(callback));
  }

  std::unique_ptr<Process> create_process(const json& parameters) override {
    constexpr std::string_view op = "CreateProcess";
    service_->check_connected(op);
    const emulator::SpawnRequest request = spawn_request(parameters);
    std::shared_ptr<ProcessObject> process;
    // Released after the lock: the last reference to one joins its reaper, whose exit callbacks may take locks.
    std::vector<std::shared_ptr<ProcessObject>> exited;
    {
      const std::lock_guard lock(system_->mutex);
      if (system_->state == SystemState::Stopped) fail(hresult::kSystemAlreadyStopped, op, "the system is stopped");
      if (system_->state != SystemState::Running) {
        fail(hresult::kInvalidState, op, std::string("the system is ") + std::string(state_name(system_->state)));
      }
      // Exited processes leave the table (their handles keep them as long as they are open): it only serves running
      // ones (terminate, pause, OpenProcess, the record). Otherwise every exec of a long-lived task kept its object,
      // and the stack of its finished reaper thread, until the system stopped, and a pid the kernel reuses could not
      // be entered again.
      std::erase_if(system_->processes, [&](const auto& entry) {
        if (!entry.second->exited()) return false;
        exited.push_back(entry.second);
        return true;
      });
      // Spawned under the lock so that a concurrent terminate cannot miss the new process.
      process = std::make_shared<ProcessObject>(emulator::spawn_host_process(request), request.argv.front());
      system_->processes.insert_or_assign(process->pid(), process);
    }
    service_->write_record(*system_);
    return std::make_unique<EmulatedProcess>(service_, system_, process);
  }

  std::unique_ptr<Process> open_process(std::uint32_t pid) override {
    service_->check_connected("OpenProcess");
    const std::lock_guard lock(system_->mutex);
    const auto it = system_->processes.find(pid);
    if (it == system_->processes.end() || it->second->exited()) {
      fail(hresult::kElementNotFound, "OpenProcess", "no running process " + std::to_string(pid));
    }
    return std::make_unique<EmulatedProcess>(service_, system_, it->second);
  }

 private:
  void suspend(bool pause) {
    const std::string_view op = pause ? "PauseComputeSystem" : "ResumeComputeSystem";
    service_->check_connected(op);
    const std::lock_guard lock(system_->mutex);
    const SystemState from = pause ? SystemState::Running : SystemState::Paused;
    if (system_->state != from) {
      fail(hresult::kInvalidState, op, std::string("the system is ") + std::string(state_name(system_->state)));
    }
    for (const auto& [pid, process] : system_->processes) process->kill_group(pause ? SIGSTOP : SIGCONT);
    system_->state = pause ? SystemState::Paused : SystemState::Running;
  }

  emulator::SpawnRequest spawn_request(const json& parameters) const {
    constexpr std::string_view op = "CreateProcess";
    if (!parameters.is_object()) fail(hresult::kInvalidJson, op, "ProcessParameters is not a JSON object");
    check_with_schema(op, [&] { schema::parse_process_parameters(parameters.dump()); });
    emulator::SpawnRequest request;
    try {
      request = emulator::spawn_request_of(parameters);
    } catch (const json::exception& error) {
      fail(hresult::kInvalidJson, op, std::string("ProcessParameters: ") + error.what());
    }
    if (request.argv.empty()) fail(hresult::kInvalidArgument, op, "empty command line");
    // A Windows working directory (C:\\dir) is the container's own drive: here, its root.
    if (std::string& cwd = request.working_directory;
        cwd.size() >= 2 && std::isalpha(static_cast<unsigned char>(cwd[0])) != 0 && cwd[1] == ':') {
      cwd = cwd.substr(2);
      std::replace(cwd.begin(), cwd.end(), '\\', '/');
      if (cwd.empty() || cwd.front() != '/') cwd.insert(cwd.begin(), '/');
    }
    if (system_->root) {
      if (::geteuid() == 0) {
        request.root = system_->root;
      } else if (request.working_directory.empty() || request.working_directory == "/") {
        request.working_directory = system_->root->string();  // no chroot without root: at least run in there
      }
    }
    return request;
  }

  // Applies a ModifySettingRequest's ResourcePath/RequestType/Settings to the stored document.
  void apply_modification(const json& request) {
    constexpr std::string_view op = "ModifyComputeSystem";
    const std::string path = request.value("ResourcePath", std::string());
    const std::string type = request.value("RequestType", std::string("Add"));
    if (path.empty()) fail(hresult::kInvalidArgument, op, "ResourcePath is required");
    std::vector<std::string> segments;
    std::stringstream split(path);
    for (std::string segment; std::getline(split, segment, '/');) {
      if (!segment.empty()) segments.push_back(segment);
    }
    if (segments.empty() || (segments[0] != "VirtualMachine" && segments[0] != "Container")) {
      fail(hresult::kInvalidArgument, op, "unsupported resource path " + path);
    }
    if (!system_->document.contains(segments[0])) {
      fail(hresult::kInvalidArgument, op, "the system has no " + segments[0]);
    }
    if (segments.size() == 4 && segments[0] == "VirtualMachine" && segments[1] == "Devices" && segments[2] == "Plan9" &&
        segments[3] == "Shares") {
      modify_plan9_shares(type, request.value("Settings", json()));
      return;
    }
    // SCSI rules HCS enforces: the controller must exist, LUNs stay below 64.
    if (segments.size() >= 5 && segments[1] == "Devices" && segments[2] == "Scsi" && segments[4] == "Attachments") {
      const json& scsi = system_->document[segments[0]]["Devices"]["Scsi"];
      if (!scsi.is_object() || !scsi.contains(segments[3])) {
        fail(hresult::kInvalidArgument, op, "no SCSI controller " + segments[3]);
      }
      if (segments.size() >= 6) {
        const int lun = std::atoi(segments[5].c_str());
        if (lun < 0 || lun >= 64) fail(hresult::kInvalidArgument, op, "SCSI LUN out of range");
      }
    }
    json* parent = &system_->document;
    for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
      json& next = (*parent)[segments[i]];
      if (next.is_null()) next = json::object();
      parent = &next;
    }
    const std::string& leaf = segments.back();
    const json settings = request.value("Settings", json());
    if (type == "Add") {
      if (parent->is_array()) {
        parent->push_back(settings);
      } else if (parent->contains(leaf)) {
        fail(hresult::kInvalidArgument, op, path + " already exists");
      } else {
        (*parent)[leaf] = settings;
      }
    } else if (type == "Remove") {
      if (!parent->is_object() || !parent->contains(leaf))
        fail(hresult::kElementNotFound, op, path + " does not exist");
      parent->erase(leaf);
    } else if (type == "Update") {
      (*parent)[leaf] = settings;
    } else {
      fail(hresult::kInvalidArgument, op, "unknown RequestType \"" + type + "\"");
    }
  }

  // VirtualMachine/Devices/Plan9/Shares: a list keyed by Name. An added share becomes <vm dir>/plan9/<Name>, a link
  // to the host path, which the guest agent mounts (the emulator's stand-in for 9p over vsock port 564).
  void modify_plan9_shares(const std::string& type, const json& settings) {
    constexpr std::string_view op = "ModifyComputeSystem";
    if (!settings.is_object() || !settings.contains("Name") || !settings["Name"].is_string()) {
      fail(hresult::kInvalidArgument, op, "a Plan9 share needs a Name");
    }
    const std::string name = settings["Name"].get<std::string>();
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      fail(hresult::kInvalidArgument, op, "invalid Plan9 share name \"" + name + "\"");
    }
    json& plan9 = system_->document["VirtualMachine"]["Devices"]["Plan9"];
    if (!plan9.is_object()) plan9 = json::object();
    json& shares = plan9["Shares"];
    if (!shares.is_array()) shares = json::array();
    const auto existing = std::find_if(shares.begin(), shares.end(), [&](const json& share) {
      return share.is_object() && share.value("Name", std::string()) == name;
    });
    const fs::path link = service_->vm_directory(system_->runtime_id) / "plan9" / name;
    std::error_code error;
    if (type == "Add") {
      if (existing != shares.end()) fail(hresult::kInvalidArgument, op, "Plan9 share " + name + " already exists");
      const std::string path = settings.value("Path", std::string());
      if (path.empty() || !fs::exists(path, error)) {
        fail(hresult::kFileNotFound, op, "Plan9 share " + name + ": host path \"" + path + "\" does not exist");
      }
      fs::create_directories(link.parent_path(), error);
      fs::remove(link, error);
      fs::create_directory_symlink(path, link, error);
      if (error) fail(hresult::kAccessDenied, op, "cannot expose Plan9 share " + name + ": " + error.message());
      if (system_->guest) {
        const fs::path host_path(path);
        const bool read_only = (settings.value("Flags", 0u) & kPlan9ShareReadOnly) != 0;
        try {
          system_->guest->plan9_share(name, &host_path, read_only);
        } catch (...) {
          fs::remove(link, error);
          throw;
        }
      }
      shares.push_back(settings);
    } else if (type == "Remove") {
      if (existing == shares.end()) fail(hresult::kElementNotFound, op, "Plan9 share " + name + " does not exist");
      if (system_->guest) system_->guest->plan9_share(name, nullptr, false);
      shares.erase(existing);
      fs::remove(link, error);
    } else {
      fail(hresult::kInvalidArgument, op, "Plan9 shares take Add or Remove, not \"" + type + "\"");
    }
  }

  // Property type "Statistics" from the system's processes (see proc_usage.h), read outside the system's lock.
  json statistics() {
    std::vector<pid_t> live;
    emulator::ProcessUsage usage;
    SystemState state;
    Clock::time_point started;
    {
      const std::lock_guard lock(system_->mutex);
      state = system_->state;
      started = system_->started;
      for (const auto& [pid, process] : system_->processes) {
        if (const auto reaped = process->usage()) {
          usage += emulator::reaped_usage(*reaped);
        } else {
          live.push_back(static_cast<pid_t>(pid));
        }
      }
    }
    usage += emulator::live_usage(live);
    std::uint64_t peak = 0;
    {
      const std::lock_guard lock(system_->mutex);
      system_->commit_peak_bytes = std::max(system_->commit_peak_bytes, usage.commit_bytes);
      peak = system_->commit_peak_bytes;
    }
    const Clock::time_point now = Clock::now();
    const auto uptime = state == SystemState::Created
                            ? std::chrono::nanoseconds(0)
                            : std::chrono::duration_cast<std::chrono::nanoseconds>(now - started);
    json statistics{{"Timestamp", rfc3339(now)},
                    {"Uptime100ns", uptime.count() / 100},
                    {"Processor",
                     {{"TotalRuntime100ns", usage.user_100ns + usage.kernel_100ns},
                      {"RuntimeUser100ns", usage.user_100ns},
                      {"RuntimeKernel100ns", usage.kernel_100ns}}},
                    {"Memory",
                     {{"MemoryUsageCommitBytes", usage.commit_bytes},
                      {"MemoryUsageCommitPeakBytes", peak},
                      {"MemoryUsagePrivateWorkingSetBytes", usage.private_working_set_bytes}}},
                    {"Storage",
                     {{"ReadCountNormalized", usage.read_count},
                      {"ReadSizeBytes", usage.read_bytes},
                      {"WriteCountNormalized", usage.write_count},
                      {"WriteSizeBytes", usage.write_bytes}}}};
    if (state != SystemState::Created) statistics["ContainerStartTime"] = rfc3339(started);
    return statistics;
  }

  json describe(const std::set<std::string>& types, json statistics) {
    const std::lock_guard lock(system_->mutex);
    json properties{{"Id", system_->id},
                    {"SystemType", system_->system_type},
                    {"RuntimeOsType", system_->runtime_os},
                    {"Owner", system_->owner},
                    {"State", state_name(system_->state)}};
    if (system_->system_type == "VirtualMachine") properties["RuntimeId"] = system_->runtime_id;
    if (system_->state == SystemState::Stopped) {
      properties["Stopped"] = true;
      properties["ExitType"] = system_->exit ? system_->exit->exit_type : "Unknown";
    }
    if (types.contains("ProcessList")) {
      json list = json::array();
      for (const auto& [pid, process] : system_->processes) {
        if (process->exited()) continue;
        const auto created = std::chrono::time_point_cast<std::chrono::seconds>(process->created());
        list.push_back({{"ProcessId", pid},
                        {"ImageName", process->image()},
                        {"CreateTimestamp", std::to_string(created.time_since_epoch().count())}});
      }
      properties["ProcessList"] = list;
    }
    if (types.contains("Statistics")) properties["Statistics"] = std::move(statistics);
    if (types.contains("TerminateOnLastHandleClosed")) {
      properties["TerminateOnLastHandleClosed"] = system_->terminate_on_last_close;
    }
    return properties;
  }

  // Closing the last handle destroys a stopped system, and stops one that asked for it.
  void close_handle() {
    bool last = false;
    bool stopped = false;
    {
      const std::lock_guard lock(system_->mutex);
      system_->exit_callbacks.erase(handle_);
      last = --system_->open_handles == 0;
      stopped = system_->state == SystemState::Stopped;
    }
    if (!last) return;
    if (!stopped && system_->terminate_on_last_close) {
      stop_system(*service_, system_, "ForcedExit", 0, "Terminate", "Client", std::chrono::milliseconds(0));
      stopped = true;
    }
    if (stopped) {
      {
        const std::lock_guard lock(service_->mutex);
        const auto it = service_->systems.find(system_->id);
        if (it != service_->systems.end() && it->second == system_) service_->systems.erase(it);
      }
      service_->remove_record(system_->id);
      if (system_->system_type == "VirtualMachine") {
        std::error_code removed;
        fs::remove_all(service_->vm_directory(system_->runtime_id), removed);
      }
    }
  }

  std::shared_ptr<Service> service_;
  std::shared_ptr<SystemObject> system_;
  std::uint64_t handle_;
};

class Emulator final : public EmulatorClient {
 public:
  explicit Emulator(EmulatorOptions options) : service_(std::make_shared<Service>(std::move(options))) {}

  ContainerVolume attach_container_storage(const std::string& id, const std::vector<std::string>& layers,
                                           const std::string& scratch) override {
    service_->check_connected("AttachLayerStorage");
    return emulator::attach_storage(service_->options.runtime_dir, service_->options.namespace_name, id, layers,
                                    scratch);
  }

  void detach_container_storage(const std::string& id) override {
    emulator::detach_storage(service_->options.runtime_dir, service_->options.namespace_name, id);
  }

  std::unique_ptr<ComputeSystem> create_system(const std::string& id, const json& document) override {
    constexpr std::string_view op = "CreateComputeSystem";
    service_->check_connected(op);
    if (id.empty()) fail(hresult::kInvalidArgument, op, "empty id");
    validate_document(document);
    auto system = std::make_shared<SystemObject>();
    system->id = id;
    system->document = document;
    system->created_document = document;
    system->owner = document.value("Owner", std::string());
    system->terminate_on_last_close = document.value("ShouldTerminateOnLastHandleClosed", false);
    if (document.contains("VirtualMachine")) {
      system->system_type = "VirtualMachine";
      // LCOW utility VMs boot a Linux kernel directly or a Linux EFI loader; WCOW ones boot Windows' bootmgfw.efi.
      const json chipset = document["VirtualMachine"].value("Chipset", json::object());
      std::string efi_path;
      if (chipset.is_object() && chipset.contains("Uefi") && chipset["Uefi"].is_object()) {
        const json boot = chipset["Uefi"].value("BootThis", json::object());
        if (boot.is_object()) efi_path = boot.value("DevicePath", std::string());
      }
      const bool windows_loader = efi_path.find("Microsoft") != std::string::npos;
      system->runtime_os =
          chipset.contains("LinuxKernelDirect") || (!efi_path.empty() && !windows_loader) ? "Linux" : "Windows";
    } else {
      system->system_type = "Container";
      system->runtime_os = "Windows";
      if (document.contains("HostingSystemId")) {
        const std::string host =
            document["HostingSystemId"].is_string() ? document["HostingSystemId"].get<std::string>() : std::string();
        const std::lock_guard lock(service_->mutex);
        if (!service_->systems.contains(host)) {
          fail(hresult::kSystemNotFound, op, "HostingSystemId \"" + host + "\" names no compute system");
        }
      }
      // A hosted container's paths are the utility VM's; only a host container's storage is assembled here. An id
      // in use is refused first: its root folder is the existing system's.
      {
        const std::lock_guard lock(service_->mutex);
        if (service_->systems.contains(id))
          fail(hresult::kSystemAlreadyExists, op, "a system with id " + id + " exists");
      }
      if (document.contains("Container")) {
        emulator::ContainerRoot assembled = emulator::assemble_container_root(
            service_->options.runtime_dir, service_->options.namespace_name, id, document["Container"]);
        system->root = assembled.root;
        system->mounted_root = assembled.mounted;
        if (!assembled.not_modelled.empty()) {
          emulator_debug(fmt::format("container {}: accepted, not modelled by the emulator: {}", id,
                                     fmt::join(assembled.not_modelled, ", ")));
        }
      }
    }
    system->open_handles = 1;
    if (system->system_type == "VirtualMachine") {
      // The host listens on the VM's ports before it starts (hcsshim binds its hvsock listeners before Start).
      const fs::path directory = service_->vm_directory(system->runtime_id);
      std::error_code error;
      fs::create_directories(directory / "ports", error);
      fs::create_directories(directory / "plan9", error);
      if (error) fail(hresult::kAccessDenied, op, "cannot create " + directory.string() + ": " + error.message());
    }
    {
      const std::lock_guard lock(service_->mutex);
      if (service_->systems.contains(id)) fail(hresult::kSystemAlreadyExists, op, "a system with id " + id + " exists");
      service_->systems.emplace(id, system);
    }
    service_->write_record(*system);
    return std::make_unique<EmulatedSystem>(service_, system);
  }

  std::unique_ptr<ComputeSystem> open_system(const std::string& id) override {
    service_->check_connected("OpenComputeSystem");
    const std::lock_guard lock(service_->mutex);
    const auto it = service_->systems.find(id);
    if (it == service_->systems.end()) fail(hresult::kSystemNotFound, "OpenComputeSystem", "no system " + id);
    {
      const std::lock_guard system_lock(it->second->mutex);
      ++it->second->open_handles;
    }
    return std::make_unique<EmulatedSystem>(service_, it->second);
  }

  json enumerate_systems(const json& query) override {
    constexpr std::string_view op = "EnumerateComputeSystems";
    service_->check_connected(op);
    if (!query.is_null() && !query.is_object()) fail(hresult::kInvalidJson, op, "the query is not a JSON object");
    const auto filter = [&](const char* field, const std::string& value) {
      if (!query.is_object() || !query.contains(field) || query[field].is_null()) return true;
      if (!query[field].is_array()) fail(hresult::kInvalidJson, op, std::string(field) + " must be an array");
      for (const auto& wanted : query[field]) {
        if (wanted.is_string() && wanted.get<std::string>() == value) return true;
      }
      return false;
    };
    std::vector<std::shared_ptr<SystemObject>> systems;
    {
      const std::lock_guard lock(service_->mutex);
      for (const auto& [id, system] : service_->systems) systems.push_back(system);
    }
    json result = json::array();
    for (const auto& system : systems) {
      const std::lock_guard lock(system->mutex);
      if (!filter("Ids", system->id) || !filter("Types", system->system_type) || !filter("Owners", system->owner)) {
        continue;
      }
      result.push_back({{"Id", system->id},
                        {"SystemType", system->system_type},
                        {"Owner", system->owner},
                        {"RuntimeOsType", system->runtime_os},
                        {"State", state_name(system->state)}});
    }
    return result;
  }

  json service_properties(const json& query) override {
    constexpr std::string_view op = "GetServiceProperties";
    service_->check_connected(op);
    if (!query.is_object() || !query.contains("PropertyTypes") || !query["PropertyTypes"].is_array()) {
      fail(hresult::kInvalidJson, op, "expected {\"PropertyTypes\":[...]}");
    }
    json properties = json::array();
    for (const auto& type : query["PropertyTypes"]) {
      if (type == "ProcessorTopology") {
        json processors = json::array();
        for (std::uint32_t index = 0; index < service_->options.logical_processors; ++index) {
          processors.push_back(
              {{"LpIndex", index}, {"NodeNumber", 0}, {"PackageId", 0}, {"CoreId", index}, {"RootVpIndex", index}});
        }
        properties.push_back(
            {{"LogicalProcessorCount", service_->options.logical_processors}, {"LogicalProcessors", processors}});
      } else if (type == "Basic") {
        properties.push_back({{"SupportedSchemaVersions", json::array({{{"Major", 2}, {"Minor", 5}}})},
                              {"OsBuild", service_->options.os_build},
                              {"ProductType", service_->options.product_type},
                              {"Architecture", service_->options.architecture}});
      } else {
        fail(hresult::kInvalidArgument, op, "unsupported property type " + type.dump());
      }
    }
    return {{"Properties", properties}};
  }

  void simulate_guest_exit(const std::string& id) override {
    std::shared_ptr<SystemObject> system;
    {
      const std::lock_guard lock(service_->mutex);
      const auto it = service_->systems.find(id);
      if (it == service_->systems.end()) fail(hresult::kSystemNotFound, "simulate_guest_exit", "no system " + id);
      system = it->second;
    }
    stop_system(*service_, system, "UnexpectedExit", hresult::kUnexpectedExit, "UnexpectedExit", "GuestOS",
                std::chrono::milliseconds(0));
  }

  void simulate_service_disconnect() override {
    service_->disconnected = true;
    std::vector<std::shared_ptr<SystemObject>> systems;
    {
      const std::lock_guard lock(service_->mutex);
      for (const auto& [id, system] : service_->systems) systems.push_back(system);
    }
    for (const auto& system : systems) {
      std::vector<std::shared_ptr<ProcessObject>> processes;
      {
        const std::lock_guard lock(system->mutex);
        for (const auto& [pid, process] : system->processes) processes.push_back(process);
      }
      system->changed.notify_all();
      for (const auto& process : processes) process->wake();
    }
  }

 private:
  std::shared_ptr<Service> service_;
};

}  // namespace

EmulatorOptions emulator_options_from_environment() {
  EmulatorOptions options;
  if (const char* dir = std::getenv("SHIMCORE_HCS_EMULATOR_DIR"); dir != nullptr && *dir != '\0') {
    options.runtime_dir = dir;
  } else if (::geteuid() == 0) {
    options.runtime_dir = "/run/shimcore/hcs-emulator";
  } else if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    options.runtime_dir = fs::path(xdg) / "shimcore" / "hcs-emulator";
  } else {
    options.runtime_dir = fs::temp_directory_path() / ("shimcore-hcs-emulator-" + std::to_string(::geteuid()));
  }
  if (const char* build = std::getenv("SHIMCORE_HCS_EMULATOR_OS_BUILD"))
    options.os_build = std::strtoul(build, nullptr, 10);
  if (const char* cpus = std::getenv("SHIMCORE_HCS_EMULATOR_CPUS"))
    options.logical_processors = std::strtoul(cpus, nullptr, 10);
  if (const char* agent = std::getenv("SHIMCORE_GCS_PATH"); agent != nullptr && *agent != '\0') {
    options.lcow_guest_agent = agent;
  } else {
    std::error_code error;
    const fs::path beside = fs::read_symlink("/proc/self/exe", error).parent_path() / "shimcore-gcs";
    if (!error && fs::is_regular_file(beside, error)) options.lcow_guest_agent = beside;
  }
  if (const char* backend = std::getenv("SHIMCORE_HCS_EMULATOR_VM"); backend != nullptr && *backend != '\0') {
    const std::string_view name = backend;
    if (name == "qemu") {
      options.linux_vm_backend = LinuxVmBackend::Qemu;
    } else if (name != "process") {
      options.linux_vm_backend_error =
          fmt::format("SHIMCORE_HCS_EMULATOR_VM is \"{}\"; the Linux VM backends are process and qemu", name);
    }
  }
  if (const char* qemu = std::getenv("SHIMCORE_QEMU"); qemu != nullptr && *qemu != '\0') options.qemu.binary = qemu;
  if (const char* accel = std::getenv("SHIMCORE_QEMU_ACCEL"); accel != nullptr && *accel != '\0') {
    options.qemu.accel = accel;
  }
  return options;
}

fs::path emulated_vm_directory(const fs::path& runtime_dir, std::string_view runtime_id) {
  return runtime_dir / "vm" / std::string(runtime_id);
}

fs::path emulated_hvsock_directory(const fs::path& runtime_dir, std::string_view runtime_id) {
  return emulated_vm_directory(runtime_dir, runtime_id) / "ports";
}

std::unique_ptr<EmulatorClient> make_emulator_client(EmulatorOptions options) {
  return std::make_unique<Emulator>(std::move(options));
}

namespace {

// An unsigned field no larger than `max`; absent or null gives nullopt, anything else sets `bad`.
std::optional<std::uint64_t> unsigned_field(const json& object, const char* key, std::uint64_t max, bool& bad) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() > max) {
    bad = true;
    return std::nullopt;
  }
  return it->get<std::uint64_t>();
}

bool owner_alive(const EmulatorRecord& record) {
  if (record.shim_pid == 0) return false;
  const auto start = process_start_time(static_cast<pid_t>(record.shim_pid), /*living_only=*/true);
  if (!start) return false;
  // Without a recorded start time a live pid may be a reuse; it is taken for the owner all the same (better a
  // leftover than a kill of a live shim's processes).
  return !record.shim_start_time || *record.shim_start_time == *start;
}

}  // namespace

std::optional<EmulatorRecord> parse_emulator_record(std::string_view text, std::string* problem) {
  const auto reject = [&](std::string why) -> std::optional<EmulatorRecord> {
    if (problem != nullptr) *problem = std::move(why);
    return std::nullopt;
  };
  const json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return reject("not JSON");
  if (!document.is_object()) return reject("not a JSON object");
  EmulatorRecord record;
  const auto id = document.find("Id");
  if (id == document.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
    return reject("no Id string");
  }
  record.id = id->get<std::string>();
  if (const auto ns = document.find("Namespace"); ns != document.end()) {
    if (!ns->is_string()) return reject("Namespace is not a string");
    record.namespace_name = ns->get<std::string>();
  }
  bool bad = false;
  constexpr std::uint64_t kMaxPid = 0x7fffffff;
  record.shim_pid = static_cast<std::uint32_t>(unsigned_field(document, "ShimPid", kMaxPid, bad).value_or(0));
  record.shim_start_time = unsigned_field(document, "ShimStartTime", UINT64_MAX, bad);
  if (bad) return reject("ShimPid or ShimStartTime is not an unsigned number in range");
  if (const auto processes = document.find("Processes"); processes != document.end()) {
    if (!processes->is_array()) return reject("Processes is not an array");
    for (const json& entry : *processes) {
      if (!entry.is_object()) return reject("a process entry is not an object");
      EmulatorRecordProcess process;
      const auto pid = unsigned_field(entry, "Pid", kMaxPid, bad);
      process.start_time = unsigned_field(entry, "StartTime", UINT64_MAX, bad);
      if (bad || !pid) return reject("a process entry has no valid Pid or StartTime");
      process.pid = static_cast<std::uint32_t>(*pid);
      record.processes.push_back(process);
    }
  }
  return record;
}

void set_emulator_debug_log(std::function<void(const std::string&)> sink) {
  const std::lock_guard lock(debug_log_mutex);
  debug_log = std::move(sink);
}

std::string emulated_name_to_guid(std::string_view name) {
  // Two FNV-1a 64-bit hashes (different offset bases) give the 128 bits; version 8 (RFC 9562 custom), RFC variant.
  auto fnv = [&](std::uint64_t hash) {
    for (const char c : name) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 0x100000001b3ULL;
    }
    return hash;
  };
  std::uint64_t high = fnv(0xcbf29ce484222325ULL);
  std::uint64_t low = fnv(0x84222325cbf29ce4ULL);
  high = (high & ~0xf000ULL) | 0x8000ULL;
  low = (low & ~(0xc0ULL << 56)) | (0x80ULL << 56);
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff, high & 0xffff, low >> 48,
                     low & 0xffffffffffffULL);
}

namespace emulator {

std::string escape_file_name_part(std::string_view text) {
  std::string name;
  for (const char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' || c == '@') {
      name.push_back(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof(escaped), "%%%02X", static_cast<unsigned char>(c));
      name += escaped;
    }
  }
  return name;
}

}  // namespace emulator

EmulatorCleanup cleanup_emulated_systems(const fs::path& runtime_dir, std::string_view namespace_name,
                                         const std::vector<std::string>& ids) {
  EmulatorCleanup cleanup;
  std::error_code error;
  if (!fs::is_directory(runtime_dir, error)) return cleanup;
  const auto self = static_cast<std::uint32_t>(::getpid());
  for (fs::directory_iterator it(runtime_dir, error), end; !error && it != end; it.increment(error)) {
    const fs::path path = it->path();
    if (path.extension() != ".json") continue;  // a record being written is a .tmp
    std::string text;
    {
      std::ifstream in(path, std::ios::binary);
      if (!in) continue;  // removed since the listing
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    std::string problem;
    const auto record = parse_emulator_record(text, &problem);
    if (!record) {
      cleanup.warnings.push_back("skipping malformed emulator record " + path.string() + ": " + problem);
      continue;
    }
    if (record->namespace_name != namespace_name) continue;
    if (!ids.empty() && std::find(ids.begin(), ids.end(), record->id) == ids.end()) continue;
    if (record->shim_pid != self && owner_alive(*record)) {
      cleanup.warnings.push_back("leaving emulator record " + path.string() + " alone: its shim (pid " +
                                 std::to_string(record->shim_pid) + ") is still alive");
      continue;
    }
    for (const EmulatorRecordProcess& process : record->processes) {
      const auto pid = static_cast<pid_t>(process.pid);
      if (pid <= 1 || process.pid == self) continue;
      // Only the process that was recorded: a pid reused since then has another start time.
      const auto start = process_start_time(pid);
      if (!start || (process.start_time && *process.start_time != *start)) continue;
      ::kill(-pid, SIGKILL);
      if (::kill(pid, SIGKILL) == 0) ++cleanup.killed;
    }
    std::error_code removed;
    fs::remove(path, removed);
    cleanup.systems.push_back(record->id);
  }
  // Only the containers cleaned up: a live shim's roots stay mounted.
  if (!cleanup.systems.empty()) emulator::cleanup_container_storage(runtime_dir, namespace_name, cleanup.systems);
  return cleanup;
}

}  // namespace shimcore::hcs
