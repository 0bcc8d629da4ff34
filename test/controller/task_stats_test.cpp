// Task statistics over the HCS emulator: the controller's Statistics query and the Task service's Stats answer
// (an Any of containerd.runhcs.stats.v1.Statistics), with real figures from the container's processes.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include "containerd/task/v3/shim.pb.h"
#include "quiet_events.h"
#include "runhcs/stats/stats.pb.h"
#include "shimcore/controller/task_controller.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/emulator.h"
#include "shimcore/service/task_service.h"
#include "shimcore/transport/ttrpc_client.h"
#include "shimcore/transport/ttrpc_server.h"
#include "test_util.h"

using Catch::Matchers::ContainsSubstring;
using shimcore::ErrorKind;
using shimcore::testing::eventually;
namespace controller = shimcore::controller;

namespace {

// A controller over a private emulator, and bundles whose container root is the host's / (no rootfs to build).
struct Fixture {
  shimcore::testing::TempDir dir{"shimcore-stats-"};
  std::unique_ptr<shimcore::hcs::EmulatorClient> client = shimcore::hcs::make_emulator_client(options());
  shimcore::testing::QuietEvents events;
  controller::ProcessTaskController tasks{*client, events};

  ~Fixture() { tasks.shutdown(); }

  shimcore::hcs::EmulatorOptions options() const {
    shimcore::hcs::EmulatorOptions options;
    options.runtime_dir = dir.path / "hcs";
    return options;
  }

  void create(const std::string& id, const std::string& script) {
    const auto bundle = dir.path / id;
    std::filesystem::create_directories(bundle);
    const nlohmann::json spec{{"process", {{"args", {"/bin/sh", "-c", script}}, {"cwd", "/"}}},
                              {"root", {{"path", "/"}}}};
    std::ofstream(bundle / "config.json") << spec.dump();
    tasks.create({id, bundle.string(), {}, {}});
  }
};

ErrorKind error_kind_of(const std::function<void()>& body, std::string* message = nullptr) {
  try {
    body();
  } catch (const shimcore::Error& error) {
    if (message != nullptr) *message = error.what();
    return error.kind();
  }
  return ErrorKind::Unknown;
}

}  // namespace

TEST_CASE("controller statistics: real CPU, memory and I/O figures of the task's processes", "[controller][stats]") {
  Fixture fixture;
  // Burns some CPU in a child (reaped by the shell: counted through its cutime), then keeps a running process.
  fixture.create("busy", "sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done'; exec sleep 100");
  fixture.tasks.start("busy", "");
  shimcore::hcs::schema::Statistics statistics;
  REQUIRE(eventually(
      [&] {
        statistics = fixture.tasks.statistics("busy");
        return statistics.processor && statistics.processor->total_runtime_100ns.value_or(0) > 0 && statistics.memory &&
               statistics.memory->memory_usage_commit_bytes.value_or(0) > 0;
      },
      std::chrono::seconds(20)));
  const auto& processor = *statistics.processor;
  CHECK(*processor.total_runtime_100ns ==
        processor.runtime_user_100ns.value() + processor.runtime_kernel_100ns.value());
  const auto& memory = *statistics.memory;
  CHECK(memory.memory_usage_private_working_set_bytes.value_or(0) > 0);
  CHECK(memory.memory_usage_commit_peak_bytes.value_or(0) >= *memory.memory_usage_commit_bytes);
  CHECK(statistics.storage.has_value());
  CHECK(statistics.uptime_100ns.value_or(0) > 0);
  REQUIRE(statistics.timestamp.has_value());
  REQUIRE(statistics.container_start_time.has_value());
  CHECK(*statistics.container_start_time <= *statistics.timestamp);  // same RFC 3339 layout: text order is time order
  // The peak never goes down.
  const auto peak = *memory.memory_usage_commit_peak_bytes;
  CHECK(fixture.tasks.statistics("busy").memory->memory_usage_commit_peak_bytes.value_or(0) >= peak);
}

TEST_CASE("controller statistics: unknown task NotFound, not running FailedPrecondition naming the state",
          "[controller][stats]") {
  Fixture fixture;
  std::string message;
  CHECK(error_kind_of([&] { fixture.tasks.statistics("nope"); }, &message) == ErrorKind::NotFound);
  CHECK_THAT(message, ContainsSubstring("nope"));

  fixture.create("t", "exit 7");
  CHECK(error_kind_of([&] { fixture.tasks.statistics("t"); }, &message) == ErrorKind::FailedPrecondition);
  CHECK_THAT(message, ContainsSubstring("it is created"));
  fixture.tasks.start("t", "");
  REQUIRE(eventually([&] { return fixture.tasks.state("t", "").state == controller::ProcessState::Stopped; }));
  CHECK(error_kind_of([&] { fixture.tasks.statistics("t"); }, &message) == ErrorKind::FailedPrecondition);
  CHECK_THAT(message, ContainsSubstring("it is stopped"));
}

TEST_CASE("Task.Stats answers an Any of containerd.runhcs.stats.v1.Statistics", "[service][stats]") {
  Fixture fixture;
  auto registry = std::make_shared<shimcore::transport::ServiceRegistry>();
  shimcore::service::register_task_service(*registry, fixture.tasks, [] {});
  shimcore::transport::TtrpcServer server(registry);
  const std::string address = "unix://" + (fixture.dir.path / "t.sock").string();
  server.listen(address);
  server.start();
  shimcore::transport::TtrpcClient client(address);
  const shimcore::transport::CallOptions options{std::chrono::seconds(5), {}};

  fixture.create("s1", "exec sleep 100");
  fixture.tasks.start("s1", "");
  containerd::task::v3::StatsRequest request;
  request.set_id("s1");
  const auto response =
      client.call<containerd::task::v3::StatsResponse>("containerd.task.v3.Task", "Stats", request, options);
  CHECK(response.stats().type_url() == "containerd.runhcs.stats.v1.Statistics");
  containerd::runhcs::stats::v1::Statistics statistics;
  REQUIRE(statistics.ParseFromString(response.stats().value()));
  REQUIRE(statistics.has_windows());
  const auto& windows = statistics.windows();
  CHECK(windows.timestamp().seconds() > 0);
  CHECK(windows.container_start_time().seconds() > 0);
  CHECK(windows.container_start_time().seconds() <= windows.timestamp().seconds());
  CHECK(windows.uptime_ns() > 0);
  CHECK(windows.uptime_ns() % 100 == 0);  // HCS counts in 100 ns units
  CHECK(windows.memory().memory_usage_commit_bytes() > 0);
  CHECK(windows.memory().memory_usage_private_working_set_bytes() > 0);
  CHECK(windows.processor().total_runtime_ns() ==
        windows.processor().runtime_user_ns() + windows.processor().runtime_kernel_ns());
  CHECK_FALSE(statistics.has_vm());

  // The v2 alias answers too; errors keep their codes.
  CHECK(client.call("containerd.task.v2.Task", "Stats", request.SerializeAsString(), options).status.code ==
        shimcore::StatusCode::Ok);
  request.set_id("missing");
  CHECK(client.call("containerd.task.v3.Task", "Stats", request.SerializeAsString(), options).status.code ==
        shimcore::StatusCode::NotFound);
  fixture.create("s2", "exit 0");
  request.set_id("s2");
  const auto created = client.call("containerd.task.v3.Task", "Stats", request.SerializeAsString(), options);
  CHECK(created.status.code == shimcore::StatusCode::FailedPrecondition);
  CHECK_THAT(created.status.message, ContainsSubstring("created"));
  server.shutdown(std::chrono::seconds(1));
}
