// Private containerd for interop tests: config, start, readiness, ctr, cleanup.
#include "private_containerd.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace shimcore::testing {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path containerd_bin_dir() {
  const char* from_env = std::getenv("SHIMCORE_CONTAINERD_DIR");
  const fs::path dir = from_env != nullptr ? fs::path(from_env) : fs::path(SHIMCORE_CONTAINERD_DIR);
  if (!fs::exists(dir / "containerd") || !fs::exists(dir / "ctr")) {
    throw std::runtime_error("containerd not found in " + dir.string() + ": run scripts/bootstrap first");
  }
  return dir;
}

fs::path busybox_path() {
  const char* from_env = std::getenv("SHIMCORE_BUSYBOX");
  const fs::path path = from_env != nullptr ? fs::path(from_env) : fs::path(SHIMCORE_BUSYBOX);
  if (!fs::exists(path)) throw std::runtime_error("busybox not found at " + path.string() + ": run scripts/bootstrap");
  return path;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                                     const std::string& output_file) {
  std::array<int, 2> pipe_fds{-1, -1};
  if (output_file.empty() && ::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (output_file.empty()) {
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  }
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) env_strings.emplace_back(*entry);
  for (const std::string& extra : extra_env) {
    const std::string key = extra.substr(0, extra.find('=') + 1);
    std::erase_if(env_strings, [&](const std::string& existing) { return existing.starts_with(key); });
    env_strings.push_back(extra);
  }
  std::vector<char*> env;
  for (std::string& entry : env_strings) env.push_back(entry.data());
  env.push_back(nullptr);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const int error = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
  if (error != 0) {
    if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
    throw std::system_error(error, std::generic_category(), "spawn " + argv[0]);
  }
  stdout_fd_ = pipe_fds[0];
}

BackgroundProcess::~BackgroundProcess() {
  kill_and_wait();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

void BackgroundProcess::kill_and_wait() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::optional<std::string> BackgroundProcess::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto newline = buffer_.find('\n'); newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || stdout_fd_ < 0) return std::nullopt;
    pollfd poll_fd{stdout_fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    std::array<char, 4096> chunk{};
    const ssize_t n = ::read(stdout_fd_, chunk.data(), chunk.size());
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

namespace {

// TOML basic strings are not needed: every path here is ours and has no quote, so literal strings do.
std::string toml_literal(const fs::path& path) { return "'" + path.string() + "'"; }

// /proc/self/mountinfo escapes blanks, tabs, newlines and backslashes in paths as \ooo.
std::string unescape_mountinfo(const std::string& field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      out.push_back(static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

std::vector<std::string> read_cmdline(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> argv;
  for (std::string arg; std::getline(in, arg, '\0');) argv.push_back(arg);
  return argv;
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> pids;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

std::string flag_value(const std::vector<std::string>& argv, const std::string& flag) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag || argv[i] == "-" + flag) return argv[i + 1];
  }
  return {};
}

}  // namespace

std::vector<fs::path> mounts_under(const fs::path& dir) {
  const std::string prefix = dir.lexically_normal().string();
  std::vector<fs::path> mounts;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, mount_point;
    fields >> id >> parent >> device >> root >> mount_point;
    const std::string path = unescape_mountinfo(mount_point);
    if (path == prefix || path.starts_with(prefix + "/")) mounts.emplace_back(path);
  }
  return mounts;
}

PrivateContainerd::PrivateContainerd(const std::vector<fs::path>& extra_path, const std::vector<std::string>& extra_env,
                                     const std::optional<CriConfig>& cri, bool sandbox_api)
    : cri_(cri), sandbox_api_(sandbox_api) {
  const fs::path bin = containerd_bin_dir();
  std::random_device random;
  // Short: containerd's own socket path must fit in sun_path.
  dir_ = fs::path("/tmp") / ("shimcore-ctd-" + std::to_string(random() % 1000000));
  fs::create_directories(dir_);
  if (cri_) install_cri_files();
  write_config((dir_ / "root").string());
  std::string path;
  if (cri_) path += (dir_ / "shim").string() + ":";  // the wrapper, found by the drop-in's runtime_type
  for (const fs::path& extra : extra_path) path += extra.string() + ":";
  path += bin.string() + ":" + (std::getenv("PATH") != nullptr ? std::getenv("PATH") : "/usr/sbin:/usr/bin:/sbin:/bin");
  daemon_.emplace(
      std::vector<std::string>{(bin / "containerd").string(), "--config", (dir_ / "config.toml").string()},
      [&] {
        std::vector<std::string> env{"PATH=" + path};
        env.insert(env.end(), extra_env.begin(), extra_env.end());
        return env;
      }(),
      (dir_ / "containerd.log").string());
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(grpc_socket()) && fs::exists(ttrpc_socket()) && ctr({"version"}).exit_status == 0) return;
    std::this_thread::sleep_for(50ms);
  }
  const std::string text = this->log();
  daemon_.reset();
  throw std::runtime_error("private containerd did not start; log:\n" + text);
}

