// Annotation keys of the utility-VM builders and the annotation rules shared by every pipeline (expansion, conflicts,
// hvsocket service tables, assigned devices).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "builder/common/go_rules.h"
#include "shimcore/builder/common.h"
#include "shimcore/hcs/schema/common.h"

namespace shimcore::builder::detail {

namespace keys {
inline constexpr const char* kProcessorCount = "io.microsoft.virtualmachine.computetopology.processor.count";
inline constexpr const char* kProcessorLimit = "io.microsoft.virtualmachine.computetopology.processor.limit";
inline constexpr const char* kProcessorWeight = "io.microsoft.virtualmachine.computetopology.processor.weight";
inline constexpr const char* kMemorySizeInMb = "io.microsoft.virtualmachine.computetopology.memory.sizeinmb";
inline constexpr const char* kLowMmioGap = "io.microsoft.virtualmachine.computetopology.memory.lowmmiogapinmb";
inline constexpr const char* kHighMmioBase = "io.microsoft.virtualmachine.computetopology.memory.highmmiobaseinmb";
inline constexpr const char* kHighMmioGap = "io.microsoft.virtualmachine.computetopology.memory.highmmiogapinmb";
inline constexpr const char* kAllowOvercommit = "io.microsoft.virtualmachine.computetopology.memory.allowovercommit";
inline constexpr const char* kEnableDeferredCommit =
    "io.microsoft.virtualmachine.computetopology.memory.enabledeferredcommit";
inline constexpr const char* kEnableColdDiscardHint =
    "io.microsoft.virtualmachine.computetopology.memory.enablecolddiscardhint";
inline constexpr const char* kFullyPhysicallyBacked = "io.microsoft.virtualmachine.fullyphysicallybacked";
inline constexpr const char* kNumaMaxProcessorsPerNode =
    "io.microsoft.virtualmachine.computetopology.processor.numa.max-processors-per-node";
inline constexpr const char* kNumaMaxSizePerNode =
    "io.microsoft.virtualmachine.computetopology.processor.numa.max-size-per-node";
inline constexpr const char* kNumaPreferredPhysicalNodes =
    "io.microsoft.virtualmachine.computetopology.numa.preferred-physical-nodes";
inline constexpr const char* kNumaMappedPhysicalNodes =
    "io.microsoft.virtualmachine.computetopology.numa.mapped-physical-nodes";
inline constexpr const char* kNumaCountOfProcessors =
    "io.microsoft.virtualmachine.computetopology.numa.count-of-processors";
inline constexpr const char* kNumaCountOfMemoryBlocks =
    "io.microsoft.virtualmachine.computetopology.numa.count-of-memory-blocks";
inline constexpr const char* kCpuGroupId = "io.microsoft.virtualmachine.cpugroup.id";
inline constexpr const char* kResourcePartitionId = "io.microsoft.virtualmachine.resource-partition-id";
inline constexpr const char* kStorageQosIops = "io.microsoft.virtualmachine.storageqos.iopsmaximum";
inline constexpr const char* kStorageQosBandwidth = "io.microsoft.virtualmachine.storageqos.bandwidthmaximum";
inline constexpr const char* kBootFilesRootPath = "io.microsoft.virtualmachine.bootfilesrootpath";
inline constexpr const char* kKernelDirectBoot = "io.microsoft.virtualmachine.lcow.kerneldirectboot";
inline constexpr const char* kPreferredRootFsType = "io.microsoft.virtualmachine.lcow.preferredrootfstype";
inline constexpr const char* kKernelBootOptions = "io.microsoft.virtualmachine.lcow.kernelbootoptions";
inline constexpr const char* kVpciEnabled = "io.microsoft.virtualmachine.lcow.vpcienabled";
inline constexpr const char* kDisableTimeSync = "io.microsoft.virtualmachine.lcow.timesync.disable";
inline constexpr const char* kDmVerityMode = "io.microsoft.virtualmachine.lcow.dmverity-mode";
inline constexpr const char* kDmVerityCreateArgs = "io.microsoft.virtualmachine.lcow.dmverity-create-args";
inline constexpr const char* kDmVerityRootFsVhd = "io.microsoft.virtualmachine.lcow.dmverity-rootfs-vhd";
inline constexpr const char* kSecurityPolicy = "io.microsoft.virtualmachine.lcow.securitypolicy";
inline constexpr const char* kSecurityPolicyEnforcer = "io.microsoft.virtualmachine.lcow.enforcer";
inline constexpr const char* kGuestStateFile = "io.microsoft.virtualmachine.lcow.gueststatefile";
inline constexpr const char* kHclEnabled = "io.microsoft.virtualmachine.lcow.hcl-enabled";
inline constexpr const char* kReferenceInfoFile = "io.microsoft.virtualmachine.lcow.uvm-reference-info-file";
inline constexpr const char* kHashEnvelopeReferenceInfoFile =
    "io.microsoft.virtualmachine.uvm-hash-envelope-reference-info-file";
inline constexpr const char* kNoSecurityHardware = "io.microsoft.virtualmachine.no_security_hardware";
inline constexpr const char* kEncryptedScratch = "io.microsoft.virtualmachine.storage.scratch.encrypted";
inline constexpr const char* kDisableWritableFileShares = "io.microsoft.virtualmachine.fileshares.disablewritable";
inline constexpr const char* kVpmemCount = "io.microsoft.virtualmachine.devices.virtualpmem.maximumcount";
inline constexpr const char* kVpmemSize = "io.microsoft.virtualmachine.devices.virtualpmem.maximumsizebytes";
inline constexpr const char* kVpmemNoMultiMapping = "io.microsoft.virtualmachine.lcow.vpmem.nomultimapping";
inline constexpr const char* kKernelDrivers = "io.microsoft.virtualmachine.kerneldrivers";
inline constexpr const char* kNetworkConfigProxy = "io.microsoft.network.ncproxy";
inline constexpr const char* kProcessDumpLocation = "io.microsoft.container.processdumplocation";
inline constexpr const char* kDumpDirectoryPath = "io.microsoft.virtualmachine.dump-directory-path";
inline constexpr const char* kConsolePipe = "io.microsoft.virtualmachine.console.pipe";
inline constexpr const char* kHvSocketServiceTablePrefix = "io.microsoft.virtualmachine.hv-socket.service-table.";
inline constexpr const char* kExtraVsockPorts = "io.microsoft.virtualmachine.lcow.extra-vsock-ports";
inline constexpr const char* kWritableOverlayDirs = "io.microsoft.virtualmachine.lcow.writable-overlay-directories";
inline constexpr const char* kPolicyBasedRouting = "io.microsoft.virtualmachine.lcow.network.policybasedrouting";
inline constexpr const char* kExtraExecArgs = "io.microsoft.virtualmachine.lcow.extra-exec-command-args";
inline constexpr const char* kLiveMigrationSupport = "io.microsoft.migration.support-enabled";
inline constexpr const char* kDisableUnsafeOperations = "io.microsoft.disable-unsafe-operations";
inline constexpr const char* kWcowDisableGmsa = "io.microsoft.container.wcow.gmsa.disable";
inline constexpr const char* kVsmbNoDirectMap = "io.microsoft.virtualmachine.wcow.virtualSMB.nodirectmap";
inline constexpr const char* kDisableCompartmentNamespace = "io.microsoft.virtualmachine.disablecompartmentnamespace";
inline constexpr const char* kNoInheritHostTimezone = "io.microsoft.virtualmachine.wcow.timezone.noinherit";
inline constexpr const char* kAdditionalRegistryValues = "io.microsoft.virtualmachine.wcow.additional-reg-keys";
inline constexpr const char* kLogSources = "io.microsoft.virtualmachine.forwardlogs.sources";
inline constexpr const char* kLogForwardingEnabled = "io.microsoft.virtualmachine.forwardlogs.enable";
inline constexpr const char* kDefaultLogSourcesEnabled =
    "io.microsoft.virtualmachine.forwardlogs.defaultsources.enable";
inline constexpr const char* kWcowSecurityPolicy = "io.microsoft.virtualmachine.wcow.securitypolicy";
inline constexpr const char* kWcowSecurityPolicyEnforcer = "io.microsoft.virtualmachine.wcow.enforcer";
inline constexpr const char* kWcowGuestStateFile = "io.microsoft.virtualmachine.wcow.gueststatefile";
inline constexpr const char* kWcowReferenceInfoFile = "io.microsoft.virtualmachine.wcow.uvm-reference-info-file";
inline constexpr const char* kWcowIsolationType = "io.microsoft.virtualmachine.wcow.isolation_type";
inline constexpr const char* kWcowDisableSecureBoot = "io.microsoft.virtualmachine.wcow.no_secure_boot";
inline constexpr const char* kWcowWritableEfi = "io.microsoft.virtualmachine.wcow.writable_efi";
inline constexpr const char* kWcowDebugMode = "io.microsoft.wcow.debug";
inline constexpr const char* kWcowDebugDataPath = "io.microsoft.wcow.debug_data_path";
inline constexpr const char* kHostProcessContainer = "microsoft.com/hostprocess-container";
inline constexpr const char* kDisableHostProcessContainer = "microsoft.com/disable-hostprocess-container";
}  // namespace keys

// oci.ProcessAnnotations: expands io.microsoft.disable-unsafe-operations into the annotations it stands for and
// refuses contradictions (an expansion that would overwrite a different explicit value; host-process containers both
// enabled and disabled). Throws Error(InvalidArgument) naming both keys of every conflict.
void process_annotations(Annotations& annotations, std::vector<std::string>& warnings);

// oci.ParseHVSocketServiceTable: io.microsoft.virtualmachine.hv-socket.service-table.<GUID> = JSON
// HvSocketServiceConfig. Bad GUIDs and bad JSON are warnings; keys come back in canonical lowercase form.
std::map<std::string, hcs::schema::HvSocketServiceConfig> parse_hv_socket_service_table(
    const Annotations& annotations, std::vector<std::string>& warnings);

// One assigned vPCI function: the device instance path and the virtual-function index.
struct VpciFunction {
  std::string instance_path;
  std::uint16_t virtual_function = 0;
  bool operator==(const VpciFunction&) const = default;
};

// The vPCI devices of an OCI device list (types vpci-instance-id, vpci, gpu); other types are warnings.
std::vector<VpciFunction> vpci_functions(const std::vector<WindowsDevice>& devices, std::vector<std::string>& warnings);

// Go's omitempty: a zero value is left absent so that the document serialises as hcsshim's does.
template <typename T>
std::optional<T> non_zero(T value) {
  if (value == T{}) return std::nullopt;
  return value;
}

}  // namespace shimcore::builder::detail
