// libFuzzer target: the bundle records shimdiag reads from containerd's state folder (bootstrap.json, and after a NUL
// byte shim-binary-path), then name resolution over what was found.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "discovery.h"
#include "shimcore/errdefs.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fs::path state = fs::temp_directory_path() / ("shimdiag-fuzz-" + std::to_string(::getpid()));
  const fs::path bundle = state / "io.containerd.runtime.v2.task" / "ns" / "id";
  fs::create_directories(bundle);
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::size_t split = bytes.find('\0');
  std::ofstream(bundle / "bootstrap.json", std::ios::trunc | std::ios::binary) << bytes.substr(0, split);
  if (split != std::string_view::npos) {
    std::ofstream(bundle / "shim-binary-path", std::ios::trunc | std::ios::binary) << bytes.substr(split + 1);
  } else {
    fs::remove(bundle / "shim-binary-path");
  }
  const shimdiag::DiscoveryOptions options{{state}, {}, false};
  const auto found = shimdiag::discover(options);
  for (const char* name : {"id", "ns/id", "other"}) {
    try {
      (void)shimdiag::resolve(name, found, options);
    } catch (const shimcore::Error&) {
    }
  }
  for (const auto& entry : found) (void)shimdiag::kind_of_runtime(entry.kind);
  return 0;
}
