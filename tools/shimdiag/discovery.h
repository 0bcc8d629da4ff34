// Finding the shims of this host the way containerd addresses them: the bootstrap records in containerd's state
// folders (task and sandbox bundles), and shim sockets or pipes no bundle names. No RPC: liveness is a connect.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace shimdiag {

// One shim process, as found on disk.
struct ShimEntry {
  std::string ns;                  // containerd namespace ("" for a socket no bundle names)
  std::string id;                  // the sandbox's id, else the task that started the shim ("" when unknown)
  std::string kind;                // "lcow", "wcow", "process", another runtime's name, or "" when unknown
  std::string address;             // as containerd records it: unix:///abs/path or \\.\pipe\name
  std::string protocol;            // "ttrpc" or "grpc"
  std::vector<std::string> tasks;  // "<ns>/<id>" of every task or sandbox bundle pointing at this shim
};

struct DiscoveryOptions {
  std::vector<std::filesystem::path> state_dirs;   // containerd `state` folders
  std::vector<std::filesystem::path> socket_dirs;  // where shims put their sockets (Linux)
  bool pipes = false;                              // enumerate \\.\pipe\ (Windows)
};

// The defaults: /run/containerd and the shims' socket folders (SHIMCORE_SOCKET_DIR or /run/shimcore/s, and
// /run/containerd/s for other shims) on Linux; C:\ProgramData\containerd\state and the pipes on Windows.
DiscoveryOptions default_discovery();

// Every shim found, sorted by namespace and id (sockets no bundle names last). Unreadable records are skipped.
std::vector<ShimEntry> discover(const DiscoveryOptions& options);

// What `list` prints for a record: "<ns>/<id>", or the address when no bundle names the shim.
std::string display_name(const ShimEntry& entry);

// True when `name` is an address rather than a name: unix://..., an absolute path, \\.\pipe\... or npipe://...
bool is_address(const std::string& name);

// The shim `name` denotes: an address (taken as is), "<ns>/<id>" or a bare id of a shim or of any task it serves (the
// bare id must be unique across namespaces). Throws shimcore::Error: NotFound naming what was searched,
// InvalidArgument when a bare id is ambiguous.
ShimEntry resolve(const std::string& name, const std::vector<ShimEntry>& entries, const DiscoveryOptions& searched);

// Whether something accepts connections at `address` now (a stale socket file or pipe name does not).
bool reachable(const std::string& address);

// The kind a runtime name or shim binary path denotes: io.containerd.<kind>.v2 or .../containerd-shim-<kind>-v2[.exe].
std::string kind_of_runtime(const std::string& runtime);

}  // namespace shimdiag
