// Attached volumes as small JSON files, and Container roots as overlays of their layers over the scratch.
#include "hcs/emulator/container_storage.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

#include <fmt/format.h>

#include "shimcore/hcs/emulator.h"
#include "shimcore/hcs/hresult.h"

namespace shimcore::hcs::emulator {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kVolumePrefix = R"(\\?\Volume{)";

[[noreturn]] void fail(std::uint32_t hr, std::string_view operation, const std::string& message) {
  const json result{{"Error", static_cast<std::int32_t>(hr)}, {"ErrorMessage", message}};
  throw HcsError(hr, std::string(operation) + ": " + message, result.dump());
}

// An emulator without a runtime folder (tests) keeps its storage in a per-process temporary one, as its VMs do.
fs::path base_of(const fs::path& runtime_dir) {
  return runtime_dir.empty() ? fs::temp_directory_path() / ("shimcore-hcs-emulator-" + std::to_string(::getpid()))
                             : runtime_dir;
}

fs::path volumes_directory(const fs::path& runtime_dir) { return base_of(runtime_dir) / "volumes"; }

fs::path root_directory(const fs::path& runtime_dir, std::string_view namespace_name, const std::string& id) {
  return base_of(runtime_dir) / "roots" / (escape_file_name_part(namespace_name) + "+" + escape_file_name_part(id));
}

std::string volume_guid(std::string_view namespace_name, const std::string& id) {
  return emulated_name_to_guid(fmt::format("volume:{}/{}", namespace_name, id));
}

std::optional<json> read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  json parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  return parsed;
}

// "\\?\Volume{GUID}\" (the trailing backslash optional) -> GUID, lower case; nullopt for anything else.
std::optional<std::string> guid_of_volume_path(std::string_view path) {
  if (!path.starts_with(kVolumePrefix)) return std::nullopt;
  path.remove_prefix(kVolumePrefix.size());
  if (path.ends_with('\\')) path.remove_suffix(1);
  if (!path.ends_with('}')) return std::nullopt;
  path.remove_suffix(1);
  if (path.size() != 36) return std::nullopt;
  std::string guid;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : std::isxdigit(static_cast<unsigned char>(c)) == 0) return std::nullopt;
    guid.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return guid;
}

}  // namespace

ContainerVolume attach_storage(const fs::path& runtime_dir, std::string_view namespace_name, const std::string& id,
                               const std::vector<std::string>& layers, const std::string& scratch) {
  constexpr std::string_view op = "AttachLayerStorage";
  if (id.empty()) fail(hresult::kInvalidArgument, op, "empty container id");
  if (scratch.empty() && layers.size() != 1) {
    fail(hresult::kInvalidArgument, op,
         fmt::format("container {}: without a scratch folder exactly one layer is needed, not {}", id, layers.size()));
  }
  ContainerVolume volume;
  std::error_code error;
  for (const std::string& layer : layers) {
    if (layer.empty() || layer.front() != '/' || !fs::is_directory(layer, error)) {
      fail(hresult::kFileNotFound, op, fmt::format("container {}: layer folder \"{}\" does not exist", id, layer));
    }
    if (layer.find_first_of(":,") != std::string::npos) {
      fail(hresult::kInvalidArgument, op,
           fmt::format("container {}: layer folder \"{}\" contains ':' or ','", id, layer));
    }
    const std::string name = fs::path(layer).lexically_normal().filename().string();
    volume.layers.push_back({emulated_name_to_guid(name.empty() ? layer : name), layer});
  }
  if (!scratch.empty()) {
    if (scratch.front() != '/') fail(hresult::kInvalidArgument, op, "the scratch folder must be an absolute path");
    fs::create_directories(scratch, error);
    if (!fs::is_directory(scratch, error)) {
      fail(hresult::kFileNotFound, op, fmt::format("container {}: scratch folder \"{}\" cannot be made", id, scratch));
    }
  }
  const std::string guid = volume_guid(namespace_name, id);
  json record{{"Namespace", namespace_name}, {"Id", id}, {"Scratch", scratch}, {"Layers", json::array()}};
  for (const auto& layer : volume.layers) record["Layers"].push_back(layer.path);
  fs::create_directories(volumes_directory(runtime_dir), error);
  const fs::path file = volumes_directory(runtime_dir) / (guid + ".json");
  const fs::path temporary = file.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << record.dump();
    if (!out) fail(hresult::kAccessDenied, op, "cannot write " + temporary.string());
  }
  fs::rename(temporary, file, error);
  if (error) fail(hresult::kAccessDenied, op, "cannot write " + file.string() + ": " + error.message());
  volume.volume_path = std::string(kVolumePrefix) + guid + "}\\";
  return volume;
}

void detach_storage(const fs::path& runtime_dir, std::string_view namespace_name, const std::string& id) {
  std::error_code error;
  fs::remove(volumes_directory(runtime_dir) / (volume_guid(namespace_name, id) + ".json"), error);
  fs::remove(volumes_directory(runtime_dir), error);  // only once empty
}

