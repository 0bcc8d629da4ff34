// Our WCOW utility-VM builder against hcsshim: every golden case (documents and rejections), hcsdoc's wcow-uvm
// pipeline, and the rules the golden cases leave out (an existing dump directory, confidential pods, resources).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>

#include "golden_cases.h"
#include "run_process.h"
#include "shimcore/builder/wcow_case.h"
#include "shimcore/errdefs.h"

namespace {

namespace fs = std::filesystem;
namespace wcow = shimcore::builder::wcow;
using Json = nlohmann::json;

const fs::path kCases = fs::path(SHIMCORE_GOLDEN_DIR) / "wcow" / "uvm";

// Every case of the golden set: a folder missing from the tree fails the first test.
const std::set<std::string> kExpectedCases = {
    "additional-registry-values",    "console-pipe-deferred-commit", "cpu-mem-qos-cpugroup",   "defaults",
    "disable-unsafe-operations",     "dump-directory-missing",       "hvsocket-service-table", "log-forwarding-off",
    "physically-backed-nodirectmap", "process-dump-no-compartment",  "shim-options-cpu-mem",
};

using shimcore::parity::read_json;

std::vector<std::string> case_names() { return shimcore::parity::case_folders(kCases); }

struct Outcome {
  bool rejected = false;
  std::string error;
  wcow::CaseOutput output;
};

Outcome run(const Json& input) {
  Outcome outcome;
  try {
    outcome.output = wcow::run_case(input);
  } catch (const shimcore::Error& error) {
    outcome.rejected = true;
    outcome.error = error.what();
  }
  return outcome;
}

std::string describe(const Outcome& outcome) {
  return outcome.rejected ? "rejected: " + outcome.error : outcome.output.document.dump(2);
}

}  // namespace

TEST_CASE("the wcow/uvm golden set holds every case, each with a document or an error", "[parity][wcow]") {
  const std::vector<std::string> names = case_names();
  CHECK(std::set<std::string>(names.begin(), names.end()) == kExpectedCases);
  for (const std::string& name : names) {
    CAPTURE(name);
    CHECK(fs::exists(kCases / name / "input.json"));
    CHECK(fs::exists(kCases / name / "doc.json") != fs::exists(kCases / name / "error.txt"));
  }
}

TEST_CASE("every wcow/uvm case: hcsshim's document, or a rejection where hcsshim rejects", "[parity][wcow]") {
  std::size_t checked = 0;
  for (const std::string& name : case_names()) {
    CAPTURE(name);
    const Outcome ours = run(read_json(kCases / name / "input.json"));
    if (fs::exists(kCases / name / "error.txt")) {
      const std::string reason =
          shimcore::parity::hcsshim_reason(shimcore::parity::read_text(kCases / name / "error.txt"));
      INFO("hcsshim: " << reason << "\nours:    " << describe(ours));
      REQUIRE(!reason.empty());
      CHECK(ours.rejected);
      CHECK(ours.error.find(reason) != std::string::npos);  // our message may add words of its own
    } else {
      INFO("ours: " << describe(ours));
      REQUIRE_FALSE(ours.rejected);
      const Json expected = read_json(kCases / name / "doc.json");
      INFO("JSON patch from hcsshim's document to ours: " << Json::diff(expected, ours.output.document).dump(2));
      CHECK(ours.output.document == expected);
    }
    ++checked;
  }
  CHECK(checked == kExpectedCases.size());
}

TEST_CASE("hcsdoc --pipeline wcow-uvm answers every case exactly as the builder does", "[parity][wcow][hcsdoc]") {
  const std::string hcsdoc = std::string(SHIMCORE_HCSDOC);
  for (const std::string& name : case_names()) {
    CAPTURE(name);
    const fs::path input = kCases / name / "input.json";
    const Outcome expected = run(read_json(input));
    const auto result = shimcore::testing::run_process({hcsdoc, "--pipeline", "wcow-uvm", "--input", input.string()});
    if (expected.rejected) {
      CHECK(result.exit_status == 2);
      CHECK(result.out.empty());
      CHECK(result.err.find(expected.error) != std::string::npos);
    } else {
      REQUIRE(result.exit_status == 0);
      CHECK(Json::parse(result.out) == expected.output.document);
    }
  }
}

namespace {

// The defaults case with `annotations` and a change to the input.
Json variant(const Json& annotations, const std::function<void(Json&)>& change = {}) {
  Json input = read_json(kCases / "defaults" / "input.json");
  input["annotations"] = annotations;
  if (change) change(input);
  return input;
}

const Json& vm_of(const Outcome& outcome) { return outcome.output.document.at("VirtualMachine"); }

}  // namespace

TEST_CASE("wcow uvm: an existing dump directory gives bugcheck and crash-dump files named after the VM",
          "[parity][wcow]") {
  const Outcome ours = run(variant({{"io.microsoft.virtualmachine.dump-directory-path", R"(C:\dumps\)"}},
                                   [](Json& input) { input["existingPaths"] = Json::array({R"(c:\DUMPS)"}); }));
  INFO(describe(ours));
  REQUIRE_FALSE(ours.rejected);
  CHECK(vm_of(ours).at("DebugOptions") ==
        Json{{"BugcheckSavedStateFileName", R"(C:\dumps\test-parity@vm-savedstate.vmrs)"},
             {"BugcheckNoCrashdumpSavedStateFileName", R"(C:\dumps\test-parity@vm-savedstate_nocrashdump.vmrs)"}});
  CHECK(vm_of(ours).at("Devices").at("GuestCrashReporting") ==
        Json{{"WindowsCrashSettings",
              {{"DumpFileName", R"(C:\dumps\test-parity@vm-windows-crash)"}, {"DumpType", "Full"}}}});
}

