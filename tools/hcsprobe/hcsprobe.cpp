// hcsprobe: lists the host's compute systems and prints the HCS service properties and the host profile, through the
// computecore backend; the first thing to run on a new Windows host.
#include <windows.h>

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shimcore/hcs/computecore_client.h"
#include "shimcore/hcs/host.h"

namespace {

using nlohmann::json;
namespace hcs = shimcore::hcs;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // some query failed; what did work is still printed
constexpr int kExitUsage = 2;

constexpr std::string_view kUsage = R"(usage: hcsprobe [--json]

Asks the Host Compute Service (computecore.dll) what it knows about this host:
  - the compute systems (HcsEnumerateComputeSystems),
  - the service properties ProcessorTopology and Basic (HcsGetServiceProperties),
  - the host profile the shims derive from them (OS build, product type, architecture, processors).

options:
  --json      one JSON document on stdout instead of text
  -h, --help  this text

exit status: 0 everything answered, 1 a query failed (the message says which and why), 2 usage error.
Run it from an elevated prompt: HCS answers Administrators and SYSTEM only.
)";

// HRESULTs that need more than their name to act on.
constexpr std::uint32_t kModNotFound = 0x8007007E;       // HRESULT_FROM_WIN32(ERROR_MOD_NOT_FOUND)
constexpr std::uint32_t kServiceMissing = 0x80070424;    // HRESULT_FROM_WIN32(ERROR_SERVICE_DOES_NOT_EXIST)
constexpr std::uint32_t kServiceNotActive = 0x80070426;  // HRESULT_FROM_WIN32(ERROR_SERVICE_NOT_ACTIVE)

std::string hint_for(std::uint32_t hr) {
  if (hr == kModNotFound) {
    return "computecore.dll is not installed: enable the Containers feature or Hyper-V "
           "(Windows 10 1809 / Windows Server 2019 or later)";
  }
  if (hr == hcs::hresult::kAccessDenied || hcs::is_hcs_code(hr, hcs::hresult::kHcsAccessDenied)) {
    return "access denied: run hcsprobe from an elevated (Administrator) prompt";
  }
  if (hr == kServiceMissing || hr == kServiceNotActive || hcs::is_hcs_code(hr, hcs::hresult::kServiceNotAvailable)) {
    return "the Host Compute Service is not running: Start-Service vmcompute";
  }
  if (hr == hcs::hresult::kProcNotFound) return "this Windows build's computecore.dll lacks that function";
  return {};
}

// One failed query, kept so that the text and JSON outputs report the same thing.
struct Failure {
  std::string section;
  std::string message;
  std::uint32_t hr = 0;  // 0 when the failure was not an HCS error
  std::string result_document;
  std::string hint;
};

struct Probe {
  std::optional<hcs::HostProfile> host;
  json service = json::object();  // property type -> the one entry HCS returned for it
  std::optional<json> systems;
  std::vector<Failure> failures;
};

// Runs one query; records its failure instead of stopping, so one refused query does not hide the others.
// Returns false when nothing further can work (computecore.dll itself is missing).
bool attempt(Probe& probe, std::string section, const std::function<void()>& query) {
  try {
    query();
    return true;
  } catch (const hcs::HcsError& error) {
    probe.failures.push_back(
        {std::move(section), error.what(), error.hresult(), error.result_document(), hint_for(error.hresult())});
    return error.hresult() != kModNotFound;
  } catch (const std::exception& error) {
    probe.failures.push_back({std::move(section), error.what(), 0, {}, {}});
    return true;
  }
}

Probe run_probe(hcs::Client& client) {
  Probe probe;
  const bool loaded = attempt(probe, "systems", [&] { probe.systems = client.enumerate_systems(json::object()); });
  if (!loaded) return probe;
  for (const char* type : {"ProcessorTopology", "Basic"}) {
    // One type per query: a build that does not know one of them still answers the other.
    attempt(probe, fmt::format("service.{}", type), [&] {
      const json answer = client.service_properties({{"PropertyTypes", json::array({type})}});
      const json& entries = answer.at("Properties");
      if (!entries.is_array() || entries.size() != 1) {
        throw hcs::HcsError(hcs::hresult::kInvalidJson, fmt::format("HcsGetServiceProperties({})", type),
                            answer.dump());
      }
      probe.service[type] = entries.at(0);
    });
  }
  attempt(probe, "host", [&] { probe.host = hcs::detect_host_profile(client); });
  return probe;
}

std::string text_field(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>().empty() ? "-" : it->get<std::string>();
  return it->dump();
}

