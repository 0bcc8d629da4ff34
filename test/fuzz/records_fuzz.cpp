// libFuzzer target: the files `delete` reads after a shim died (an emulator record, a sandbox's members file), which
// anyone with access to the state directories may have edited.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shimcore/controller/sandbox_controller.h"
#include "shimcore/hcs/emulator.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Both parsers promise never to throw: an exception escapes and libFuzzer reports it.
  std::string problem;
  const auto record = shimcore::hcs::parse_emulator_record(bytes, &problem);
  if (!record && problem.empty()) __builtin_trap();  // a refusal always says why
  bool malformed = false;
  (void)shimcore::controller::parse_sandbox_members(bytes, &malformed);
  return 0;
}
