// The platform-neutral parts of the computecore backend: exit decoding, UTF-16 conversion, exit latches, the
// callback-context registry and the event sinks.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "shimcore/hcs/computecore_logic.h"

using namespace std::chrono_literals;
using shimcore::ErrorKind;
using shimcore::hcs::ProcessExit;
using shimcore::hcs::SystemExit;
namespace hresult = shimcore::hcs::hresult;
namespace cc = shimcore::hcs::computecore;

namespace {

constexpr std::uint32_t kPid = 4242;

// An EventSink that records what it was given.
class RecordingSink final : public cc::EventSink {
 public:
  void on_event(std::uint32_t type, std::string_view data) override {
    types.push_back(type);
    data_seen.emplace_back(data);
  }
  std::vector<std::uint32_t> types;
  std::vector<std::string> data_seen;
};

}  // namespace

// --- Event data -> exits -----------------------------------------------------------------------------------------

TEST_CASE("a graceful SystemExitStatus passes its status through", "[computecore]") {
  const SystemExit exit = cc::system_exit_from_event(
      R"({"Status":0,"ExitType":"GracefulExit","Attribution":[{"SystemExit":{"Detail":"Shutdown","Initiator":"Client"}}]})");
  CHECK(exit.status == 0);
  CHECK(exit.exit_type == "GracefulExit");
  CHECK(exit.document.at("Attribution").size() == 1);
}

TEST_CASE("an UnexpectedExit is HCS_E_UNEXPECTED_EXIT whatever Status says", "[computecore]") {
  CHECK(cc::system_exit_from_event(R"({"Status":0,"ExitType":"UnexpectedExit"})").status == hresult::kUnexpectedExit);
  CHECK(cc::system_exit_from_event(R"({"Status":-2147467259,"ExitType":"UnexpectedExit"})").status ==
        hresult::kUnexpectedExit);
}

TEST_CASE("Status is read as a signed or unsigned 32-bit HRESULT", "[computecore]") {
  // 0x80370107 (HCS_E_TERMINATED) as HCS writes it (int32) and as an unsigned number.
  CHECK(cc::system_exit_from_event(R"({"Status":-2143878905,"ExitType":"ForcedExit"})").status == 0x80370107);
  CHECK(cc::system_exit_from_event(R"({"Status":2151088391,"ExitType":"ForcedExit"})").status == 0x80370107);
}

TEST_CASE("unreadable system exit data still ends the wait, as invalid JSON", "[computecore]") {
  for (const std::string_view data : {"", "not json", "[1,2]", "\"text\""}) {
    CAPTURE(data);
    const SystemExit exit = cc::system_exit_from_event(data);
    CHECK(exit.status == hresult::kInvalidJson);
    CHECK(exit.exit_type == "Unknown");
    CHECK(exit.document.is_object());
  }
}

TEST_CASE("a lost compute service releases system waiters with HCS_E_SERVICE_DISCONNECT", "[computecore]") {
  const SystemExit exit = cc::system_exit_from_service_disconnect();
  CHECK(exit.status == hresult::kServiceDisconnect);
  CHECK(exit.exit_type == "Unknown");
  CHECK(exit.document.at("Status").get<std::int32_t>() == static_cast<std::int32_t>(hresult::kServiceDisconnect));
}

TEST_CASE("a stopped system's exit is read from its properties", "[computecore]") {
  CHECK_FALSE(cc::system_exit_from_properties({{"Id", "x"}, {"State", "Running"}}).has_value());
  CHECK_FALSE(cc::system_exit_from_properties(nlohmann::json::array()).has_value());

  const auto stopped = cc::system_exit_from_properties({{"State", "Stopped"}, {"ExitType", "ForcedExit"}});
  REQUIRE(stopped.has_value());
  CHECK(stopped->status == 0);
  CHECK(stopped->exit_type == "ForcedExit");

  const auto unexpected = cc::system_exit_from_properties({{"Stopped", true}, {"ExitType", "UnexpectedExit"}});
  REQUIRE(unexpected.has_value());
  CHECK(unexpected->status == hresult::kUnexpectedExit);

  const auto untyped = cc::system_exit_from_properties({{"State", "Stopped"}});
  REQUIRE(untyped.has_value());
  CHECK(untyped->exit_type == "Unknown");
}

