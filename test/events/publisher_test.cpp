// The ordered event publisher: order, retries, drops, capacity, close, many publishing threads (with a fake sink);
// the ttrpc and gRPC sinks against our own servers standing in for containerd; the exit-after-start gate.
#include <google/protobuf/empty.pb.h>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "containerd/events/task.pb.h"
#include "containerd/services/events/v1/events.pb.h"
#include "containerd/services/ttrpc/events/v1/events.pb.h"
#include "shimcore/errdefs.h"
#include "shimcore/events/publisher.h"
#include "shimcore/transport/grpc_server.h"
#include "shimcore/transport/service_registry.h"
#include "shimcore/transport/ttrpc_server.h"
#include "test_util.h"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using containerd::types::Envelope;
using shimcore::ErrorKind;
using shimcore::events::Publisher;
using shimcore::events::PublisherOptions;
using shimcore::events::Sink;
using shimcore::events::TaskEventGate;
using shimcore::testing::eventually;
using shimcore::testing::Gate;
using shimcore::testing::TempDir;
namespace events = shimcore::events;
namespace transport = shimcore::transport;
namespace ce = containerd::events;

namespace {

// Every containerd.events.Task* message has container_id as field 1, so any payload parses as a TaskOOM to find it.
std::string container_id_of(const Envelope& envelope) {
  ce::TaskOOM probe;
  probe.ParseFromString(envelope.event().value());
  return probe.container_id();
}

ce::TaskOOM oom(const std::string& container_id) {
  ce::TaskOOM event;
  event.set_container_id(container_id);
  return event;
}

std::chrono::system_clock::time_point time_of(const google::protobuf::Timestamp& timestamp) {
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(timestamp.seconds()) + std::chrono::nanoseconds(timestamp.nanos())));
}

// What a FakeSink saw and how it behaves; shared with the test because the Publisher owns the sink itself.
struct SinkState {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Envelope> delivered;
  std::vector<std::string> attempts;      // container id of every deliver() call
  std::map<std::string, int> failures;    // container id -> failures left before success (-1: always fail)
  bool blocking = false;                  // deliver() waits while this is set
  int blocked = 0;                        // deliver() calls waiting right now
  std::chrono::milliseconds timeout{-1};  // what set_attempt_timeout() received

  void block() {
    const std::lock_guard lock(mutex);
    blocking = true;
  }
  void unblock() {
    const std::lock_guard lock(mutex);
    blocking = false;
    changed.notify_all();
  }
  int blocked_now() {
    const std::lock_guard lock(mutex);
    return blocked;
  }
  std::vector<std::string> delivered_ids() {
    const std::lock_guard lock(mutex);
    std::vector<std::string> ids;
    for (const auto& envelope : delivered) ids.push_back(container_id_of(envelope));
    return ids;
  }
  std::vector<std::string> attempted_ids() {
    const std::lock_guard lock(mutex);
    return attempts;
  }
};

class FakeSink final : public Sink {
 public:
  explicit FakeSink(std::shared_ptr<SinkState> state) : state_(std::move(state)) {}

  void set_attempt_timeout(std::chrono::milliseconds timeout) override {
    const std::lock_guard lock(state_->mutex);
    state_->timeout = timeout;
  }

  void deliver(const Envelope& envelope) override {
    const std::string id = container_id_of(envelope);
    std::unique_lock lock(state_->mutex);
    state_->attempts.push_back(id);
    ++state_->blocked;
    state_->changed.wait(lock, [&] { return !state_->blocking; });
    --state_->blocked;
    if (const auto failing = state_->failures.find(id); failing != state_->failures.end() && failing->second != 0) {
      if (failing->second > 0) --failing->second;
      throw shimcore::make_error(ErrorKind::Unavailable, "fake sink refuses {}", id);
    }
    state_->delivered.push_back(envelope);
  }

 private:
  std::shared_ptr<SinkState> state_;
};

struct Fixture {
  std::shared_ptr<SinkState> state = std::make_shared<SinkState>();
  std::mutex drops_mutex;
  std::vector<std::pair<std::string, std::string>> drops;  // container id, reason