std::string describe_basic(const json& basic) {
  const auto versions = basic.find("SupportedSchemaVersions");
  if (versions == basic.end() || !versions->is_array()) return basic.dump();
  std::string text = "schema versions";
  const char* separator = " ";
  for (const json& version : *versions) {
    text += fmt::format("{}{}.{}", separator, version.value("Major", 0), version.value("Minor", 0));
    separator = ", ";
  }
  return text;
}

void print_text(const Probe& probe) {
  if (probe.host) {
    fmt::print("Host profile\n");
    fmt::print("  OS build            {} ({})\n", probe.host->os_build, probe.host->product_type);
    fmt::print("  Architecture        {}\n", probe.host->architecture);
    fmt::print("  Logical processors  {}\n\n", probe.host->logical_processors);
  }
  if (!probe.service.empty()) {
    fmt::print("HCS service properties\n");
    if (const auto topology = probe.service.find("ProcessorTopology"); topology != probe.service.end()) {
      fmt::print("  ProcessorTopology   {} logical processors\n", topology->value("LogicalProcessorCount", 0u));
    }
    if (const auto basic = probe.service.find("Basic"); basic != probe.service.end()) {
      fmt::print("  Basic               {}\n", describe_basic(*basic));
    }
    fmt::print("\n");
  }
  if (probe.systems) {
    fmt::print("Compute systems ({})\n", probe.systems->size());
    if (!probe.systems->empty()) {
      fmt::print("  {:<40} {:<15} {:<9} {:<8} {}\n", "ID", "TYPE", "STATE", "OS", "OWNER");
      for (const json& system : *probe.systems) {
        fmt::print("  {:<40} {:<15} {:<9} {:<8} {}\n", text_field(system, "Id"), text_field(system, "SystemType"),
                   text_field(system, "State"), text_field(system, "RuntimeOsType"), text_field(system, "Owner"));
      }
    }
  }
  std::fflush(stdout);
  for (const Failure& failure : probe.failures) {
    fmt::print(stderr, "hcsprobe: {}: {}\n", failure.section, failure.message);
    if (!failure.result_document.empty()) fmt::print(stderr, "  HCS result: {}\n", failure.result_document);
    if (!failure.hint.empty()) fmt::print(stderr, "  hint: {}\n", failure.hint);
  }
}

void print_json(const Probe& probe) {
  json document = json::object();
  if (probe.host) {
    document["host"] = {{"os_build", probe.host->os_build},
                        {"product_type", probe.host->product_type},
                        {"architecture", probe.host->architecture},
                        {"logical_processors", probe.host->logical_processors}};
  }
  document["service"] = probe.service;
  if (probe.systems) document["systems"] = *probe.systems;
  json failures = json::array();
  for (const Failure& failure : probe.failures) {
    json entry = {{"section", failure.section}, {"message", failure.message}};
    if (failure.hr != 0) entry["hresult"] = fmt::format("{:#010x}", failure.hr);
    if (!failure.result_document.empty()) {
      // The ResultError is JSON when HCS sent one; keep it readable as such.
      json result = json::parse(failure.result_document, nullptr, /*allow_exceptions=*/false);
      entry["result"] = result.is_discarded() ? json(failure.result_document) : result;
    }
    if (!failure.hint.empty()) entry["hint"] = failure.hint;
    failures.push_back(std::move(entry));
  }
  document["errors"] = std::move(failures);
  // Replace rather than throw if HCS ever returns a string that is not valid UTF-8 after conversion.
  fmt::print("{}\n", document.dump(2, ' ', false, json::error_handler_t::replace));
}

}  // namespace

int main(int argc, char** argv) {
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (argument == "--json") {
      as_json = true;
    } else if (argument == "-h" || argument == "--help") {
      fmt::print("{}", kUsage);
      return kExitOk;
    } else {
      fmt::print(stderr, "hcsprobe: unknown argument \"{}\"\n\n{}", argument, kUsage);
      return kExitUsage;
    }
  }
  // System ids and owners are printed as UTF-8; make the console render them as such.
  ::SetConsoleOutputCP(CP_UTF8);

  try {
    const std::unique_ptr<hcs::Client> client = hcs::make_computecore_client();
    const Probe probe = run_probe(*client);
    if (as_json) {
      print_json(probe);
    } else {
      print_text(probe);
    }
    return probe.failures.empty() ? kExitOk : kExitFailed;
  } catch (const std::exception& error) {
    fmt::print(stderr, "hcsprobe: {}\n", error.what());
    return kExitFailed;
  }
}