TEST_CASE("a ProcessStatus with LastWaitResult 0 gives the exit code", "[computecore]") {
  const ProcessExit exit =
      cc::process_exit_from_event(R"({"ProcessId":17,"Exited":true,"ExitCode":3,"LastWaitResult":0})", kPid);
  CHECK(exit.process_id == 17);
  CHECK(exit.exit_code == 3);
  CHECK(exit.last_wait_result == 0);
}

TEST_CASE("a failed LastWaitResult makes the exit code unknown (hcsshim's -1)", "[computecore]") {
  const ProcessExit exit =
      cc::process_exit_from_event(R"({"ProcessId":17,"Exited":true,"ExitCode":0,"LastWaitResult":-2147024891})", kPid);
  CHECK(exit.exit_code == cc::kUnknownExitCode);
  CHECK(exit.last_wait_result == -2147024891);  // 0x80070005
}

TEST_CASE("process exit data without a pid or exit code falls back", "[computecore]") {
  const ProcessExit exit = cc::process_exit_from_event(R"({"Exited":true})", kPid);
  CHECK(exit.process_id == kPid);
  CHECK(exit.exit_code == cc::kUnknownExitCode);
  CHECK(exit.last_wait_result == 0);

  // Large exit codes (NTSTATUS values such as STATUS_CONTROL_C_EXIT) stay unsigned.
  CHECK(cc::process_exit_from_event(R"({"ExitCode":3221225786})", kPid).exit_code == 0xC000013A);
}

TEST_CASE("unreadable process exit data ends the wait with HCS_E_INVALID_JSON", "[computecore]") {
  const ProcessExit exit = cc::process_exit_from_event("{", kPid);
  CHECK(exit.process_id == kPid);
  CHECK(exit.exit_code == cc::kUnknownExitCode);
  CHECK(static_cast<std::uint32_t>(exit.last_wait_result) == hresult::kInvalidJson);
}

TEST_CASE("a lost compute service releases process waiters with HCS_E_SERVICE_DISCONNECT", "[computecore]") {
  const ProcessExit exit = cc::process_exit_from_service_disconnect(kPid);
  CHECK(exit.process_id == kPid);
  CHECK(exit.exit_code == cc::kUnknownExitCode);
  CHECK(static_cast<std::uint32_t>(exit.last_wait_result) == hresult::kServiceDisconnect);
}

TEST_CASE("a ProcessStatus from HcsGetProcessProperties is an exit only when Exited", "[computecore]") {
  CHECK_FALSE(cc::process_exit_from_status({{"ProcessId", 1}, {"Exited", false}}, kPid).has_value());
  CHECK_FALSE(cc::process_exit_from_status({{"ProcessId", 1}}, kPid).has_value());
  CHECK_FALSE(cc::process_exit_from_status(nullptr, kPid).has_value());
  const auto exit = cc::process_exit_from_status({{"Exited", true}, {"ExitCode", 9}, {"LastWaitResult", 0}}, kPid);
  REQUIRE(exit.has_value());
  CHECK(exit->exit_code == 9);
  CHECK(exit->process_id == kPid);
}

TEST_CASE("event type names", "[computecore]") {
  CHECK(cc::event_type_name(cc::event_type::kSystemExited) == "SystemExited");
  CHECK(cc::event_type_name(cc::event_type::kProcessExited) == "ProcessExited");
  CHECK(cc::event_type_name(cc::event_type::kServiceDisconnect) == "ServiceDisconnect");
  CHECK(cc::event_type_name(0x12345) == "Unknown(0x00012345)");
}

// --- UTF-8 <-> UTF-16 ------------------------------------------------------------------------------------------------

TEST_CASE("UTF-8 and UTF-16 round-trip every plane", "[computecore]") {
  const std::string text = "id-\xC3\xA9\xE2\x82\xAC\xF0\x9F\x90\xB3-\xE4\xB8\xAD";  // é € 🐳 中
  const std::u16string wide = cc::utf8_to_utf16(text);
  CHECK(wide == u"id-\u00E9\u20AC\U0001F433-\u4E2D");
  CHECK(wide.size() == 9);  // the whale is a surrogate pair
  CHECK(cc::utf16_to_utf8(wide) == text);
  CHECK(cc::utf8_to_utf16("").empty());
  CHECK(cc::utf16_to_utf8(u"").empty());
  // The boundaries of each encoding length.
  const std::u16string edges = u"\u007F\u0080\u07FF\u0800\uFFFF\U00010000\U0010FFFF";
  CHECK(cc::utf8_to_utf16(cc::utf16_to_utf8(edges)) == edges);
}