  // Fast retries unless asked otherwise: the tests count attempts, they do not measure delays.
  Publisher make(PublisherOptions options = {}) { return Publisher(sink(), "k8s.io", prepared(std::move(options))); }
  std::unique_ptr<Publisher> make_unique(PublisherOptions options = {}, bool fast_retries = true) {
    return std::make_unique<Publisher>(sink(), "k8s.io", prepared(std::move(options), fast_retries));
  }

 private:
  std::unique_ptr<Sink> sink() { return std::make_unique<FakeSink>(state); }
  PublisherOptions prepared(PublisherOptions options, bool fast_retries = true) {
    if (fast_retries) options.retry_delay = std::min(options.retry_delay, std::chrono::milliseconds(1));
    options.on_drop = [this](const Envelope& envelope, std::string_view reason) {
      const std::lock_guard lock(drops_mutex);
      drops.emplace_back(container_id_of(envelope), std::string(reason));
    };
    return options;
  }
};

}  // namespace

TEST_CASE("events go out in publish order, as envelopes containerd accepts", "[events]") {
  Fixture fixture;
  PublisherOptions options;
  options.attempt_timeout = 1234ms;
  Publisher publisher = fixture.make(options);
  CHECK(fixture.state->timeout == 1234ms);  // handed to the sink before the first delivery

  ce::TaskCreate create;
  create.set_container_id("c1");
  create.set_bundle("/run/bundle/c1");
  create.set_pid(100);
  ce::TaskStart start;
  start.set_container_id("c1");
  start.set_pid(100);
  ce::TaskExit exit;
  exit.set_container_id("c1");
  exit.set_id("c1");
  exit.set_pid(100);
  exit.set_exit_status(7);
  ce::TaskDelete del;
  del.set_container_id("c1");
  del.set_pid(100);
  del.set_exit_status(7);

  const auto before = std::chrono::system_clock::now();
  REQUIRE(publisher.publish(std::string(events::kTaskCreateEventTopic), create));
  REQUIRE(publisher.publish(std::string(events::kTaskStartEventTopic), start));
  REQUIRE(publisher.publish(std::string(events::kTaskExitEventTopic), exit));
  REQUIRE(publisher.publish(std::string(events::kTaskDeleteEventTopic), del));
  const auto after = std::chrono::system_clock::now();
  publisher.close(30s);

  CHECK(publisher.delivered() == 4);
  CHECK(publisher.dropped() == 0);
  const std::lock_guard lock(fixture.state->mutex);
  const auto& delivered = fixture.state->delivered;
  REQUIRE(delivered.size() == 4);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"/tasks/create", "containerd.events.TaskCreate"},
      {"/tasks/start", "containerd.events.TaskStart"},
      {"/tasks/exit", "containerd.events.TaskExit"},
      {"/tasks/delete", "containerd.events.TaskDelete"},
  };
  const std::vector<std::string> payloads = {create.SerializeAsString(), start.SerializeAsString(),
                                             exit.SerializeAsString(), del.SerializeAsString()};
  for (std::size_t i = 0; i < delivered.size(); ++i) {
    CAPTURE(i);
    CHECK(delivered[i].namespace_() == "k8s.io");
    CHECK(delivered[i].topic() == expected[i].first);
    CHECK(delivered[i].event().type_url() == expected[i].second);  // bare full name, as containerd expects
    CHECK(delivered[i].event().value() == payloads[i]);
    // Stamped when publish() ran: containerd's Forward refuses a zero timestamp.
    REQUIRE(delivered[i].has_timestamp());
    CHECK(time_of(delivered[i].timestamp()) >= std::chrono::floor<std::chrono::microseconds>(before));
    CHECK(time_of(delivered[i].timestamp()) <= after);
    if (i > 0) CHECK(time_of(delivered[i].timestamp()) >= time_of(delivered[i - 1].timestamp()));
  }
}

TEST_CASE("the destructor delivers what is queued", "[events]") {
  Fixture fixture;
  fixture.state->block();
  {
    Publisher publisher = fixture.make();
    for (int i = 0; i < 20; ++i) REQUIRE(publisher.publish("/tasks/oom", oom("d" + std::to_string(i))));
    REQUIRE(eventually([&] { return fixture.state->blocked_now() == 1; }));
    fixture.state->unblock();
  }
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) expected.push_back("d" + std::to_string(i));
  CHECK(fixture.state->delivered_ids() == expected);
}

