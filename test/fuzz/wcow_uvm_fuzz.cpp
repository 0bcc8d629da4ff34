// libFuzzer target: arbitrary bytes as a WCOW utility-VM case (the wcow/uvm input.json schema: annotations, shim
// options, boot files, windows.resources, existing paths, host) through the case reader and the WCOW builder. Both
// may reject the input with shimcore::Error, never crash or leak another exception; a document the builder produces
// must parse into the schema types and serialise back to the same JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "shimcore/builder/wcow_case.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/schema/schema.h"

namespace {

namespace wcow = shimcore::builder::wcow;
namespace schema = shimcore::hcs::schema;

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json input;
  try {
    input = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return 0;  // not JSON: nothing reaches the reader
  }

  std::optional<wcow::CaseOutput> output;
  try {
    output = wcow::run_case(input);
  } catch (const shimcore::Error& error) {
    require(error.what()[0] != '\0');
    return 0;
  }
  // Fuzzed strings need not be UTF-8: replace what JSON cannot carry, then the text must parse back.
  const std::string serialised = output->document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const schema::ComputeSystem system = schema::parse_compute_system(serialised);
  require(nlohmann::json::parse(schema::to_json_text(system)) == nlohmann::json::parse(serialised));
  return 0;
}
