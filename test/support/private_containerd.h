// Test fixture: a private containerd 2.1 (own root, state and socket in a temporary folder) started from the
// bootstrap cache, optionally with CRI and our shim as a sandboxer, plus a busybox root filesystem and a way to follow
// a long-running command's output.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "run_process.h"

namespace shimcore::testing {

// Where scripts/bootstrap unpacked containerd (SHIMCORE_CONTAINERD_DIR at configure time, overridable with the
// SHIMCORE_CONTAINERD_DIR environment variable). Throws std::runtime_error naming the fix when it is missing.
std::filesystem::path containerd_bin_dir();
std::filesystem::path busybox_path();

// A child process whose stdout and stderr are read line by line while it runs (or, with `output_file`, go to that
// file, for chatty daemons that must never block on a full pipe); killed (SIGKILL) when destroyed.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {},
                             const std::string& output_file = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // The next complete stdout line, or nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  pid_t pid() const noexcept { return pid_; }
  void kill_and_wait();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
};

// The CRI setup of a PrivateContainerd (contract §6.6): CRI plugins on, native snapshotter, pod netns under the state
// folder, the stub CNI plugin "testnet" (test/support/cni), and the runtime handlers of the shipped drop-in
// conf.d/shimcore.toml (`lcow`, `wcow`, `process`: sandboxer 'shim', no options table), imported as it is, so the
// documented configuration is the tested one.
struct CriConfig {
  // Our shim executable (absolute). containerd finds it by its runtime_type (io.containerd.<kind>.v2) on its PATH as
  // a small wrapper script that records every invocation (`start`, `delete`, with their flags) in shim_invocations()
  // and then execs it, so the daemon is the shim itself.
  std::filesystem::path shim_binary;
  std::string runtime_name = "process";  // the handler, one of the drop-in's
  std::filesystem::path drop_in = {};    // empty: the source tree's conf.d/shimcore.toml
};

// A running shim daemon (`… serve`) started for this containerd.
struct ShimDaemon {
  pid_t pid = -1;
  std::string id;              // -id
  std::string namespace_name;  // -namespace
  std::vector<std::string> argv;
};

// Mount points at or below `dir` (from /proc/self/mountinfo), in mount order.
std::vector<std::filesystem::path> mounts_under(const std::filesystem::path& dir);

class PrivateContainerd {
 public:
  // Starts containerd and waits (up to 20 s) for its socket. `extra_path` is put first on containerd's PATH so that
  // runtime names resolve to shims there. Throws std::runtime_error with containerd's log on failure.
  // `extra_env` ("KEY=value") reaches containerd and so every shim it starts. Without `cri` the CRI plugins are
  // disabled (the fast path for ctr-only tests); `sandbox_api` keeps what containerd's Sandbox Controller API
  // (`ctr sandboxes`) needs among them.
  explicit PrivateContainerd(const std::vector<std::filesystem::path>& extra_path = {},
                             const std::vector<std::string>& extra_env = {},
                             const std::optional<CriConfig>& cri = std::nullopt, bool sandbox_api = false);
  ~PrivateContainerd();
  PrivateContainerd(const PrivateContainerd&) = delete;
  PrivateContainerd& operator=(const PrivateContainerd&) = delete;

  const std::filesystem::path& dir() const noexcept { return dir_; }
  std::string grpc_socket() const { return (dir_ / "containerd.sock").string(); }
  std::string ttrpc_socket() const { return grpc_socket() + ".ttrpc"; }
  std::filesystem::path state_dir() const { return dir_ / "state"; }
  std::string log() const;

  // Runs `ctr -a <socket> <args...>`.
  ProcessResult ctr(const std::vector<std::string>& args) const;
  // `ctr` argv (for BackgroundProcess).
  std::vector<std::string> ctr_argv(const std::vector<std::string>& args) const;
  // A folder with a static busybox and a few applet links, for `ctr run --rootfs`.
  std::filesystem::path make_busybox_rootfs(const std::string& name) const;
  // The address a task's shim printed (bootstrap.json in the task bundle), e.g. "unix:///run/containerd/s/…".
  std::string task_shim_address(const std::string& id, const std::string& ns = "default") const;

  // Shim daemons whose `-address` is this containerd, found in /proc, optionally only those running `binary`.
  std::vector<ShimDaemon> shim_daemons(const std::filesystem::path& binary = {}) const;

  // CRI mode only (empty otherwise).
  const std::optional<CriConfig>& cri() const noexcept { return cri_; }
  // The folder whose testnet.log records every call of the stub CNI plugin (one line per call).
  std::filesystem::path cni_bin_dir() const { return dir_ / "cni" / "bin"; }
  std::string cni_log() const;
  // Argument lists (joined by spaces) of every run of the CRI runtime's shim binary, in order.
  std::vector<std::string> shim_invocations() const;

 private:
  void write_config(const std::string& root) const;
  void install_cri_files() const;
  void sweep_cri_leftovers();

  std::filesystem::path dir_;
  std::optional<CriConfig> cri_;
  bool sandbox_api_ = false;
  std::optional<BackgroundProcess> daemon_;
};

}  // namespace shimcore::testing