TEST_CASE("a failing event is retried, then dropped, and later events still go out in order", "[events]") {
  Fixture fixture;
  fixture.state->failures = {{"flaky", 2}, {"broken", -1}};
  PublisherOptions options;
  options.attempts = 3;
  Publisher publisher = fixture.make(options);
  for (const char* id : {"a", "flaky", "broken", "b"}) REQUIRE(publisher.publish("/tasks/oom", oom(id)));
  publisher.close(30s);

  CHECK(fixture.state->attempted_ids() ==
        std::vector<std::string>{"a", "flaky", "flaky", "flaky", "broken", "broken", "broken", "b"});
  CHECK(fixture.state->delivered_ids() == std::vector<std::string>{"a", "flaky", "b"});
  CHECK(publisher.delivered() == 3);
  CHECK(publisher.dropped() == 1);
  const std::lock_guard lock(fixture.drops_mutex);
  REQUIRE(fixture.drops.size() == 1);
  CHECK(fixture.drops[0].first == "broken");
  CHECK_THAT(fixture.drops[0].second, ContainsSubstring("fake sink refuses broken"));
}

TEST_CASE("a sink that throws something other than Error is a failed attempt too", "[events]") {
  class Throwing final : public Sink {
   public:
    void deliver(const Envelope&) override { throw 42; }
  };
  PublisherOptions options;
  options.attempts = 2;
  options.retry_delay = 1ms;
  Publisher publisher(std::make_unique<Throwing>(), "default", options);
  REQUIRE(publisher.publish("/tasks/oom", oom("x")));
  publisher.close(30s);
  CHECK(publisher.delivered() == 0);
  CHECK(publisher.dropped() == 1);
}

TEST_CASE("publish refuses at once when the queue is full", "[events]") {
  Fixture fixture;
  fixture.state->block();
  PublisherOptions options;
  options.capacity = 2;
  Publisher publisher = fixture.make(options);
  REQUIRE(publisher.publish("/tasks/oom", oom("sending")));
  // The event being sent is off the queue, so the capacity counts only the ones behind it.
  REQUIRE(eventually([&] { return fixture.state->blocked_now() == 1; }));
  CHECK(publisher.publish("/tasks/oom", oom("q1")));
  CHECK(publisher.publish("/tasks/oom", oom("q2")));
  CHECK_FALSE(publisher.publish("/tasks/oom", oom("refused")));  // returns although the sink is still blocked
  CHECK(publisher.dropped() == 1);
  fixture.state->unblock();
  publisher.close(30s);
  CHECK(fixture.state->delivered_ids() == std::vector<std::string>{"sending", "q1", "q2"});
  CHECK(publisher.delivered() == 3);
  CHECK(publisher.dropped() == 1);
  const std::lock_guard lock(fixture.drops_mutex);
  CHECK(fixture.drops.empty());  // a refused publish is the caller's to report
}

TEST_CASE("close waits for the queue to drain, then publish refuses", "[events]") {
  Fixture fixture;
  fixture.state->block();
  Publisher publisher = fixture.make();
  for (int i = 0; i < 50; ++i) REQUIRE(publisher.publish("/tasks/oom", oom("e" + std::to_string(i))));
  REQUIRE(eventually([&] { return fixture.state->blocked_now() == 1; }));

  auto closing = std::async(std::launch::async, [&] { publisher.close(60s); });
  // Publish until refused, so that the sink is released only once close() has begun.
  int accepted = 0;
  REQUIRE(eventually([&] {
    if (!publisher.publish("/tasks/oom", oom("late"))) return true;
    ++accepted;
    return false;
  }));
  fixture.state->unblock();
  closing.get();

  CHECK(publisher.delivered() == static_cast<std::uint64_t>(50 + accepted));
  CHECK(publisher.dropped() == 1);
  CHECK(fixture.state->delivered_ids().size() == static_cast<std::size_t>(50 + accepted));
  CHECK_FALSE(publisher.publish("/tasks/oom", oom("after")));
  CHECK(publisher.dropped() == 2);
  publisher.close(0ms);  // idempotent
  publisher.close(1s);
}

