// The QEMU-backed LCOW guest: document mapping, QEMU's launch in its own mount namespace, the port mux, the console
// relay and the Plan9 binds.
#include "hcs/emulator/qemu_guest.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "hcs/emulator/orphaned_threads.h"
#include "shimcore/gcs/stream_mux.h"
#include "shimcore/hcs/hresult.h"
#include "shimcore/thread_name.h"

namespace shimcore::hcs::emulator {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kStart = "StartComputeSystem";
constexpr std::size_t kConsoleTail = 40;  // console lines kept for a boot failure's message

[[noreturn]] void fail(std::uint32_t hr, std::string_view operation, const std::string& message) {
  const json result{{"Error", static_cast<std::int32_t>(hr)}, {"ErrorMessage", message}};
  throw HcsError(hr, std::string(operation) + ": " + message, result.dump());
}

[[noreturn]] void unmappable(const std::string& what) {
  fail(hresult::kNotImplemented, kStart, "the QEMU backend cannot map " + what);
}

// The builder writes Windows paths; on this host they name the same files with '/'.
std::string native_path(std::string path) {
  std::replace(path.begin(), path.end(), '\\', '/');
  return path;
}

bool non_empty(const json& value) {
  return (value.is_object() || value.is_array()) ? !value.empty() : !value.is_null();
}

// In a forked child of a multithreaded process: only async-signal-safe calls.
[[noreturn]] void child_exit(int code) { ::_exit(code); }

}  // namespace

std::string qemu_kernel_command_line(std::string_view hcs_command_line) {
  std::string_view kernel = hcs_command_line;
  std::string_view init;
  if (const auto split = hcs_command_line.find(" -- "); split != std::string_view::npos) {
    kernel = hcs_command_line.substr(0, split);
    init = hcs_command_line.substr(split + 4);
  } else if (hcs_command_line.starts_with("-- ")) {
    kernel = {};
    init = hcs_command_line.substr(3);
  }
  std::vector<std::string> words;
  bool console = false;
  std::istringstream in{std::string(kernel)};
  for (std::string word; in >> word;) {
    if (word == "pci=off") continue;
    if (word == "8250_core.nr_uarts=0") word = "8250_core.nr_uarts=1";
    if (word.starts_with("console=")) console = true;
    words.push_back(word);
  }
  if (!console) words.emplace_back("console=ttyS0");
  std::string out = fmt::format("{}", fmt::join(words, " "));
  if (!init.empty()) out += " -- " + std::string(init);
  return out;
}

