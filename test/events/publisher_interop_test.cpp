// The publisher against a real containerd 2.1: a task's lifecycle events, published through the ttrpc (and gRPC)
// sink, reach `ctr events` in publish order with their namespace and container id.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "containerd/events/task.pb.h"
#include "private_containerd.h"
#include "shimcore/events/publisher.h"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using shimcore::events::Publisher;
using shimcore::events::PublisherOptions;
using shimcore::events::TaskEventGate;
using shimcore::testing::BackgroundProcess;
using shimcore::testing::PrivateContainerd;
namespace events = shimcore::events;
namespace ce = containerd::events;

namespace {

constexpr const char* kNamespace = "shimcore-events";

bool has(const std::string& line, const std::string& part) { return line.find(part) != std::string::npos; }

// `ctr events` subscribes asynchronously, so an event published right after it starts may be missed: publish a
// probe until it shows (bounded), and only then the sequence under test.
void wait_until_subscribed(Publisher& publisher, BackgroundProcess& events) {
  ce::TaskOOM probe;
  probe.set_container_id("probe");
  for (int attempt = 0; attempt < 20; ++attempt) {
    REQUIRE(publisher.publish(std::string(events::kTaskOOMEventTopic), probe));
    while (auto line = events.read_line(500ms)) {
      if (has(*line, "/tasks/oom") && has(*line, R"("container_id":"probe")")) return;
    }
  }
  FAIL("ctr events never showed the probe event");
}

}  // namespace

TEST_CASE("a task's events reach containerd's subscribers in publish order", "[events][interop]") {
  PrivateContainerd containerd;
  BackgroundProcess subscriber(containerd.ctr_argv({"events"}));
  std::unique_ptr<events::Sink> sink;
  SECTION("ttrpc Events/Forward on the ttrpc socket") { sink = events::make_ttrpc_sink(containerd.ttrpc_socket()); }
  SECTION("gRPC Events/Publish on the gRPC socket") { sink = events::make_grpc_sink(containerd.grpc_socket()); }
  Publisher publisher(std::move(sink), kNamespace);
  wait_until_subscribed(publisher, subscriber);

  const std::string id = "seq1";
  ce::TaskCreate create;
  create.set_container_id(id);
  create.set_bundle("/run/shimcore/bundle/" + id);
  create.set_pid(4242);
  ce::TaskStart start;
  start.set_container_id(id);
  start.set_pid(4242);
  ce::TaskExit exit;
  exit.set_container_id(id);
  exit.set_id(id);
  exit.set_pid(4242);
  exit.set_exit_status(7);
  ce::TaskDelete del;
  del.set_container_id(id);
  del.set_pid(4242);
  del.set_exit_status(7);

  // As the task controller will: the process "exits" before Start has published, and the gate holds the exit back.
  TaskEventGate gate;
  REQUIRE(publisher.publish(std::string(events::kTaskCreateEventTopic), create));
  gate.exited(id, [&] { REQUIRE(publisher.publish(std::string(events::kTaskExitEventTopic), exit)); });
  REQUIRE(publisher.publish(std::string(events::kTaskStartEventTopic), start));
  gate.started(id);
  REQUIRE(publisher.publish(std::string(events::kTaskDeleteEventTopic), del));
  gate.forget(id);

  std::vector<std::string> lines;
  for (int quiet = 0; quiet < 20 && (lines.empty() || !has(lines.back(), "/tasks/delete"));) {
    const auto line = subscriber.read_line(1s);
    if (!line) {
      ++quiet;
    } else if (has(*line, R"("container_id":"seq1")")) {
      lines.push_back(*line);
    }
  }
  publisher.close(30s);
  INFO(containerd.log());
  CHECK(publisher.dropped() == 0);
  REQUIRE(lines.size() == 4);
  const std::vector<std::string> topics = {"/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(lines[i]);
    CHECK_THAT(lines[i],
               ContainsSubstring(std::string(" ") + kNamespace + " ") && ContainsSubstring(" " + topics[i] + " "));
  }
  CHECK_THAT(lines[0], ContainsSubstring(R"("bundle":"/run/shimcore/bundle/seq1")"));
  CHECK_THAT(lines[2], ContainsSubstring(R"("exit_status":7)"));
}
