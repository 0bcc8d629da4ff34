// Task.Update in the process-kind task controller: limits become HCS ModifyComputeSystem requests on the task's
// container, only while it runs; bad updates are refused by kind.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "forwarding_hcs.h"
#include "quiet_events.h"
#include "require_error.h"
#include "shimcore/controller/task_controller.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/emulator.h"
#include "test_util.h"

namespace fs = std::filesystem;
using Catch::Matchers::ContainsSubstring;
using nlohmann::json;
using shimcore::ErrorKind;
using namespace shimcore::controller;
using shimcore::testing::eventually;
using shimcore::testing::require_error;
using shimcore::testing::TempDir;

using shimcore::testing::QuietEvents;

namespace {

// Forwards to the emulator and remembers every ModifyComputeSystem request, so the test sees what HCS was asked.
class RecordingSystem final : public shimcore::testing::ForwardingSystem {
 public:
  RecordingSystem(std::unique_ptr<ComputeSystem> inner, std::vector<json>& log, std::mutex& mutex)
      : ForwardingSystem(std::move(inner)), log_(log), mutex_(mutex) {}
  void modify(const json& request) override {
    inner().modify(request);
    const std::lock_guard lock(mutex_);
    log_.push_back(request);
  }

 private:
  std::vector<json>& log_;
  std::mutex& mutex_;
};

class RecordingClient final : public shimcore::hcs::Client {
 public:
  explicit RecordingClient(std::unique_ptr<Client> inner) : inner_(std::move(inner)) {}
  std::unique_ptr<shimcore::hcs::ComputeSystem> create_system(const std::string& id, const json& document) override {
    return std::make_unique<RecordingSystem>(inner_->create_system(id, document), modifications, mutex);
  }
  std::unique_ptr<shimcore::hcs::ComputeSystem> open_system(const std::string& id) override {
    return inner_->open_system(id);
  }
  json enumerate_systems(const json& query) override { return inner_->enumerate_systems(query); }
  json service_properties(const json& query) override { return inner_->service_properties(query); }
  shimcore::hcs::ContainerVolume attach_container_storage(const std::string& id, const std::vector<std::string>& layers,
                                                          const std::string& scratch) override {
    return inner_->attach_container_storage(id, layers, scratch);
  }
  void detach_container_storage(const std::string& id) override { inner_->detach_container_storage(id); }
  std::vector<json> recorded() {
    const std::lock_guard lock(mutex);
    return modifications;
  }

  std::mutex mutex;
  std::vector<json> modifications;

 private:
  std::unique_ptr<Client> inner_;
};

}  // namespace

TEST_CASE("Task.Update turns limits into HCS container modifications, only while the task runs", "[task][update]") {
  TempDir dir("shimcore-update-");
  shimcore::hcs::EmulatorOptions options;
  options.runtime_dir = dir.path / "records";
  RecordingClient client(shimcore::hcs::make_emulator_client(options));
  QuietEvents events;
  ProcessTaskController tasks(client, events);
  const fs::path bundle = dir.path / "t1";
  fs::create_directories(bundle);
  std::ofstream(bundle / "config.json") << json{
      {"process", {{"args", {"/bin/sleep", "1000"}}, {"cwd", "/"}}},
      {"root", {{"path", "/"}}}}.dump();
  tasks.create({"t1", bundle.string(), {}, {}});
  ResourceUpdate memory;
  memory.memory_limit_bytes = (100u << 20) + 1;
  require_error(ErrorKind::FailedPrecondition, "it is created", [&] { tasks.update("t1", memory); });
  tasks.start("t1", "");

  tasks.update("t1", memory);
  ResourceUpdate processor;
  processor.processor_count = 2;
  processor.processor_weight = 500;
  processor.processor_maximum = 5000;
  tasks.update("t1", processor);
  const auto recorded = client.recorded();
  REQUIRE(recorded.size() == 2);
  CHECK(recorded[0] ==
        json{{"ResourcePath", "Container/Memory/SizeInMB"}, {"RequestType", "Update"}, {"Settings", 101}});
  CHECK(recorded[1] == json{{"ResourcePath", "Container/Processor"},
                            {"RequestType", "Update"},
                            {"Settings", {{"Count", 2}, {"Weight", 500}, {"Maximum", 5000}}}});

  require_error(ErrorKind::InvalidArgument, "no resources", [&] { tasks.update("t1", ResourceUpdate{}); });
  ResourceUpdate too_much;
  too_much.processor_maximum = 10001;
  require_error(ErrorKind::InvalidArgument, "outside 1..10000", [&] { tasks.update("t1", too_much); });
  require_error(ErrorKind::NotFound, "t9", [&] { tasks.update("t9", memory); });
  CHECK(client.recorded().size() == 2);  // refused updates reach no one

  tasks.kill("t1", "", 9, false);
  CHECK(eventually([&] { return tasks.state("t1", "").state == ProcessState::Stopped; }));
  require_error(ErrorKind::FailedPrecondition, "it is stopped", [&] { tasks.update("t1", memory); });
  tasks.remove("t1", "");
}