TEST_CASE("ill-formed UTF-8 is refused, not sent to HCS", "[computecore]") {
  for (const std::string& bad : {
           std::string("\x80"),              // stray continuation byte
           std::string("\xC3"),              // truncated
           std::string("\xC0\xAF"),          // overlong '/'
           std::string("\xE0\x80\xAF"),      // overlong '/'
           std::string("\xED\xA0\x80"),      // a UTF-16 surrogate encoded in UTF-8
           std::string("\xF4\x90\x80\x80"),  // above U+10FFFF
           std::string("\xF8\x88\x80\x80\x80"),
           std::string("ok\xE2\x82"),  // truncated at the end
       }) {
    CAPTURE(bad);
    try {
      (void)cc::utf8_to_utf16(bad);
      FAIL("accepted");
    } catch (const shimcore::Error& error) {
      CHECK(error.kind() == ErrorKind::InvalidArgument);
    }
  }
}

TEST_CASE("unpaired surrogates from HCS become U+FFFD", "[computecore]") {
  CHECK(cc::utf16_to_utf8(std::u16string{u'a', char16_t(0xD800), u'b'}) ==
        "a\xEF\xBF\xBD"
        "b");
  CHECK(cc::utf16_to_utf8(std::u16string{char16_t(0xDC00)}) == "\xEF\xBF\xBD");
  CHECK(cc::utf16_to_utf8(std::u16string{char16_t(0xD83D)}) == "\xEF\xBF\xBD");
}

// --- Exit latches ----------------------------------------------------------------------------------------------------

TEST_CASE("the first signal wins and wakes a waiter", "[computecore]") {
  cc::ExitLatch<ProcessExit> latch;
  CHECK_FALSE(latch.exited());
  CHECK_FALSE(latch.wait(10ms).has_value());

  std::optional<ProcessExit> seen;
  std::thread waiter([&] { seen = latch.wait(); });
  CHECK(latch.signal(ProcessExit{1, 7, 0}));
  CHECK_FALSE(latch.signal(ProcessExit{1, 8, 0}));
  waiter.join();
  REQUIRE(seen.has_value());
  CHECK(seen->exit_code == 7);
  CHECK(latch.wait(0ms)->exit_code == 7);
  CHECK(latch.wait(std::chrono::milliseconds::max())->exit_code == 7);  // no clock overflow
}

TEST_CASE("on_exit runs once: later on the signalling thread, or at once if already exited", "[computecore]") {
  cc::ExitLatch<SystemExit> later;
  std::thread::id ran_on;
  int calls = 0;
  later.on_exit([&](const SystemExit& exit) {
    ++calls;
    ran_on = std::this_thread::get_id();
    CHECK(exit.exit_type == "GracefulExit");
  });
  CHECK(calls == 0);
  std::thread signaller([&] { later.signal(cc::system_exit_from_event(R"({"Status":0,"ExitType":"GracefulExit"})")); });
  const std::thread::id signaller_id = signaller.get_id();
  signaller.join();
  CHECK(calls == 1);
  CHECK(ran_on == signaller_id);
  later.signal(SystemExit{});
  CHECK(calls == 1);

  cc::ExitLatch<SystemExit> already;
  already.signal(SystemExit{5, "ForcedExit", {}});
  std::uint32_t status = 0;
  already.on_exit([&](const SystemExit& exit) { status = exit.status; });
  CHECK(status == 5);
}

TEST_CASE("a second on_exit callback is refused", "[computecore]") {
  cc::ExitLatch<ProcessExit> latch;
  latch.on_exit([](const ProcessExit&) {});
  try {
    latch.on_exit([](const ProcessExit&) {});
    FAIL("accepted");
  } catch (const shimcore::Error& error) {
    CHECK(error.kind() == ErrorKind::FailedPrecondition);
  }
}

