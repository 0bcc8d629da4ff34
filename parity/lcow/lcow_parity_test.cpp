// Our LCOW builders against hcsshim: every public golden case through both pipelines (documents, rejections, the
// four sandbox-option fields), the parity property (legacy == V2 wherever hcsshim's agree), and seeded permutations.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>

#include "golden_cases.h"
#include "run_process.h"
#include "shimcore/builder/lcow_case.h"
#include "shimcore/errdefs.h"

namespace {

namespace fs = std::filesystem;
namespace lcow = shimcore::builder::lcow;
using Json = nlohmann::json;
using lcow::Pipeline;

const fs::path kCases = fs::path(SHIMCORE_GOLDEN_DIR) / "lcow" / "public";
constexpr std::size_t kPublicCaseCount = 37;

using shimcore::parity::read_json;

std::vector<std::string> case_names() { return shimcore::parity::case_folders(kCases); }

// The comparison rules of the golden set: parsed JSON, and Devices.VirtualPci (random GUID keys on both sides) as a
// multiset of its values.
Json normalise(Json document) {
  if (document.contains("VirtualMachine") && document["VirtualMachine"].contains("Devices")) {
    Json& devices = document["VirtualMachine"]["Devices"];
    if (devices.contains("VirtualPci")) {
      std::vector<std::string> values;
      for (const auto& [key, value] : devices["VirtualPci"].items()) values.push_back(value.dump());
      std::sort(values.begin(), values.end());
      devices["VirtualPci"] = values;
    }
  }
  return document;
}

struct Outcome {
  bool rejected = false;
  std::string error;
  lcow::CaseOutput output;
};

Outcome run(const Json& input, Pipeline pipeline) {
  Outcome outcome;
  try {
    outcome.output = lcow::run_case(input, pipeline);
  } catch (const shimcore::Error& error) {
    outcome.rejected = true;
    outcome.error = error.what();
  }
  return outcome;
}

std::string describe(const Outcome& outcome) {
  return outcome.rejected ? "rejected: " + outcome.error : outcome.output.document.dump(2);
}

bool sandbox_field(const lcow::SandboxOptions& options, const std::string& name) {
  if (name == "NoWritableFileShares") return options.no_writable_file_shares;
  if (name == "EnableScratchEncryption") return options.enable_scratch_encryption;
  if (name == "PolicyBasedRouting") return options.policy_based_routing;
  if (name == "PhysicallyBacked") return options.fully_physically_backed;
  FAIL("unknown sandbox option field " << name);
  return false;
}

}  // namespace

TEST_CASE("the public golden set holds every case hcsshim's parity tests name", "[parity][lcow]") {
  const std::vector<std::string> names = case_names();
  CHECK(names.size() == kPublicCaseCount);
  const Json summary = read_json(kCases.parent_path() / "summary.json");
  std::set<std::string> listed;
  for (const auto& [name, entry] : summary.at("public").items()) listed.insert(name);
  CHECK(std::set<std::string>(names.begin(), names.end()) == listed);
  for (const std::string& name : names) {
    CAPTURE(name);
    CHECK(fs::exists(kCases / name / "input.json"));
    CHECK(fs::exists(kCases / name / "result.json"));
  }
}

TEST_CASE("every public case: each pipeline produces hcsshim's document or rejects what hcsshim rejects",
          "[parity][lcow]") {
  std::size_t checked = 0;
  for (const std::string& name : case_names()) {
    const Json input = read_json(kCases / name / "input.json");
    for (const auto& [pipeline, label] : {std::pair{Pipeline::Legacy, "legacy"}, std::pair{Pipeline::V2, "v2"}}) {
      {
        CAPTURE(name, label);
        const Outcome ours = run(input, pipeline);
        const fs::path document = kCases / name / (std::string(label) + ".json");
        const fs::path error = kCases / name / ("error-" + std::string(label) + ".txt");
        CHECK(fs::exists(document) != fs::exists(error));
        if (fs::exists(error)) {
          const std::string reason = shimcore::parity::hcsshim_reason(shimcore::parity::read_text(error));
          INFO("hcsshim: " << reason << "\nours:    " << describe(ours));
          REQUIRE(!reason.empty());
          CHECK(ours.rejected);
          CHECK(ours.error.find(reason) != std::string::npos);  // our message may add words of its own
        } else {
          INFO("ours: " << describe(ours));
          CHECK_FALSE(ours.rejected);
          if (ours.rejected) continue;
          const Json expected = normalise(read_json(document));
          const Json actual = normalise(ours.output.document);
          INFO("JSON patch from hcsshim's document to ours: " << Json::diff(expected, actual).dump(2));
          CHECK(actual == expected);
        }
        ++checked;
      }
    }
  }
  CHECK(checked == 2 * kPublicCaseCount);
}

