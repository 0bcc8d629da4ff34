// The WCOW utility-VM document: hcsshim's UpdateSpecFromOptions → ProcessAnnotations → SpecToUVMCreateOpts →
// VerifyOptions → prepareConfigDoc (internal/oci/uvm.go, internal/uvm/create.go, internal/uvm/create_wcow.go).
#include <utility>

#include <fmt/format.h>

#include "builder/common/annotations.h"
#include "builder/common/uvm_options.h"
#include "builder/common/vmutils.h"
#include "builder/process/registry_annotation.h"
#include "shimcore/builder/wcow.h"
#include "shimcore/errdefs.h"

namespace shimcore::builder::wcow {

namespace {

using namespace shimcore::builder::detail;  // NOLINT(google-build-using-namespace): the shared builder toolkit
namespace schema = hcs::schema;

constexpr std::uint32_t kBuild21H1 = 19043;  // CPU groups at create time
constexpr const char* kAdminsAndSystemSddl = "D:P(A;;FA;;;SY)(A;;FA;;;BA)";
// prot.WindowsLoggingHvsockServiceID: the socket the guest's log forwarding service sends to.
constexpr const char* kLoggingServiceId = "172dad59-976d-45f2-8b6c-6d1b13f2ac4d";
// guestrequest.ScsiControllerGuids[0]: WCOW has exactly one SCSI controller.
constexpr const char* kScsiController0 = "df6d0690-79e5-55b6-a5ec-c1e2f77f580a";
constexpr std::uint64_t kDirectFileMappingInMb = 1024;

[[noreturn]] void fail(std::string message) { throw Error(ErrorKind::InvalidArgument, std::move(message)); }

// uvm.OptionsWCOW, the fields that reach the document, the settings or a check.
struct Options : CommonUvmOptions {
  std::string network_config_proxy;
  std::string dump_directory_path;

