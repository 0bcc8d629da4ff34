// The Linux job object: cgroups (v2, or v1's memory, cpu, cpuacct and pids hierarchies) named after the container,
// holding its processes, which start on the host's root in process groups of their own.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "hcs/emulator/container_storage.h"
#include "hcs/emulator/host_process.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/job_object.h"
#include "shimcore/thread_name.h"

namespace shimcore::hcs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::uint64_t kCpuPeriodUs = 100000;
const fs::path kCgroupRoot = "/sys/fs/cgroup";

void write_text(const fs::path& file, const std::string& value) {
  std::ofstream out(file);
  out << value;
  out.flush();
  if (!out) throw make_error(ErrorKind::Unavailable, "job object: cannot write {} to {}", value, file.string());
}

std::optional<std::uint64_t> read_number(const fs::path& file, std::string_view key = {}) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string first;
    fields >> first;
    if (key.empty()) return std::stoull(first);
    std::uint64_t value = 0;
    if (first == key && fields >> value) return value;
  }
  return std::nullopt;
}

class JobProcess final : public Process {
 public:
  explicit JobProcess(emulator::SpawnedProcess spawned) : spawned_(std::move(spawned)) {
    reaper_ = std::thread([this] { reap(); });
  }
  ~JobProcess() override {
    // A job's processes do not outlive their handle here (the job kills what is left when it goes anyway): the
    // reaper is joined, so it never runs on a destroyed handle.
    if (!exited()) ::kill(-spawned_.pid, SIGKILL);
    if (reaper_.joinable()) reaper_.join();
  }

  std::uint32_t pid() const override { return static_cast<std::uint32_t>(spawned_.pid); }
  ProcessStdio take_stdio() override {
    return {std::move(spawned_.std_in), std::move(spawned_.std_out), std::move(spawned_.std_err)};
  }
  void signal(const json& options) override {
    const int number = options.value("Signal", SIGTERM);
    if (exited()) throw HcsError(hresult::kProcessAlreadyStopped, "SignalProcess: the process has already exited");
    ::kill(-spawned_.pid, number);
  }
  void terminate() override {
    if (exited()) throw HcsError(hresult::kProcessAlreadyStopped, "TerminateProcess: the process has already exited");
    ::kill(-spawned_.pid, SIGKILL);
  }
  void resize_console(std::uint16_t height, std::uint16_t width) override {
    if (!spawned_.pty_master) return;
    winsize size{};
    size.ws_row = height;
    size.ws_col = width;
    ::ioctl(spawned_.pty_master.get(), TIOCSWINSZ, &size);
  }
  void close_stdin() override { spawned_.std_in.reset(); }
  json properties() override { return {{"ProcessId", spawned_.pid}}; }
  std::optional<ProcessExit> wait(std::optional<std::chrono::milliseconds> timeout) override {
    std::unique_lock lock(state_->mutex);
    if (timeout) {
      state_->changed.wait_for(lock, *timeout, [&] { return state_->exit.has_value(); });
    } else {
      state_->changed.wait(lock, [&] { return state_->exit.has_value(); });
    }
    return state_->exit;
  }
  void on_exit(std::function<void(const ProcessExit&)> callback) override {
    std::unique_lock lock(state_->mutex);
    if (state_->exit) {
      const ProcessExit exit = *state_->exit;
      lock.unlock();
      callback(exit);
      return;
    }
    state_->callbacks.push_back(std::move(callback));
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    std::optional<ProcessExit> exit;
    std::vector<std::function<void(const ProcessExit&)>> callbacks;
  };

  bool exited() {
    const std::lock_guard lock(state_->mutex);
    return state_->exit.has_value();
  }

  void reap() {
    set_thread_name("job-reaper");
    // The reaper owns the state through a shared pointer: it may outlive the handle.
    const std::shared_ptr<State> state = state_;
    const pid_t pid = spawned_.pid;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::vector<std::function<void(const ProcessExit&)>> callbacks;
    ProcessExit exit;
    exit.process_id = static_cast<std::uint32_t>(pid);
    exit.exit_code = emulator::exit_code_from_wait_status(status);
    {
      const std::lock_guard lock(state->mutex);
      state->exit = exit;
      callbacks.swap(state->callbacks);
    }
    state->changed.notify_all();
    for (auto& callback : callbacks) callback(exit);
  }