TEST_CASE("parity: our legacy and V2 documents agree wherever hcsshim's do, and the sandbox options match",
          "[parity][lcow]") {
  for (const std::string& name : case_names()) {
    {
      CAPTURE(name);
      const Json input = read_json(kCases / name / "input.json");
      const Json result = read_json(kCases / name / "result.json");
      const Outcome legacy = run(input, Pipeline::Legacy);
      const Outcome v2 = run(input, Pipeline::V2);
      CHECK(legacy.rejected == !result.at("legacyError").is_null());
      CHECK(v2.rejected == !result.at("v2Error").is_null());
      if (result.value("cmpDiffEqual", Json()).is_boolean() && result["cmpDiffEqual"].get<bool>() && !legacy.rejected &&
          !v2.rejected) {
        const Json legacy_document = normalise(legacy.output.document);
        const Json v2_document = normalise(v2.output.document);
        INFO("JSON patch from our legacy document to our V2 document: "
             << Json::diff(legacy_document, v2_document).dump(2));
        CHECK(legacy_document == v2_document);
      }
      if (result.contains("sandboxOptionsFields") && !legacy.rejected && !v2.rejected) {
        for (const auto& [field, values] : result["sandboxOptionsFields"].items()) {
          CAPTURE(field);
          CHECK(sandbox_field(legacy.output.sandbox_options, field) == values.at("legacy").get<bool>());
          CHECK(sandbox_field(v2.output.sandbox_options, field) == values.at("v2").get<bool>());
        }
      }
    }
  }
}