TEST_CASE("close returns after its bound when the sink blocks", "[events]") {
  Fixture fixture;
  fixture.state->block();
  auto publisher = fixture.make_unique();
  for (const char* id : {"stuck", "b", "c"}) REQUIRE(publisher->publish("/tasks/oom", oom(id)));
  REQUIRE(eventually([&] { return fixture.state->blocked_now() == 1; }));

  publisher->close(50ms);
  CHECK(fixture.state->blocked_now() == 1);  // close() came back while the sink still held "stuck"
  CHECK(publisher->dropped() == 2);          // the queued ones are given up
  CHECK_FALSE(publisher->publish("/tasks/oom", oom("d")));
  {
    const std::lock_guard lock(fixture.drops_mutex);
    REQUIRE(fixture.drops.size() == 2);
    CHECK(fixture.drops[0].first == "b");
    CHECK(fixture.drops[1].first == "c");
    CHECK_THAT(fixture.drops[0].second, ContainsSubstring("closed"));
  }
  fixture.state->unblock();
  publisher.reset();  // joins the sender, which finishes the attempt it was in
  CHECK(fixture.state->delivered_ids() == std::vector<std::string>{"stuck"});
}

TEST_CASE("close stops the retries of the event being sent", "[events]") {
  Fixture fixture;
  fixture.state->failures = {{"stuck", -1}};
  PublisherOptions options;
  options.retry_delay = 24h;  // without close() waking the sender, the join below would outlast the test timeout
  auto publisher = fixture.make_unique(options, false);
  REQUIRE(publisher->publish("/tasks/oom", oom("stuck")));
  REQUIRE(publisher->publish("/tasks/oom", oom("next")));
  REQUIRE(eventually([&] { return fixture.state->attempted_ids().size() == 1; }));
  publisher->close(10ms);
  publisher.reset();
  CHECK(fixture.state->attempted_ids() == std::vector<std::string>{"stuck"});
  CHECK(fixture.state->delivered_ids().empty());
  const std::lock_guard lock(fixture.drops_mutex);
  // Reported from two threads (close() for "next", the sender for "stuck"), so in either order.
  std::vector<std::string> dropped_ids;
  for (const auto& [id, reason] : fixture.drops) dropped_ids.push_back(id);
  std::sort(dropped_ids.begin(), dropped_ids.end());
  CHECK(dropped_ids == std::vector<std::string>{"next", "stuck"});
}

TEST_CASE("many publishing threads keep each thread's order", "[events]") {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  Fixture fixture;
  PublisherOptions options;
  options.capacity = kThreads * kPerThread;  // nothing refused: the test is about order
  Publisher publisher = fixture.make(options);
  std::vector<std::future<int>> publishers;
  for (int thread = 0; thread < kThreads; ++thread) {
    publishers.push_back(std::async(std::launch::async, [&publisher, thread] {
      int accepted = 0;
      for (int seq = 0; seq < kPerThread; ++seq) {
        ce::TaskExecAdded added;
        added.set_container_id("t" + std::to_string(thread));
        added.set_exec_id(std::to_string(seq));
        if (publisher.publish(std::string(events::kTaskExecAddedEventTopic), added)) ++accepted;
      }
      return accepted;
    }));
  }
  for (auto& accepted : publishers) CHECK(accepted.get() == kPerThread);
  publisher.close(60s);
  CHECK(publisher.delivered() == kThreads * kPerThread);

  std::map<std::string, std::vector<int>> sequences;
  const std::lock_guard lock(fixture.state->mutex);
  for (const auto& envelope : fixture.state->delivered) {
    ce::TaskExecAdded added;
    REQUIRE(added.ParseFromString(envelope.event().value()));
    sequences[added.container_id()].push_back(std::stoi(added.exec_id()));
  }
  REQUIRE(sequences.size() == kThreads);
  std::vector<int> expected(kPerThread);
  for (int seq = 0; seq < kPerThread; ++seq) expected[static_cast<std::size_t>(seq)] = seq;
  for (const auto& [thread, seqs] : sequences) {
    CAPTURE(thread);
    CHECK(seqs == expected);
  }
}