QemuMapping qemu_command_line(const json& document, const QemuPaths& paths, const QemuOptions& options) {
  if (!document.is_object() || !document.contains("VirtualMachine") || !document["VirtualMachine"].is_object()) {
    unmappable("a document without a VirtualMachine");
  }
  const json& vm = document["VirtualMachine"];
  QemuMapping mapping;
  const json chipset = vm.value("Chipset", json::object());
  if (chipset.contains("Uefi")) unmappable("VirtualMachine.Chipset.Uefi (UEFI boot); it boots LinuxKernelDirect");
  const json direct = chipset.value("LinuxKernelDirect", json());
  if (!direct.is_object()) unmappable("a VM without VirtualMachine.Chipset.LinuxKernelDirect");
  const std::string kernel = native_path(direct.value("KernelFilePath", std::string()));
  const std::string initrd = native_path(direct.value("InitRdPath", std::string()));
  if (kernel.empty()) unmappable("LinuxKernelDirect without a KernelFilePath");
  if (initrd.empty()) {
    unmappable("LinuxKernelDirect without an InitRdPath (a VHD root filesystem on SCSI): boot from initrd.img");
  }
  std::error_code error;
  for (const auto& [field, path] : {std::pair{"KernelFilePath", kernel}, std::pair{"InitRdPath", initrd}}) {
    if (!fs::is_regular_file(path, error)) {
      fail(hresult::kFileNotFound, kStart, fmt::format("LinuxKernelDirect.{} {} does not exist", field, path));
    }
  }

  const json topology = vm.value("ComputeTopology", json::object());
  const json processor = topology.value("Processor", json::object());
  const json memory = topology.value("Memory", json::object());
  const std::uint64_t processors = processor.value("Count", 1u);
  const std::uint64_t memory_mb = memory.value("SizeInMB", 1024u);
  if (processors == 0 || processors > 64) unmappable(fmt::format("ComputeTopology.Processor.Count {}", processors));
  if (memory_mb < 128)
    unmappable(fmt::format("ComputeTopology.Memory.SizeInMB {} (QEMU's guest needs 128)", memory_mb));
  for (const char* key : {"AllowOvercommit", "EnableDeferredCommit", "EnableColdDiscardHint", "HighMmioBaseInMB",
                          "HighMmioGapInMB", "LowMmioGapInMB", "FullyPhysicallyBacked"}) {
    if (memory.contains(key)) mapping.ignored.push_back(std::string("ComputeTopology.Memory.") + key);
  }
  for (const char* key : {"Limit", "Weight", "Reservation", "CpuGroup"}) {
    if (processor.contains(key)) mapping.ignored.push_back(std::string("ComputeTopology.Processor.") + key);
  }

  const json devices = vm.value("Devices", json::object());
  if (devices.contains("Scsi") && devices["Scsi"].is_object()) {
    for (const auto& [controller, settings] : devices["Scsi"].items()) {
      if (settings.is_object() && non_empty(settings.value("Attachments", json()))) {
        unmappable(
            fmt::format("SCSI attachments (Devices.Scsi.{}.Attachments); layers reach it over Plan9", controller));
      }
    }
  }
  if (devices.contains("VirtualPMem") && non_empty(devices["VirtualPMem"].value("Devices", json()))) {
    unmappable("VirtualPMem devices (Devices.VirtualPMem.Devices)");
  }
  for (const char* key :
       {"VirtualPci", "NetworkAdapters", "VirtualSmb", "Battery", "ComPorts", "GuestCrashReporting"}) {
    if (devices.contains(key) && non_empty(devices[key])) unmappable(std::string("Devices.") + key);
  }
  for (const char* key : {"HvSocket", "Scsi", "VirtualPMem", "Plan9"}) {
    if (devices.contains(key)) mapping.ignored.push_back(std::string("Devices.") + key);
  }
  for (const char* key : {"GuestState", "SecuritySettings", "RestoreState", "DebugOptions"}) {
    if (vm.contains(key) && non_empty(vm[key])) unmappable(std::string("VirtualMachine.") + key);
  }

  const std::string command_line = qemu_kernel_command_line(direct.value("KernelCmdLine", std::string()));
  const std::string export_path = paths.plan9_export.string();
  if (export_path.find(',') != std::string::npos || paths.channel_socket.string().find(',') != std::string::npos) {
    fail(hresult::kInvalidArgument, kStart, "the VM folder's path contains ',', which QEMU's options cannot carry");
  }
  mapping.args = {options.binary,
                  "-name",
                  "shimcore-uvm",
                  "-nodefaults",
                  "-no-user-config",
                  "-display",
                  "none",
                  "-no-reboot",
                  "-accel",
                  options.accel,
                  "-cpu",
                  "max",
                  "-smp",
                  std::to_string(processors),
                  "-m",
                  std::to_string(memory_mb),
                  "-serial",
                  "stdio",
                  "-kernel",
                  kernel,
                  "-initrd",
                  initrd,
                  "-append",
                  command_line,
                  "-device",
                  "virtio-serial-pci,id=vser0",
                  "-chardev",
                  "socket,id=mux,path=" + paths.channel_socket.string(),
                  "-device",
                  "virtserialport,bus=vser0.0,chardev=mux,name=shimcore.mux",
                  "-fsdev",
                  "local,id=p9,path=" + export_path + ",security_model=none,multidevs=remap",
                  "-device",
                  "virtio-9p-pci,fsdev=p9,mount_tag=plan9"};
  return mapping;
}

namespace {

class QemuGuest final : public EmulatedGuest {
 public:
  QemuGuest(GuestContext context, QemuOptions options) : context_(std::move(context)), options_(std::move(options)) {
    const fs::path vm = context_.ports_directory.parent_path();
    paths_.channel_socket = vm / "qemu-mux.sock";
    paths_.plan9_export = vm / "qemu-9p";
  }

  ~QemuGuest() override {
    stop();
    join_threads();
  }