  bool disable_compartment_namespace = false;
  bool no_direct_map = false;
  bool no_inherit_host_timezone = false;
  std::vector<schema::RegistryValue> additional_registry_keys;
  bool security_policy_enabled = false;
  bool debug_mode = false;
  std::string debug_data_path;
  std::string log_sources;
  bool log_forwarding_enabled = true;
  bool default_log_sources_enabled = true;
};

// handleWCOWSecurityPolicy + handleWCOWIsolationType: a policy makes the pod confidential, which needs at least
// 2 GiB and a known isolation type, and is never overcommitted.
void apply_security_policy(const AnnotationReader& reader, Options& o) {
  if (reader.get_string(keys::kWcowSecurityPolicy, "").empty()) return;
  o.security_policy_enabled = true;
  o.memory_size_in_mb = reader.get_uint64(keys::kMemorySizeInMb, 2048);
  if (o.memory_size_in_mb < 2048) {
    fail(fmt::format("minimum 2048MB of memory is required for confidential pods, got: {}", o.memory_size_in_mb));
  }
  const std::string fallback =
      reader.get_bool(keys::kNoSecurityHardware, false) ? "GuestStateOnly" : "SecureNestedPaging";
  const std::string isolation = reader.get_string(keys::kWcowIsolationType, fallback);
  if (isolation != "SecureNestedPaging" && isolation != "SNP" && isolation != "VirtualizationBasedSecurity" &&
      isolation != "VBS" && isolation != "GuestStateOnly") {
    fail(fmt::format("invalid WCOW isolation type {}", go_quote(isolation)));
  }
  o.allow_overcommit = false;
}

Options spec_to_options(const AnnotationReader& reader, const Annotations& annotations, const UvmSpec& spec,
                        const hcs::HostProfile& host, std::vector<std::string>& warnings) {
  const WindowsResources resources = spec.resources.value_or(WindowsResources{});

  // NewDefaultOptionsWCOW.
  Options o;
  o.processor_count = default_processor_count(host);

  // specToUVMCreateOptionsCommon: settings common to LCOW and WCOW, then WCOW's own.
  apply_common_uvm_options(o, reader, annotations, resources, warnings);
  o.network_config_proxy = reader.get_string(keys::kNetworkConfigProxy, o.network_config_proxy);
  o.dump_directory_path = reader.get_string(keys::kDumpDirectoryPath, o.dump_directory_path);

  // WCOW settings, in hcsshim's order.
  o.disable_compartment_namespace =
      reader.get_bool(keys::kDisableCompartmentNamespace, o.disable_compartment_namespace);
  o.no_direct_map = reader.get_bool(keys::kVsmbNoDirectMap, o.no_direct_map);
  o.no_inherit_host_timezone = reader.get_bool(keys::kNoInheritHostTimezone, o.no_inherit_host_timezone);
  if (const std::string registry = reader.get_string(keys::kAdditionalRegistryValues, ""); !registry.empty()) {
    o.additional_registry_keys = parse_registry_annotation(registry);
  }
  o.fully_physically_backed = reader.get_bool(keys::kFullyPhysicallyBacked, o.fully_physically_backed);
  if (o.fully_physically_backed) o.allow_overcommit = false;
  o.debug_mode = reader.get_bool(keys::kWcowDebugMode, o.debug_mode);
  o.debug_data_path = reader.get_string(keys::kWcowDebugDataPath, o.debug_data_path);
  apply_security_policy(reader, o);
  if (o.debug_mode) {
    if (!o.security_policy_enabled) {
      fail(fmt::format("{:?} is only supported for confidential WCOW", keys::kWcowDebugMode));
    }
    if (o.debug_data_path.empty()) {
      fail(fmt::format("{:?} must be set to a non-empty path when {:?} is enabled", keys::kWcowDebugDataPath,
                       keys::kWcowDebugMode));
    }
  }
  // Confidential pods forward no logs unless asked to.
  if (o.security_policy_enabled) o.log_forwarding_enabled = false;
  o.log_sources = reader.get_string(keys::kLogSources, o.log_sources);
  o.log_forwarding_enabled = reader.get_bool(keys::kLogForwardingEnabled, o.log_forwarding_enabled);
  o.default_log_sources_enabled = reader.get_bool(keys::kDefaultLogSourcesEnabled, o.default_log_sources_enabled);
  return o;
}

// uvm.VerifyOptions for WCOW (the SCSI controller count is always hcsshim's 1 here; the boot files are VmbFS ones).
void verify_options(const Options& o) {
  const std::string prefix = "UVM options incorrect: ";
  if (o.enable_deferred_commit && !o.allow_overcommit) {
    fail(fmt::format("{}EnableDeferredCommit is not supported on physically backed VMs ({} with {} or {})", prefix,
                     keys::kEnableDeferredCommit, keys::kAllowOvercommit, keys::kFullyPhysicallyBacked));
  }
  if (o.resource_partition_id && !o.cpu_group_id.empty()) {
    fail(fmt::format("{}resource partition ID and CPU group ID cannot be set at the same time ({} and {})", prefix,
                     keys::kResourcePartitionId, keys::kCpuGroupId));
  }
}

schema::RegistryValue dword_value(schema::RegistryHive hive, std::string key, std::string name, std::uint32_t value) {
  schema::RegistryValue entry;
  entry.key = schema::RegistryKey{hive, std::move(key), std::nullopt};
  entry.name = std::move(name);
  entry.type = schema::RegistryValueType::DWord;
  entry.dword_value = value;
  return entry;
}

schema::RegistryChanges registry_changes(const Options& o) {
  schema::RegistryChanges changes;
  if (!o.process_dump_location.empty()) {
    // Local dumps: WER must not also upload them, and WerSvc must start with the VM (hcsshim works around a bug
    // generating dumps for some exceptions, microsoft/Windows-Containers#60).
    changes.add_values.push_back(
        dword_value(schema::RegistryHive::System, R"(ControlSet001\Services\WerSvc)", "Start", 2));
    changes.add_values.push_back(
        dword_value(schema::RegistryHive::Software, R"(Microsoft\Windows\Windows Error Reporting)", "Disabled", 1));
  }
  if (!o.disable_compartment_namespace) {
    // GNS checks this key before using the compartment namespace that fixes SMB share access in the VM.
    changes.add_values.push_back(dword_value(schema::RegistryHive::System, R"(CurrentControlSet\Services\gns)",
                                             "EnableCompartmentNamespace", 1));
  }
  changes.add_values.insert(changes.add_values.end(), o.additional_registry_keys.begin(),
                            o.additional_registry_keys.end());
  return changes;
}

// prepareCommonConfigDoc + prepareConfigDoc: the VmbFS-booted utility VM.
schema::ComputeSystem make_document(const Options& o, const std::string& id, const std::string& owner,
                                    const BootFiles& boot_files, const BuildEnvironment& environment,
                                    BuildResult& result) {
  const hcs::HostProfile& host = environment.host;
  std::vector<std::string>& warnings = result.warnings;
  const std::int32_t processor_count = normalize_processor_count(o.processor_count, host, warnings);
  const std::uint64_t memory_size = normalize_memory_size(o.memory_size_in_mb, warnings);

  schema::VirtualMachineProcessor processor;
  processor.count = non_zero(static_cast<std::uint32_t>(processor_count));
  // int32 → uint64 sign-extends, as Go's conversion does.
  processor.limit = non_zero(static_cast<std::uint64_t>(std::int64_t{o.processor_limit}));
  processor.weight = non_zero(static_cast<std::uint64_t>(std::int64_t{o.processor_weight}));

  const NumaTopology numa = prepare_vnuma(o.numa, host, warnings);
  if (numa.numa) {
    if (o.allow_overcommit) fail("vNUMA supports only Physical memory backing type");
    try {
      validate_numa_for_vm(*numa.numa, processor.count.value_or(0), memory_size);
    } catch (const Error& error) {
      fail(fmt::format("failed to validate vNUMA settings: {}", error.what()));
    }
  }
  if (numa.processors) processor.numa_processors_settings = numa.processors;
  if (!o.cpu_group_id.empty()) {
    if (host.os_build < kBuild21H1) {
      fail(fmt::format("cpu group assignment on create requires a build of {} or higher", kBuild21H1));
    }
    processor.cpu_group = schema::CpuGroup{o.cpu_group_id};
  }

  schema::VirtualMachineMemory memory;
  memory.size_in_mb = non_zero(memory_size);
  memory.allow_overcommit = non_zero(o.allow_overcommit);
  memory.enable_hot_hint = non_zero(o.allow_overcommit);
  memory.enable_deferred_commit = non_zero(o.enable_deferred_commit);
  memory.low_mmio_gap_in_mb = non_zero(o.low_mmio_gap_in_mb);
  memory.high_mmio_base_in_mb = non_zero(o.high_mmio_base_in_mb);
  memory.high_mmio_gap_in_mb = non_zero(o.high_mmio_gap_in_mb);
  // ACPI's SLIT tells the guest about its NUMA nodes.
  if (numa.numa || numa.processors) memory.slit_type = schema::VirtualSlitType::FirmwareFallbackMeasured;

  schema::VirtualMachine vm;
  vm.stop_on_reset = true;
  vm.registry_changes = registry_changes(o);
  vm.compute_topology = schema::Topology{memory, processor, numa.numa};
  if (o.resource_partition_id) vm.resource_partition_id = o.resource_partition_id;

  schema::Devices devices;
  schema::HvSocketSystemConfig hv_socket;
  hv_socket.default_bind_security_descriptor = kAdminsAndSystemSddl;  // admins and SYSTEM reach the GCS
  hv_socket.service_table = o.additional_hv_socket;
  if (o.log_forwarding_enabled) {
    schema::HvSocketServiceConfig logging;
    logging.allow_wildcard_binds = true;
    logging.bind_security_descriptor = kAdminsAndSystemSddl;
    logging.connect_security_descriptor = kAdminsAndSystemSddl;
    hv_socket.service_table[kLoggingServiceId] = logging;
  }
  devices.hv_socket = schema::HvSocket2{hv_socket};

  if (o.storage_qos_bandwidth > 0 || o.storage_qos_iops > 0) {
    vm.storage_qos =
        schema::StorageQoS{non_zero<std::int64_t>(o.storage_qos_iops), non_zero<std::int64_t>(o.storage_qos_bandwidth)};
  }
  if (!o.console_pipe.empty()) devices.com_ports["0"] = schema::ComPort{o.console_pipe, {}};

  if (!o.dump_directory_path.empty()) {
    const std::string& dir = o.dump_directory_path;
    if (!environment.file_exists || !environment.file_exists(dir)) {
      fail(
          fmt::format("failed to stat dump directory {}: GetFileAttributesEx {}: The system cannot find the file "
                      "specified.",
                      dir, dir));
    }
    result.vm_access_paths.push_back(dir);
    schema::DebugOptions debug;
    debug.bugcheck_saved_state_file_name = winpath::join(dir, id + "-savedstate.vmrs");
    debug.bugcheck_no_crashdump_saved_state_file_name = winpath::join(dir, id + "-savedstate_nocrashdump.vmrs");
    vm.debug_options = debug;
    schema::WindowsCrashReporting crash;
    crash.dump_file_name = winpath::join(dir, id + "-windows-crash");
    crash.dump_type = "Full";
    devices.guest_crash_reporting = schema::GuestCrashReporting{crash};
  }

  // The OS layer, read-only over VSMB; direct map unless the memory is physically backed or it is turned off.
  schema::VirtualSmbShareOptions share_options;
  share_options.read_only = true;
  share_options.share_read = true;
  share_options.cache_io = true;
  share_options.pseudo_oplocks = true;
  share_options.take_backup_privilege = true;
  share_options.no_directmap = non_zero(o.fully_physically_backed || o.no_direct_map);
  schema::VirtualSmbShare os_share;
  os_share.name = "os";
  os_share.path = boot_files.os_files_path;
  os_share.options = share_options;
  schema::VirtualSmb vsmb;
  vsmb.shares.push_back(os_share);
  vsmb.direct_file_mapping_in_mb = static_cast<std::int64_t>(kDirectFileMappingInMb);
  devices.virtual_smb = vsmb;

  schema::UefiBootEntry boot;
  boot.device_path = winpath::join(boot_files.os_relative_boot_dir_path, "bootmgfw.efi");
  boot.device_type = schema::UefiBootDevice::VmbFs;
  vm.chipset = schema::Chipset{};
  vm.chipset->uefi = schema::Uefi{};
  vm.chipset->uefi->boot_this = boot;

  // The scratch VHD on SCSI 0:0, where the guest boots from it.
  schema::Attachment scratch;
  scratch.type = "VirtualDisk";
  scratch.path = boot_files.scratch_vhd_path;
  devices.scsi[kScsiController0].attachments["0"] = scratch;
  result.vm_access_paths.push_back(boot_files.scratch_vhd_path);
  vm.devices = std::move(devices);

  schema::ComputeSystem document;
  document.owner = non_zero(owner);
  document.schema_version = schema::Version{2, 1};
  document.should_terminate_on_last_handle_closed = true;
  document.virtual_machine = std::move(vm);
  return document;
}

}  // namespace

BuildResult build_uvm(const UvmSpec& spec, const std::optional<RuntimeOptions>& runtime_options, const std::string& id,
                      const std::string& owner, const BootFiles& boot_files, const BuildEnvironment& environment) {
  BuildResult result;
  std::vector<std::string>& warnings = result.warnings;

  // UpdateSpecFromOptions: the runtime options become annotations where the spec has none of its own.
  Annotations annotations = with_runtime_options(spec.annotations, runtime_options);
  process_annotations(annotations, warnings);
  const AnnotationReader reader(annotations, warnings);
  const Options o = spec_to_options(reader, annotations, spec, environment.host, warnings);
  verify_options(o);
  // prepareSecurityConfigDoc boots only from block CIMs; VmbFS boot files (uvm.VmbFSBoot = 0) are refused.
  if (o.security_policy_enabled) fail("error in preparing config doc: expected BlockCIM boot type, found: 0");
  result.document = make_document(o, id, owner, boot_files, environment, result);

  UvmSettings& settings = result.settings;
  settings.physically_backed = !o.allow_overcommit;
  settings.devices_physically_backed = o.fully_physically_backed;
  settings.vsmb_no_direct_map = o.no_direct_map;
  settings.no_writable_file_shares = o.no_writable_file_shares;
  settings.no_inherit_host_timezone = o.no_inherit_host_timezone;
  settings.log_forwarding_enabled = o.log_forwarding_enabled;
  settings.default_log_sources_enabled = o.default_log_sources_enabled;
  settings.log_sources = o.log_sources;
  settings.process_dump_location = o.process_dump_location;
  settings.network_config_proxy = o.network_config_proxy;
  return result;
}

}  // namespace shimcore::builder::wcow