TEST_CASE("the publisher refuses what containerd would refuse", "[events]") {
  const auto kind_of = [](auto&& body) {
    try {
      body();
    } catch (const shimcore::Error& error) {
      return error.kind();
    }
    return ErrorKind::Unknown;
  };
  auto state = std::make_shared<SinkState>();
  CHECK(kind_of([] { Publisher(nullptr, "default"); }) == ErrorKind::InvalidArgument);
  for (const char* ns : {"", "with space", "-lead", "trail.", "a..b", "ns/x"}) {
    CAPTURE(ns);
    CHECK(kind_of([&] { Publisher(std::make_unique<FakeSink>(state), ns); }) == ErrorKind::InvalidArgument);
  }
  CHECK(kind_of([&] { Publisher(std::make_unique<FakeSink>(state), std::string(77, 'n')); }) ==
        ErrorKind::InvalidArgument);
  PublisherOptions no_room;
  no_room.capacity = 0;
  CHECK(kind_of([&] { Publisher(std::make_unique<FakeSink>(state), "default", no_room); }) ==
        ErrorKind::InvalidArgument);
  PublisherOptions no_attempts;
  no_attempts.attempts = 0;
  CHECK(kind_of([&] { Publisher(std::make_unique<FakeSink>(state), "default", no_attempts); }) ==
        ErrorKind::InvalidArgument);

  Publisher publisher(std::make_unique<FakeSink>(state), "moby");
  for (const char* topic : {"", "tasks/exit", "/", "/tasks//exit", "/tasks/exit/", "/tasks/ex it"}) {
    CAPTURE(topic);
    CHECK(kind_of([&] { publisher.publish(topic, oom("x")); }) == ErrorKind::InvalidArgument);
  }
  for (const std::string_view topic :
       {events::kTaskCreateEventTopic, events::kTaskStartEventTopic, events::kTaskExitEventTopic,
        events::kTaskDeleteEventTopic, events::kTaskExecAddedEventTopic, events::kTaskExecStartedEventTopic,
        events::kTaskOOMEventTopic, events::kTaskPausedEventTopic, events::kTaskResumedEventTopic,
        events::kTaskCheckpointedEventTopic}) {
    CAPTURE(topic);
    CHECK(publisher.publish(std::string(topic), oom("x")));
  }
  publisher.close(30s);
  CHECK(publisher.delivered() == 10);
  CHECK(publisher.dropped() == 0);  // a throwing publish is neither
}

namespace {

namespace ttrpc_events = containerd::services::events::ttrpc::v1;
namespace grpc_events = containerd::services::events::v1;

// Stand-ins for containerd's two events services. They record every call (attempts included); the container id
// "flaky" is refused twice with Unavailable, the topic "/refused" always with NotFound, and "/slow" waits until the
// call's deadline has passed.
struct FakeContainerd {
  std::mutex mutex;
  std::vector<std::pair<std::string, Envelope>> forwarded;  // metadata namespace, envelope
  std::vector<std::pair<std::string, grpc_events::PublishRequest>> published;
  int flaky_failures = 2;
  Gate never;  // never opened: "/slow" waits for its stop token
  struct SlowCall {
    std::optional<transport::Deadline> deadline;  // as the handler saw it
    std::chrono::steady_clock::time_point seen;   // when the handler ran
  };
  std::vector<SlowCall> slow_calls;
  std::condition_variable slow_arrived;

  // The first "/slow" call, once its handler has run.
  SlowCall slow_call() {
    std::unique_lock lock(mutex);
    REQUIRE(slow_arrived.wait_for(lock, 30s, [&] { return !slow_calls.empty(); }));
    return slow_calls.front();
  }

  void misbehave(const transport::CallContext& context, const std::string& topic, const std::string& container_id) {
    if (topic == "/refused") throw shimcore::make_error(ErrorKind::NotFound, "topic {} refused", topic);
    if (topic == "/slow") {
      {
        const std::lock_guard lock(mutex);
        slow_calls.push_back({context.deadline, std::chrono::steady_clock::now()});
      }
      slow_arrived.notify_all();
      never.wait(context.stop);
    }
    const std::lock_guard lock(mutex);
    if (container_id == "flaky" && flaky_failures > 0) {
      --flaky_failures;
      throw shimcore::Error(ErrorKind::Unavailable, "containerd is busy");
    }
  }

