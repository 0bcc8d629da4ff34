// Shim discovery: containerd 2.x writes bootstrap.json ({"address","protocol"}) into every task bundle
// (<state>/io.containerd.runtime.v2.task/<ns>/<id>) and sandbox bundle (<state>/io.containerd.sandbox.controller.v1.
// shim/<ns>/<id>), and shim-binary-path into the bundle of the task or sandbox that started the shim.
#include "discovery.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shimcore/errdefs.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#endif

namespace shimdiag {
namespace {

namespace fs = std::filesystem;
using shimcore::ErrorKind;
using shimcore::make_error;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

// A bundle's record of its shim: bootstrap.json, or the older `address` file (ttrpc).
struct BundleRecord {
  std::string ns, id, address, protocol, runtime;
  bool sandbox = false;
};

bool read_bundle(const fs::path& bundle, BundleRecord& record) {
  std::error_code ec;
  if (fs::exists(bundle / "bootstrap.json", ec)) {
    try {
      const nlohmann::json bootstrap = nlohmann::json::parse(read_text(bundle / "bootstrap.json"));
      record.address = bootstrap.value("address", std::string());
      record.protocol = bootstrap.value("protocol", std::string("ttrpc"));
    } catch (const std::exception&) {
      return false;  // being written, or damaged: not a shim we can reach
    }
  } else if (fs::exists(bundle / "address", ec)) {
    record.address = trim(read_text(bundle / "address"));
    record.protocol = "ttrpc";
  }
  if (record.address.empty()) return false;
  if (fs::exists(bundle / "shim-binary-path", ec)) record.runtime = trim(read_text(bundle / "shim-binary-path"));
  return true;
}

void scan_bundles(const fs::path& root, bool sandbox, std::vector<BundleRecord>& records) {
  std::error_code ec;
  for (const auto& ns : fs::directory_iterator(root, ec)) {
    if (!ns.is_directory(ec)) continue;
    for (const auto& bundle : fs::directory_iterator(ns.path(), ec)) {
      if (!bundle.is_directory(ec)) continue;
      BundleRecord record;
      record.ns = ns.path().filename().string();
      record.id = bundle.path().filename().string();
      record.sandbox = sandbox;
      if (read_bundle(bundle.path(), record)) records.push_back(std::move(record));
    }
  }
}

// "unix:///a/b" and "/a/b" are the same socket.
std::string canonical_address(const std::string& address) {
  if (address.starts_with("unix://")) return address.substr(7);
  if (address.starts_with("npipe://")) {
    std::string pipe = address.substr(8);
    std::replace(pipe.begin(), pipe.end(), '/', '\\');
    return pipe;
  }
  return address;
}

#ifdef _WIN32
// hcsshim's and our pipes: \\.\pipe\ProtectedPrefix\Administrators\containerd-shim-<ns>-<id>-pipe.
void scan_pipes(std::vector<ShimEntry>& entries, const std::map<std::string, std::size_t>& known) {
  WIN32_FIND_DATAW found;
  const HANDLE search = ::FindFirstFileW(L"\\\\.\\pipe\\*", &found);
  if (search == INVALID_HANDLE_VALUE) return;
  const std::string prefix = "ProtectedPrefix\\Administrators\\containerd-shim-";
  do {
    std::string name;
    for (const wchar_t* c = found.cFileName; *c != 0; ++c) name.push_back(*c < 128 ? static_cast<char>(*c) : '?');
    if (!name.starts_with(prefix)) continue;
    const std::string address = "\\\\.\\pipe\\" + name;
    if (known.contains(address)) continue;
    ShimEntry entry;
    entry.address = address;
    entry.protocol = "ttrpc";
    entries.push_back(std::move(entry));
  } while (::FindNextFileW(search, &found));
  ::FindClose(search);
}
#else
void scan_sockets(const fs::path& dir, std::vector<ShimEntry>& entries,
                  const std::map<std::string, std::size_t>& known) {
  std::error_code ec;
  std::vector<fs::path> sockets;
  for (const auto& file : fs::directory_iterator(dir, ec)) {
    if (file.is_socket(ec)) sockets.push_back(file.path());
  }
  std::sort(sockets.begin(), sockets.end());
  for (const fs::path& socket : sockets) {
    if (known.contains(socket.string())) continue;
    // A shim's ShimDiag gRPC socket (SHIMCORE_DIAG_GRPC) belongs to the shim beside it.
    const std::string name = socket.string();
    if (name.ends_with(".grpc") && known.contains(name.substr(0, name.size() - 5))) continue;
    ShimEntry entry;
    entry.address = "unix://" + socket.string();
    entry.protocol = "ttrpc";
    entries.push_back(std::move(entry));
  }
}
#endif

}  // namespace

DiscoveryOptions default_discovery() {
  DiscoveryOptions options;
#ifdef _WIN32
  options.state_dirs = {R"(C:\ProgramData\containerd\state)"};
  options.pipes = true;
#else
  options.state_dirs = {"/run/containerd"};
  if (const char* dir = std::getenv("SHIMCORE_SOCKET_DIR"); dir != nullptr && *dir != '\0') {
    options.socket_dirs.emplace_back(dir);
  } else {
    options.socket_dirs.emplace_back("/run/shimcore/s");
  }
  options.socket_dirs.emplace_back("/run/containerd/s");
#endif
  return options;
}

std::string kind_of_runtime(const std::string& runtime) {
  // Either separator: containerd on Windows records C:\...\containerd-shim-<kind>-v2.exe.
  std::string name =
      runtime.substr(runtime.find_last_of("/\\") == std::string::npos ? 0 : runtime.find_last_of("/\\") + 1);
  if (name.ends_with(".exe")) name.resize(name.size() - 4);
  const std::string shim_prefix = "containerd-shim-", shim_suffix = "-v2";
  if (name.starts_with(shim_prefix) && name.ends_with(shim_suffix) &&
      name.size() > shim_prefix.size() + shim_suffix.size()) {
    return name.substr(shim_prefix.size(), name.size() - shim_prefix.size() - shim_suffix.size());
  }
  const std::string runtime_prefix = "io.containerd.", runtime_suffix = ".v2";
  if (name.starts_with(runtime_prefix) && name.ends_with(runtime_suffix) &&
      name.size() > runtime_prefix.size() + runtime_suffix.size()) {
    return name.substr(runtime_prefix.size(), name.size() - runtime_prefix.size() - runtime_suffix.size());
  }
  return name;
}

std::vector<ShimEntry> discover(const DiscoveryOptions& options) {
  std::vector<BundleRecord> records;
  for (const fs::path& state : options.state_dirs) {
    scan_bundles(state / "io.containerd.sandbox.controller.v1.shim", true, records);
    scan_bundles(state / "io.containerd.runtime.v2.task", false, records);
  }
  // One entry per shim address; its name is the sandbox's, else the task that started it, else the first task.
  const auto rank_of = [](const BundleRecord& record) { return record.sandbox ? 0 : (record.runtime.empty() ? 2 : 1); };
  std::vector<ShimEntry> entries;
  std::vector<int> name_ranks;  // entries[i] is named after a bundle of rank name_ranks[i]
  std::map<std::string, std::size_t> by_address;
  for (const BundleRecord& record : records) {
    const auto [it, added] = by_address.emplace(canonical_address(record.address), entries.size());
    if (added) {
      entries.push_back(ShimEntry{record.ns, record.id, "", record.address, record.protocol, {}});
      name_ranks.push_back(rank_of(record));
    }
    ShimEntry& entry = entries[it->second];
    int& name_rank = name_ranks[it->second];
    entry.tasks.push_back(record.ns + "/" + record.id);
    const int rank = rank_of(record);
    if (rank < name_rank || (rank == name_rank && std::tie(record.ns, record.id) < std::tie(entry.ns, entry.id))) {
      name_rank = rank;
      entry.ns = record.ns;
      entry.id = record.id;
    }
    if (entry.kind.empty() && !record.runtime.empty()) entry.kind = kind_of_runtime(record.runtime);
  }
  for (ShimEntry& entry : entries) {
    std::sort(entry.tasks.begin(), entry.tasks.end());
    entry.tasks.erase(std::unique(entry.tasks.begin(), entry.tasks.end()), entry.tasks.end());
  }
  std::sort(entries.begin(), entries.end(),
            [](const ShimEntry& a, const ShimEntry& b) { return std::tie(a.ns, a.id) < std::tie(b.ns, b.id); });
  std::map<std::string, std::size_t> known;
  for (std::size_t i = 0; i < entries.size(); ++i) known.emplace(canonical_address(entries[i].address), i);
#ifdef _WIN32
  if (options.pipes) scan_pipes(entries, known);
#else
  for (const fs::path& dir : options.socket_dirs) {
    scan_sockets(dir, entries, known);
    for (std::size_t i = 0; i < entries.size(); ++i) known.emplace(canonical_address(entries[i].address), i);
  }
#endif
  return entries;
}

std::string display_name(const ShimEntry& entry) {
  return entry.id.empty() ? entry.address : entry.ns + "/" + entry.id;
}

bool is_address(const std::string& name) {
  return name.starts_with("unix://") || name.starts_with("/") || name.starts_with("npipe://") ||
         name.starts_with(R"(\\.\pipe\)");
}

ShimEntry resolve(const std::string& name, const std::vector<ShimEntry>& entries, const DiscoveryOptions& searched) {
  if (name.empty()) throw make_error(ErrorKind::InvalidArgument, "no shim given");
  if (is_address(name)) {
    for (const ShimEntry& entry : entries) {
      if (canonical_address(entry.address) == canonical_address(name)) return entry;
    }
    ShimEntry entry;
    entry.address = name;
    entry.protocol = "ttrpc";
    return entry;
  }
  const bool qualified = name.find('/') != std::string::npos;
  std::vector<const ShimEntry*> matches;
  for (const ShimEntry& entry : entries) {
    bool match = false;
    for (const std::string& task : entry.tasks) {
      const std::string id = task.substr(task.find('/') + 1);
      match = match || (qualified ? task == name : id == name);
    }
    if (match) matches.push_back(&entry);
  }
  if (matches.size() == 1) return *matches.front();
  if (matches.size() > 1) {
    std::string names;
    for (const ShimEntry* entry : matches) names += (names.empty() ? "" : ", ") + display_name(*entry);
    throw make_error(ErrorKind::InvalidArgument, "shim name {} is ambiguous ({}): give <namespace>/<id>", name, names);
  }
  std::string where;
  for (const fs::path& state : searched.state_dirs) where += (where.empty() ? "" : ", ") + state.string();
  for (const fs::path& dir : searched.socket_dirs) where += (where.empty() ? "" : ", ") + dir.string();
  if (searched.pipes) where += (where.empty() ? "" : ", ") + std::string(R"(\\.\pipe\)");
  throw make_error(ErrorKind::NotFound, "no shim serves {} (searched {}; `shimdiag list` shows what runs)", name,
                   where.empty() ? std::string("nothing") : where);
}

bool reachable(const std::string& address) {
  const std::string target = canonical_address(address);
#ifdef _WIN32
  const std::wstring wide(target.begin(), target.end());
  if (::WaitNamedPipeW(wide.c_str(), 0)) return true;
  return ::GetLastError() == ERROR_SEM_TIMEOUT;  // exists, every instance busy
#else
  sockaddr_un socket_address{};
  if (target.size() >= sizeof socket_address.sun_path) return false;
  socket_address.sun_family = AF_UNIX;
  std::memcpy(socket_address.sun_path, target.c_str(), target.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&socket_address), sizeof socket_address) == 0;
  ::close(fd);
  return connected;
#endif
}

}  // namespace shimdiag
