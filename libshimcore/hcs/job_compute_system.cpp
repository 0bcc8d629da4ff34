// A job object behind the ComputeSystem interface (every platform).
#include <condition_variable>
#include <mutex>

#include "shimcore/errdefs.h"
#include "shimcore/hcs/job_object.h"

namespace shimcore::hcs {
namespace {

class JobComputeSystem final : public ComputeSystem {
 public:
  JobComputeSystem(std::string id, std::unique_ptr<JobObject> job) : id_(std::move(id)), job_(std::move(job)) {}
  ~JobComputeSystem() override { stop("ForcedExit"); }

  const std::string& id() const override { return id_; }
  void start() override {}
  void shutdown() override { stop("GracefulExit"); }
  void terminate() override { stop("ForcedExit"); }
  void pause() override { unsupported("pause"); }
  void resume() override { unsupported("resume"); }
  nlohmann::json properties(const nlohmann::json& query) override {
    nlohmann::json out = nlohmann::json::object();
    const nlohmann::json types =
        query.is_object() ? query.value("PropertyTypes", nlohmann::json::array()) : nlohmann::json::array();
    for (const auto& type : types) {
      if (type == "Statistics") {
        const JobStatistics statistics = job_->statistics();
        out["Statistics"] = {{"Processor", {{"TotalRuntime100ns", statistics.cpu_time_ns / 100}}},
                             {"Memory", {{"MemoryUsageCommitBytes", statistics.memory_bytes}}}};
      } else if (type == "ProcessList") {
        nlohmann::json list = nlohmann::json::array();
        for (const std::uint32_t pid : job_->pids()) list.push_back({{"ProcessId", pid}});
        out["ProcessList"] = list;
      }
    }
    return out;
  }
  void modify(const nlohmann::json&) override { unsupported("modify"); }
  std::optional<SystemExit> wait(std::optional<std::chrono::milliseconds> timeout) override {
    std::unique_lock lock(mutex_);
    if (timeout) {
      changed_.wait_for(lock, *timeout, [&] { return exit_.has_value(); });
    } else {
      changed_.wait(lock, [&] { return exit_.has_value(); });
    }
    return exit_;
  }
  void on_exit(std::function<void(const SystemExit&)> callback) override {
    std::unique_lock lock(mutex_);
    if (exit_) {
      const SystemExit exit = *exit_;
      lock.unlock();
      callback(exit);
      return;
    }
    callbacks_.push_back(std::move(callback));
  }
  std::unique_ptr<Process> create_process(const nlohmann::json& parameters) override {
    return job_->create_process(parameters);
  }
  std::unique_ptr<Process> open_process(std::uint32_t) override {
    unsupported("open a process of");
    return nullptr;
  }

 private:
  [[noreturn]] void unsupported(const char* what) const {
    throw make_error(ErrorKind::Unimplemented, "cannot {} host-process container {}: it is a job object", what, id_);
  }

  void stop(const std::string& exit_type) {
    job_->terminate();
    std::vector<std::function<void(const SystemExit&)>> callbacks;
    SystemExit exit;
    {
      const std::lock_guard lock(mutex_);
      if (exit_) return;
      exit.exit_type = exit_type;
      exit_ = exit;
      callbacks.swap(callbacks_);
    }
    changed_.notify_all();
    for (auto& callback : callbacks) callback(exit);
  }

  std::string id_;
  std::unique_ptr<JobObject> job_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<SystemExit> exit_;
  std::vector<std::function<void(const SystemExit&)>> callbacks_;
};

}  // namespace

std::unique_ptr<ComputeSystem> job_compute_system(std::string id, std::unique_ptr<JobObject> job) {
  return std::make_unique<JobComputeSystem>(std::move(id), std::move(job));
}

}  // namespace shimcore::hcs
