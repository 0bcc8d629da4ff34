// hcsdoc: builds the HCS document of one input (golden input.json format) with one of libshimcore's pipelines and
// prints it, so that a builder's output can be inspected or diffed against hcsshim's without a Windows host.
#include <charconv>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "shimcore/build_config.h"
#include "shimcore/errdefs.h"

#if SHIMCORE_HAS_PROCESS
#include "shimcore/builder/process_container.h"
#include "shimcore/builder/process_container_input.h"
#endif
#if SHIMCORE_HAS_LCOW
#include "shimcore/builder/lcow_case.h"
#endif
#if SHIMCORE_HAS_WCOW
#include "shimcore/builder/wcow_case.h"
#endif

namespace {

namespace po = boost::program_options;
using nlohmann::json;

// The LCOW builder issue fixes the CLI contract: a document on stdout and 0, or the error on stderr and 2.
constexpr int kExitError = 2;
constexpr int kExitUsage = 2;

// Host facts given on the command line; they override the input's `host` section.
struct HostOverrides {
  std::optional<std::uint32_t> os_build;
  std::optional<std::uint32_t> processors;
};

// One document pipeline: its name on the command line, what it builds, and the builder call.
struct Pipeline {
  std::string_view name;
  std::string_view description;
  std::function<json(const json& input, const HostOverrides& overrides)> build;
};

#if SHIMCORE_HAS_PROCESS
json build_wcow_container(const json& input, const HostOverrides& overrides) {
  auto loaded = shimcore::builder::read_process_container_input(input);
  if (overrides.os_build) loaded.host.os_build = *overrides.os_build;
  if (overrides.processors) loaded.host.logical_processors = *overrides.processors;
  if (loaded.host.os_build == 0) {
    throw shimcore::make_error(shimcore::ErrorKind::InvalidArgument,
                               "no host OS build: the input has no host.osBuild and --os-build was not given");
  }
  if (loaded.host.logical_processors == 0) {
    throw shimcore::make_error(
        shimcore::ErrorKind::InvalidArgument,
        "no host processor count: the input has no host.activeProcessorCount and --processors was not given");
  }
  return shimcore::builder::build_process_container(loaded.request, loaded.host);
}
#endif

#if SHIMCORE_HAS_LCOW
// The LCOW case schema (parity/golden/README.md): the host comes from the input's "host"; the overrides replace it.
std::function<json(const json&, const HostOverrides&)> lcow_pipeline(shimcore::builder::lcow::Pipeline pipeline) {
  return [pipeline](const json& input, const HostOverrides& overrides) {
    json patched = input;
    if (overrides.os_build) patched["host"]["osBuild"] = *overrides.os_build;
    if (overrides.processors) patched["host"]["logicalProcessorCount"] = *overrides.processors;
    return shimcore::builder::lcow::build_from_case(patched, pipeline);
  };
}
#endif

#if SHIMCORE_HAS_WCOW
// The wcow/uvm case schema: the host comes from the input's "host" (processors: HCS's logical processor count).
json build_wcow_uvm(const json& input, const HostOverrides& overrides) {
  json patched = input;
  if (overrides.os_build) patched["host"]["osBuild"] = *overrides.os_build;
  if (overrides.processors) patched["host"]["hcsLogicalProcessorCount"] = *overrides.processors;
  return shimcore::builder::wcow::build_from_case(patched);
}
#endif

// Every pipeline this build has (builders are compiled only into builds of their sandbox kind).
const std::vector<Pipeline>& pipelines() {
  static const std::vector<Pipeline> table = {
#if SHIMCORE_HAS_LCOW
    {"legacy", "LCOW utility VM, hcsshim's legacy (V1) path: OCI annotations + runhcs options",
     lcow_pipeline(shimcore::builder::lcow::Pipeline::Legacy)},
    {"v2", "LCOW utility VM, hcsshim's V2 sandbox path: sandbox spec + runhcs options",
     lcow_pipeline(shimcore::builder::lcow::Pipeline::V2)},
#endif
#if SHIMCORE_HAS_WCOW
    {"wcow-uvm", "WCOW utility VM, hcsshim's V1 path: OCI annotations + runhcs options, VmbFS boot files",
     build_wcow_uvm},
#endif
#if SHIMCORE_HAS_PROCESS
    {"wcow-container", "process-isolated Windows container: the schema v2 Container document", build_wcow_container},
#endif
  };
  return table;
}

std::string known_pipelines() {
  std::string names;
  for (const Pipeline& pipeline : pipelines()) {
    if (!names.empty()) names += ", ";
    names += pipeline.name;
  }
  return names.empty() ? "(none in this build)" : names;
}

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::uint32_t parse_count(const std::string& text, std::string_view option) {
  std::uint32_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw UsageError(fmt::format("--{} takes an unsigned 32-bit number, not \"{}\"", option, text));
  }
  return value;
}