namespace {

// A random case made only of inputs on which hcsshim's two pipelines follow the same rules, so that legacy == V2 is
// what hcsshim says. Left out on purpose, because hcsshim's pipelines differ there: live migration (V2 only), the
// console pipe (different `sh -c` quoting), extra GCS arguments together with other GCS flags (different order),
// processor counts above the host's (legacy writes the unclamped nr_cpus), negative limits/weights/memory options
// (different integer conversions), an initrd with kernel-direct boot (legacy's leading space), vPMem, vNUMA with
// assigned devices (V2 propagates NUMA affinity only for implicit topologies), upper-case resource-partition GUIDs
// (legacy canonicalises them), deferred commit on a confidential VM (legacy refuses it), and runtime options next to
// an annotation for the same setting (see below).
Json random_case(std::mt19937& random, std::uint32_t os_build) {
  const auto chance = [&](int percent) { return std::uniform_int_distribution<int>(0, 99)(random) < percent; };
  const auto pick = [&](std::initializer_list<const char*> values) {
    std::vector<const char*> list(values);
    return std::string(list[std::uniform_int_distribution<std::size_t>(0, list.size() - 1)(random)]);
  };
  const auto number = [&](std::uint64_t low, std::uint64_t high) {
    return std::to_string(std::uniform_int_distribution<std::uint64_t>(low, high)(random));
  };
  const std::string prefix = "io.microsoft.virtualmachine.";
  Json annotations = Json::object();
  const auto set = [&](const std::string& key, const std::string& value) { annotations[key] = value; };

  if (chance(50)) set(prefix + "computetopology.processor.count", number(0, 16));
  if (chance(30)) set(prefix + "computetopology.processor.count", pick({"x", "", "-0", "+4", "99999999999"}));
  if (chance(40)) set(prefix + "computetopology.processor.limit", number(0, 100000));
  if (chance(40)) set(prefix + "computetopology.processor.weight", number(0, 10000));
  if (chance(50)) set(prefix + "computetopology.memory.sizeinmb", number(0, 8193));
  if (chance(10)) set(prefix + "computetopology.memory.sizeinmb", pick({"abc", "-1", "1e3"}));
  for (const char* mmio : {"lowmmiogapinmb", "highmmiobaseinmb", "highmmiogapinmb"}) {
    if (chance(20)) set(prefix + "computetopology.memory." + mmio, number(0, 4096));
  }
  const char* kBools[] = {"true", "false", "1", "0", "TRUE", "False", "t", "yes"};
  const auto any_bool = [&] { return std::string(kBools[std::uniform_int_distribution<int>(0, 7)(random)]); };
  if (chance(40)) set(prefix + "computetopology.memory.allowovercommit", any_bool());
  if (chance(20)) set(prefix + "computetopology.memory.enabledeferredcommit", any_bool());
  if (chance(30)) set(prefix + "computetopology.memory.enablecolddiscardhint", any_bool());
  if (chance(25)) set(prefix + "fullyphysicallybacked", any_bool());
  if (chance(40)) set(prefix + "cpugroup.id", pick({"group-a", "", "7d2b5c44-4ad0-4b53-9a4f-4cc1e7a5b1d2"}));
  if (chance(10)) set(prefix + "resource-partition-id", pick({"0d9a5a9e-6a3c-4b8c-9f1e-2b7c4e3d1a10", "not-a-guid"}));
  if (chance(50)) set(prefix + "storageqos.iopsmaximum", number(0, 20000));
  if (chance(50)) set(prefix + "storageqos.bandwidthmaximum", number(0, 2000000));
  const bool uefi = chance(35);
  if (uefi || chance(30)) set(prefix + "lcow.kerneldirectboot", uefi ? pick({"false", "0"}) : pick({"true", "1"}));
  if (chance(40)) set(prefix + "lcow.preferredrootfstype", uefi ? pick({"initrd", "vhd"}) : "vhd");
  if (chance(25)) set(prefix + "lcow.kernelbootoptions", pick({"loglevel=7 debug", "quiet", ""}));
  if (chance(25)) set(prefix + "lcow.vpcienabled", any_bool());
  if (chance(25)) set(prefix + "lcow.timesync.disable", any_bool());
  if (chance(25)) set("io.microsoft.container.processdumplocation", pick({"/tmp/dumps", ""}));
  if (chance(15)) set(prefix + "dump-directory-path", "C:\\dumps");
  if (chance(25)) set(prefix + "lcow.writable-overlay-directories", any_bool());
  if (chance(25)) set(prefix + "storage.scratch.encrypted", any_bool());
  if (chance(25)) set(prefix + "fileshares.disablewritable", any_bool());
  if (chance(25)) set(prefix + "lcow.network.policybasedrouting", any_bool());
  if (chance(15)) set(prefix + "lcow.extra-vsock-ports", pick({"1234,5678", "9", "x,1"}));
  if (chance(10)) {
    set(prefix + "lcow.dmverity-mode", "true");
    if (chance(70)) set(prefix + "lcow.dmverity-create-args", "vroot,,,ro,0 1 verity 1 /dev/sda /dev/sda \"x\"");
  }
  if (chance(15)) {
    set(prefix + "hv-socket.service-table." +
            pick({"0000006d-facb-11e6-bd58-64006a7986d3", "ABCDEF01-0000-0000-0000-000000000001", "bad"}),
        pick({R"j({"BindSecurityDescriptor":"D:P(A;;FA;;;WD)","AllowWildcardBinds":true})j", "{}", "null", "[1]",
              R"({"disabled":true})"}));
  }
  if (chance(10)) set("io.microsoft.disable-unsafe-operations", pick({"true", "false"}));
  if (chance(5)) set("microsoft.com/hostprocess-container", "true");
  if (chance(10)) {
    // A security policy without SNP hardware keeps the regular document on both sides.
    set(prefix + "lcow.securitypolicy", "eyJhbGxvd19hbGwiOnRydWV9");
    set(prefix + "no_security_hardware", "true");
  }
  if (os_build >= 26100 && chance(30)) {
    set(prefix + "computetopology.memory.allowovercommit", "false");
    if (chance(50)) {
      set(prefix + "computetopology.processor.numa.max-processors-per-node", number(1, 4));
      set(prefix + "computetopology.processor.numa.max-size-per-node", number(0, 2048));
      if (chance(50)) set(prefix + "computetopology.numa.preferred-physical-nodes", "0,1");
    } else {
      set(prefix + "computetopology.processor.count", "4");
      set(prefix + "computetopology.memory.sizeinmb", "2048");
      set(prefix + "computetopology.numa.mapped-physical-nodes", pick({"0,1", "0,255", "255,255"}));
      set(prefix + "computetopology.numa.count-of-processors", pick({"2,2", "1,3", "4"}));
      set(prefix + "computetopology.numa.count-of-memory-blocks", pick({"1024,1024", "2048,0", "1024"}));
    }
  }

  Json shim = {{"SandboxPlatform", pick({"linux/amd64", "LINUX/AMD64", "linux/arm64"})},
               {"BootFilesRootPath", "C:\\golden\\bootfiles"}};
  // An option stands in for an absent annotation only: with an unparsable annotation the legacy path falls back to
  // its built-in default and V2 to the option, and default annotations rank below the options on the legacy path
  // only.
  const bool count_annotated = annotations.contains(prefix + "computetopology.processor.count");
  const bool memory_annotated = annotations.contains(prefix + "computetopology.memory.sizeinmb");
  if (!count_annotated && chance(30)) shim["VmProcessorCount"] = std::uniform_int_distribution<int>(0, 16)(random);
  if (!memory_annotated && chance(30)) shim["VmMemorySizeInMb"] = std::uniform_int_distribution<int>(0, 8192)(random);
  if (!shim.contains("VmProcessorCount") && !shim.contains("VmMemorySizeInMb") && chance(20)) {
    shim["DefaultContainerAnnotations"] = {{prefix + "computetopology.processor.count", number(1, 8)},
                                           {prefix + "computetopology.memory.sizeinmb", number(256, 4096)}};
  }
  Json devices = nullptr;
  const bool numa = annotations.contains(prefix + "computetopology.numa.mapped-physical-nodes") ||
                    annotations.contains(prefix + "computetopology.processor.numa.max-processors-per-node");
  if (!numa && chance(20)) {
    devices = Json::array();
    devices.push_back({{"id", "PCIP\\VEN_1234&DEV_5678\\1"}, {"idType", pick({"vpci-instance-id", "gpu"})}});
    if (chance(50)) devices.push_back({{"id", "PCIP\\VEN_1234&DEV_5678/2"}, {"idType", "vpci"}});
    if (chance(30)) devices.push_back({{"id", "class/5B45201D-F2F2-4F3B-85BB-30FF1F953599"}, {"idType", "class"}});
    if (chance(10)) devices.push_back({{"id", "PCIP\\VEN_1234&DEV_5678\\1"}, {"idType", "vpci"}});  // duplicate
  }
  return Json{
      {"annotations", annotations},
      {"devices", devices},
      {"shimOptions", shim},
      {"legacyVPMemCountOverride", "0"},
      {"bootFiles", {{"dir", "C:\\golden\\bootfiles"}, {"files", {"kernel", "vmlinux", "initrd.img", "rootfs.vhd"}}}},
      {"bundleDir", "C:\\golden\\bundle"},
      {"host", {{"osBuild", os_build}, {"logicalProcessorCount", 16}, {"goRuntimeNumCPU", 2}, {"goarch", "amd64"}}}};
}

}  // namespace