  void start() override {
    const QemuMapping mapping = qemu_command_line(context_.document, paths_, options_);
    if (!mapping.ignored.empty()) {
      std::fprintf(stderr, "hcs emulator: %s: no QEMU counterpart, ignored: %s\n", context_.system_id.c_str(),
                   fmt::format("{}", fmt::join(mapping.ignored, ", ")).c_str());
    }
    std::error_code error;
    fs::create_directories(paths_.plan9_export, error);
    if (error) fail(hresult::kAccessDenied, kStart, "cannot create " + paths_.plan9_export.string());
    hcs::OsHandle listener = listen_channel();
    launch(mapping.args);
    hcs::OsHandle channel;
    try {
      channel = accept_channel(listener);
      auto mux = std::make_unique<gcs::mux::StreamMux>(
          std::move(channel), gcs::mux::Side::Host,
          [ports = context_.ports_directory](std::uint32_t port) { return dial_port(ports / std::to_string(port)); });
      {
        const std::lock_guard lock(mutex_);
        mux_ = std::move(mux);
      }
      // Shares the document declared before the start.
      const json vm = context_.document.value("VirtualMachine", json::object());
      const json shares = vm.value("Devices", json::object()).value("Plan9", json::object()).value("Shares", json());
      if (shares.is_array()) {
        for (const json& share : shares) {
          const fs::path host_path(native_path(share.value("Path", std::string())));
          plan9_share(share.value("Name", std::string()), &host_path, (share.value("Flags", 0u) & 1u) != 0);
        }
      }
    } catch (...) {
      stop();
      throw;
    }
    fs::remove(paths_.channel_socket, error);
    {
      const std::lock_guard lock(mutex_);
      started_ = true;
      if (exited_) fail(hresult::kTerminatedDuringStart, kStart, "QEMU exited while starting: " + console_tail());
    }
  }

  void stop() override {
    pid_t pid = -1;
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
      if (pid_ > 0 && !exited_) pid = pid_;
    }
    if (pid > 0) {
      // SIGTERM lets QEMU close its files; a QEMU that does not go within 3 s is killed.
      ::kill(pid, SIGTERM);
      std::unique_lock lock(mutex_);
      if (!changed_.wait_for(lock, std::chrono::seconds(3), [&] { return exited_; })) ::kill(pid, SIGKILL);
      changed_.wait(lock, [&] { return exited_ || watcher_gone_; });
    }
    std::unique_ptr<gcs::mux::StreamMux> mux;
    std::set<std::string> shares;
    {
      const std::lock_guard lock(mutex_);
      mux = std::move(mux_);
      shares.swap(shares_);
    }
    mux.reset();  // every stream ends; the host's listeners see their connections close
    // The binds lived in QEMU's mount namespace, gone with it: only empty folders remain, removed one by one (never
    // recursively, which could reach into a share that is still mounted somewhere).
    std::error_code error;
    for (const std::string& name : shares) fs::remove(paths_.plan9_export / name, error);
    fs::remove(paths_.plan9_export, error);
    fs::remove(paths_.channel_socket, error);
  }

  void modify(const json&) override {
    fail(hresult::kNotSupported, "ModifyComputeSystem",
         "an LCOW VM with an external GCS bridge takes guest requests over the bridge, not from HCS");
  }

  void plan9_share(const std::string& name, const fs::path* host_path, bool read_only) override {
    constexpr std::string_view op = "ModifyComputeSystem";
    pid_t pid;
    {
      const std::lock_guard lock(mutex_);
      pid = exited_ ? -1 : pid_;
    }
    if (pid <= 0) fail(hresult::kInvalidState, op, "the VM is not running");
    const fs::path target = paths_.plan9_export / name;
    std::error_code error;
    if (host_path != nullptr) {
      fs::create_directory(target, error);
      if (error) fail(hresult::kAccessDenied, op, "cannot create " + target.string() + ": " + error.message());
      if (const int failed = in_qemu_namespace(pid, host_path->c_str(), target.c_str(), read_only); failed != 0) {
        fs::remove(target, error);
        fail(hresult::kAccessDenied, op,
             fmt::format("Plan9 share {}: bind of {} into the VM's export failed: {}", name, host_path->string(),
                         std::strerror(failed)));
      }
      const std::lock_guard lock(mutex_);
      shares_.insert(name);
    } else {
      if (const int failed = in_qemu_namespace(pid, nullptr, target.c_str(), false); failed != 0 && failed != EINVAL) {
        fail(hresult::kAccessDenied, op,
             fmt::format("Plan9 share {}: unmount failed: {}", name, std::strerror(failed)));
      }
      fs::remove(target, error);
      const std::lock_guard lock(mutex_);
      shares_.erase(name);
    }
  }

