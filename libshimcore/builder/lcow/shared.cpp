// Helpers shared by the LCOW pipelines: SNP launch data, vsock rules, error and probe helpers.
#include "builder/lcow/shared.h"

#include <fmt/format.h>

#include "shimcore/errdefs.h"

namespace shimcore::builder::lcow::detail {

void fail(std::string message) { throw Error(ErrorKind::InvalidArgument, std::move(message)); }
void fail_not_found(std::string message) { throw Error(ErrorKind::NotFound, std::move(message)); }

std::string new_guid(const BuildEnvironment& environment) {
  return environment.new_guid ? environment.new_guid() : random_guid();
}

bool file_exists(const BuildEnvironment& environment, const std::string& path) {
  return environment.file_exists && environment.file_exists(path);
}

std::string security_policy_launch_data(const std::string& policy, std::string_view context) {
  const Base64Decoded decoded = base64_decode(policy);
  if (decoded.corrupt_at) {
    fail(fmt::format("{}failed to decode base64 security policy: illegal base64 data at input byte {}", context,
                     *decoded.corrupt_at));
  }
  return base64_encode(sha256(decoded.bytes));
}

void add_confidential_vsock_ports(hcs::schema::HvSocketSystemConfig& config, const std::vector<std::uint32_t>& extra) {
  std::vector<std::uint32_t> ports = {kEntropyVsockPort, kLogVsockPort, kGcsVsockPort, kGcsVsockPort + 1};
  ports.insert(ports.end(), extra.begin(), extra.end());
  for (const std::uint32_t port : ports) {
    hcs::schema::HvSocketServiceConfig service;
    service.allow_wildcard_binds = true;
    service.bind_security_descriptor = kEveryoneSddl;
    service.connect_security_descriptor = kAdminsAndSystemSddl;
    config.service_table[vsock_service_id(port)] = service;
  }
}

}  // namespace shimcore::builder::lcow::detail