TEST_CASE("seeded permutations: legacy and V2 agree wherever hcsshim's rules do", "[parity][lcow][permutations]") {
  constexpr int kPermutations = 2000;
  std::mt19937 random(20260820);
  int both_built = 0;
  for (int i = 0; i < kPermutations; ++i) {
    const std::uint32_t build = i % 4 == 3 ? 26100 : 20348;
    const Json input = random_case(random, build);
    const Outcome legacy = run(input, Pipeline::Legacy);
    const Outcome v2 = run(input, Pipeline::V2);
    CAPTURE(i, input.dump());
    INFO("legacy: " << describe(legacy));
    INFO("v2: " << describe(v2));
    REQUIRE(legacy.rejected == v2.rejected);
    if (legacy.rejected) continue;
    ++both_built;
    REQUIRE(normalise(legacy.output.document) == normalise(v2.output.document));
    CHECK(legacy.output.sandbox_options.no_writable_file_shares == v2.output.sandbox_options.no_writable_file_shares);
    CHECK(legacy.output.sandbox_options.enable_scratch_encryption ==
          v2.output.sandbox_options.enable_scratch_encryption);
    CHECK(legacy.output.sandbox_options.policy_based_routing == v2.output.sandbox_options.policy_based_routing);
    CHECK(legacy.output.sandbox_options.fully_physically_backed == v2.output.sandbox_options.fully_physically_backed);
  }
  // Most permutations must build: a generator that only produced rejections would prove nothing.
  CHECK(both_built > kPermutations / 2);
}

TEST_CASE("hcsdoc answers every public case exactly as the builders do", "[parity][lcow][hcsdoc]") {
  const std::string hcsdoc = std::string(SHIMCORE_HCSDOC);
  for (const std::string& name : case_names()) {
    const fs::path input = kCases / name / "input.json";
    for (const auto& [pipeline, flag] : {std::pair{Pipeline::Legacy, "legacy"}, std::pair{Pipeline::V2, "v2"}}) {
      CAPTURE(name, flag);
      const Outcome expected = run(read_json(input), pipeline);
      const auto result = shimcore::testing::run_process({hcsdoc, "--pipeline", flag, "--input", input.string()});
      if (expected.rejected) {
        CHECK(result.exit_status == 2);
        CHECK(result.out.empty());
        CHECK(result.err.find(expected.error) != std::string::npos);
      } else {
        REQUIRE(result.exit_status == 0);
        CHECK(normalise(Json::parse(result.out)) == normalise(expected.output.document));
      }
    }
  }
}