TEST_CASE("a throwing on_exit callback does not escape the signalling (HCS) thread", "[computecore]") {
  cc::ExitLatch<ProcessExit> latch;
  latch.on_exit([](const ProcessExit&) { throw std::runtime_error("boom"); });
  CHECK_NOTHROW(latch.signal(ProcessExit{}));
  CHECK(latch.exited());
}

TEST_CASE("a closed latch ignores signals and drops its callback", "[computecore]") {
  cc::ExitLatch<ProcessExit> latch;
  bool called = false;
  latch.on_exit([&](const ProcessExit&) { called = true; });
  latch.close();
  CHECK_FALSE(latch.signal(ProcessExit{}));
  CHECK_FALSE(called);
  CHECK_FALSE(latch.exited());
}

TEST_CASE("close waits for a callback running on another thread, but not for itself", "[computecore]") {
  cc::ExitLatch<ProcessExit> latch;
  std::atomic<bool> inside{false};
  std::atomic<bool> finished{false};
  latch.on_exit([&](const ProcessExit&) {
    inside = true;
    std::this_thread::sleep_for(100ms);
    finished = true;
  });
  std::thread signaller([&] { latch.signal(ProcessExit{}); });
  while (!inside) std::this_thread::yield();
  latch.close();
  CHECK(finished);  // close() returned only after the callback had
  signaller.join();

  // From inside the callback: must not deadlock.
  auto self = std::make_shared<cc::ExitLatch<ProcessExit>>();
  self->on_exit([&](const ProcessExit&) { self->close(); });
  CHECK(self->signal(ProcessExit{}));
}

TEST_CASE("a DelayedSignal releases waiters after the grace period unless the exit came first", "[computecore]") {
  // Every outcome below is decided by order (signal first, then join), never by how long something took.
  auto latch = std::make_shared<cc::ExitLatch<ProcessExit>>();
  const cc::DelayedSignal<ProcessExit> forcing{std::weak_ptr(latch), 0ms,
                                               cc::process_exit_from_failure(hresult::kInvalidState, kPid)};
  const auto forced = latch->wait(5s);
  REQUIRE(forced.has_value());
  CHECK(forced->exit_code == cc::kUnknownExitCode);
  CHECK(static_cast<std::uint32_t>(forced->last_wait_result) == hresult::kInvalidState);

  // The real exit first: the forced one, given afterwards, does not replace it.
  auto real = std::make_shared<cc::ExitLatch<ProcessExit>>();
  real->signal(ProcessExit{kPid, 0, 0});
  cc::DelayedSignal<ProcessExit> late{std::weak_ptr(real), 0ms,
                                      cc::process_exit_from_failure(hresult::kInvalidState, kPid)};
  late.join();
  CHECK(real->wait(0ms)->last_wait_result == 0);

  // The latch may be gone by the time the grace period ends.
  auto gone = std::make_shared<cc::ExitLatch<ProcessExit>>();
  const std::weak_ptr<cc::ExitLatch<ProcessExit>> weak(gone);
  gone.reset();
  cc::DelayedSignal<ProcessExit> orphan{weak, 0ms, ProcessExit{}};
  orphan.join();
}

TEST_CASE("destroying a DelayedSignal ends its wait at once and gives no signal", "[computecore]") {
  auto latch = std::make_shared<cc::ExitLatch<ProcessExit>>();
  {
    // A day's grace: the destructor must stop and join the thread, not wait it out (before, the thread was detached
    // and outlived whatever started it).
    const cc::DelayedSignal<ProcessExit> pending{std::weak_ptr(latch), std::chrono::hours(24), ProcessExit{}};
  }
  CHECK_FALSE(latch->wait(0ms).has_value());
}

// --- Registry and sinks ----------------------------------------------------------------------------------------------

TEST_CASE("the registry hands out fresh ids and dispatches by id only while registered", "[computecore]") {
  cc::NotificationRegistry registry;
  auto first = std::make_shared<RecordingSink>();
  auto second = std::make_shared<RecordingSink>();
  const std::uint64_t a = registry.add(first);
  const std::uint64_t b = registry.add(second);
  CHECK(a != 0);
  CHECK(b != a);
  CHECK(registry.size() == 2);

  CHECK(registry.dispatch(b, cc::event_type::kProcessExited, "{}"));
  CHECK(first->types.empty());
  CHECK(second->types == std::vector<std::uint32_t>{cc::event_type::kProcessExited});
  CHECK(second->data_seen == std::vector<std::string>{"{}"});

  registry.remove(a);
  CHECK_FALSE(registry.dispatch(a, cc::event_type::kSystemExited, ""));  // a late event after close finds nothing
  CHECK_FALSE(registry.dispatch(0, cc::event_type::kSystemExited, ""));
  const std::uint64_t c = registry.add(first);
  CHECK(c != a);  // ids are never reused
  registry.remove(b);
  registry.remove(c);
  registry.remove(c);  // harmless
  CHECK(registry.size() == 0);
}