  int host_pid() const override {
    const std::lock_guard lock(mutex_);
    return pid_;
  }

 private:
  hcs::OsHandle listen_channel() {
    std::error_code error;
    fs::remove(paths_.channel_socket, error);
    hcs::OsHandle listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = paths_.channel_socket.string();
    if (!listener || path.size() >= sizeof address.sun_path) {
      fail(hresult::kInvalidArgument, kStart, "cannot listen on " + path);
    }
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener.get(), 1) != 0) {
      fail(hresult::kAccessDenied, kStart, fmt::format("listen on {}: {}", path, std::strerror(errno)));
    }
    return listener;
  }

  static hcs::OsHandle dial_port(const fs::path& path) {
    hcs::OsHandle socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string text = path.string();
    if (!socket || text.size() >= sizeof address.sun_path) {
      throw std::runtime_error("cannot reach " + text);
    }
    text.copy(address.sun_path, sizeof address.sun_path - 1);
    if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error(fmt::format("no listener at {}: {}", text, std::strerror(errno)));
    }
    return socket;
  }

  // Forks QEMU into a new mount namespace whose mounts follow the host's (slave), so the shares bound into it are
  // QEMU's alone and vanish with it.
  void launch(const std::vector<std::string>& args) {
    std::vector<std::string> argv_storage = args;
    std::vector<char*> argv;
    for (auto& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int console[2];
    int report[2];
    if (::pipe2(console, O_CLOEXEC) != 0) fail(hresult::kServiceNotAvailable, kStart, "pipe failed");
    if (::pipe2(report, O_CLOEXEC) != 0) {
      ::close(console[0]);
      ::close(console[1]);
      fail(hresult::kServiceNotAvailable, kStart, "pipe failed");
    }
    const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t pid =
        static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
    if (pid == 0) {
      ::setpgid(0, 0);
      int step = 1;
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) == 0) {
        step = 2;
        if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
        ::dup2(console[1], STDOUT_FILENO);
        ::dup2(console[1], STDERR_FILENO);
        ::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
        ::execvp(argv[0], argv.data());
      }
      const int failure[2] = {step, errno};
      [[maybe_unused]] const ssize_t n = ::write(report[1], failure, sizeof failure);
      child_exit(127);
    }
    const int saved = errno;
    ::close(console[1]);
    ::close(report[1]);
    if (devnull >= 0) ::close(devnull);
    if (pid < 0) {
      ::close(console[0]);
      ::close(report[0]);
      fail(hresult::kAccessDenied, kStart, fmt::format("clone(CLONE_NEWNS) for QEMU: {}", std::strerror(saved)));
    }
    int failure[2] = {0, 0};
    ssize_t n;
    do {
      n = ::read(report[0], failure, sizeof failure);
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n == static_cast<ssize_t>(sizeof failure)) {
      ::close(console[0]);
      int status = 0;
      ::waitpid(pid, &status, 0);
      fail(failure[0] == 2 ? hresult::kFileNotFound : hresult::kAccessDenied, kStart,
           fmt::format("starting {}: {} failed: {}", args.front(),
                       failure[0] == 2 ? "exec" : "making the mount namespace a slave", std::strerror(failure[1])));
    }
    {
      const std::lock_guard lock(mutex_);
      pid_ = pid;
    }
    console_reader_ = std::thread([this, fd = console[0]] { relay_console(hcs::OsHandle(fd)); });
    watcher_ = std::thread([this, pid] { watch(pid); });
  }

  hcs::OsHandle accept_channel(const hcs::OsHandle& listener) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        const std::lock_guard lock(mutex_);
        if (exited_) fail(hresult::kTerminatedDuringStart, kStart, "QEMU exited while starting: " + console_tail());
      }
      pollfd p{listener.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) == 1) {
        hcs::OsHandle channel(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (channel) return channel;
      }
    }
    fail(hresult::kOperationTimeout, kStart, "QEMU did not connect its virtio-serial channel within 20 s");
  }

  // Forks a child that enters QEMU's mount namespace and binds `source` on `target` (or unmounts `target` when
  // `source` is null); returns 0 or the errno that failed.
  static int in_qemu_namespace(pid_t qemu, const char* source, const char* target, bool read_only) {
    const std::string ns_path = fmt::format("/proc/{}/ns/mnt", qemu);
    const int ns = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return errno;
    const pid_t child = ::fork();
    if (child == 0) {
      if (::setns(ns, CLONE_NEWNS) != 0) child_exit(errno);
      if (source == nullptr) child_exit(::umount2(target, MNT_DETACH) == 0 ? 0 : errno);
      if (::mount(source, target, nullptr, MS_BIND | MS_REC, nullptr) != 0) child_exit(errno);
      if (read_only && ::mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
        const int saved = errno;
        ::umount2(target, MNT_DETACH);
        child_exit(saved);
      }
      child_exit(0);
    }
    const int saved = errno;
    ::close(ns);
    if (child < 0) return saved;
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
  }

  // The serial console, line by line, to the shim's stderr; the last lines are kept for error messages.
  void relay_console(hcs::OsHandle fd) {
    set_thread_name("hcs-qemu-cons");
    std::string pending;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buffer, static_cast<std::size_t>(n));
      for (std::size_t end; (end = pending.find('\n')) != std::string::npos;) {
        std::string line = pending.substr(0, end);
        pending.erase(0, end + 1);
        line.erase(std::remove(line.begin(), line.end(), '\r'), line.end());
        emit(line);
      }
    }
    if (!pending.empty()) emit(pending);
  }

  void emit(const std::string& line) {
    if (line.empty()) return;
    std::fprintf(stderr, "%s\n", line.c_str());
    const std::lock_guard lock(mutex_);
    console_.push_back(line);
    if (console_.size() > kConsoleTail) console_.pop_front();
  }

  std::string console_tail() const {
    std::string out;
    for (const std::string& line : console_) out += (out.empty() ? "" : " | ") + line;
    return out.empty() ? std::string("(no console output)") : out;
  }

  void watch(pid_t pid) {
    set_thread_name("hcs-qemu-wait");
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (console_reader_.joinable()) console_reader_.join();  // QEMU's end closes the console pipe
    bool report = false;
    {
      const std::lock_guard lock(mutex_);
      exited_ = true;
      report = started_ && !stopping_;
    }
    changed_.notify_all();
    // -no-reboot: a guest that powers off or reboots ends QEMU with status 0; a panic (panic=-1) reboots too.
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!clean) {
      std::fprintf(stderr, "hcs emulator: QEMU of %s ended with %s %d\n", context_.system_id.c_str(),
                   WIFEXITED(status) ? "exit code" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    if (report && context_.exited) context_.exited(clean);
    {
      const std::lock_guard lock(mutex_);
      watcher_gone_ = true;
    }
    changed_.notify_all();
  }

  void join_threads() {
    if (watcher_.joinable()) {
      if (watcher_.get_id() == std::this_thread::get_id()) {
        OrphanedThreads::adopt(std::move(watcher_));  // destroyed from its own exit callback
      } else {
        watcher_.join();
      }
    }
    if (console_reader_.joinable()) console_reader_.join();
  }

  GuestContext context_;
  QemuOptions options_;
  QemuPaths paths_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  pid_t pid_ = -1;
  bool started_ = false;
  bool stopping_ = false;
  bool exited_ = false;
  bool watcher_gone_ = false;
  std::deque<std::string> console_;
  std::set<std::string> shares_;
  std::unique_ptr<gcs::mux::StreamMux> mux_;
  std::thread console_reader_;
  std::thread watcher_;
};

}  // namespace

std::unique_ptr<EmulatedGuest> make_qemu_guest(const GuestContext& context, const QemuOptions& options) {
  return std::make_unique<QemuGuest>(context, options);
}

}  // namespace shimcore::hcs::emulator
