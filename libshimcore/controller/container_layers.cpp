// A process-kind task's layers, its spec in the Windows shape, and Windows command lines (every kind's build).
#include "controller/process_container.h"

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "shimcore/errdefs.h"

namespace shimcore::controller {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kWindowsLayerMount = "windows-layer";  // containerd's legacy WCOW snapshot mount
constexpr std::string_view kParentLayerPaths = "parentLayerPaths=";

void require_folder(const std::string& id, const std::string& path, const std::string& field) {
  std::error_code error;
  if (path.empty() || !fs::is_directory(path, error)) {
    throw make_error(ErrorKind::InvalidArgument, "task {}: {} \"{}\" is not a folder on this host", id, field, path);
  }
}

bool is_bind(const json& mount) {
  if (!mount.is_object()) return false;
  const std::string type = mount.value("type", std::string());
  if (type == "bind" || type == "rbind") return true;
  const json options = mount.value("options", json::array());
  if (!options.is_array()) return false;
  for (const json& option : options) {
    if (option == "bind" || option == "rbind") return true;
  }
  return false;
}

}  // namespace

bool is_windows_container_spec(const json& spec, const std::vector<Mount>& rootfs) {
  if (rootfs.size() == 1 && rootfs.front().type == kWindowsLayerMount) return true;
  const json windows = spec.is_object() ? spec.value("windows", json()) : json();
  return windows.is_object() && windows.contains("layerFolders") && !windows["layerFolders"].is_null();
}

ContainerLayers windows_layers(const std::string& id, const json& spec, const std::vector<Mount>& rootfs) {
  std::vector<std::string> folders;
  const json windows = spec.value("windows", json::object());
  if (windows.is_object() && windows.contains("layerFolders") && !windows["layerFolders"].is_null()) {
    if (!windows["layerFolders"].is_array()) {
      throw make_error(ErrorKind::InvalidArgument, "task {}: spec.windows.layerFolders must be an array", id);
    }
    for (const json& folder : windows["layerFolders"]) {
      if (!folder.is_string()) {
        throw make_error(ErrorKind::InvalidArgument, "task {}: spec.windows.layerFolders holds a non-string", id);
      }
      folders.push_back(folder.get<std::string>());
    }
  }
  // hcsshim's validateRootfsAndLayers, with its texts.
  if (!rootfs.empty() && !folders.empty()) {
    throw make_error(ErrorKind::FailedPrecondition, "task {}: cannot pass both a rootfs mount and Windows.LayerFolders",
                     id);
  }
  if (rootfs.empty() && folders.empty()) {
    throw make_error(ErrorKind::FailedPrecondition, "task {}: must pass either a rootfs mount or Windows.LayerFolders",
                     id);
  }
  ContainerLayers result;
  if (!folders.empty()) {
    if (folders.size() < 2) {
      throw make_error(ErrorKind::FailedPrecondition, "task {}: must pass at least two Windows.LayerFolders", id);
    }
    for (std::size_t i = 0; i < folders.size(); ++i) {
      require_folder(id, folders[i], fmt::format("spec.windows.layerFolders[{}]", i));
    }
    result.scratch = folders.back();
    folders.pop_back();
    result.layers = std::move(folders);
    return result;
  }
  if (rootfs.size() > 1) throw make_error(ErrorKind::FailedPrecondition, "task {}: expected a single rootfs mount", id);
  const Mount& mount = rootfs.front();
  if (mount.type != kWindowsLayerMount) {
    throw make_error(ErrorKind::InvalidArgument, "task {}: invalid windows mount type: '{}'", id, mount.type);
  }
  require_folder(id, mount.source, "the windows-layer mount's source (the scratch)");
  result.scratch = mount.source;
  for (const std::string& option : mount.options) {
    if (!option.starts_with(kParentLayerPaths)) continue;
    const json parents = json::parse(option.substr(kParentLayerPaths.size()), nullptr, false);
    if (parents.is_discarded() || !parents.is_array()) {
      throw make_error(ErrorKind::InvalidArgument, "task {}: failed to unmarshal option `{}`", id, kParentLayerPaths);
    }
    for (std::size_t i = 0; i < parents.size(); ++i) {
      const std::string path = parents[i].is_string() ? parents[i].get<std::string>() : std::string();
      require_folder(id, path, fmt::format("the windows-layer mount's parentLayerPaths[{}]", i));
      result.layers.push_back(path);
    }
    break;
  }
  return result;
}

json windows_shape_of_linux_spec(const json& spec) {
  json shaped = spec;
  json mounts = json::array();
  if (spec.contains("mounts") && spec["mounts"].is_array()) {
    for (const json& mount : spec["mounts"]) {
      const std::string source = mount.is_object() ? mount.value("source", std::string()) : std::string();
      if (is_bind(mount) && !source.empty() && source.front() == '/') mounts.push_back(mount);
    }
  }
  shaped["mounts"] = mounts;
  json windows = shaped.value("windows", json::object());
  if (!windows.is_object()) windows = json::object();
  const json linux = spec.value("linux", json::object());
  const json resources = linux.is_object() ? linux.value("resources", json::object()) : json::object();
  if (resources.is_object()) {
    const json memory = resources.value("memory", json::object());
    if (memory.is_object() && memory.contains("limit") && memory["limit"].is_number_integer() &&
        memory["limit"].get<std::int64_t>() > 0) {
      windows["resources"]["memory"]["limit"] = memory["limit"];
    }
    const json cpu = resources.value("cpu", json::object());
    if (cpu.is_object() && cpu.contains("shares") && cpu["shares"].is_number_unsigned() &&
        cpu["shares"].get<std::uint64_t>() > 0 && cpu["shares"].get<std::uint64_t>() <= 10000) {
      windows["resources"]["cpu"]["shares"] = cpu["shares"];
    }
  }
  shaped["windows"] = windows;  // the builder needs the section, even empty
  shaped.erase("linux");
  return shaped;
}

std::string windows_command_line(const std::vector<std::string>& args) {
  // Go's syscall.EscapeArg for each argument, joined by spaces (hcsshim's escapeArgs).
  std::string line;
  for (const std::string& arg : args) {
    if (!line.empty()) line.push_back(' ');
    if (arg.empty()) {
      line += "\"\"";
      continue;
    }
    const bool needs_backslash = arg.find_first_of("\"\\") != std::string::npos;
    const bool has_space = arg.find_first_of(" \t") != std::string::npos;
    if (!needs_backslash) {
      line += has_space ? "\"" + arg + "\"" : arg;
      continue;
    }
    if (has_space) line.push_back('"');
    std::size_t slashes = 0;
    for (const char c : arg) {
      if (c == '\\') {
        ++slashes;
      } else if (c == '"') {
        line.append(slashes + 1, '\\');  // the backslashes before a quote doubled, and the quote escaped
        slashes = 0;
      } else {
        slashes = 0;
      }
      line.push_back(c);
    }
    if (has_space) {
      line.append(slashes, '\\');
      line.push_back('"');
    }
  }
  return line;
}

}  // namespace shimcore::controller
