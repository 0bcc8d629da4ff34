// The parts of an OCI runtime spec the process-container builder reads, type-checked as Go's encoding/json checks
// them when hcsshim decodes config.json (a JSON null reads as absent).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace shimcore::builder {

struct OciMount {
  std::string destination;
  std::string type;
  std::string source;
  std::vector<std::string> options;
};

struct OciWindowsDevice {
  std::string id;
  std::string id_type;
};

struct OciWindowsNetwork {
  std::vector<std::string> endpoint_list;
  bool allow_unqualified_dns_query = false;
  std::optional<std::vector<std::string>> dns_search_list;  // nullopt = absent (Go: nil slice)
  std::string network_shared_container_name;
  std::string network_namespace;
};

struct OciSpec {
  std::map<std::string, std::string> annotations;
  std::string hostname;
  bool has_root = false;
  std::string root_path;
  bool root_readonly = false;
  std::vector<OciMount> mounts;
  bool has_linux = false;
  bool has_windows = false;
  // windows.resources
  std::optional<std::uint64_t> cpu_count;
  std::optional<std::uint16_t> cpu_shares;
  std::optional<std::uint16_t> cpu_maximum;
  std::optional<std::uint64_t> memory_limit;  // bytes
  std::optional<std::uint64_t> storage_iops;
  std::optional<std::uint64_t> storage_bps;
  std::optional<OciWindowsNetwork> network;
  // windows.credentialSpec is `any` in the OCI types; hcsshim uses it only when it is a string.
  std::optional<std::string> credential_spec;
  std::vector<OciWindowsDevice> devices;
  bool has_hyperv = false;
};

// Throws Error(InvalidArgument) naming the JSON path (e.g. spec.windows.resources.cpu.count) of a value whose type
// does not match the OCI runtime spec.
OciSpec read_oci_spec(const nlohmann::json& spec);

}  // namespace shimcore::builder
