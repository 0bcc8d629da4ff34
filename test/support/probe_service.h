// Test service "test.v1.Probe" with handlers that echo, block, fail, throw, stream or drop their answer, for
// exercising the ttrpc and gRPC servers the same way.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "shimcore/transport/service_registry.h"
#include "test_util.h"

namespace shimcore::testing {

struct Probe {
  Gate gate;
  std::atomic<int> blocked{0};
  std::promise<bool> block_outcome;  // what the first Block call saw, once it has answered: opened or stopped
  std::atomic<bool> outcome_set{false};
  std::mutex kept_mutex;
  std::vector<transport::ResponderPtr> kept;  // responders a test handler left unanswered
  std::promise<bool> flood_stopped;           // whether a streaming handler saw its stop token when send() refused
};

// Echo, Block (waits for the gate or the stop token), Deadline (the call's steady_clock deadline as nanoseconds since
// the clock's epoch, or "none"; see deadline_of), Namespace, Sleep (500 ms, ignoring its stop token), Fail
// (NotFound), Throw (a plain exception), Drop (no answer), Count (streams request+"1".."3").
inline transport::Service make_probe_service(Probe& probe) {
  using namespace transport;
  Service service("test.v1.Probe");
  service.add_unary("Echo", [](const CallContext&, std::string_view request, ResponderPtr responder) {
    responder->reply(std::string(request));
  });
  service.add_unary("Block", [&probe](const CallContext& context, std::string_view, ResponderPtr responder) {
    ++probe.blocked;
    const bool opened = probe.gate.wait(context.stop);
    if (opened) {
      responder->reply("released");
    } else {
      responder->fail({StatusCode::Canceled, "stopped"});
    }
    // After the answer, so that a test that sees the outcome knows the handler has answered too.
    if (!probe.outcome_set.exchange(true)) probe.block_outcome.set_value(opened);
  });
  service.add_unary("Deadline", [](const CallContext& context, std::string_view, ResponderPtr responder) {
    if (!context.deadline) {
      responder->reply("none");
      return;
    }
    responder->reply(std::to_string(
        std::chrono::duration_cast<std::chrono::nanoseconds>(context.deadline->time_since_epoch()).count()));
  });
  service.add_unary("Namespace", [](const CallContext& context, std::string_view, ResponderPtr responder) {
    responder->reply(std::string(context.namespace_name()));
  });
  service.add_unary("Sleep", [](const CallContext&, std::string_view, ResponderPtr responder) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // ignores its stop token on purpose
    responder->reply("slept");
  });
  service.add_unary("Fail", [](const CallContext&, std::string_view, ResponderPtr) {
    throw make_error(ErrorKind::NotFound, "task {} not found", "t1");
  });
  service.add_unary(
      "Throw", [](const CallContext&, std::string_view, ResponderPtr) { throw std::runtime_error("plain exception"); });
  service.add_unary("Drop", [](const CallContext&, std::string_view, ResponderPtr) {});
  service.add_server_stream("Count", [](const CallContext&, std::string_view request, StreamWriter& writer) {
    for (int i = 1; i <= 3; ++i) writer.send(std::string(request) + std::to_string(i));
  });
  return service;
}

// The deadline a Deadline call's handler saw, read back from its answer (the servers run in the test's process, so
// the steady clock is the same on both sides).
inline std::chrono::steady_clock::time_point deadline_of(const std::string& payload) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(std::stoll(payload))));
}

}  // namespace shimcore::testing