  std::shared_ptr<transport::ServiceRegistry> registry() {
    auto registry = std::make_shared<transport::ServiceRegistry>();
    transport::Service ttrpc_service("containerd.services.events.ttrpc.v1.Events");
    ttrpc_service.add_blocking<ttrpc_events::ForwardRequest, google::protobuf::Empty>(
        "Forward", [this](const transport::CallContext& context, const ttrpc_events::ForwardRequest& request) {
          {
            const std::lock_guard lock(mutex);
            forwarded.emplace_back(std::string(context.namespace_name()), request.envelope());
          }
          misbehave(context, request.envelope().topic(), container_id_of(request.envelope()));
          return google::protobuf::Empty();
        });
    registry->add(std::move(ttrpc_service));
    transport::Service grpc_service("containerd.services.events.v1.Events");
    grpc_service.add_blocking<grpc_events::PublishRequest, google::protobuf::Empty>(
        "Publish", [this](const transport::CallContext& context, const grpc_events::PublishRequest& request) {
          {
            const std::lock_guard lock(mutex);
            published.emplace_back(std::string(context.namespace_name()), request);
          }
          Envelope as_envelope;
          *as_envelope.mutable_event() = request.event();
          misbehave(context, request.topic(), container_id_of(as_envelope));
          return google::protobuf::Empty();
        });
    registry->add(std::move(grpc_service));
    return registry;
  }
};

Envelope envelope(const std::string& topic, const std::string& container_id) {
  Envelope envelope;
  envelope.set_namespace_("default");
  envelope.set_topic(topic);
  envelope.mutable_timestamp()->set_seconds(1);
  envelope.mutable_event()->set_type_url("containerd.events.TaskOOM");
  envelope.mutable_event()->set_value(oom(container_id).SerializeAsString());
  return envelope;
}

ErrorKind delivery_error(Sink& sink, const Envelope& envelope) {
  try {
    sink.deliver(envelope);
  } catch (const shimcore::Error& error) {
    return error.kind();
  }
  return ErrorKind::Unknown;
}

}  // namespace

TEST_CASE("the ttrpc sink forwards whole envelopes to Events/Forward", "[events][ttrpc]") {
  TempDir dir;
  FakeContainerd containerd;
  const std::string socket = (dir.path / "c.sock.ttrpc").string();
  transport::TtrpcServer server(containerd.registry());
  server.listen("unix://" + socket);
  server.start();

  ce::TaskExit exit;
  exit.set_container_id("c1");
  exit.set_id("c1");
  exit.set_pid(4242);
  exit.set_exit_status(137);
  exit.mutable_exited_at()->set_seconds(1700000000);
  PublisherOptions options;
  options.attempts = 3;
  options.retry_delay = 1ms;
  // containerd hands shims $TTRPC_ADDRESS as a bare path.
  Publisher publisher(events::make_ttrpc_sink(socket), "k8s.io", options);
  const auto before = std::chrono::system_clock::now();
  REQUIRE(publisher.publish("/tasks/exit", exit));
  const auto after = std::chrono::system_clock::now();
  REQUIRE(publisher.publish("/tasks/oom", oom("flaky")));  // refused twice, then taken: 3 attempts
  REQUIRE(publisher.publish("/tasks/oom", oom("c2")));
  publisher.close(30s);
  CHECK(publisher.delivered() == 3);
  CHECK(publisher.dropped() == 0);

  {
    const std::lock_guard lock(containerd.mutex);
    REQUIRE(containerd.forwarded.size() == 5);
    const auto& [metadata_ns, first] = containerd.forwarded.front();
    CHECK(metadata_ns == "k8s.io");
    CHECK(first.namespace_() == "k8s.io");
    CHECK(first.topic() == "/tasks/exit");
    CHECK(first.event().type_url() == "containerd.events.TaskExit");
    ce::TaskExit received;
    REQUIRE(received.ParseFromString(first.event().value()));
    CHECK(received.SerializeAsString() == exit.SerializeAsString());
    CHECK(received.exit_status() == 137);
    REQUIRE(first.has_timestamp());
    CHECK(time_of(first.timestamp()) >= std::chrono::floor<std::chrono::microseconds>(before));
    CHECK(time_of(first.timestamp()) <= after);
    std::vector<std::string> ids;
    for (const auto& [ns, forwarded] : containerd.forwarded) ids.push_back(container_id_of(forwarded));
    CHECK(ids == std::vector<std::string>{"c1", "flaky", "flaky", "flaky", "c2"});
    // A retry sends the same envelope again, timestamp included.
    CHECK(containerd.forwarded[1].second.SerializeAsString() == containerd.forwarded[3].second.SerializeAsString());
  }

  SECTION("errors come back as Error with the status code's kind") {
    auto sink = events::make_ttrpc_sink("unix://" + socket);
    CHECK(delivery_error(*sink, envelope("/refused", "x")) == ErrorKind::NotFound);
    // "/slow" never answers, so any attempt timeout ends in DeadlineExceeded. The one set here is what the call
    // carries: the server starts it when the request arrives, after `before` and before its handler runs.
    sink->set_attempt_timeout(100ms);
    const auto before = std::chrono::steady_clock::now();
    CHECK(delivery_error(*sink, envelope("/slow", "x")) == ErrorKind::DeadlineExceeded);
    const auto slow = containerd.slow_call();  // the client may have given up before the request arrived
    REQUIRE(slow.deadline);
    CHECK(*slow.deadline >= before + 100ms);
    CHECK(*slow.deadline <= slow.seen + 100ms);
    // Back to a timeout no scheduler delay reaches: the deliveries below are about outcomes, not speed.
    sink->set_attempt_timeout(60s);
    CHECK(delivery_error(*sink, envelope("/tasks/oom", "fine")) == ErrorKind::Unknown);  // delivered
    server.shutdown();
    CHECK(delivery_error(*sink, envelope("/tasks/oom", "gone")) == ErrorKind::Unavailable);
  }
  SECTION("the sink dials again when containerd comes back") {
    auto sink = events::make_ttrpc_sink(socket);
    sink->deliver(envelope("/tasks/oom", "one"));
    server.shutdown();
    CHECK(delivery_error(*sink, envelope("/tasks/oom", "gone")) == ErrorKind::Unavailable);
    transport::TtrpcServer restarted(containerd.registry());
    restarted.listen(socket);
    restarted.start();
    sink->deliver(envelope("/tasks/oom", "two"));
    const std::lock_guard lock(containerd.mutex);
    CHECK(container_id_of(containerd.forwarded.back().second) == "two");
  }
}

