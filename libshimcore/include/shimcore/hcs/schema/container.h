// HCS schema v2 Container (Windows silo): storage and layers, mapped directories and pipes, limits, networking.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shimcore/hcs/schema/common.h"
#include "shimcore/hcs/schema/json_support.h"

namespace shimcore::hcs::schema {

// Container.GuestOs: the silo's host name (OCI spec.Hostname).
struct GuestOs {
  std::optional<std::string> host_name;
  bool operator==(const GuestOs&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(GuestOs);

// One mounted read-only layer: layer GUID and its folder (or CimFS mount).
struct Layer {
  std::optional<std::string> id;
  std::optional<std::string> path;
  std::optional<std::string> path_type;
  std::optional<std::string> cache;
  bool operator==(const Layer&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Layer);

// The silo's root: layers plus the scratch volume path (\\?\Volume{GUID}\ for Argon).
struct Storage {
  std::vector<Layer> layers;
  std::optional<std::string> path;
  std::optional<StorageQoS> qos;  // JSON "QoS"
  std::optional<std::string> privileged_container_root_path;
  bool operator==(const Storage&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Storage);

// A bind mount into the silo.
struct MappedDirectory {
  std::optional<std::string> host_path;
  std::optional<std::string> host_path_type;
  std::optional<std::string> container_path;
  std::optional<bool> read_only;
  std::optional<bool> support_cloud_files;
  bool operator==(const MappedDirectory&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(MappedDirectory);

// A host named pipe made visible in the silo (OCI mounts whose source is \\.\pipe\...).
struct MappedPipe {
  std::optional<std::string> container_pipe_name;
  std::optional<std::string> host_path;
  std::optional<std::string> host_path_type;
  bool operator==(const MappedPipe&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(MappedPipe);

// Container memory limit (HCS type Container_Memory).
struct Memory {
  std::optional<std::uint64_t> size_in_mb;
  bool operator==(const Memory&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Memory);

// Container CPU limits (HCS type Container_Processor); at most one of them is set. Widths as HCS documents them
// (hcsshim declares int32).
struct Processor {
  std::optional<std::uint32_t> count;
  std::optional<std::int64_t> maximum;  // 1..10000 (hundredths of a percent of the host)
  std::optional<std::int64_t> weight;
  bool operator==(const Processor&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Processor);

// The silo's network: HNS namespace, DNS settings, or another container's network to share.
struct Networking {
  std::optional<bool> allow_unqualified_dns_query;
  std::optional<std::string> dns_search_list;  // comma-joined
  std::optional<std::string> network_shared_container_name;
  std::optional<std::string> network_namespace;  // JSON "Namespace": the HNS namespace GUID
  std::vector<std::string> network_adapters;
  bool operator==(const Networking&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Networking);

// A container's hvsocket settings (HCS type Container_HvSocket; VMs use HvSocket2).
struct HvSocket {
  std::optional<HvSocketSystemConfig> config;
  std::optional<bool> enable_power_shell_direct;
  bool operator==(const HvSocket&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(HvSocket);

// Container Credential Guard (gMSA) instance the silo uses.
struct ContainerCredentialGuardState {
  std::optional<std::string> cookie;
  std::optional<std::string> rpc_endpoint;
  std::optional<std::string> transport;
  std::optional<std::string> credential_spec;
  bool operator==(const ContainerCredentialGuardState&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ContainerCredentialGuardState);

enum class DeviceType : std::uint8_t { ClassGuid, DeviceInstance, GpuMirror };
constexpr EnumSpec<DeviceType, 3> enum_spec(DeviceType) {
  return {"DeviceType",
          {{{DeviceType::ClassGuid, "ClassGuid"},
            {DeviceType::DeviceInstance, "DeviceInstance"},
            {DeviceType::GpuMirror, "GpuMirror"}}}};
}

// A host device assigned to a process-isolated container, by interface class or by location path.
struct Device {
  std::optional<DeviceType> type;  // JSON "Type"
  std::optional<std::string> interface_class_guid;
  std::optional<std::string> location_path;
  bool operator==(const Device&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Device);

// Device-extension types (AdditionalDeviceNamespace). Their JSON names are snake_case in HCS.
struct InterfaceClass {
  std::optional<std::string> type;  // JSON "type"
  std::optional<std::string> identifier;
  std::optional<bool> recurse;
  bool operator==(const InterfaceClass&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(InterfaceClass);

struct DeviceCategory {
  std::optional<std::string> name;
  std::vector<InterfaceClass> interface_class;
  bool operator==(const DeviceCategory&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(DeviceCategory);

struct DeviceInstance {
  std::optional<std::string> id;
  std::optional<std::string> location_path;
  std::optional<std::string> port_name;
  std::vector<InterfaceClass> interface_class;
  bool operator==(const DeviceInstance&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(DeviceInstance);

struct ObjectSymlink {
  std::optional<std::string> name;
  std::optional<std::string> path;
  std::optional<std::string> scope;
  std::optional<std::string> pathtoclone;
  std::optional<std::int32_t> access_mask;
  bool operator==(const ObjectSymlink&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ObjectSymlink);

// Object-manager directory; nests recursively.
struct ObjectDirectory {
  std::optional<std::string> name;
  std::optional<std::string> clonesd;
  std::optional<std::string> shadow;
  std::vector<ObjectSymlink> symlink;
  std::vector<ObjectDirectory> objdir;
  bool operator==(const ObjectDirectory&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ObjectDirectory);

struct ObjectNamespace {
  std::optional<std::string> shadow;
  std::vector<ObjectSymlink> symlink;
  std::vector<ObjectDirectory> objdir;
  bool operator==(const ObjectNamespace&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ObjectNamespace);

struct DeviceNamespace {
  std::optional<bool> requires_driverstore;
  std::vector<DeviceCategory> device_category;
  std::vector<DeviceInstance> device_instance;
  bool operator==(const DeviceNamespace&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(DeviceNamespace);

struct DeviceExtensionNamespace {
  std::optional<ObjectNamespace> ob;
  std::optional<DeviceNamespace> device;
  bool operator==(const DeviceExtensionNamespace&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(DeviceExtensionNamespace);

struct DeviceExtension {
  std::optional<DeviceCategory> device_category;
  std::optional<DeviceExtensionNamespace> extension_namespace;  // JSON "namespace"
  bool operator==(const DeviceExtension&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(DeviceExtension);

// Container.AdditionalDeviceNamespace (HCS type ContainersDef_Device).
struct ContainerDefinitionDevice {
  std::vector<DeviceExtension> device_extension;
  bool operator==(const ContainerDefinitionDevice&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ContainerDefinitionDevice);

// A Windows container: a process-isolated silo on the host (ComputeSystem.Container), or the same document run inside
// a utility VM (HostedSystem.Container).
struct Container {
  std::optional<GuestOs> guest_os;
  std::optional<Storage> storage;
  std::vector<MappedDirectory> mapped_directories;
  std::vector<MappedPipe> mapped_pipes;
  std::optional<Memory> memory;
  std::optional<Processor> processor;
  std::optional<Networking> networking;
  std::optional<HvSocket> hv_socket;
  std::optional<ContainerCredentialGuardState> container_credential_guard;
  std::optional<RegistryChanges> registry_changes;
  std::vector<Device> assigned_devices;
  std::optional<ContainerDefinitionDevice> additional_device_namespace;
  std::optional<std::string> isolation_type;  // "HostProcess" for job-object (host process) containers
  bool operator==(const Container&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(Container);

// Parses a Container document (what hcsshim's createWindowsContainerDocument returns). Throws SchemaError
// (InvalidArgument) naming the JSON path.
Container parse_container(std::string_view json_text);

}  // namespace shimcore::hcs::schema