  emulator::SpawnedProcess spawned_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::thread reaper_;
};

class CgroupJob final : public JobObject {
 public:
  explicit CgroupJob(const std::string& id) : id_(id) {
    const std::string name = emulator::escape_file_name_part(id);
    std::error_code error;
    v2_ = fs::exists(kCgroupRoot / "cgroup.controllers", error);
    if (v2_) {
      // The root may hold processes and still delegate controllers; our parent only has child groups.
      const fs::path parent = kCgroupRoot / "shimcore-jobs";
      fs::create_directories(parent, error);
      for (const fs::path& control : {kCgroupRoot / "cgroup.subtree_control", parent / "cgroup.subtree_control"}) {
        std::ofstream(control) << "+cpu +memory +pids";
      }
      add(parent / name);
    } else {
      for (const char* controller : {"memory", "cpu", "cpuacct", "pids"}) {
        const fs::path hierarchy = kCgroupRoot / controller;
        if (fs::is_directory(hierarchy, error)) add(hierarchy / "shimcore-jobs" / name, controller);
      }
    }
    if (folders_.empty()) {
      throw make_error(ErrorKind::Unavailable, "job object for {}: no writable cgroup hierarchy under {}", id,
                       kCgroupRoot.string());
    }
  }

  ~CgroupJob() override {
    try {
      terminate();
    } catch (const std::exception&) {
    }
    std::error_code error;
    for (const auto& [folder, controller] : folders_) {
      fs::remove(folder, error);                // rmdir: a cgroup folder goes once it holds no process
      fs::remove(folder.parent_path(), error);  // shimcore-jobs, once empty
    }
  }

  void set_limits(const JobLimits& limits) override {
    if (limits.cpu_maximum && (*limits.cpu_maximum == 0 || *limits.cpu_maximum > 10000)) {
      throw make_error(ErrorKind::InvalidArgument, "job {}: CPU maximum {} is outside 1..10000", id_,
                       *limits.cpu_maximum);
    }
    if (limits.cpu_weight && (*limits.cpu_weight == 0 || *limits.cpu_weight > 10000)) {
      throw make_error(ErrorKind::InvalidArgument, "job {}: CPU weight {} is outside 1..10000", id_,
                       *limits.cpu_weight);
    }
    if (limits.memory_bytes && *limits.memory_bytes == 0) {
      throw make_error(ErrorKind::InvalidArgument, "job {}: memory limit 0", id_);
    }
    std::optional<std::uint64_t> quota;
    if (limits.cpu_count) quota = static_cast<std::uint64_t>(*limits.cpu_count) * kCpuPeriodUs;
    if (limits.cpu_maximum) {
      const std::uint64_t processors = std::max(1u, std::thread::hardware_concurrency());
      quota = std::max<std::uint64_t>(1000, *limits.cpu_maximum * processors * kCpuPeriodUs / 10000);
    }
    if (v2_) {
      const fs::path& folder = folders_.front().first;
      if (limits.memory_bytes) write_text(folder / "memory.max", std::to_string(*limits.memory_bytes));
      if (quota) write_text(folder / "cpu.max", fmt::format("{} {}", *quota, kCpuPeriodUs));
      if (limits.cpu_weight) write_text(folder / "cpu.weight", std::to_string(*limits.cpu_weight));
      return;
    }
    if (limits.memory_bytes)
      write_text(folder_of("memory") / "memory.limit_in_bytes", std::to_string(*limits.memory_bytes));
    if (quota) {
      write_text(folder_of("cpu") / "cpu.cfs_period_us", std::to_string(kCpuPeriodUs));
      write_text(folder_of("cpu") / "cpu.cfs_quota_us", std::to_string(*quota));
    }
    // hcsshim's weight 1..10000 (100 = the default share) as v1 shares (1024 = the default).
    if (limits.cpu_weight) {
      write_text(folder_of("cpu") / "cpu.shares",
                 std::to_string(std::max<std::uint64_t>(2, *limits.cpu_weight * 1024ULL / 100)));
    }
  }

