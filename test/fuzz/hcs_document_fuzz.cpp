// libFuzzer target: arbitrary bytes as the JSON text of every HCS schema document type. Parsing must either succeed
// or throw shimcore::Error(InvalidArgument), never crash or leak another exception; whatever parses must serialise,
// and that text must parse back to an equal value that serialises to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shimcore/errdefs.h"
#include "shimcore/hcs/schema/schema.h"

namespace {

namespace schema = shimcore::hcs::schema;

// Abort (a finding) when an invariant breaks.
void require(bool condition) {
  if (!condition) std::abort();
}

template <typename T>
using Parser = T (*)(std::string_view);

// Runs one parser over `text` and checks the round-trip invariant; returns the parsed value if there was one.
template <typename T>
std::optional<T> check(std::string_view text, Parser<T> parse) {
  std::optional<T> parsed;
  try {
    parsed = parse(text);
  } catch (const shimcore::Error& error) {
    require(error.kind() == shimcore::ErrorKind::InvalidArgument);
    return std::nullopt;
  }
  const std::string serialised = schema::to_json_text(*parsed);
  std::optional<T> reparsed;
  try {
    reparsed = parse(serialised);
  } catch (const shimcore::Error&) {
    std::abort();  // our own output must always be accepted
  }
  require(*reparsed == *parsed);
  require(schema::to_json_text(*reparsed) == serialised);
  return parsed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (const auto system = check<schema::ComputeSystem>(text, schema::parse_compute_system)) {
    try {
      schema::validate(*system);
    } catch (const shimcore::Error& error) {
      require(error.kind() == shimcore::ErrorKind::InvalidArgument);
    }
    // The Any-typed HostedSystem, read as the usual shape, follows the same rules.
    if (system->hosted_system.is_object()) {
      try {
        const auto hosted = system->hosted_system.get<schema::HostedSystem>();
        require(schema::parse_hosted_system(schema::to_json_text(hosted)) == hosted);
      } catch (const shimcore::Error& error) {
        require(error.kind() == shimcore::ErrorKind::InvalidArgument);
      }
    }
  }
  check<schema::HostedSystem>(text, schema::parse_hosted_system);
  check<schema::Container>(text, schema::parse_container);
  check<schema::ProcessParameters>(text, schema::parse_process_parameters);
  check<schema::ProcessStatus>(text, schema::parse_process_status);
  check<schema::ProcessModifyRequest>(text, schema::parse_process_modify_request);
  check<schema::ModifySettingRequest>(text, schema::parse_modify_setting_request);
  check<schema::Properties>(text, schema::parse_properties);
  check<std::vector<schema::Properties>>(text, schema::parse_properties_list);
  check<schema::PropertyQuery>(text, schema::parse_property_query);
  check<schema::SystemQuery>(text, schema::parse_system_query);
  check<schema::ServiceProperties>(text, schema::parse_service_properties);
  check<schema::ProcessorTopology>(text, schema::parse_processor_topology);
  check<schema::ResultError>(text, schema::parse_result_error);
  check<schema::SystemExitStatus>(text, schema::parse_system_exit_status);
  return 0;
}
