// Pod namespaces: a short-lived thread unshares them (namespaces are per thread, so the agent's own stay as they are)
// and bind-mounts its /proc/thread-self/ns files, which then outlive it.
#include "pod_namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "log.h"
#include "mounts.h"
#include "posix.h"

namespace shimcore::guest {
namespace {

namespace fs = std::filesystem;

struct Shared {
  const char* oci_type;
  const char* proc_name;
  int clone_flag;
};
constexpr Shared kShared[] = {
    {"network", "net", CLONE_NEWNET}, {"ipc", "ipc", CLONE_NEWIPC}, {"uts", "uts", CLONE_NEWUTS}};

}  // namespace

PodNamespaces::PodNamespaces(std::string dir) : dir_(std::move(dir)) {}

PodNamespaces::~PodNamespaces() {
  const std::lock_guard lock(mutex_);
  for (auto& [pod, state] : pods_) {
    try {
      remove(pod, state);
    } catch (const std::exception& e) {
      log_warn("pod namespaces not removed", {{"pod", pod}, {"error", e.what()}});
    }
  }
}

std::map<std::string, std::string> PodNamespaces::join(const std::string& pod) {
  const std::lock_guard lock(mutex_);
  if (const auto it = pods_.find(pod); it != pods_.end()) {
    ++it->second.containers;
    return it->second.files;
  }
  const fs::path folder = fs::path(dir_) / pod;
  fs::create_directories(folder);
  Pod state;
  for (const Shared& shared : kShared) {
    const std::string file = (folder / shared.proc_name).string();
    const Fd created(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    if (!created) throw errno_error("create " + file);
  }
  int flags = 0;
  for (const Shared& shared : kShared) flags |= shared.clone_flag;
  std::string failure;
  std::thread([&] {
    if (::unshare(flags) != 0) {
      failure = std::string("unshare: ") + std::strerror(errno);
      return;
    }
    for (const Shared& shared : kShared) {
      const std::string source = std::string("/proc/thread-self/ns/") + shared.proc_name;
      const std::string file = (folder / shared.proc_name).string();
      if (::mount(source.c_str(), file.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        failure = "bind " + source + " to " + file + ": " + std::strerror(errno);
        return;
      }
      state.files[shared.oci_type] = file;
    }
  }).join();
  if (!failure.empty()) {
    remove(pod, state);
    throw Error(ErrorKind::Internal, "pod " + pod + " namespaces: " + failure);
  }
  state.containers = 1;
  log_info("pod namespaces created", {{"pod", pod}, {"path", folder.string()}});
  return pods_.emplace(pod, std::move(state)).first->second.files;
}

void PodNamespaces::leave(const std::string& pod) {
  const std::lock_guard lock(mutex_);
  const auto it = pods_.find(pod);
  if (it == pods_.end() || --it->second.containers > 0) return;
  remove(pod, it->second);
  pods_.erase(it);
  log_info("pod namespaces removed", {{"pod", pod}});
}

void PodNamespaces::remove(const std::string& pod, Pod& state) {
  for (const auto& [type, file] : state.files) unmount(file);
  state.files.clear();
  std::error_code ec;
  fs::remove_all(fs::path(dir_) / pod, ec);
}

}  // namespace shimcore::guest
