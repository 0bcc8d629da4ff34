// libFuzzer target: arbitrary bytes as a process-kind task's spec (and, split at the first NUL, a rootfs mount's
// option) through the layer rules, the Linux spec's Windows shape and the command-line quoting. Only
// shimcore::Error may come out; the quoting must split back into the same arguments (CommandLineToArgvW rules).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/process_container.h"
#include "hcs/emulator/host_process.h"
#include "shimcore/errdefs.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = bytes.find('\0');
  const std::string spec_text(bytes.substr(0, nul));
  const std::string option = nul == std::string_view::npos ? std::string() : std::string(bytes.substr(nul + 1));
  const nlohmann::json spec = nlohmann::json::parse(spec_text, nullptr, false);
  if (spec.is_discarded() || !spec.is_object()) return 0;
  using shimcore::controller::Mount;
  const std::vector<Mount> mounts =
      option.empty() ? std::vector<Mount>{} : std::vector<Mount>{{"windows-layer", "/nonexistent", "", {option}}};
  try {
    shimcore::controller::is_windows_container_spec(spec, mounts);
    shimcore::controller::windows_layers("t", spec, mounts);
  } catch (const shimcore::Error&) {
  }
  try {
    const nlohmann::json shaped = shimcore::controller::windows_shape_of_linux_spec(spec);
    require(shaped.contains("windows") && !shaped.contains("linux"));
  } catch (const nlohmann::json::exception&) {
    // a `windows` member that is not an object cannot take resources: the shape refuses it by throwing, caught by
    // the controller's caller as an invalid spec
  }
  std::vector<std::string> args;
  if (spec.contains("args") && spec["args"].is_array()) {
    for (const auto& arg : spec["args"]) {
      if (arg.is_string() && arg.get<std::string>().find('\0') == std::string::npos) args.push_back(arg);
    }
  }
  if (!args.empty()) {
    require(shimcore::hcs::emulator::split_command_line(shimcore::controller::windows_command_line(args)) == args);
  }
  return 0;
}