void print_usage(std::ostream& out, const po::options_description& options) {
  out << "usage: hcsdoc --pipeline NAME --input FILE [--os-build N] [--processors N]\n\n"
         "Builds the HCS document for FILE (the golden input.json format of the pipeline's golden set under\n"
         "parity/golden/) and prints it as JSON on stdout. The host profile is taken\n"
         "from the input's \"host\" section; --os-build and --processors override it.\n\n"
      << options << "\npipelines:\n";
  for (const Pipeline& pipeline : pipelines()) out << fmt::format("  {:<16} {}\n", pipeline.name, pipeline.description);
  if (pipelines().empty()) out << "  (none in this build)\n";
  out << "\nexit status: 0 printed; 2 the input was rejected or could not be read, or a usage error (message on "
         "stderr)\n";
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description options("options");
  options.add_options()                                                                //
      ("help,h", "print this help and exit")                                           //
      ("pipeline", po::value<std::string>(), "the document pipeline (see below)")      //
      ("input", po::value<std::string>(), "the input file (JSON)")                     //
      ("os-build", po::value<std::string>(), "host Windows build number, e.g. 20348")  //
      ("processors", po::value<std::string>(),
       "host processor count (wcow-container: the active processors a CPU count is clamped to; legacy, v2, "
       "wcow-uvm: HCS's logical processor count)");

  std::string pipeline_name;
  std::string input_path;
  HostOverrides overrides;
  try {
    po::variables_map arguments;
    po::store(po::command_line_parser(argc, argv).options(options).run(), arguments);
    po::notify(arguments);
    if (arguments.count("help") != 0) {
      print_usage(std::cout, options);
      return 0;
    }
    if (arguments.count("pipeline") == 0) throw UsageError("--pipeline is required");
    if (arguments.count("input") == 0) throw UsageError("--input is required");
    pipeline_name = arguments["pipeline"].as<std::string>();
    input_path = arguments["input"].as<std::string>();
    if (arguments.count("os-build") != 0) {
      overrides.os_build = parse_count(arguments["os-build"].as<std::string>(), "os-build");
    }
    if (arguments.count("processors") != 0) {
      overrides.processors = parse_count(arguments["processors"].as<std::string>(), "processors");
    }
  } catch (const po::error& error) {
    std::cerr << "hcsdoc: " << error.what() << "\n\n";
    print_usage(std::cerr, options);
    return kExitUsage;
  } catch (const UsageError& error) {
    std::cerr << "hcsdoc: " << error.what() << "\n\n";
    print_usage(std::cerr, options);
    return kExitUsage;
  }

  const Pipeline* pipeline = nullptr;
  for (const Pipeline& candidate : pipelines()) {
    if (candidate.name == pipeline_name) pipeline = &candidate;
  }
  if (pipeline == nullptr) {
    std::cerr << fmt::format("hcsdoc: unknown pipeline \"{}\"; known pipelines: {}\n", pipeline_name,
                             known_pipelines());
    return kExitUsage;
  }

  std::ifstream file(input_path, std::ios::binary);
  if (!file) {
    std::cerr << fmt::format("hcsdoc: cannot read {}\n", input_path);
    return kExitError;
  }
  json input;
  try {
    input = json::parse(file);
  } catch (const json::exception& error) {
    std::cerr << fmt::format("hcsdoc: {} is not valid JSON: {}\n", input_path, error.what());
    return kExitError;
  }
  try {
    std::cout << pipeline->build(input, overrides).dump(2) << "\n";
  } catch (const shimcore::Error& error) {
    std::cerr << fmt::format("hcsdoc: {}: {}\n", shimcore::to_string(error.kind()), error.what());
    return kExitError;
  }
  return 0;
}
