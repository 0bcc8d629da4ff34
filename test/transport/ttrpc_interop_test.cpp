// Interop with the real Go ttrpc: our client against containerd-shim-runc-v2 (a task started by a private
// containerd 2.1) and against containerd's own ttrpc events endpoint, checked with `ctr`.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <string>

#include "containerd/events/task.pb.h"
#include "containerd/services/ttrpc/events/v1/events.pb.h"
#include "containerd/task/v3/shim.pb.h"
#include "containerd/types/task/task.pb.h"
#include "private_containerd.h"
#include "shimcore/transport/ttrpc_client.h"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using shimcore::testing::BackgroundProcess;
using shimcore::testing::PrivateContainerd;
using shimcore::transport::CallOptions;
using shimcore::transport::TtrpcClient;

namespace {

const CallOptions kDefaultNamespace{5s, {{"containerd-namespace-ttrpc", "default"}}};

// The pid column of `ctr task ls` for one task.
std::uint32_t ctr_task_pid(const PrivateContainerd& containerd, const std::string& id) {
  const auto listing = containerd.ctr({"task", "ls"});
  std::istringstream lines(listing.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string name, pid;
    fields >> name >> pid;
    if (name == id) return static_cast<std::uint32_t>(std::stoul(pid));
  }
  FAIL("task " << id << " not in ctr task ls:\n" << listing.out << listing.err);
  return 0;
}

std::string process_name(std::uint32_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

}  // namespace

TEST_CASE("our ttrpc client against containerd-shim-runc-v2", "[ttrpc][interop]") {
  PrivateContainerd containerd;
  const auto rootfs = containerd.make_busybox_rootfs("rootfs");
  const auto run = containerd.ctr({"run", "-d", "--rootfs", "--runtime", "io.containerd.runc.v2", rootfs.string(),
                                   "interop1", "/bin/sleep", "120"});
  INFO(run.out << run.err << containerd.log());
  REQUIRE(run.exit_status == 0);
  const std::uint32_t task_pid = ctr_task_pid(containerd, "interop1");
  const std::string address = containerd.task_shim_address("interop1");
  CAPTURE(address);
  REQUIRE_THAT(address, Catch::Matchers::StartsWith("unix:///"));

  TtrpcClient client(address);
  SECTION("Task.State: the running task's pid and status") {
    containerd::task::v3::StateRequest request;
    request.set_id("interop1");
    const auto state = client.call<containerd::task::v3::StateResponse>("containerd.task.v3.Task", "State", request,
                                                                        kDefaultNamespace);
    CHECK(state.id() == "interop1");
    CHECK(state.pid() == task_pid);
    CHECK(state.status() == containerd::v1::types::RUNNING);
    CHECK(state.bundle() ==
          (containerd.state_dir() / "io.containerd.runtime.v2.task" / "default" / "interop1").string());
    CHECK_FALSE(state.terminal());
  }
  SECTION("Task.Connect: shim and task pids") {
    containerd::task::v3::ConnectRequest request;
    request.set_id("interop1");
    const auto connect = client.call<containerd::task::v3::ConnectResponse>("containerd.task.v3.Task", "Connect",
                                                                            request, kDefaultNamespace);
    CHECK(connect.task_pid() == task_pid);
    CHECK(connect.shim_pid() > 0);
    CHECK(process_name(connect.shim_pid()) == "containerd-shim");  // comm is cut to 15 bytes
  }
  SECTION("errors from Go ttrpc arrive with their codes") {
    containerd::task::v3::StateRequest missing;
    missing.set_id("no-such-task");
    const auto not_found =
        client.call("containerd.task.v3.Task", "State", missing.SerializeAsString(), kDefaultNamespace);
    CHECK(not_found.status.code == shimcore::StatusCode::NotFound);
    const auto unknown_method = client.call("containerd.task.v3.Task", "Frobnicate", "", kDefaultNamespace);
    CHECK(unknown_method.status.code == shimcore::StatusCode::Unimplemented);
    const auto unknown_service = client.call("no.such.Service", "State", "", kDefaultNamespace);
    CHECK(unknown_service.status.code == shimcore::StatusCode::Unimplemented);
  }
  SECTION("many concurrent calls multiplexed on one connection") {
    std::vector<std::future<bool>> results;
    for (int thread = 0; thread < 4; ++thread) {
      results.push_back(std::async(std::launch::async, [&] {
        containerd::task::v3::PidsRequest request;
        request.set_id("interop1");
        for (int i = 0; i < 50; ++i) {
          const auto pids = client.call<containerd::task::v3::PidsResponse>("containerd.task.v3.Task", "Pids", request,
                                                                            kDefaultNamespace);
          if (pids.processes_size() != 1 || pids.processes(0).pid() != task_pid) return false;
        }
        return true;
      }));
    }
    for (auto& result : results) CHECK(result.get());
  }
  containerd.ctr({"task", "kill", "-s", "9", "interop1"});
}

TEST_CASE("our ttrpc client publishes an event to containerd's Events/Forward", "[ttrpc][interop]") {
  PrivateContainerd containerd;
  BackgroundProcess events(containerd.ctr_argv({"events"}));
  // `ctr events` subscribes asynchronously: publish until it reports the event, at most a few times.
  TtrpcClient client("unix://" + containerd.ttrpc_socket());
  containerd::events::TaskOOM oom;
  oom.set_container_id("interop-oom");
  containerd::services::events::ttrpc::v1::ForwardRequest forward;
  auto* envelope = forward.mutable_envelope();
  envelope->set_namespace_("shimcore-test");
  envelope->set_topic("/tasks/oom");
  envelope->mutable_event()->set_type_url("containerd.events.TaskOOM");
  envelope->mutable_event()->set_value(oom.SerializeAsString());

  std::string seen;
  for (int attempt = 0; attempt < 10 && seen.empty(); ++attempt) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    envelope->mutable_timestamp()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
    const auto result = client.call("containerd.services.events.ttrpc.v1.Events", "Forward",
                                    forward.SerializeAsString(), CallOptions{5s, {}});
    REQUIRE(result.status.ok());
    CHECK(result.payload.empty());  // google.protobuf.Empty
    while (auto line = events.read_line(500ms)) {
      if (line->find("/tasks/oom") != std::string::npos) {
        seen = *line;
        break;
      }
    }
  }
  INFO(containerd.log());
  CHECK_THAT(seen, ContainsSubstring("shimcore-test") && ContainsSubstring("/tasks/oom") &&
                       ContainsSubstring(R"("container_id":"interop-oom")"));

  SECTION("containerd validates what it is sent") {
    envelope->set_topic("not-a-topic");
    const auto bad_topic = client.call("containerd.services.events.ttrpc.v1.Events", "Forward",
                                       forward.SerializeAsString(), CallOptions{5s, {}});
    CHECK_FALSE(bad_topic.status.ok());
    CHECK(bad_topic.status.code == shimcore::StatusCode::InvalidArgument);
  }
}