void PrivateContainerd::write_config(const std::string& root) const {
  std::ofstream config(dir_ / "config.toml");
  if (!cri_) {
    config << "version = 3\n"
           << "root = '" << root << "'\n"
           << "state = '" << state_dir().string()
           << "'\n"
           // containerd's sandbox-controllers service (the Sandbox Controller API) loads only with a podsandbox
           // controller, which needs the CRI runtime and image plugins: those stay when a test asks for that API.
           << "disabled_plugins = ['io.containerd.grpc.v1.cri', "
           << (sandbox_api_ ? ""
                            : "'io.containerd.cri.v1.runtime', 'io.containerd.cri.v1.images', "
                              "'io.containerd.podsandbox.controller.v1.podsandbox', ")
           << "'io.containerd.nri.v1.nri', 'io.containerd.snapshotter.v1.btrfs', "
              "'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.zfs', "
              "'io.containerd.snapshotter.v1.blockfile', 'io.containerd.snapshotter.v1.erofs', "
              "'io.containerd.differ.v1.erofs']\n"
           << "[grpc]\n  address = '" << grpc_socket() << "'\n"
           << "[debug]\n  level = 'debug'\n"
           << "[plugins.'io.containerd.internal.v1.opt']\n  path = '" << (dir_ / "opt").string() << "'\n";
    return;
  }
  // Contract §6.6. Pods must use their own network namespace: host-network pods with sandboxer = 'shim' crash
  // containerd 2.1.9 (contract §4.4), so CNI (the stub) is part of the setup. apparmor is off because the shim runs
  // emulated Windows containers and does not apply the profile CRI would otherwise install with apparmor_parser.
  const fs::path drop_in = cri_->drop_in.empty() ? fs::path(SHIMCORE_DROP_IN) : cri_->drop_in;
  fs::create_directories(dir_ / "conf.d");
  fs::copy_file(drop_in, dir_ / "conf.d" / "shimcore.toml", fs::copy_options::overwrite_existing);
  config << "version = 3\n"
         << "imports = [" << toml_literal(dir_ / "conf.d" / "shimcore.toml") << "]\n"
         << "root = '" << root << "'\n"
         << "state = '" << state_dir().string() << "'\n"
         << "disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.snapshotter.v1.btrfs', "
            "'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.zfs', "
            "'io.containerd.snapshotter.v1.blockfile', 'io.containerd.snapshotter.v1.erofs', "
            "'io.containerd.differ.v1.erofs']\n"
         << "[grpc]\n  address = '" << grpc_socket() << "'\n"
         << "[debug]\n  level = 'debug'\n"
         << "[plugins.'io.containerd.internal.v1.opt']\n  path = '" << (dir_ / "opt").string() << "'\n"
         << "[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'native'\n"
         << "[plugins.'io.containerd.cri.v1.runtime']\n"
         << "  netns_mounts_under_state_dir = true\n"
         << "  enable_cdi = false\n"
         << "  disable_apparmor = true\n"
         << "[plugins.'io.containerd.cri.v1.runtime'.cni]\n"
         << "  bin_dirs = [" << toml_literal(cni_bin_dir()) << "]\n"
         << "  conf_dir = " << toml_literal(dir_ / "cni" / "conf") << "\n"
         << "  use_internal_loopback = true\n"
         << "[plugins.'io.containerd.cri.v1.runtime'.containerd]\n"
         << "  default_runtime_name = 'runc'\n"
         << "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n"
         << "  runtime_type = 'io.containerd.runc.v2'\n"
         << "[plugins.'io.containerd.grpc.v1.cri']\n"
         << "  stream_server_address = '127.0.0.1'\n"
         << "  stream_server_port = '0'\n";
}

void PrivateContainerd::install_cri_files() const {
  if (!cri_->shim_binary.is_absolute()) throw std::invalid_argument("CriConfig.shim_binary must be absolute");
  const fs::path cni_source = fs::path(SHIMCORE_TEST_SUPPORT_DIR) / "cni";
  fs::create_directories(cni_bin_dir());
  fs::create_directories(dir_ / "cni" / "conf");
  fs::copy_file(cni_source / "testnet", cni_bin_dir() / "testnet", fs::copy_options::overwrite_existing);
  fs::permissions(cni_bin_dir() / "testnet", fs::perms(0755));
  fs::copy_file(cni_source / "10-testnet.conflist", dir_ / "cni" / "conf" / "10-testnet.conflist",
                fs::copy_options::overwrite_existing);
  // The wrapper keeps the shim's own name (containerd only needs an absolute runtime_type) and execs it, so the
  // daemon's /proc/<pid>/exe is the real binary.
  const fs::path wrapper = dir_ / "shim" / cri_->shim_binary.filename();
  fs::create_directories(wrapper.parent_path());
  std::ofstream(wrapper) << "#!/bin/sh\n"
                         << "echo \"$*\" >>'" << (dir_ / "shim" / "invocations.log").string() << "'\n"
                         << "exec '" << cri_->shim_binary.string() << "' \"$@\"\n";
  fs::permissions(wrapper, fs::perms(0755));
}

