// An hcs::Client wrapper for race and fault tests: a hook before chosen calls (to hold a caller at a barrier while
// another thread acts), injected HcsErrors, and a ledger of calls that arrived on a handle already destroyed.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "forwarding_hcs.h"
#include "shimcore/hcs/client.h"
#include "shimcore/hcs/hresult.h"

namespace shimcore::testing {

// What the wrapped handles share with the test.
struct HcsGates {
  // Called before Process::signal ("signal:<system id>"), ComputeSystem::properties ("properties:<system id>") and
  // ComputeSystem::terminate ("terminate:<system id>"), on the caller's thread. A test blocks here to open a window for
  // a concurrent teardown.
  std::function<void(const std::string& call)> before;
  // An HRESULT that Process::signal throws for the named system instead of signalling.
  std::mutex mutex;
  std::map<std::string, std::uint32_t> signal_failures;
  // Calls that resumed after their handle had been destroyed: each one a use after free in the caller.
  std::vector<std::string> late_calls;

  std::optional<std::uint32_t> signal_failure(const std::string& system) {
    const std::lock_guard lock(mutex);
    const auto it = signal_failures.find(system);
    return it == signal_failures.end() ? std::nullopt : std::optional(it->second);
  }
  void record_late(const std::string& call) {
    const std::lock_guard lock(mutex);
    late_calls.push_back(call);
  }
  std::vector<std::string> late() {
    const std::lock_guard lock(mutex);
    return late_calls;
  }
};

// `alive` outlives the handle it describes: a call copies it before the hook, so that after the hook it can tell,
// without touching the handle, whether the handle was destroyed meanwhile.
using AliveFlag = std::shared_ptr<std::atomic<bool>>;

class GatedProcess final : public hcs::Process {
 public:
  GatedProcess(std::unique_ptr<hcs::Process> inner, std::string system, HcsGates& gates)
      : inner_(std::move(inner)), system_(std::move(system)), gates_(gates) {}
  ~GatedProcess() override { alive_->store(false); }

  std::uint32_t pid() const override { return inner_->pid(); }
  hcs::ProcessStdio take_stdio() override { return inner_->take_stdio(); }
  void signal(const nlohmann::json& options) override {
    const AliveFlag alive = alive_;
    HcsGates& gates = gates_;
    const std::string call = "signal:" + system_;
    if (gates.before) gates.before(call);
    if (!alive->load()) {
      gates.record_late(call);
      return;  // the members are gone: touching them is what the test catches the caller at
    }
    if (const auto failure = gates_.signal_failure(system_)) throw hcs::HcsError(*failure, "HcsSignalProcess");
    inner_->signal(options);
  }
  void terminate() override { inner_->terminate(); }
  void resize_console(std::uint16_t height, std::uint16_t width) override { inner_->resize_console(height, width); }
  void close_stdin() override { inner_->close_stdin(); }
  nlohmann::json properties() override { return inner_->properties(); }
  std::optional<hcs::ProcessExit> wait(std::optional<std::chrono::milliseconds> timeout) override {
    return inner_->wait(timeout);
  }
  void on_exit(std::function<void(const hcs::ProcessExit&)> callback) override { inner_->on_exit(std::move(callback)); }

 private:
  std::unique_ptr<hcs::Process> inner_;
  std::string system_;
  HcsGates& gates_;
  AliveFlag alive_ = std::make_shared<std::atomic<bool>>(true);
};

class GatedSystem final : public ForwardingSystem {
 public:
  GatedSystem(std::unique_ptr<hcs::ComputeSystem> inner, HcsGates& gates)
      : ForwardingSystem(std::move(inner)), gates_(gates) {}
  ~GatedSystem() override { alive_->store(false); }

  void terminate() override {
    if (gates_.before) gates_.before("terminate:" + id());
    ForwardingSystem::terminate();
  }

  nlohmann::json properties(const nlohmann::json& query) override {
    const AliveFlag alive = alive_;
    HcsGates& gates = gates_;
    const std::string call = "properties:" + id();
    if (gates.before) gates.before(call);
    if (!alive->load()) {
      gates.record_late(call);
      return nlohmann::json::object();
    }
    return inner().properties(query);
  }
  std::unique_ptr<hcs::Process> create_process(const nlohmann::json& parameters) override {
    return std::make_unique<GatedProcess>(inner().create_process(parameters), id(), gates_);
  }
  std::unique_ptr<hcs::Process> open_process(std::uint32_t pid) override {
    return std::make_unique<GatedProcess>(inner().open_process(pid), id(), gates_);
  }

 private:
  HcsGates& gates_;
  AliveFlag alive_ = std::make_shared<std::atomic<bool>>(true);
};

class GatedClient final : public hcs::Client {
 public:
  GatedClient(std::unique_ptr<hcs::Client> inner, HcsGates& gates) : inner_(std::move(inner)), gates_(gates) {}
  std::unique_ptr<hcs::ComputeSystem> create_system(const std::string& id, const nlohmann::json& document) override {
    return std::make_unique<GatedSystem>(inner_->create_system(id, document), gates_);
  }
  std::unique_ptr<hcs::ComputeSystem> open_system(const std::string& id) override {
    return std::make_unique<GatedSystem>(inner_->open_system(id), gates_);
  }
  nlohmann::json enumerate_systems(const nlohmann::json& query) override { return inner_->enumerate_systems(query); }
  nlohmann::json service_properties(const nlohmann::json& query) override { return inner_->service_properties(query); }
  hcs::ContainerVolume attach_container_storage(const std::string& id, const std::vector<std::string>& layers,
                                                const std::string& scratch) override {
    return inner_->attach_container_storage(id, layers, scratch);
  }
  void detach_container_storage(const std::string& id) override { inner_->detach_container_storage(id); }

 private:
  std::unique_ptr<hcs::Client> inner_;
  HcsGates& gates_;
};

}  // namespace shimcore::testing
