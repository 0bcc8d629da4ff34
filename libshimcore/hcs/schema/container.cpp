// JSON field lists of the Container types (container.h) and parse_container.
#include "shimcore/hcs/schema/container.h"

namespace shimcore::hcs::schema {

using detail::field;

SHIMCORE_HCS_SCHEMA_DEFINE(GuestOs, field("HostName", &GuestOs::host_name))

SHIMCORE_HCS_SCHEMA_DEFINE(Layer, field("Id", &Layer::id), field("Path", &Layer::path),
                           field("PathType", &Layer::path_type), field("Cache", &Layer::cache))

SHIMCORE_HCS_SCHEMA_DEFINE(Storage, field("Layers", &Storage::layers), field("Path", &Storage::path),
                           field("QoS", &Storage::qos),
                           field("PrivilegedContainerRootPath", &Storage::privileged_container_root_path))

SHIMCORE_HCS_SCHEMA_DEFINE(MappedDirectory, field("HostPath", &MappedDirectory::host_path),
                           field("HostPathType", &MappedDirectory::host_path_type),
                           field("ContainerPath", &MappedDirectory::container_path),
                           field("ReadOnly", &MappedDirectory::read_only),
                           field("SupportCloudFiles", &MappedDirectory::support_cloud_files))

SHIMCORE_HCS_SCHEMA_DEFINE(MappedPipe, field("ContainerPipeName", &MappedPipe::container_pipe_name),
                           field("HostPath", &MappedPipe::host_path),
                           field("HostPathType", &MappedPipe::host_path_type))

SHIMCORE_HCS_SCHEMA_DEFINE(Memory, field("SizeInMB", &Memory::size_in_mb))

SHIMCORE_HCS_SCHEMA_DEFINE(Processor, field("Count", &Processor::count), field("Maximum", &Processor::maximum),
                           field("Weight", &Processor::weight))

SHIMCORE_HCS_SCHEMA_DEFINE(Networking, field("AllowUnqualifiedDnsQuery", &Networking::allow_unqualified_dns_query),
                           field("DnsSearchList", &Networking::dns_search_list),
                           field("NetworkSharedContainerName", &Networking::network_shared_container_name),
                           field("Namespace", &Networking::network_namespace),
                           field("NetworkAdapters", &Networking::network_adapters))

SHIMCORE_HCS_SCHEMA_DEFINE(HvSocket, field("Config", &HvSocket::config),
                           field("EnablePowerShellDirect", &HvSocket::enable_power_shell_direct))

SHIMCORE_HCS_SCHEMA_DEFINE(ContainerCredentialGuardState, field("Cookie", &ContainerCredentialGuardState::cookie),
                           field("RpcEndpoint", &ContainerCredentialGuardState::rpc_endpoint),
                           field("Transport", &ContainerCredentialGuardState::transport),
                           field("CredentialSpec", &ContainerCredentialGuardState::credential_spec))

SHIMCORE_HCS_SCHEMA_DEFINE(Device, field("Type", &Device::type),
                           field("InterfaceClassGuid", &Device::interface_class_guid),
                           field("LocationPath", &Device::location_path))

SHIMCORE_HCS_SCHEMA_DEFINE(InterfaceClass, field("type", &InterfaceClass::type),
                           field("identifier", &InterfaceClass::identifier), field("recurse", &InterfaceClass::recurse))

SHIMCORE_HCS_SCHEMA_DEFINE(DeviceCategory, field("name", &DeviceCategory::name),
                           field("interface_class", &DeviceCategory::interface_class))

SHIMCORE_HCS_SCHEMA_DEFINE(DeviceInstance, field("id", &DeviceInstance::id),
                           field("location_path", &DeviceInstance::location_path),
                           field("port_name", &DeviceInstance::port_name),
                           field("interface_class", &DeviceInstance::interface_class))

SHIMCORE_HCS_SCHEMA_DEFINE(ObjectSymlink, field("name", &ObjectSymlink::name), field("path", &ObjectSymlink::path),
                           field("scope", &ObjectSymlink::scope), field("pathtoclone", &ObjectSymlink::pathtoclone),
                           field("access_mask", &ObjectSymlink::access_mask))

SHIMCORE_HCS_SCHEMA_DEFINE(ObjectDirectory, field("name", &ObjectDirectory::name),
                           field("clonesd", &ObjectDirectory::clonesd), field("shadow", &ObjectDirectory::shadow),
                           field("symlink", &ObjectDirectory::symlink), field("objdir", &ObjectDirectory::objdir))

SHIMCORE_HCS_SCHEMA_DEFINE(ObjectNamespace, field("shadow", &ObjectNamespace::shadow),
                           field("symlink", &ObjectNamespace::symlink), field("objdir", &ObjectNamespace::objdir))

SHIMCORE_HCS_SCHEMA_DEFINE(DeviceNamespace, field("requires_driverstore", &DeviceNamespace::requires_driverstore),
                           field("device_category", &DeviceNamespace::device_category),
                           field("device_instance", &DeviceNamespace::device_instance))

SHIMCORE_HCS_SCHEMA_DEFINE(DeviceExtensionNamespace, field("ob", &DeviceExtensionNamespace::ob),
                           field("device", &DeviceExtensionNamespace::device))

SHIMCORE_HCS_SCHEMA_DEFINE(DeviceExtension, field("device_category", &DeviceExtension::device_category),
                           field("namespace", &DeviceExtension::extension_namespace))

SHIMCORE_HCS_SCHEMA_DEFINE(ContainerDefinitionDevice,
                           field("device_extension", &ContainerDefinitionDevice::device_extension))

SHIMCORE_HCS_SCHEMA_DEFINE(Container, field("GuestOs", &Container::guest_os), field("Storage", &Container::storage),
                           field("MappedDirectories", &Container::mapped_directories),
                           field("MappedPipes", &Container::mapped_pipes), field("Memory", &Container::memory),
                           field("Processor", &Container::processor), field("Networking", &Container::networking),
                           field("HvSocket", &Container::hv_socket),
                           field("ContainerCredentialGuard", &Container::container_credential_guard),
                           field("RegistryChanges", &Container::registry_changes),
                           field("AssignedDevices", &Container::assigned_devices),
                           field("AdditionalDeviceNamespace", &Container::additional_device_namespace),
                           field("IsolationType", &Container::isolation_type))

Container parse_container(std::string_view json_text) {
  return detail::parse_document<Container>(json_text, "Container");
}

}  // namespace shimcore::hcs::schema