PrivateContainerd::~PrivateContainerd() {
  if (cri_) sweep_cri_leftovers();
  // Tasks still running: kill them so their shims exit, then stop containerd and remove everything.
  const ProcessResult tasks = ctr({"task", "ls", "-q"});
  std::istringstream ids(tasks.out);
  for (std::string id; std::getline(ids, id);) {
    if (id.empty()) continue;
    ctr({"task", "kill", "-s", "9", id});
    for (int i = 0; i < 50 && ctr({"task", "delete", id}).exit_status != 0; ++i) std::this_thread::sleep_for(100ms);
    ctr({"container", "delete", id});
  }
  daemon_.reset();
  if (cri_) {
    // Pod network namespaces and container root filesystems that a failed test left mounted under our folder.
    std::vector<fs::path> mounts = mounts_under(dir_);
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

// What a failed CRI test leaves behind: workloads chrooted into our state folder and shim daemons serving pods.
// Killing the daemons while containerd runs lets it run their `delete` as it would after any disconnect.
void PrivateContainerd::sweep_cri_leftovers() {
  const std::string prefix = dir_.string() + "/";
  for (const pid_t pid : all_pids()) {
    std::error_code error;
    const fs::path root = fs::read_symlink("/proc/" + std::to_string(pid) + "/root", error);
    if (!error && root.string().starts_with(prefix)) ::kill(pid, SIGKILL);
  }
  const std::vector<ShimDaemon> daemons = shim_daemons();
  for (const ShimDaemon& daemon : daemons) ::kill(daemon.pid, SIGKILL);
  if (!daemons.empty()) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline && !shim_daemons().empty()) std::this_thread::sleep_for(50ms);
    std::this_thread::sleep_for(500ms);  // containerd runs `delete` right after it sees the disconnect
  }
}

std::vector<ShimDaemon> PrivateContainerd::shim_daemons(const fs::path& binary) const {
  std::vector<ShimDaemon> daemons;
  for (const pid_t pid : all_pids()) {
    const std::vector<std::string> argv = read_cmdline(pid);
    if (argv.empty() || argv.back() != "serve" || flag_value(argv, "-address") != grpc_socket()) continue;
    if (!binary.empty()) {
      std::error_code error;
      const fs::path exe = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", error);
      if (error || exe != fs::weakly_canonical(binary, error)) continue;
    }
    daemons.push_back({pid, flag_value(argv, "-id"), flag_value(argv, "-namespace"), argv});
  }
  return daemons;
}

std::string PrivateContainerd::cni_log() const {
  std::ifstream in(cni_bin_dir() / "testnet.log");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> PrivateContainerd::shim_invocations() const {
  std::vector<std::string> lines;
  std::ifstream in(dir_ / "shim" / "invocations.log");
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string PrivateContainerd::log() const {
  std::ifstream in(dir_ / "containerd.log");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> PrivateContainerd::ctr_argv(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{(containerd_bin_dir() / "ctr").string(), "-a", grpc_socket()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

ProcessResult PrivateContainerd::ctr(const std::vector<std::string>& args) const { return run_process(ctr_argv(args)); }

fs::path PrivateContainerd::make_busybox_rootfs(const std::string& name) const {
  const fs::path rootfs = dir_ / name;
  for (const char* sub : {"bin", "proc", "sys", "dev", "tmp", "etc"}) fs::create_directories(rootfs / sub);
  fs::copy_file(busybox_path(), rootfs / "bin" / "busybox", fs::copy_options::overwrite_existing);
  for (const char* applet : {"sh", "sleep", "echo", "cat", "true"}) {
    fs::create_symlink("busybox", rootfs / "bin" / applet);
  }
  return rootfs;
}

std::string PrivateContainerd::task_shim_address(const std::string& id, const std::string& ns) const {
  const fs::path file = state_dir() / "io.containerd.runtime.v2.task" / ns / id / "bootstrap.json";
  std::ifstream in(file);
  if (!in) throw std::runtime_error("no " + file.string());
  return nlohmann::json::parse(in).at("address").get<std::string>();
}

}  // namespace shimcore::testing