  std::unique_ptr<Process> create_process(const json& parameters) override {
    emulator::SpawnRequest request;
    try {
      request = emulator::spawn_request_of(parameters);
    } catch (const json::exception& error) {
      throw make_error(ErrorKind::InvalidArgument, "job {}: process parameters: {}", id_, error.what());
    }
    if (request.argv.empty()) throw make_error(ErrorKind::InvalidArgument, "job {}: empty command line", id_);
    if (request.working_directory.empty()) request.working_directory = "/";
    std::vector<OsHandle> procs;
    for (const auto& [folder, controller] : folders_) {
      procs.emplace_back(::open((folder / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
      if (!procs.back())
        throw make_error(ErrorKind::Unavailable, "job {}: cannot open {}/cgroup.procs", id_, folder.string());
      request.join_cgroups.push_back(procs.back().get());
    }
    return std::make_unique<JobProcess>(emulator::spawn_host_process(request));
  }

  std::vector<std::uint32_t> pids() override {
    std::set<std::uint32_t> found;
    for (const auto& [folder, controller] : folders_) {
      std::ifstream in(folder / "cgroup.procs");
      for (std::uint32_t pid = 0; in >> pid;) found.insert(pid);
    }
    return {found.begin(), found.end()};
  }

  void signal_all(int signal) override {
    for (const std::uint32_t pid : pids()) ::kill(static_cast<pid_t>(pid), signal);
  }

  void terminate() override {
    if (v2_) {
      std::error_code error;
      if (fs::exists(folders_.front().first / "cgroup.kill", error)) {
        std::ofstream(folders_.front().first / "cgroup.kill") << "1";
      }
    }
    // Until the job is empty: a process may fork while it is being killed (bounded, 5 s).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (std::vector<std::uint32_t> left = pids(); !left.empty() && std::chrono::steady_clock::now() < deadline;
         left = pids()) {
      for (const std::uint32_t pid : left) ::kill(static_cast<pid_t>(pid), SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  JobStatistics statistics() override {
    JobStatistics statistics;
    statistics.processes = static_cast<std::uint32_t>(pids().size());
    try {
      if (v2_) {
        const fs::path& folder = folders_.front().first;
        statistics.memory_bytes = read_number(folder / "memory.current").value_or(0);
        statistics.cpu_time_ns = read_number(folder / "cpu.stat", "usage_usec").value_or(0) * 1000;
      } else {
        if (has("memory"))
          statistics.memory_bytes = read_number(folder_of("memory") / "memory.usage_in_bytes").value_or(0);
        if (has("cpuacct")) statistics.cpu_time_ns = read_number(folder_of("cpuacct") / "cpuacct.usage").value_or(0);
      }
    } catch (const std::exception& error) {
      throw make_error(ErrorKind::Unavailable, "job {}: statistics: {}", id_, error.what());
    }
    return statistics;
  }

  std::vector<std::string> locations() const override {
    std::vector<std::string> out;
    for (const auto& [folder, controller] : folders_) out.push_back(folder.string());
    return out;
  }

 private:
  void add(const fs::path& folder, const std::string& controller = {}) {
    std::error_code error;
    fs::create_directories(folder, error);
    if (error || !fs::exists(folder / "cgroup.procs", error)) {
      throw make_error(ErrorKind::Unavailable, "job object for {}: cannot create the cgroup {}", id_, folder.string());
    }
    folders_.emplace_back(folder, controller);
  }
  bool has(const std::string& controller) const {
    return std::any_of(folders_.begin(), folders_.end(), [&](const auto& entry) { return entry.second == controller; });
  }
  fs::path folder_of(const std::string& controller) const {
    for (const auto& [folder, name] : folders_) {
      if (name == controller) return folder;
    }
    throw make_error(ErrorKind::Unavailable, "job {}: the {} cgroup controller is not mounted", id_, controller);
  }

  std::string id_;
  bool v2_ = false;
  std::vector<std::pair<fs::path, std::string>> folders_;  // (folder, v1 controller; "" for v2)
};

}  // namespace

std::unique_ptr<JobObject> create_job_object(const std::string& id) {
  if (id.empty()) throw make_error(ErrorKind::InvalidArgument, "job object: empty container id");
  return std::make_unique<CgroupJob>(id);
}

}  // namespace shimcore::hcs