TEST_CASE("the gRPC sink calls Events/Publish with the namespace as metadata", "[events][grpc]") {
  TempDir dir;
  FakeContainerd containerd;
  const std::string socket = (dir.path / "c.sock").string();
  transport::GrpcServer server(containerd.registry());
  server.listen("unix://" + socket);
  server.start();

  ce::TaskStart start;
  start.set_container_id("c1");
  start.set_pid(99);
  PublisherOptions options;
  options.attempts = 3;
  options.retry_delay = 1ms;
  Publisher publisher(events::make_grpc_sink(socket), "k8s.io", options);
  REQUIRE(publisher.publish("/tasks/start", start));
  REQUIRE(publisher.publish("/tasks/oom", oom("flaky")));
  REQUIRE(publisher.publish("/tasks/oom", oom("c2")));
  publisher.close(30s);
  CHECK(publisher.delivered() == 3);
  CHECK(publisher.dropped() == 0);

  {
    const std::lock_guard lock(containerd.mutex);
    REQUIRE(containerd.published.size() == 5);
    const auto& [ns, first] = containerd.published.front();
    CHECK(ns == "k8s.io");
    CHECK(first.topic() == "/tasks/start");
    CHECK(first.event().type_url() == "containerd.events.TaskStart");
    CHECK(first.event().value() == start.SerializeAsString());
    std::vector<std::string> topics;
    for (const auto& [ns_, request] : containerd.published) topics.push_back(request.topic());
    CHECK(topics == std::vector<std::string>{"/tasks/start", "/tasks/oom", "/tasks/oom", "/tasks/oom", "/tasks/oom"});
  }

  SECTION("errors come back as Error with the status code's kind") {
    auto sink = events::make_grpc_sink("unix://" + socket);
    CHECK(delivery_error(*sink, envelope("/refused", "x")) == ErrorKind::NotFound);
    sink->set_attempt_timeout(100ms);  // "/slow" never answers: DeadlineExceeded whatever the timeout
    CHECK(delivery_error(*sink, envelope("/slow", "x")) == ErrorKind::DeadlineExceeded);
    CHECK(containerd.slow_call().deadline.has_value());  // the timeout went out as the call's deadline
    sink->set_attempt_timeout(60s);  // the refused dial below must fail as Unavailable, not race a short deadline
    server.shutdown();
    CHECK(delivery_error(*sink, envelope("/tasks/oom", "gone")) == ErrorKind::Unavailable);
  }
}