TEST_CASE("wcow uvm: rejections the golden cases leave out", "[parity][wcow]") {
  const std::vector<std::pair<std::string, Json>> cases = {
      {"deferred commit on fully physically backed memory",
       {{"io.microsoft.virtualmachine.computetopology.memory.enabledeferredcommit", "true"},
        {"io.microsoft.virtualmachine.fullyphysicallybacked", "true"}}},
      {"deferred commit without overcommit",
       {{"io.microsoft.virtualmachine.computetopology.memory.enabledeferredcommit", "true"},
        {"io.microsoft.virtualmachine.computetopology.memory.allowovercommit", "false"}}},
      {"a resource partition and a CPU group",
       {{"io.microsoft.virtualmachine.resource-partition-id", "7a3b1c2d-0000-4000-8000-000000000001"},
        {"io.microsoft.virtualmachine.cpugroup.id", "g"}}},
      {"a resource partition that is no GUID", {{"io.microsoft.virtualmachine.resource-partition-id", "nope"}}},
      {"a confidential pod (VmbFS boot files)", {{"io.microsoft.virtualmachine.wcow.securitypolicy", "cG9saWN5"}}},
      {"a confidential pod below 2 GiB",
       {{"io.microsoft.virtualmachine.wcow.securitypolicy", "cG9saWN5"},
        {"io.microsoft.virtualmachine.computetopology.memory.sizeinmb", "1024"}}},
      {"an unknown isolation type",
       {{"io.microsoft.virtualmachine.wcow.securitypolicy", "cG9saWN5"},
        {"io.microsoft.virtualmachine.wcow.isolation_type", "Nope"}}},
      {"debug mode without a policy", {{"io.microsoft.wcow.debug", "true"}}},
      {"vNUMA before Windows Server 2025",
       {{"io.microsoft.virtualmachine.computetopology.processor.numa.max-processors-per-node", "2"},
        {"io.microsoft.virtualmachine.computetopology.processor.numa.max-size-per-node", "1024"}}},
  };
  for (const auto& [label, annotations] : cases) {
    CAPTURE(label);
    const Outcome ours = run(variant(annotations));
    INFO(describe(ours));
    CHECK(ours.rejected);
  }
  // CPU groups at create time need 21H1.
  const Outcome old_host = run(variant({{"io.microsoft.virtualmachine.cpugroup.id", "g"}},
                                       [](Json& input) { input["host"]["osBuild"] = 17763; }));
  CHECK(old_host.rejected);
}

TEST_CASE("wcow uvm: processor defaults and clamps, windows.resources under annotations", "[parity][wcow]") {
  const auto processor = [](const Outcome& outcome) { return vm_of(outcome).at("ComputeTopology").at("Processor"); };
  const auto memory = [](const Outcome& outcome) { return vm_of(outcome).at("ComputeTopology").at("Memory"); };

  const Outcome one_cpu = run(variant(nullptr, [](Json& input) { input["host"]["goRuntimeNumCPU"] = 1; }));
  REQUIRE_FALSE(one_cpu.rejected);
  CHECK(processor(one_cpu).at("Count") == 1);

  const Outcome clamped = run(variant({{"io.microsoft.virtualmachine.computetopology.processor.count", "64"}}));
  REQUIRE_FALSE(clamped.rejected);
  CHECK(processor(clamped).at("Count") == 16);

  const auto with_resources = [](Json& input) {
    input["windowsResources"] = {{"cpu", {{"count", 3}, {"maximum", 5000}, {"shares", 10}}},
                                 {"memory", {{"limit", 2147483648ULL}}},
                                 {"storage", {{"iops", 7}}}};
  };
  const Outcome resources = run(variant(nullptr, with_resources));
  REQUIRE_FALSE(resources.rejected);
  CHECK(processor(resources) == Json{{"Count", 3}, {"Limit", 5000}, {"Weight", 10}});
  CHECK(memory(resources).at("SizeInMB") == 2048);
  CHECK(vm_of(resources).at("StorageQoS") == Json{{"IopsMaximum", 7}});

  const Outcome annotated = run(variant({{"io.microsoft.virtualmachine.computetopology.processor.count", "5"},
                                         {"io.microsoft.virtualmachine.computetopology.memory.sizeinmb", "4096"}},
                                        with_resources));
  REQUIRE_FALSE(annotated.rejected);
  CHECK(processor(annotated).at("Count") == 5);
  CHECK(memory(annotated).at("SizeInMB") == 4096);
}

TEST_CASE("wcow uvm: the log-forwarding socket wins over a service-table annotation for its GUID", "[parity][wcow]") {
  const Outcome ours =
      run(variant({{"io.microsoft.virtualmachine.hv-socket.service-table.172DAD59-976D-45F2-8B6C-6D1B13F2AC4D",
                    R"j({"BindSecurityDescriptor":"D:P(A;;FA;;;WD)"})j"}}));
  REQUIRE_FALSE(ours.rejected);
  const Json defaults = read_json(kCases / "defaults" / "doc.json");
  CHECK(ours.output.document == defaults);
  CHECK(ours.output.settings.log_forwarding_enabled);
}
