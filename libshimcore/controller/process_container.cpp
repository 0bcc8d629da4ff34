// The builder's Container document for a process-kind task (compiled with the process kind only).
#include "controller/process_container.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "shimcore/hcs/schema/compute_system.h"

namespace shimcore::controller {

namespace fs = std::filesystem;
using nlohmann::json;

json process_container_document(const std::string& id, const std::string& bundle, json spec,
                                const hcs::ContainerVolume& volume, const hcs::HostProfile& host) {
  if (!spec["root"].is_object()) spec["root"] = json::object();
  spec["root"]["path"] = volume.volume_path;
  builder::ProcessContainerRequest request;
  request.id = id;
  request.bundle = bundle;
  request.owner = "containerd-shim-process-v2";
  const json windows = spec.value("windows", json::object());
  if (windows.is_object()) {
    const json network = windows.value("network", json::object());
    if (network.is_object()) request.network_namespace = network.value("networkNamespace", std::string());
  }
  for (const hcs::ContainerVolume::Layer& layer : volume.layers)
    request.mounted_layers.push_back({layer.id, layer.path});
  request.spec = std::move(spec);
  builder::ProcessContainerHost facts;
  facts.os_build = host.os_build;
  facts.logical_processors = host.active_processors > 0 ? host.active_processors : host.logical_processors;
  facts.file_exists = [](const std::string& path) {
    std::error_code error;
    return fs::exists(path, error);
  };
  facts.read_file = [](const std::string& path) -> std::optional<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  // go-winio's ResolvePath gives the final path of a mount source; here that is the canonical path.
  facts.resolve_path = [](const std::string& path) -> std::optional<std::string> {
    std::error_code error;
    const fs::path resolved = fs::canonical(path, error);
    if (error) return std::nullopt;
    return resolved.string();
  };
  return json::parse(hcs::schema::to_json_text(builder::build_process_compute_system(request, facts)));
}

}  // namespace shimcore::controller
