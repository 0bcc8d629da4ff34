// libFuzzer target: arbitrary bytes as the OCI spec of a process-isolated container. Building must either succeed or
// throw shimcore::Error of one of the kinds the builder documents, never crash or leak another exception; a document
// it builds must serialise and parse back to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "shimcore/builder/process_container.h"
#include "shimcore/builder/process_container_input.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/schema/schema.h"

namespace {

namespace builder = shimcore::builder;
namespace schema = shimcore::hcs::schema;
using shimcore::ErrorKind;

void require(bool condition) {
  if (!condition) std::abort();
}

// The golden host, plus one device-extension file so that the extension path is reachable too.
builder::ProcessContainerHost fuzz_host() {
  builder::ProcessContainerHost host;
  host.os_build = 20348;
  host.logical_processors = 2;
  host.file_exists = [](const std::string& path) { return path == R"(C:\ext\gpu.json)" || path == R"(C:\ext\bad)"; };
  host.read_file = [](const std::string& path) -> std::optional<std::string> {
    if (path == R"(C:\ext\gpu.json)") return R"({"device_category":{"name":"gpu"}})";
    if (path == R"(C:\ext\bad)") return "not json";
    return std::nullopt;
  };
  host.resolve_path = [](const std::string& path) -> std::optional<std::string> {
    if (path.find("missing") != std::string::npos) return std::nullopt;
    return builder::golden_resolve_path(path);
  };
  return host;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const builder::ProcessContainerHost host = fuzz_host();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json spec;
  try {
    spec = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return 0;  // not JSON: nothing reaches the builder
  }

  builder::ProcessContainerRequest request;
  request.spec = std::move(spec);
  request.id = "ctr-fuzz";
  request.bundle = "/run/fuzz/bundle";
  request.owner = "fuzz";
  request.network_namespace = "4f2d7a1c-9e3b-4c8d-a5f6-0b1c2d3e4f50";
  request.mounted_layers = {{"8c0b7b8a-7a4e-5f0e-9a4d-5c2f6f3a1b01", R"(C:\layers\base)"}};

  std::optional<schema::ComputeSystem> system;
  try {
    system = builder::build_process_compute_system(request, host);
  } catch (const shimcore::Error& error) {
    const ErrorKind kind = error.kind();
    require(kind == ErrorKind::InvalidArgument || kind == ErrorKind::NotFound || kind == ErrorKind::PermissionDenied ||
            kind == ErrorKind::FailedPrecondition || kind == ErrorKind::Unimplemented);
    require(error.what()[0] != '\0');
    return 0;
  }
  const std::string serialised = schema::to_json_text(*system);
  const schema::ComputeSystem reparsed = schema::parse_compute_system(serialised);
  require(reparsed == *system);
  schema::validate(reparsed);
  return 0;
}
