// The golden input.json format of process-container cases.
#include "shimcore/builder/process_container_input.h"

#include <cstdint>
#include <map>
#include <memory>

#include "shimcore/errdefs.h"

namespace shimcore::builder {
namespace {

using nlohmann::json;

[[noreturn]] void bad_input(std::string_view field, std::string_view expected) {
  throw make_error(ErrorKind::InvalidArgument, "input: {} must be {}", field, expected);
}

std::string string_field(const json& object, const char* key, bool required) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) bad_input(key, "a string");
    return {};
  }
  if (!it->is_string()) bad_input(key, "a string");
  return it->get<std::string>();
}

std::optional<std::uint32_t> count_field(const json& host, const char* key) {
  const auto it = host.find(key);
  if (it == host.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() > UINT32_MAX) {
    bad_input(std::string("host.") + key, "an unsigned 32-bit integer");
  }
  return static_cast<std::uint32_t>(it->get<std::uint64_t>());
}

}  // namespace

std::optional<std::string> golden_resolve_path(const std::string& path) {
  if (path.size() >= 2 && path[1] == ':' &&
      ((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z'))) {
    const char drive = static_cast<char>(path[0] >= 'a' ? path[0] - 'a' + 'A' : path[0]);
    std::string rest = path.substr(2);
    if (rest.starts_with('\\')) rest.erase(0, 1);
    return fmt::format(R"(\\?\Volume{{00000000-0000-0000-0000-0000000000{:02x}}}\{})", static_cast<int>(drive), rest);
  }
  return path;
}

ProcessContainerCase read_process_container_input(const json& input) {
  if (!input.is_object()) bad_input("the input", "a JSON object");
  ProcessContainerCase result;
  ProcessContainerRequest& request = result.request;

  const auto spec = input.find("spec");
  if (spec == input.end() || !spec->is_object()) bad_input("spec", "an object (the OCI runtime spec)");
  request.spec = *spec;
  request.id = string_field(input, "id", true);
  request.owner = string_field(input, "owner", false);
  request.bundle = string_field(input, "bundle", false);
  request.network_namespace = string_field(input, "networkNamespace", false);
  if (const auto layers = input.find("mountedLayers"); layers != input.end() && !layers->is_null()) {
    if (!layers->is_array()) bad_input("mountedLayers", "an array");
    for (const json& layer : *layers) {
      if (!layer.is_object()) bad_input("mountedLayers[]", "an object {LayerID, MountedPath}");
      request.mounted_layers.push_back(
          {string_field(layer, "LayerID", true), string_field(layer, "MountedPath", true)});
    }
  }

  ProcessContainerHost& host = result.host;
  if (const auto profile = input.find("host"); profile != input.end() && !profile->is_null()) {
    if (!profile->is_object()) bad_input("host", "an object");
    host.os_build = count_field(*profile, "osBuild").value_or(0);
    auto processors = count_field(*profile, "activeProcessorCount");
    if (!processors) processors = count_field(*profile, "hcsLogicalProcessorCount");
    host.logical_processors = processors.value_or(0);
  }

  auto files = std::make_shared<std::map<std::string, std::string>>();
  if (const auto listed = input.find("files"); listed != input.end() && !listed->is_null()) {
    if (!listed->is_object()) bad_input("files", "an object {host path: content}");
    for (const auto& [path, content] : listed->items()) {
      if (!content.is_string()) bad_input("files[]", "a string");
      (*files)[path] = content.get<std::string>();
    }
  }
  host.file_exists = [files](const std::string& path) { return files->contains(path); };
  host.read_file = [files](const std::string& path) -> std::optional<std::string> {
    const auto it = files->find(path);
    if (it == files->end()) return std::nullopt;
    return it->second;
  };
  host.resolve_path = golden_resolve_path;
  return result;
}

}  // namespace shimcore::builder
