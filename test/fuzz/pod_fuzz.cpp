// libFuzzer target: a CRI PodSandboxConfig (protobuf bytes) and OCI annotations (JSON) from an untrusted peer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shimcore/errdefs.h"
#include "shimcore/oci/pod.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const shimcore::oci::PodSandboxConfig config = shimcore::oci::parse_pod_sandbox_config(bytes);
    (void)config;
  } catch (const shimcore::Error&) {
  }
  const nlohmann::json annotations = nlohmann::json::parse(bytes, nullptr, false);
  if (!annotations.is_discarded()) {
    try {
      (void)shimcore::oci::pod_membership(annotations);
    } catch (const shimcore::Error&) {
    }
  }
  return 0;
}
