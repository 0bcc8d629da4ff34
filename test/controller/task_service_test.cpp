// The Task service's own decisions, called through the registry as a server would: Shutdown's `now`, and ids.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <filesystem>
#include <fstream>

#include "containerd/task/v3/shim.pb.h"
#include "quiet_events.h"
#include "shimcore/controller/task_controller.h"
#include "shimcore/hcs/emulator.h"
#include "shimcore/service/task_service.h"
#include "test_util.h"

namespace fs = std::filesystem;
namespace task = containerd::task::v3;
using Catch::Matchers::ContainsSubstring;
using shimcore::StatusCode;
using namespace shimcore::transport;
using shimcore::testing::TempDir;

using shimcore::testing::QuietEvents;

namespace {

struct Answer final : Responder {
  void reply(std::string payload) override { status = RpcStatus{}, this->payload = std::move(payload); }
  void fail(RpcStatus failure) override { status = std::move(failure); }
  RpcStatus status{StatusCode::Unknown, "no answer"};
  std::string payload;
};

struct Fixture {
  Fixture() {
    options.runtime_dir = dir.path / "hcs";
    client = shimcore::hcs::make_emulator_client(options);
    tasks = std::make_unique<shimcore::controller::ProcessTaskController>(*client, events);
    shimcore::service::register_task_service(registry, *tasks, [this] { ++shutdowns; });
  }
  ~Fixture() { tasks->shutdown(); }
  RpcStatus call(const std::string& method, const google::protobuf::Message& request) {
    const Service* service = registry.find_service("containerd.task.v3.Task");
    REQUIRE(service != nullptr);
    auto answer = std::make_shared<Answer>();
    CallContext context;
    context.service = "containerd.task.v3.Task";
    context.method = method;
    service->find(method)->unary(context, request.SerializeAsString(), answer);
    return answer->status;
  }

  TempDir dir{"shimcore-tasksvc-"};
  shimcore::hcs::EmulatorOptions options;
  std::unique_ptr<shimcore::hcs::Client> client;
  QuietEvents events;
  std::unique_ptr<shimcore::controller::ProcessTaskController> tasks;
  ServiceRegistry registry;
  int shutdowns = 0;
};

}  // namespace

TEST_CASE("Task.Shutdown leaves a shim with tasks running unless it says now", "[task][service]") {
  Fixture f;
  const fs::path bundle = f.dir.path / "t1";
  fs::create_directories(bundle);
  std::ofstream(bundle / "config.json") << nlohmann::json{
      {"process", {{"args", {"/bin/sleep", "1000"}}, {"cwd", "/"}}},
      {"root", {{"path", "/"}}}}.dump();
  task::CreateTaskRequest create;
  create.set_id("t1");
  create.set_bundle(bundle.string());
  REQUIRE(f.call("Create", create).ok());

  task::ShutdownRequest shutdown;
  shutdown.set_id("t1");
  CHECK(f.call("Shutdown", shutdown).ok());
  CHECK(f.shutdowns == 0);  // a task is left: the shim keeps serving
  shutdown.set_now(true);
  CHECK(f.call("Shutdown", shutdown).ok());
  CHECK(f.shutdowns == 1);  // before, `now` was ignored and the shim stayed
}

TEST_CASE("Task.Create and Exec refuse ids outside containerd's identifier rules", "[task][service]") {
  Fixture f;
  task::CreateTaskRequest create;
  create.set_bundle((f.dir.path / "t1").string());
  for (const char* bad : {"t1\tother", "t1\n", "t1/..", ".t1", "t1-"}) {
    create.set_id(bad);
    const RpcStatus refused = f.call("Create", create);
    CHECK(refused.code == StatusCode::InvalidArgument);
    CHECK_THAT(refused.message, ContainsSubstring("task id"));
  }
  create.set_id(std::string(77, 'a'));
  CHECK_THAT(f.call("Create", create).message, ContainsSubstring("longer than 76"));
  create.set_id(std::string(76, 'a'));
  // A valid id (76 characters) passes the edge: now the missing bundle's config.json is what is wrong.
  const RpcStatus no_spec = f.call("Create", create);
  CHECK_THAT(no_spec.message, ContainsSubstring("config.json"));
  CHECK_FALSE(ContainsSubstring("task id").match(no_spec.message));
}