TEST_CASE("TaskEventGate holds an exit back until its start", "[events][gate]") {
  TaskEventGate gate;
  std::vector<std::string> log;
  const auto note = [&log](std::string what) { return [&log, what = std::move(what)] { log.push_back(what); }; };

  gate.exited("c1", note("exit c1"));
  gate.exited("c2", note("exit c2"));
  CHECK(log.empty());
  gate.started("c1");
  CHECK(log == std::vector<std::string>{"exit c1"});  // c2 is another process: still held
  gate.exited("c1", note("exit c1 again"));           // started already: runs at once
  CHECK(log.back() == "exit c1 again");
  gate.started("c1");  // a second started() runs nothing twice
  CHECK(log.size() == 2);

  gate.forget("c2");  // deleted without ever starting: its exit is discarded
  gate.started("c2");
  CHECK(log.size() == 2);
  gate.forget("c1");
  gate.exited("c1", note("exit of a new c1"));  // a forgotten id starts over
  CHECK(log.size() == 2);
  gate.started("c1");
  CHECK(log.back() == "exit of a new c1");
}

TEST_CASE("a process that exits at once still gives create, start, exit, delete", "[events][gate]") {
  Fixture fixture;
  PublisherOptions options;
  options.capacity = 1024;  // room for every event of the race below: the test is about order, not refusals
  Publisher publisher = fixture.make(options);
  TaskEventGate gate;
  const auto topics = [&] {
    std::vector<std::string> seen;
    const std::lock_guard lock(fixture.state->mutex);
    for (const auto& envelope : fixture.state->delivered) seen.push_back(envelope.topic());
    return seen;
  };

  SECTION("the exit is noticed before Start has published") {
    ce::TaskCreate create;
    create.set_container_id("c1");
    REQUIRE(publisher.publish("/tasks/create", create));
    ce::TaskExit exit;
    exit.set_container_id("c1");
    exit.set_id("c1");
    gate.exited("c1", [&] { publisher.publish("/tasks/exit", exit); });  // from the exit watcher, too early
    ce::TaskStart start;
    start.set_container_id("c1");
    REQUIRE(publisher.publish("/tasks/start", start));
    gate.started("c1");
    ce::TaskDelete del;
    del.set_container_id("c1");
    REQUIRE(publisher.publish("/tasks/delete", del));
    gate.forget("c1");
    publisher.close(30s);
    CHECK(topics() == std::vector<std::string>{"/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"});
  }
  SECTION("exit watchers racing Start on many processes") {
    constexpr int kProcesses = 200;
    auto starter = std::async(std::launch::async, [&] {
      for (int i = 0; i < kProcesses; ++i) {
        const std::string id = "p" + std::to_string(i);
        ce::TaskStart start;
        start.set_container_id(id);
        publisher.publish("/tasks/start", start);
        gate.started(id);
      }
    });
    auto watcher = std::async(std::launch::async, [&] {
      for (int i = 0; i < kProcesses; ++i) {
        const std::string id = "p" + std::to_string(i);
        gate.exited(id, [&publisher, id] {
          ce::TaskExit exit;
          exit.set_container_id(id);
          exit.set_id(id);
          publisher.publish("/tasks/exit", exit);
        });
      }
    });
    starter.get();
    watcher.get();
    publisher.close(60s);
    REQUIRE(publisher.delivered() == 2 * kProcesses);
    std::map<std::string, std::vector<std::string>> per_process;
    const std::lock_guard lock(fixture.state->mutex);
    for (const auto& envelope : fixture.state->delivered) {
      per_process[container_id_of(envelope)].push_back(envelope.topic());
    }
    REQUIRE(per_process.size() == kProcesses);
    for (const auto& [id, seen] : per_process) {
      CAPTURE(id);
      CHECK(seen == std::vector<std::string>{"/tasks/start", "/tasks/exit"});
    }
  }
}