ContainerRoot assemble_container_root(const fs::path& runtime_dir, std::string_view namespace_name,
                                      const std::string& id, const json& container) {
  constexpr std::string_view op = "CreateComputeSystem";
  ContainerRoot result;
  static const std::set<std::string> modelled{"Storage", "MappedDirectories"};
  for (const auto& [key, value] : container.items()) {
    if (!modelled.contains(key)) result.not_modelled.push_back(key);
  }
  std::error_code error;
  const json mapped = container.value("MappedDirectories", json::array());
  if (mapped.is_array()) {
    for (std::size_t i = 0; i < mapped.size(); ++i) {
      const std::string host_path = mapped[i].is_object() ? mapped[i].value("HostPath", std::string()) : std::string();
      if (host_path.empty() || !fs::exists(host_path, error)) {
        fail(hresult::kFileNotFound, op,
             fmt::format("MappedDirectories[{}].HostPath \"{}\" does not exist on this host", i, host_path));
      }
    }
    if (!mapped.empty()) result.not_modelled.emplace_back("MappedDirectories (validated, not mounted)");
  }
  const json storage = container.value("Storage", json::object());
  if (!storage.is_object()) return result;
  std::vector<std::string> layers;
  const json layer_list = storage.value("Layers", json::array());
  for (std::size_t i = 0; layer_list.is_array() && i < layer_list.size(); ++i) {
    const std::string path = layer_list[i].is_object() ? layer_list[i].value("Path", std::string()) : std::string();
    if (path.empty() || !fs::is_directory(path, error)) {
      fail(hresult::kFileNotFound, op,
           fmt::format("Storage.Layers[{}].Path \"{}\" is not a folder of this host", i, path));
    }
    layers.push_back(path);
  }
  const std::string path = storage.value("Path", std::string());
  if (path.empty()) return result;
  const auto guid = guid_of_volume_path(path);
  if (!guid) {
    if (path.front() == '/' && fs::is_directory(path, error)) {
      result.root = fs::path(path);  // the emulator's shortcut: an assembled root folder
      return result;
    }
    fail(hresult::kFileNotFound, op,
         fmt::format("Storage.Path \"{}\" is neither a volume GUID path nor a folder of this host", path));
  }
  const auto volume = read_json(volumes_directory(runtime_dir) / (*guid + ".json"));
  if (!volume) fail(hresult::kFileNotFound, op, fmt::format("Storage.Path {}: no such volume is attached", path));
  const std::string scratch = volume->value("Scratch", std::string());
  if (scratch.empty()) {
    if (layers.size() != 1) {
      fail(hresult::kInvalidArgument, op,
           fmt::format("Storage.Path {} has no scratch, so Storage.Layers must name its one layer ({} given)", path,
                       layers.size()));
    }
    result.root = fs::path(layers.front());
    return result;
  }
  if (layers.empty()) {
    result.root = fs::path(scratch);
    return result;
  }
  const fs::path upper = fs::path(scratch) / "upper";
  const fs::path work = fs::path(scratch) / "work";
  const fs::path target = root_directory(runtime_dir, namespace_name, id);
  fs::create_directories(upper, error);
  fs::create_directories(work, error);
  fs::create_directories(target, error);
  std::string lower;
  for (const std::string& layer : layers) {
    if (layer.find_first_of(":,") != std::string::npos) {
      fail(hresult::kInvalidArgument, op, fmt::format("Storage.Layers path \"{}\" contains ':' or ','", layer));
    }
    lower += (lower.empty() ? "" : ":") + layer;
  }
  const std::string options = fmt::format("lowerdir={},upperdir={},workdir={}", lower, upper.string(), work.string());
  if (::mount("overlay", target.c_str(), "overlay", 0, options.c_str()) != 0) {
    const int saved = errno;
    fs::remove(target, error);
    fail(hresult::kAccessDenied, op,
         fmt::format("mounting the container's layers ({}): {}", options, std::strerror(saved)));
  }
  result.root = target;
  result.mounted = target;
  return result;
}

void release_container_root(const fs::path& mounted) noexcept {
  ::umount2(mounted.c_str(), MNT_DETACH);
  std::error_code error;
  fs::remove(mounted, error);                // an empty folder once unmounted; never recursive
  fs::remove(mounted.parent_path(), error);  // roots/, once empty
}

void cleanup_container_storage(const fs::path& runtime_dir, std::string_view namespace_name,
                               const std::vector<std::string>& ids) noexcept {
  std::error_code error;
  for (fs::directory_iterator it(volumes_directory(runtime_dir), error), end; !error && it != end;
       it.increment(error)) {
    const auto volume = read_json(it->path());
    if (!volume || volume->value("Namespace", std::string()) != namespace_name) continue;
    const std::string id = volume->value("Id", std::string());
    if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
    const fs::path root = root_directory(runtime_dir, namespace_name, id);
    if (fs::exists(root, error)) release_container_root(root);
    std::error_code removed;
    fs::remove(it->path(), removed);
  }
  // The folders go once empty (fs::remove leaves a folder that is not).
  fs::remove(volumes_directory(runtime_dir), error);
  fs::remove(base_of(runtime_dir) / "roots", error);
}

}  // namespace shimcore::hcs::emulator
