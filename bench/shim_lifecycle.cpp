// Benchmark: containerd-shim-process-v2 (ours, over the HCS emulator) against containerd-shim-runc-v2 (Go, runc),
// side by side under one private containerd 2.1, in one run: idle memory and threads, `ctr run --rm` latency and
// shim CPU, the `start` invocation, exec latency and CPU, stdio throughput and CPU. Prints both columns, the ratio
// and the targets. Run on demand (scripts/bench shim-lifecycle); never part of the tests.
//
// How the shim CPU of a short-lived shim is taken: this process makes itself a child subreaper, so the shim daemons
// (double-forked by `start`, orphaned) are re-parented to it rather than to init. When one exits it stays a zombie
// until reaped here; its CPU clock (clock_getcpuclockid, nanoseconds, all threads, without its children) is read
// from the zombie first. Long-lived shims are read the same way while alive (before/after deltas).
#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "containerd/task/v3/shim.pb.h"
#include "private_containerd.h"
#include "shimcore/transport/ttrpc_client.h"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using shimcore::testing::PrivateContainerd;

extern char** environ;

namespace {

// The wrapper runtimes of the `start` measurement are this executable under these names (symlinks).
constexpr const char* kWrapOurs = "shim-wrap-ours";
constexpr const char* kWrapGo = "shim-wrap-go";
constexpr const char* kWrapLogEnv = "SHIMCORE_BENCH_WRAP_LOG";
constexpr const char* kOurShimEnv = "SHIMCORE_BENCH_OUR_SHIM";

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double timeval_ms(const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e3 + tv.tv_usec / 1e3; }

// --- wrapper mode ------------------------------------------------------------------------------------------------

// containerd runs this as the runtime: `start` is forked, exec'd and waited for, and its wall time and CPU appended
// to the log; every other action (delete) is the real shim itself, unwrapped.
int wrap_shim(bool ours, char** argv) {
  const char* our_shim = std::getenv(kOurShimEnv);
  const std::string real = ours ? std::string(our_shim != nullptr ? our_shim : "")
                                : (shimcore::testing::containerd_bin_dir() / "containerd-shim-runc-v2").string();
  int argc = 0;
  while (argv[argc] != nullptr) ++argc;
  argv[0] = const_cast<char*>(real.c_str());
  if (argc < 2 || std::string(argv[argc - 1]) != "start") {
    ::execv(real.c_str(), argv);
    return 127;
  }
  const double before = now_ms();
  const pid_t child = ::fork();
  if (child == 0) {
    ::execv(real.c_str(), argv);
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  while (::wait4(child, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  const double wall = now_ms() - before;
  if (const char* log = std::getenv(kWrapLogEnv); log != nullptr) {
    const std::string line = fmt::format("{} {:.3f} {:.3f} {:.3f}\n", ours ? "ours" : "go", wall,
                                         timeval_ms(usage.ru_utime), timeval_ms(usage.ru_stime));
    const int fd = ::open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
      [[maybe_unused]] const ssize_t ignored = ::write(fd, line.data(), line.size());
      ::close(fd);
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// --- processes ---------------------------------------------------------------------------------------------------

struct Timed {
  int exit_status = -1;
  double wall_ms = 0;
  double cpu_ms = 0;  // user + sys of the program itself (ctr): is the reader the bottleneck?
};

// Runs argv with stdout and stderr to files (never into this process's memory: the stdio run is 2 GB).
Timed run_timed(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  Timed timed;
  const double before = now_ms();
  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) throw std::runtime_error("spawn " + argv[0] + ": " + std::strerror(error));
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  timed.wall_ms = now_ms() - before;
  timed.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  timed.cpu_ms = timeval_ms(usage.ru_utime) + timeval_ms(usage.ru_stime);
  return timed;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// CPU time of a process (all its threads, not its children) in ms, from its CPU clock: nanosecond resolution, and
// still readable while it is a zombie.
double process_cpu_ms(pid_t pid) {
  clockid_t clock{};
  timespec value{};
  if (::clock_getcpuclockid(pid, &clock) != 0 || ::clock_gettime(clock, &value) != 0) return -1;
  return static_cast<double>(value.tv_sec) * 1e3 + value.tv_nsec / 1e6;
}

struct ProcStat {
  char state = '?';
  pid_t ppid = 0;
  std::string comm;
  double children_cpu_ms = 0;  // cutime + cstime: reaped children (runc, container processes); 10 ms ticks
};

std::optional<ProcStat> proc_stat(pid_t pid) {
  const std::string text = read_text(fmt::format("/proc/{}/stat", pid));
  const auto open = text.find('(');
  const auto close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  ProcStat stat;
  stat.comm = text.substr(open + 1, close - open - 1);
  std::istringstream fields(text.substr(close + 2));
  std::vector<std::string> values;
  for (std::string field; fields >> field;) values.push_back(field);
  if (values.size() < 15) return std::nullopt;
  stat.state = values[0][0];
  stat.ppid = static_cast<pid_t>(std::stol(values[1]));
  // Fields 16 and 17 of proc(5) (cutime, cstime) are values[13], values[14] here.
  const double tick_ms = 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  stat.children_cpu_ms = static_cast<double>(std::stoll(values[13]) + std::stoll(values[14])) * tick_ms;
  return stat;
}

struct ExitedShim {
  pid_t pid = 0;
  double cpu_ms = 0;
  double children_cpu_ms = 0;
};

// Waits for one shim daemon (re-parented here) to exit, reads its CPU from the zombie, then reaps it.
ExitedShim reap_exited_shim(const std::function<std::string()>& context, std::chrono::milliseconds bound = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  const pid_t self = ::getpid();
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
      const auto pid = static_cast<pid_t>(std::stol(name));
      const auto stat = proc_stat(pid);
      if (!stat || stat->ppid != self || stat->state != 'Z' || !stat->comm.starts_with("containerd-shim")) continue;
      ExitedShim shim{pid, process_cpu_ms(pid), stat->children_cpu_ms};
      ::waitpid(pid, nullptr, 0);
      return shim;
    }
    std::this_thread::sleep_for(2ms);
  }
  throw std::runtime_error("no shim daemon exited within the bound (is this process a subreaper?)\n" + context());
}

// --- memory and threads ------------------------------------------------------------------------------------------

struct Memory {
  long rss_kib = 0, pss_kib = 0, private_kib = 0;
  int threads = 0;
  std::map<std::string, int> thread_names;
};

Memory memory_of(pid_t pid) {
  Memory memory;
  std::ifstream rollup(fmt::format("/proc/{}/smaps_rollup", pid));
  for (std::string line; std::getline(rollup, line);) {
    const auto value = [&] { return std::stol(line.substr(line.find(':') + 1)); };
    if (line.starts_with("Rss:")) memory.rss_kib = value();
    if (line.starts_with("Pss:")) memory.pss_kib = value();
    if (line.starts_with("Private_Clean:") || line.starts_with("Private_Dirty:")) memory.private_kib += value();
  }
  for (const auto& task : fs::directory_iterator(fmt::format("/proc/{}/task", pid))) {
    std::string comm = read_text(task.path() / "comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    ++memory.thread_names[comm];
    ++memory.threads;
  }
  return memory;
}

// Samples every 500 ms until RSS and the thread count stay put for three samples in a row (at most 15 s).
Memory settled_memory(pid_t pid) {
  Memory last = memory_of(pid);
  int stable = 0;
  for (int i = 0; i < 30 && stable < 3; ++i) {
    std::this_thread::sleep_for(500ms);
    Memory next = memory_of(pid);
    stable = next.rss_kib == last.rss_kib && next.threads == last.threads ? stable + 1 : 0;
    last = std::move(next);
  }
  return last;
}

std::string describe_threads(const Memory& memory) {
  std::string text;
  for (const auto& [name, count] : memory.thread_names) {
    text += fmt::format("{}{}{}", text.empty() ? "" : ", ", name, count > 1 ? fmt::format(" x{}", count) : "");
  }
  return text;
}

// --- statistics --------------------------------------------------------------------------------------------------

double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double position = fraction * static_cast<double>(values.size() - 1);
  const auto low = static_cast<std::size_t>(position);
  const std::size_t high = std::min(low + 1, values.size() - 1);
  return values[low] + (values[high] - values[low]) * (position - static_cast<double>(low));
}
double median(const std::vector<double>& values) { return percentile(values, 0.5); }
double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double value : values) sum += value;
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

// --- the benchmark -----------------------------------------------------------------------------------------------

struct Side {
  std::string name;     // "ours" / "go"
  std::string runtime;  // --runtime value
  std::string wrapper;  // the start-measuring wrapper runtime
  pid_t idle_shim = 0;  // shim of the long-lived task
  Memory idle;
  Memory after_execs;
  std::vector<double> run_ms, run_cpu_ms, run_children_ms;
  std::vector<double> start_ms, start_cpu_ms;
  std::vector<double> exec_ms;
  double exec_cpu_ms = 0;
  std::vector<double> stdio_outside_mb_s;  // from ctr's wall time minus a /bin/true run's: a cross-check
  std::vector<double> stdio_mb_s, stdio_cpu_ms_per_gib, stdio_ctr_cpu_ms_per_gib;
};

struct Options {
  int runs = 20;
  int execs = 40;
  int stdio_rounds = 3;
  long long stdio_bytes = 2'000'000'000;
};

class Bench {
 public:
  explicit Bench(const Options& options)
      : options_(options),
        scratch_owner_{fs::path("/tmp") / fmt::format("shimcore-bench-{}", ::getpid())},
        scratch_(scratch_owner_.path),
        containerd_({}, {"SHIMCORE_SOCKET_DIR=" + (scratch_ / "s").string(),
                         "SHIMCORE_HCS_EMULATOR_DIR=" + (scratch_ / "hcs").string(),
                         std::string(kWrapLogEnv) + "=" + (scratch_ / "start.log").string(),
                         std::string(kOurShimEnv) + "=" + our_shim().string()}) {
    rootfs_ = containerd_.make_busybox_rootfs("rootfs");
    for (const char* applet : {"dd", "time"}) fs::create_symlink("busybox", rootfs_ / "bin" / applet);
    // /dev/zero for the stdio run: the emulator only chroots; runc mounts its own /dev over this one.
    if (::mknod((rootfs_ / "dev" / "zero").c_str(), S_IFCHR | 0666, makedev(1, 5)) != 0) {
      throw std::runtime_error("mknod /dev/zero in the rootfs (needs root)");
    }
    const fs::path self = fs::read_symlink("/proc/self/exe");
    for (const char* name : {kWrapOurs, kWrapGo}) fs::create_symlink(self, scratch_ / name);
    sides_.resize(2);
    sides_[0].name = "ours";
    sides_[0].runtime = our_shim().string();
    sides_[0].wrapper = (scratch_ / kWrapOurs).string();
    sides_[1].name = "go";
    sides_[1].runtime = "io.containerd.runc.v2";
    sides_[1].wrapper = (scratch_ / kWrapGo).string();
  }

  static fs::path our_shim() { return fs::read_symlink("/proc/self/exe").parent_path() / "containerd-shim-process-v2"; }

  void run() {
    measure_idle();
    measure_runs();
    measure_starts();
    measure_execs();
    measure_stdio();
    report();
  }

 private:
  Timed ctr(const std::vector<std::string>& args, const std::string& what) {
    const std::string out = (scratch_ / "ctr.out").string();
    const std::string err = (scratch_ / "ctr.err").string();
    const Timed timed = run_timed(containerd_.ctr_argv(args), out, err);
    if (timed.exit_status != 0) {
      throw std::runtime_error(fmt::format("{} failed ({}): {}{}\ncontainerd log tail:\n{}", what, timed.exit_status,
                                           read_text(out), read_text(err), log_tail()));
    }
    return timed;
  }

  std::function<std::string()> log_tail_on_timeout() const {
    return [this] { return "containerd log tail:\n" + log_tail(); };
  }

  std::string log_tail() const {
    const std::string log = containerd_.log();
    return log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
  }

  pid_t shim_pid(const std::string& id) {
    using shimcore::transport::TtrpcClient;
    containerd::task::v3::ConnectRequest connect;
    connect.set_id(id);
    return static_cast<pid_t>(
        TtrpcClient(containerd_.task_shim_address(id))
            .call<containerd::task::v3::ConnectResponse>("containerd.task.v3.Task", "Connect", connect,
                                                         {5s, {{"containerd-namespace-ttrpc", "default"}}})
            .shim_pid());
  }

  std::vector<std::string> run_args(const Side& side, const std::string& runtime, bool detach, const std::string& id,
                                    const std::vector<std::string>& command) const {
    std::vector<std::string> args{"run",      detach ? "-d" : "--rm", "--runtime", runtime,
                                  "--rootfs", rootfs_.string(),       id};
    args.insert(args.end(), command.begin(), command.end());
    (void)side;
    return args;
  }

  // 1. One long-lived task per side; the shim's memory and threads once they settle.
  void measure_idle() {
    for (Side& side : sides_) {
      ctr(run_args(side, side.runtime, true, "idle-" + side.name, {"/bin/sleep", "36000"}), "ctr run -d");
      side.idle_shim = shim_pid("idle-" + side.name);
    }
    for (Side& side : sides_) side.idle = settled_memory(side.idle_shim);
  }

  // 2. `ctr run --rm /bin/true`, the two sides interleaved; shim CPU from the zombie.
  void measure_runs() {
    for (int i = 0; i < options_.runs + 2; ++i) {
      for (Side& side : sides_) {
        const Timed timed =
            ctr(run_args(side, side.runtime, false, fmt::format("run-{}-{}", side.name, i), {"/bin/true"}), "ctr run");
        const ExitedShim shim = reap_exited_shim(log_tail_on_timeout());
        if (i < 2) continue;  // warm-up: page cache, containerd's first-use paths
        side.run_ms.push_back(timed.wall_ms);
        side.run_cpu_ms.push_back(shim.cpu_ms);
        side.run_children_ms.push_back(shim.children_cpu_ms);
      }
    }
  }

  // 3. The `start` action alone: the same runs through a wrapper runtime that times the start process.
  void measure_starts() {
    const fs::path log = scratch_ / "start.log";
    std::error_code ignored;
    fs::remove(log, ignored);
    for (int i = 0; i < options_.runs + 2; ++i) {
      for (Side& side : sides_) {
        ctr(run_args(side, side.wrapper, false, fmt::format("start-{}-{}", side.name, i), {"/bin/true"}),
            "ctr run (wrapped)");
        reap_exited_shim(log_tail_on_timeout());
      }
    }
    std::istringstream lines(read_text(log));
    std::map<std::string, int> seen;
    for (std::string name; lines >> name;) {
      double wall = 0, user = 0, sys = 0;
      lines >> wall >> user >> sys;
      if (seen[name]++ < 2) continue;
      for (Side& side : sides_) {
        if (side.name != name) continue;
        side.start_ms.push_back(wall);
        side.start_cpu_ms.push_back(user + sys);
      }
    }
  }

  // 4. `ctr task exec /bin/true` into the long-lived tasks, interleaved; CPU as the shim's delta over the phase.
  void measure_execs() {
    std::map<std::string, double> cpu_before;
    for (int i = 0; i < options_.execs + 2; ++i) {
      for (Side& side : sides_) {
        if (i == 2) cpu_before[side.name] = process_cpu_ms(side.idle_shim);
        const Timed timed = ctr({"task", "exec", "--exec-id", fmt::format("e{}", i), "idle-" + side.name, "/bin/true"},
                                "ctr task exec");
        if (i >= 2) side.exec_ms.push_back(timed.wall_ms);
      }
    }
    std::this_thread::sleep_for(200ms);  // trailing work (exit events) belongs to the execs too
    for (Side& side : sides_) {
      side.exec_cpu_ms = (process_cpu_ms(side.idle_shim) - cpu_before[side.name]) / options_.execs;
      side.after_execs = settled_memory(side.idle_shim);
    }
  }

  // 5. dd writes the bytes to the container's stdout; ctr reads its FIFO and writes to /dev/null. busybox `time dd`
  // times the transfer inside the container (container start and teardown excluded; 10 ms resolution); shim CPU is
  // the run's minus the median of a /bin/true run's.
  void measure_stdio() {
    const long long block = 1'000'000;
    const long long count = options_.stdio_bytes / block;
    const double gib = static_cast<double>(block * count) / (1024.0 * 1024.0 * 1024.0);
    for (int round = 0; round < options_.stdio_rounds; ++round) {
      for (Side& side : sides_) {
        const std::string err = (scratch_ / "dd.err").string();
        const Timed timed = run_timed(
            containerd_.ctr_argv(run_args(
                side, side.runtime, false, fmt::format("stdio-{}-{}", side.name, round),
                {"/bin/time", "/bin/dd", "if=/dev/zero", fmt::format("bs={}", block), fmt::format("count={}", count)})),
            "/dev/null", err);
        const std::string report = read_text(err);
        if (timed.exit_status != 0) throw std::runtime_error("stdio run failed: " + report + log_tail());
        const ExitedShim shim = reap_exited_shim(log_tail_on_timeout());
        // busybox time: "real\t0m 1.05s"
        const auto real = report.find("real\t");
        const auto minutes = report.find("m ", real);
        if (real == std::string::npos || minutes == std::string::npos) {
          throw std::runtime_error("no `time` report: " + report);
        }
        const double seconds = std::stod(report.substr(real + 5)) * 60 + std::stod(report.substr(minutes + 2));
        side.stdio_outside_mb_s.push_back(static_cast<double>(block * count) /
                                          ((timed.wall_ms - median(side.run_ms)) / 1e3) / 1e6);
        side.stdio_mb_s.push_back(static_cast<double>(block * count) / seconds / 1e6);
        side.stdio_cpu_ms_per_gib.push_back((shim.cpu_ms - median(side.run_cpu_ms)) / gib);
        side.stdio_ctr_cpu_ms_per_gib.push_back(timed.cpu_ms / gib);
      }
    }
  }

  void report() const {
    const Side& ours = sides_[0];
    const Side& go = sides_[1];
    fmt::print(
        "\nshim lifecycle: containerd-shim-process-v2 (ours, HCS emulator) vs containerd-shim-runc-v2 (Go, "
        "runc {}), one private containerd 2.1 (log level debug: both shims run with -debug)\n",
        runc_version());
    fmt::print("runs {} + 2 warm-up per side, execs {}, stdio {} x {} bytes; sides interleaved\n", options_.runs,
               options_.execs, options_.stdio_rounds, options_.stdio_bytes);
    fmt::print("{:<40}{:>12}{:>12}{:>10}   {}\n", "metric", "ours", "go", "ours/go", "target (ours)");
    const auto row = [](const std::string& name, double our_value, double go_value, const std::string& format,
                        std::optional<bool> met = std::nullopt, const std::string& target = {}) {
      const std::string verdict = met ? fmt::format("{} {}", target, *met ? "met" : "MISSED") : target;
      fmt::print("{:<40}{:>12}{:>12}{:>10.2f}   {}\n", name, fmt::format(fmt::runtime(format), our_value),
                 fmt::format(fmt::runtime(format), go_value), go_value != 0 ? our_value / go_value : 0.0, verdict);
    };
    const auto at_most = [](double value, double bound) { return std::optional<bool>(value <= bound); };
    row("idle RSS (KiB)", ours.idle.rss_kib, go.idle.rss_kib, "{:.0f}", at_most(ours.idle.rss_kib, 4096), "<= 4 MiB");
    row("idle PSS (KiB)", ours.idle.pss_kib, go.idle.pss_kib, "{:.0f}");
    row("idle private (USS, KiB)", ours.idle.private_kib, go.idle.private_kib, "{:.0f}");
    row("idle threads", ours.idle.threads, go.idle.threads, "{:.0f}", at_most(ours.idle.threads, 3), "<= 3");
    row("ctr run --rm /bin/true p50 (ms)", median(ours.run_ms), median(go.run_ms), "{:.1f}");
    row("ctr run --rm /bin/true p90 (ms)", percentile(ours.run_ms, 0.9), percentile(go.run_ms, 0.9), "{:.1f}");
    row("shim CPU per run, mean (ms)", mean(ours.run_cpu_ms), mean(go.run_cpu_ms), "{:.2f}",
        at_most(mean(ours.run_cpu_ms), mean(go.run_cpu_ms)), "< go");
    row("  its children per run (ms, 10 ms ticks)", mean(ours.run_children_ms), mean(go.run_children_ms), "{:.1f}",
        std::nullopt, "runc + container vs container");
    row("start invocation p50 (ms)", median(ours.start_ms), median(go.start_ms), "{:.2f}",
        at_most(median(ours.start_ms), 3), "<= 3 ms");
    row("start invocation p90 (ms)", percentile(ours.start_ms, 0.9), percentile(go.start_ms, 0.9), "{:.2f}");
    row("start process CPU p50 (ms)", median(ours.start_cpu_ms), median(go.start_cpu_ms), "{:.2f}");
    row("ctr task exec /bin/true p50 (ms)", median(ours.exec_ms), median(go.exec_ms), "{:.1f}");
    row("ctr task exec /bin/true p90 (ms)", percentile(ours.exec_ms, 0.9), percentile(go.exec_ms, 0.9), "{:.1f}");
    row("shim CPU per exec (ms)", ours.exec_cpu_ms, go.exec_cpu_ms, "{:.2f}", at_most(ours.exec_cpu_ms, go.exec_cpu_ms),
        "< go");
    row("shim RSS after the execs (KiB)", ours.after_execs.rss_kib, go.after_execs.rss_kib, "{:.0f}");
    const double our_rate = median(ours.stdio_mb_s);
    row("stdio throughput, median (MB/s)", our_rate, median(go.stdio_mb_s), "{:.0f}",
        std::optional<bool>(our_rate >= 1800), ">= 1800");
    row("  from outside (ctr wall - run p50)", median(ours.stdio_outside_mb_s), median(go.stdio_outside_mb_s),
        "{:.0f}");
    row("stdio shim CPU per GiB, median (ms)", median(ours.stdio_cpu_ms_per_gib), median(go.stdio_cpu_ms_per_gib),
        "{:.0f}", at_most(median(ours.stdio_cpu_ms_per_gib), 150), "<= 150 ms");
    row("  ctr (reader) CPU per GiB (ms)", median(ours.stdio_ctr_cpu_ms_per_gib), median(go.stdio_ctr_cpu_ms_per_gib),
        "{:.0f}");
    fmt::print("stdio rounds (MB/s): ours {}, go {}\n", fmt::join(rounded(ours.stdio_mb_s), " "),
               fmt::join(rounded(go.stdio_mb_s), " "));
    fmt::print("idle threads, ours: {}\n", describe_threads(ours.idle));
    fmt::print("idle threads, go:   {}\n", describe_threads(go.idle));
  }

  static std::vector<long> rounded(const std::vector<double>& values) {
    std::vector<long> out;
    for (double value : values) out.push_back(std::lround(value));
    return out;
  }

  static std::string runc_version() {
    const auto result = shimcore::testing::run_process({"runc", "--version"});
    const auto first = result.out.substr(0, result.out.find('\n'));
    return first.substr(first.rfind(' ') + 1);
  }

  // Removed last, after containerd and its tasks are gone (their sockets and emulator records live there).
  struct ScratchDir {
    fs::path path;
    explicit ScratchDir(fs::path where) : path(std::move(where)) { fs::create_directories(path); }
    ~ScratchDir() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  };

  Options options_;
  ScratchDir scratch_owner_;
  fs::path scratch_;
  PrivateContainerd containerd_;
  fs::path rootfs_;
  std::vector<Side> sides_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string name = fs::path(argv[0]).filename().string();
  if (name == kWrapOurs || name == kWrapGo) return wrap_shim(name == kWrapOurs, argv);
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&] {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return std::string(argv[++i]);
    };
    if (arg == "--runs") {
      options.runs = std::stoi(value());
    } else if (arg == "--execs") {
      options.execs = std::stoi(value());
    } else if (arg == "--stdio-rounds") {
      options.stdio_rounds = std::stoi(value());
    } else if (arg == "--stdio-bytes") {
      options.stdio_bytes = std::stoll(value());
    } else {
      fmt::print(arg == "--help" || arg == "-h" ? stdout : stderr,
                 "usage: bench_shim_lifecycle [--runs N] [--execs N] [--stdio-rounds N] [--stdio-bytes B]\n");
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  if (::geteuid() != 0) {
    fmt::print(stderr, "bench_shim_lifecycle needs root (runc, chroot, mknod)\n");
    return 1;
  }
  // The shim daemons are orphaned by their `start`: they become this process's children, see the file comment.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    fmt::print(stderr, "prctl(PR_SET_CHILD_SUBREAPER) failed\n");
    return 1;
  }
  try {
    Bench bench(options);
    bench.run();
  } catch (const std::exception& error) {
    fmt::print(stderr, "bench_shim_lifecycle: {}\n", error.what());
    return 1;
  }
  return 0;
}
