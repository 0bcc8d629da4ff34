// The process-isolated Windows container document, following hcsshim's internal/hcsoci rules for a v2 Argon.
#include "shimcore/builder/process_container.h"

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "go_values.h"
#include "oci_spec.h"
#include "registry_annotation.h"
#include "shimcore/errdefs.h"

namespace shimcore::builder {
namespace {

namespace schema = hcs::schema;
using Annotations = std::map<std::string, std::string>;

// Annotation keys (hcsshim pkg/annotations and internal/annotations).
constexpr std::string_view kProcessorCount = "io.microsoft.container.processor.count";
constexpr std::string_view kProcessorLimit = "io.microsoft.container.processor.limit";
constexpr std::string_view kProcessorWeight = "io.microsoft.container.processor.weight";
constexpr std::string_view kMemorySizeInMb = "io.microsoft.container.memory.sizeinmb";
constexpr std::string_view kStorageIopsMaximum = "io.microsoft.container.storage.qos.iopsmaximum";
constexpr std::string_view kStorageBandwidthMaximum = "io.microsoft.container.storage.qos.bandwidthmaximum";
constexpr std::string_view kProcessDumpLocation = "io.microsoft.container.processdumplocation";
constexpr std::string_view kProcessDumpType = "io.microsoft.wcow.processdumptype";
constexpr std::string_view kProcessDumpCount = "io.microsoft.wcow.processdumpcount";
constexpr std::string_view kDeviceExtensions = "io.microsoft.container.wcow.deviceextensions";
constexpr std::string_view kTestRegistryValues = "io.microsoft.container.wcow.test-registry-annotation";
constexpr std::string_view kDisableGmsa = "io.microsoft.container.wcow.gmsa.disable";
constexpr std::string_view kHostProcessContainer = "microsoft.com/hostprocess-container";
constexpr std::string_view kDisableHostProcessContainer = "microsoft.com/disable-hostprocess-container";
constexpr std::string_view kDisableUnsafeOperations = "io.microsoft.disable-unsafe-operations";
constexpr std::string_view kDisableWritableFileShares = "io.microsoft.virtualmachine.fileshares.disablewritable";
constexpr std::string_view kVsmbNoDirectMap = "io.microsoft.virtualmachine.wcow.virtualSMB.nodirectmap";

// Windows builds (hcsshim osversion).
constexpr std::uint32_t kBuildRs5 = 17763;       // first build with HCS schema v2 containers
constexpr std::uint32_t kBuildLtsc2022 = 20348;  // first build with device extensions

constexpr std::string_view kPipePrefix = R"(\\.\pipe\)";
constexpr std::string_view kUvmMountPrefix = "uvm://";
constexpr std::string_view kDumpSuffix = "{container_id}";
constexpr std::string_view kDumpSuffixUpper = "{CONTAINER_ID}";
constexpr std::string_view kLocalDumpsKey = R"(Microsoft\Windows\Windows Error Reporting\LocalDumps)";

const std::string* find(const Annotations& annotations, std::string_view key) {
  const auto it = annotations.find(std::string(key));
  return it == annotations.end() ? nullptr : &it->second;
}

// oci.ProcessAnnotations: io.microsoft.disable-unsafe-operations stands for four annotations; an explicit different
// value for one of them, or enabling and disabling host-process containers together, is an error (these annotations
// switch security features, so hcsshim refuses rather than guesses).
Annotations expand_annotations(Annotations annotations) {
  std::vector<std::string> conflicts;
  if (const std::string* value = find(annotations, kDisableUnsafeOperations)) {
    const std::string expanded = *value;
    for (const std::string_view key :
         {kDisableGmsa, kDisableWritableFileShares, kVsmbNoDirectMap, kDisableHostProcessContainer}) {
      const std::string* existing = find(annotations, key);
      if (existing != nullptr && *existing != expanded) {
        conflicts.push_back(fmt::format("annotation expansion conflict: \"{}\" = \"{}\" and \"{}\" = \"{}\"",
                                        kDisableUnsafeOperations, expanded, key, *existing));
        continue;
      }
      annotations[std::string(key)] = expanded;
    }
  }
  const auto flag = [&](std::string_view key) {
    const std::string* value = find(annotations, key);
    return value != nullptr && go::parse_bool(*value).value_or(false);
  };
  if (flag(kDisableHostProcessContainer) && flag(kHostProcessContainer)) {
    conflicts.push_back(fmt::format(
        "specified annotations conflict: host process container annotations \"{}\" = \"{}\" and \"{}\" = \"{}\"",
        kDisableHostProcessContainer, *find(annotations, kDisableHostProcessContainer), kHostProcessContainer,
        *find(annotations, kHostProcessContainer)));
  }
  if (!conflicts.empty()) {
    throw make_error(ErrorKind::InvalidArgument, "unable to process OCI Spec annotations: {}",
                     fmt::join(conflicts, "; "));
  }
  return annotations;
}

// An int32 annotation (oci.ParseAnnotationsInt32): 0 when absent or unparsable, which lets the spec value apply.
std::int32_t int32_annotation(const Annotations& annotations, std::string_view key) {
  const std::string* value = find(annotations, key);
  if (value == nullptr) return 0;
  const auto parsed = go::parse_int32(*value).value_or(0);
  if (parsed < 0) {
    throw make_error(ErrorKind::InvalidArgument, "annotation {} = \"{}\" must not be negative", key, *value);
  }
  return parsed;
}

// A spec number given to an HCS int32 field (hcsshim converts with int32(), which would wrap).
std::int32_t spec_int32(std::optional<std::uint64_t> value, std::string_view path) {
  if (!value || *value == 0) return 0;
  if (*value > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
    throw make_error(ErrorKind::InvalidArgument, "{} = {} is out of range (at most {})", path, *value,
                     std::numeric_limits<std::int32_t>::max());
  }
  return static_cast<std::int32_t>(*value);
}

// The annotation if it is set to a non-zero number, otherwise the spec value (oci.ParseAnnotationsCPUCount & co.).
std::int32_t annotation_or_spec(const Annotations& annotations, std::string_view key, std::optional<std::uint64_t> spec,
                                std::string_view spec_path) {
  if (const std::int32_t from_annotation = int32_annotation(annotations, key); from_annotation != 0) {
    return from_annotation;
  }
  return spec_int32(spec, spec_path);
}

std::optional<std::uint64_t> widen(std::optional<std::uint16_t> value) {
  if (!value) return std::nullopt;
  return *value;
}

// hcsoci.ConvertCPULimits: count, limit and weight are mutually exclusive; a count above the host's processors is
// lowered to it.
schema::Processor processor_limits(const OciSpec& spec, const Annotations& annotations, std::uint32_t processors) {
  std::int32_t count =
      annotation_or_spec(annotations, kProcessorCount, spec.cpu_count, "spec.windows.resources.cpu.count");
  const std::int32_t limit =
      annotation_or_spec(annotations, kProcessorLimit, widen(spec.cpu_maximum), "spec.windows.resources.cpu.maximum");
  const std::int32_t weight =
      annotation_or_spec(annotations, kProcessorWeight, widen(spec.cpu_shares), "spec.windows.resources.cpu.shares");
  const int set = int{count > 0} + int{limit > 0} + int{weight > 0};
  if (set > 1) {
    throw make_error(ErrorKind::InvalidArgument,
                     "invalid spec - Windows Container CPU Count: '{}', Limit: '{}', and Weight: '{}' are mutually "
                     "exclusive (set only one of spec.windows.resources.cpu.count, .maximum and .shares, or of the "
                     "annotations {}, {} and {})",
                     count, limit, weight, kProcessorCount, kProcessorLimit, kProcessorWeight);
  }
  if (count > 0 && static_cast<std::uint32_t>(count) > processors) count = static_cast<std::int32_t>(processors);

  schema::Processor processor;
  if (count != 0) processor.count = static_cast<std::uint32_t>(count);
  if (limit != 0) processor.maximum = limit;
  if (weight != 0) processor.weight = weight;
  return processor;
}

// oci.ParseAnnotationsMemory: the annotation in MB if set to a non-zero number, otherwise the spec limit in bytes.
std::uint64_t memory_size_in_mb(const OciSpec& spec, const Annotations& annotations) {
  if (const std::string* value = find(annotations, kMemorySizeInMb)) {
    if (const auto parsed = go::parse_uint64(*value); parsed && *parsed != 0) return *parsed;
  }
  if (spec.memory_limit) return *spec.memory_limit / 1024 / 1024;
  return 0;
}

// hcsshim's volume GUID pattern for Argon root paths, matched by hand:
// ^\\\\\?\\(Volume)\{{0,1}GUID(\}){0,1}\}(|\\)$ - note the closing brace is required and may be doubled, while
// the opening one is optional.
bool is_volume_guid_path(std::string_view path) {
  constexpr std::string_view kPrefix = R"(\\?\Volume)";
  if (!path.starts_with(kPrefix)) return false;
  path.remove_prefix(kPrefix.size());
  if (path.starts_with('{')) path.remove_prefix(1);
  constexpr std::string_view kShape = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  if (path.size() < kShape.size()) return false;
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    const char c = path[i];
    if (kShape[i] == '-') {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  path.remove_prefix(kShape.size());
  if (path.starts_with("}}")) {
    path.remove_prefix(2);
  } else if (path.starts_with('}')) {
    path.remove_prefix(1);
  } else {
    return false;
  }
  return path.empty() || path == "\\";
}

// uvm.IsPipe: a host pipe, or a pipe inside the utility VM (uvm://\\.\pipe\...).
bool is_pipe(std::string_view source) {
  if (source.starts_with(kUvmMountPrefix)) source.remove_prefix(kUvmMountPrefix.size());
  return source.starts_with(kPipePrefix);
}

bool read_only(const OciMount& mount) {
  for (const std::string& option : mount.options) {
    if (option.size() == 2 && (option[0] == 'r' || option[0] == 'R') && (option[1] == 'o' || option[1] == 'O')) {
      return true;
    }
  }
  return false;
}

// setupMounts and createMountsConfig for a process-isolated container: host pipes become MappedPipes, every other
// mount whose source is not a pipe becomes a MappedDirectory with its source resolved.
// setupMounts checks every mount before anything else is built.
void validate_mounts(const OciSpec& spec) {
  for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
    const OciMount& mount = spec.mounts[i];
    if (mount.destination.empty() || mount.source.empty()) {
      throw make_error(ErrorKind::InvalidArgument,
                       "invalid OCI spec - a mount must have both source and a destination: spec.mounts[{}] has "
                       "source \"{}\" and destination \"{}\"",
                       i, mount.source, mount.destination);
    }
  }
}

void add_mounts(const OciSpec& spec, const ProcessContainerHost& host, schema::Container& container) {
  for (const OciMount& mount : spec.mounts) {
    if (is_pipe(mount.source)) continue;
    schema::MappedDirectory directory;
    directory.container_path = mount.destination;
    if (read_only(mount)) directory.read_only = true;
    if (host.resolve_path) {
      auto resolved = host.resolve_path(mount.source);
      if (!resolved) {
        throw make_error(ErrorKind::NotFound, "failed to resolve path for mount source \"{}\" (destination \"{}\")",
                         mount.source, mount.destination);
      }
      directory.host_path = std::move(*resolved);
    } else {
      directory.host_path = mount.source;
    }
    container.mapped_directories.push_back(std::move(directory));
  }
  for (const OciMount& mount : spec.mounts) {
    // uvm.ParseNamedPipe without a utility VM: only host pipes mapped to container pipes.
    if (!mount.destination.starts_with(kPipePrefix) || !mount.source.starts_with(kPipePrefix)) continue;
    schema::MappedPipe pipe;
    pipe.container_pipe_name = mount.destination.substr(kPipePrefix.size());
    pipe.host_path = mount.source;
    container.mapped_pipes.push_back(std::move(pipe));
  }
}

// parseAssignedDevices: a device by location path (DeviceInstance) or by interface class GUID.
void add_devices(const OciSpec& spec, schema::Container& container) {
  for (std::size_t i = 0; i < spec.devices.size(); ++i) {
    const OciWindowsDevice& device = spec.devices[i];
    schema::Device assigned;
    if (device.id_type == "vpci-location-path") {
      if (!device.id.empty()) assigned.location_path = device.id;
      assigned.type = schema::DeviceType::DeviceInstance;
    } else if (device.id_type == "class" || device.id_type == "vpci-class-guid") {
      if (!device.id.empty()) assigned.interface_class_guid = device.id;
    } else {
      throw make_error(
          ErrorKind::InvalidArgument,
          "specified device {} has unsupported type {} (spec.windows.devices[{}].idType; a process-isolated "
          "container takes \"class\", \"vpci-class-guid\" or \"vpci-location-path\")",
          device.id, device.id_type, i);
    }
    container.assigned_devices.push_back(std::move(assigned));
  }
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}

// getDeviceExtensions: every listed file must exist; their JSON content becomes AdditionalDeviceNamespace.
void add_device_extensions(const Annotations& annotations, const ProcessContainerHost& host,
                           schema::Container& container) {
  const std::string* list = find(annotations, kDeviceExtensions);
  if (list == nullptr || list->empty()) return;
  const std::vector<std::string> paths = split_commas(*list);
  for (const std::string& path : paths) {
    if (!host.file_exists || !host.file_exists(path)) {
      throw make_error(ErrorKind::NotFound, "failed to find path to driver extensions at \"{}\" (annotation {})", path,
                       kDeviceExtensions);
    }
  }
  if (host.os_build < kBuildLtsc2022) {
    throw make_error(ErrorKind::FailedPrecondition,
                     "device extensions are not supported on this build ({}); annotation {} needs build {} or later",
                     host.os_build, kDeviceExtensions, kBuildLtsc2022);
  }
  schema::ContainerDefinitionDevice extensions;
  for (const std::string& path : paths) {
    std::optional<std::string> text = host.read_file ? host.read_file(path) : std::nullopt;
    if (!text) {
      throw make_error(ErrorKind::NotFound, "failed to read extension file at \"{}\" (annotation {})", path,
                       kDeviceExtensions);
    }
    try {
      extensions.device_extension.push_back(
          schema::detail::parse_document<schema::DeviceExtension>(*text, "DeviceExtension"));
    } catch (const Error& error) {
      throw make_error(ErrorKind::InvalidArgument, "failed to unmarshal extension file at \"{}\": {}", path,
                       error.what());
    }
  }
  container.additional_device_namespace = std::move(extensions);
}

schema::RegistryValue registry_string(schema::RegistryHive hive, std::string_view key, std::string_view name,
                                      std::string value) {
  schema::RegistryValue entry;
  entry.key = schema::RegistryKey{hive, std::string(key), std::nullopt};
  entry.name = std::string(name);
  entry.type = schema::RegistryValueType::String;
  if (!value.empty()) entry.string_value = std::move(value);
  return entry;
}

schema::RegistryValue registry_dword(schema::RegistryHive hive, std::string_view key, std::string_view name,
                                     std::uint32_t value) {
  schema::RegistryValue entry;
  entry.key = schema::RegistryKey{hive, std::string(key), std::nullopt};
  entry.name = std::string(name);
  entry.type = schema::RegistryValueType::DWord;
  if (value != 0) entry.dword_value = value;
  return entry;
}

// The WER LocalDumps values for a process dump location; {container_id} at its end names a per-container folder.
void add_dump_settings(const Annotations& annotations, const std::string& id, std::vector<schema::RegistryValue>& out) {
  const std::string* location = find(annotations, kProcessDumpLocation);
  if (location == nullptr || location->empty()) return;
  std::string folder = *location;
  if (folder.ends_with(kDumpSuffix)) {
    folder = folder.substr(0, folder.size() - kDumpSuffix.size()) + id;
  } else if (folder.ends_with(kDumpSuffixUpper)) {
    folder = folder.substr(0, folder.size() - kDumpSuffixUpper.size()) + id;
  }

  std::uint32_t type = 2;  // full dumps unless told otherwise
  if (const std::string* value = find(annotations, kProcessDumpType); value != nullptr && !value->empty()) {
    if (*value == "mini") {
      type = 1;
    } else if (*value != "full") {
      throw make_error(ErrorKind::InvalidArgument,
                       "unknown dump type \"{}\" specified in annotation {}, valid values are \"mini\" or \"full\"",
                       *value, kProcessDumpType);
    }
  }
  std::uint32_t count = 10;
  if (const std::string* value = find(annotations, kProcessDumpCount); value != nullptr && !value->empty()) {
    const auto parsed = go::parse_int32(*value);
    if (!parsed || *parsed <= 0) {
      throw make_error(ErrorKind::InvalidArgument,
                       "invalid dump count \"{}\" in annotation {}: must be a positive "
                       "32-bit integer",
                       *value, kProcessDumpCount);
    }
    count = static_cast<std::uint32_t>(*parsed);
  }
  out.push_back(registry_string(schema::RegistryHive::Software, kLocalDumpsKey, "DumpFolder", std::move(folder)));
  out.push_back(registry_dword(schema::RegistryHive::Software, kLocalDumpsKey, "DumpType", type));
  out.push_back(registry_dword(schema::RegistryHive::Software, kLocalDumpsKey, "DumpCount", count));
}

}  // namespace

schema::Container build_process_container(const ProcessContainerRequest& request, const ProcessContainerHost& host) {
  const OciSpec spec = read_oci_spec(request.spec);
  const Annotations annotations = expand_annotations(spec.annotations);

  // What this document can describe: a Windows container in a server silo on this host.
  if (spec.has_linux) {
    throw make_error(ErrorKind::InvalidArgument,
                     "spec.linux is set: a process-isolated container runs a Windows spec (Linux containers run in "
                     "the lcow shim)");
  }
  if (!spec.has_windows) {
    throw make_error(ErrorKind::InvalidArgument,
                     "cannot create HCS container document - OCI spec Windows section is missing (spec.windows)");
  }
  if (const std::string* value = find(annotations, kHostProcessContainer); value != nullptr && *value == "true") {
    throw make_error(ErrorKind::Unimplemented,
                     "annotation {}=true asks for a host-process container: those are job objects, not HCS compute "
                     "systems, and have no Container document",
                     kHostProcessContainer);
  }
  if (spec.has_hyperv) {
    throw make_error(ErrorKind::InvalidArgument,
                     "spec.windows.hyperv is set: Hyper-V isolated containers run in a utility VM (the wcow shim), "
                     "not as process-isolated containers");
  }
  if (host.os_build < kBuildRs5) {
    throw make_error(ErrorKind::FailedPrecondition,
                     "Windows build {} has no HCS schema v2 containers (build {} or later is needed)", host.os_build,
                     kBuildRs5);
  }
  if (host.logical_processors == 0) {
    throw make_error(ErrorKind::InvalidArgument, "the host profile has no processor count");
  }

  // validateContainerConfig: gMSA may be switched off by policy.
  if (spec.credential_spec) {
    const std::string* disabled = find(annotations, kDisableGmsa);
    if (disabled != nullptr && go::parse_bool(*disabled).value_or(false)) {
      throw make_error(ErrorKind::PermissionDenied,
                       "container config validation failed: gMSA credentials are disabled (annotation {}={}) but "
                       "spec.windows.credentialSpec is set",
                       kDisableGmsa, *disabled);
    }
  }
  if (!spec.has_root || spec.root_path.empty()) {
    throw make_error(ErrorKind::InvalidArgument,
                     "spec.root.path is empty: the container's layers must be mounted and root.path set to the "
                     "mounted volume (bundle {})",
                     request.bundle);
  }
  validate_mounts(spec);

  schema::Container container;
  container.storage = schema::Storage{};
  if (!spec.hostname.empty()) container.guest_os = schema::GuestOs{spec.hostname};

  container.processor = processor_limits(spec, annotations, host.logical_processors);
  if (const std::uint64_t memory = memory_size_in_mb(spec, annotations); memory > 0) {
    container.memory = schema::Memory{memory};
  }

  const std::int32_t bandwidth =
      annotation_or_spec(annotations, kStorageBandwidthMaximum, spec.storage_bps, "spec.windows.resources.storage.bps");
  const std::int32_t iops =
      annotation_or_spec(annotations, kStorageIopsMaximum, spec.storage_iops, "spec.windows.resources.storage.iops");
  if (bandwidth > 0 || iops > 0) {
    schema::StorageQoS qos;
    if (iops != 0) qos.iops_maximum = static_cast<std::uint64_t>(iops);
    if (bandwidth != 0) qos.bandwidth_maximum = static_cast<std::uint64_t>(bandwidth);
    container.storage->qos = qos;
  }

  if (spec.network) {
    // Endpoints are not part of a v2 document: they are attached to the HNS namespace.
    schema::Networking networking;
    if (!request.network_namespace.empty()) networking.network_namespace = request.network_namespace;
    if (spec.network->allow_unqualified_dns_query) networking.allow_unqualified_dns_query = true;
    if (spec.network->dns_search_list) {
      const std::string joined = fmt::format("{}", fmt::join(*spec.network->dns_search_list, ","));
      if (!joined.empty()) networking.dns_search_list = joined;
    }
    if (!spec.network->network_shared_container_name.empty()) {
      networking.network_shared_container_name = spec.network->network_shared_container_name;
    }
    container.networking = std::move(networking);
  }

  if (spec.credential_spec && request.credential_guard) {
    container.container_credential_guard = request.credential_guard;
  }

  if (spec.root_readonly) {
    throw make_error(ErrorKind::InvalidArgument,
                     "invalid container spec - readonly is not supported for Windows containers (spec.root.readonly)");
  }
  if (!is_volume_guid_path(spec.root_path)) {
    throw make_error(ErrorKind::InvalidArgument,
                     R"(invalid container spec - Root.Path '{}' must be a volume GUID path in the format )"
                     R"('\\?\Volume{{GUID}}\' (spec.root.path))",
                     spec.root_path);
  }
  std::string root = spec.root_path;
  if (!root.ends_with('\\')) root += '\\';  // well-formed for HCS, as hcsshim does for older clients
  container.storage->path = root;
  for (const MountedLayer& layer : request.mounted_layers) {
    schema::Layer entry;
    if (!layer.layer_id.empty()) entry.id = layer.layer_id;
    if (!layer.mounted_path.empty()) entry.path = layer.mounted_path;
    container.storage->layers.push_back(std::move(entry));
  }

  add_mounts(spec, host, container);
  add_devices(spec, container);
  add_device_extensions(annotations, host, container);

  // Servercore waits WaitToKillServiceTimeout (5 s by default) before killing services at shutdown, which cuts
  // graceful container stops short; hcsshim sets it to the largest value so that the caller's timeout decides.
  std::vector<schema::RegistryValue> registry;
  registry.push_back(registry_string(schema::RegistryHive::System, R"(ControlSet001\Control)",
                                     "WaitToKillServiceTimeout",
                                     std::to_string(std::numeric_limits<std::int32_t>::max())));
  add_dump_settings(annotations, request.id, registry);
  if (const std::string* values = find(annotations, kTestRegistryValues)) {
    for (auto& value : parse_registry_annotation(*values)) registry.push_back(std::move(value));
  }
  container.registry_changes = schema::RegistryChanges{};
  container.registry_changes->add_values = std::move(registry);
  return container;
}

schema::ComputeSystem build_process_compute_system(const ProcessContainerRequest& request,
                                                   const ProcessContainerHost& host) {
  schema::ComputeSystem system;
  if (!request.owner.empty()) system.owner = request.owner;
  system.schema_version = schema::Version{2, 1};
  system.should_terminate_on_last_handle_closed = true;
  system.container = build_process_container(request, host);
  return system;
}

}  // namespace shimcore::builder