TEST_CASE("a Registration removes its id when destroyed or moved from", "[computecore]") {
  cc::NotificationRegistry registry;
  std::uint64_t id = 0;
  {
    cc::Registration registration(registry, std::make_shared<RecordingSink>());
    id = registration.id();
    CHECK(registry.size() == 1);
    cc::Registration moved = std::move(registration);
    CHECK(moved.id() == id);
    CHECK(registration.id() == 0);  // NOLINT(bugprone-use-after-move): checking the moved-from state
    CHECK(registry.size() == 1);
  }
  CHECK(registry.size() == 0);
  CHECK_FALSE(registry.dispatch(id, cc::event_type::kSystemExited, ""));
}

TEST_CASE("a sink may be dispatched to while it is being removed", "[computecore]") {
  // The HCS callback thread holds its own reference: removing the id concurrently never frees a sink in use.
  cc::NotificationRegistry registry;
  auto latch = std::make_shared<cc::ExitLatch<ProcessExit>>();
  const std::uint64_t id = registry.add(std::make_shared<cc::ProcessEventSink>(latch, kPid));
  std::thread events([&] {
    for (int i = 0; i < 1000; ++i) registry.dispatch(id, cc::event_type::kSystemCrashReport, "{}");
  });
  registry.remove(id);
  events.join();
  CHECK_FALSE(latch->exited());
}

TEST_CASE("the system sink ends the wait on SystemExited and ServiceDisconnect only", "[computecore]") {
  auto latch = std::make_shared<cc::ExitLatch<SystemExit>>();
  cc::SystemEventSink sink(latch);
  sink.on_event(cc::event_type::kSystemCrashInitiated, "{}");
  sink.on_event(cc::event_type::kProcessExited, R"({"ExitCode":1})");
  sink.on_event(cc::event_type::kGroupLiveMigration, "{}");
  CHECK_FALSE(latch->exited());
  sink.on_event(cc::event_type::kSystemExited, R"({"Status":0,"ExitType":"UnexpectedExit"})");
  REQUIRE(latch->exited());
  CHECK(latch->exit()->status == hresult::kUnexpectedExit);
  sink.on_event(cc::event_type::kServiceDisconnect, "");  // too late: the first exit stands
  CHECK(latch->exit()->status == hresult::kUnexpectedExit);

  auto disconnected = std::make_shared<cc::ExitLatch<SystemExit>>();
  cc::SystemEventSink(disconnected).on_event(cc::event_type::kServiceDisconnect, "");
  CHECK(disconnected->exit()->status == hresult::kServiceDisconnect);
}

TEST_CASE("the process sink ends the wait on ProcessExited and ServiceDisconnect only", "[computecore]") {
  auto latch = std::make_shared<cc::ExitLatch<ProcessExit>>();
  cc::ProcessEventSink sink(latch, kPid);
  sink.on_event(cc::event_type::kSystemExited, R"({"Status":0})");
  CHECK_FALSE(latch->exited());
  sink.on_event(cc::event_type::kProcessExited, R"({"Exited":true,"ExitCode":42,"LastWaitResult":0})");
  REQUIRE(latch->exited());
  CHECK(latch->exit()->exit_code == 42);
  CHECK(latch->exit()->process_id == kPid);

  auto disconnected = std::make_shared<cc::ExitLatch<ProcessExit>>();
  cc::ProcessEventSink(disconnected, kPid).on_event(cc::event_type::kServiceDisconnect, "");
  CHECK(static_cast<std::uint32_t>(disconnected->exit()->last_wait_result) == hresult::kServiceDisconnect);
}

TEST_CASE("the global registry is one instance", "[computecore]") {
  CHECK(&cc::NotificationRegistry::global() == &cc::NotificationRegistry::global());
}
