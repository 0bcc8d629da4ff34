// libFuzzer target: arbitrary bytes as `start`'s stdin (a serialized Any) and as a CRI TOML options table. Parsing must
// either succeed or throw shimcore::Error(InvalidArgument), never crash or leak another exception; whatever parses must
// survive the bundle's format (an Any of runhcs Options) unchanged.
#include <google/protobuf/any.pb.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "shimcore/errdefs.h"
#include "shimcore/shim/runtime_options.h"

namespace {

namespace shim = shimcore::shim;

// Abort (a finding) when an invariant breaks.
void require(bool condition) {
  if (!condition) std::abort();
}

template <typename Parse>
std::optional<shim::ParsedRuntimeOptions> check(Parse parse) {
  try {
    return parse();
  } catch (const shimcore::Error& error) {
    require(error.kind() == shimcore::ErrorKind::InvalidArgument);
    return std::nullopt;
  }
}

// What save_runtime_options writes, read back as load_runtime_options reads it: the same options, no warnings.
void check_round_trip(const shim::RuntimeOptions& options) {
  google::protobuf::Any any;
  any.set_type_url(std::string(shim::kRunhcsOptionsType));
  any.set_value(options.SerializeAsString());
  std::optional<shim::ParsedRuntimeOptions> reparsed;
  try {
    reparsed = shim::parse_runtime_options(any.SerializeAsString());
  } catch (const shimcore::Error&) {
    std::abort();  // options we accepted once must be accepted again
  }
  require(reparsed->warnings.empty());
  // Compared as messages: a map field serialises in no fixed order.
  require(google::protobuf::util::MessageDifferencer::Equals(reparsed->options, options));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (const auto parsed = check([&] { return shim::parse_runtime_options(bytes); })) {
    check_round_trip(parsed->options);
  }
  if (const auto parsed = check([&] { return shim::parse_runtime_options_toml(bytes); })) {
    check_round_trip(parsed->options);
  }
  return 0;
}
