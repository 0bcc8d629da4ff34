// Base classes for test wrappers of hcs handles: every call goes to the wrapped handle unless a wrapper overrides it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "shimcore/hcs/client.h"

namespace shimcore::testing {

class ForwardingSystem : public hcs::ComputeSystem {
 public:
  explicit ForwardingSystem(std::unique_ptr<hcs::ComputeSystem> inner) : inner_(std::move(inner)) {}

  const std::string& id() const override { return inner_->id(); }
  void start() override { inner_->start(); }
  void shutdown() override { inner_->shutdown(); }
  void terminate() override { inner_->terminate(); }
  void pause() override { inner_->pause(); }
  void resume() override { inner_->resume(); }
  nlohmann::json properties(const nlohmann::json& query) override { return inner_->properties(query); }
  void modify(const nlohmann::json& request) override { inner_->modify(request); }
  std::optional<hcs::SystemExit> wait(std::optional<std::chrono::milliseconds> timeout) override {
    return inner_->wait(timeout);
  }
  void on_exit(std::function<void(const hcs::SystemExit&)> callback) override { inner_->on_exit(std::move(callback)); }
  std::unique_ptr<hcs::Process> create_process(const nlohmann::json& parameters) override {
    return inner_->create_process(parameters);
  }
  std::unique_ptr<hcs::Process> open_process(std::uint32_t pid) override { return inner_->open_process(pid); }

 protected:
  hcs::ComputeSystem& inner() { return *inner_; }

 private:
  std::unique_ptr<hcs::ComputeSystem> inner_;
};

}  // namespace shimcore::testing
