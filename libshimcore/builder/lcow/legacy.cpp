// The legacy (V1) LCOW pipeline: hcsshim's UpdateSpecFromOptions → ProcessAnnotations → SpecToUVMCreateOpts →
// VerifyOptions → MakeLCOWDoc or the SNP document (internal/oci/uvm.go, internal/uvm/create_lcow.go, create.go).
#include <set>
#include <utility>

#include <fmt/format.h>

#include "builder/common/uvm_options.h"
#include "builder/lcow/shared.h"

namespace shimcore::builder::lcow {

namespace {

using namespace detail;  // NOLINT(google-build-using-namespace)
namespace schema = hcs::schema;

enum class RootFsType : std::uint8_t { Initrd, Vhd, NotApplicable };

// uvm.OptionsLCOW, the fields that reach the document or the sandbox options.
struct LegacyOptions : CommonUvmOptions {
  std::string boot_files_path;
  std::string kernel_file = kKernelFile;
  bool kernel_direct = false;
  std::string rootfs_file = kInitrdFile;
  std::string kernel_boot_options;
  std::string exec_command_line;
  std::uint32_t vpmem_count = kDefaultVpmemCount;
  std::uint64_t vpmem_size_bytes = kDefaultVpmemSizeBytes;
  RootFsType preferred_rootfs = RootFsType::Initrd;
  bool enable_cold_discard_hint = false;
  bool vpci_enabled = false;
  bool enable_scratch_encryption = false;
  bool disable_time_sync = false;
  std::optional<bool> hcl_enabled;
  std::vector<std::uint32_t> extra_vsock_ports;
  std::vector<VpciFunction> assigned_devices;
  bool policy_based_routing = false;
  bool writable_overlay_dirs = false;

  std::string guest_state_file;
  std::string security_policy;
  bool security_policy_enabled = false;
  std::string security_policy_enforcer;
  std::string reference_info_file = kDefaultReferenceInfoFile;
  std::string hash_envelope_reference_info_file = kDefaultHashEnvelopeReferenceInfoFile;
  std::string dm_verity_rootfs_vhd;
  bool dm_verity_mode = false;
  std::string dm_verity_create_args;
};

// OptionsLCOW.UpdateBootFilesPath: a new folder re-selects rootfs.vhd and vmlinux when it holds them (never the other
// way back: what an earlier folder selected stays).
void update_boot_files_path(LegacyOptions& options, const std::string& path, const BuildEnvironment& environment) {
  const std::string absolute = winpath::abs(path, environment.working_directory);
  if (winpath::comparable(options.boot_files_path) == winpath::comparable(absolute) &&
      !options.boot_files_path.empty()) {
    return;
  }
  options.boot_files_path = absolute;
  if (file_exists(environment, winpath::join(absolute, kVhdFile))) {
    options.rootfs_file = kVhdFile;
    options.preferred_rootfs = RootFsType::Vhd;
  }
  if (options.kernel_direct && file_exists(environment, winpath::join(absolute, kUncompressedKernelFile))) {
    options.kernel_file = kUncompressedKernelFile;
  }
}

LegacyOptions spec_to_options(const AnnotationReader& reader, const Annotations& annotations, const LegacySpec& spec,
                              const BuildEnvironment& environment, const LegacyProcess& process,
                              std::vector<std::string>& warnings) {
  const hcs::HostProfile& host = environment.host;
  const WindowsResources resources = spec.resources.value_or(WindowsResources{});

  // NewDefaultOptionsLCOW.
  LegacyOptions o;
  o.kernel_direct = host.os_build >= kBuildKernelDirect;
  if (host.architecture == "arm64") {
    o.kernel_direct = false;
    o.vpmem_count = 0;
  }
  o.processor_count = default_processor_count(host);
  o.exec_command_line = "/bin/gcs -v4 -log-format json -loglevel " + process.log_level;
  update_boot_files_path(o, environment.default_boot_files_path, environment);

  // Settings common to LCOW and WCOW.
  apply_common_uvm_options(o, reader, annotations, resources, warnings);

  // LCOW settings, in hcsshim's order: later ones override what earlier ones implied.
  o.enable_cold_discard_hint = reader.get_bool(keys::kEnableColdDiscardHint, o.enable_cold_discard_hint);
  o.vpmem_count = reader.get_uint32(keys::kVpmemCount, o.vpmem_count);
  o.vpmem_size_bytes = reader.get_uint64(keys::kVpmemSize, o.vpmem_size_bytes);
  o.vpci_enabled = reader.get_bool(keys::kVpciEnabled, o.vpci_enabled);
  o.extra_vsock_ports = reader.get_uint32_list(keys::kExtraVsockPorts, {});
  update_boot_files_path(o, reader.get_string(keys::kBootFilesRootPath, o.boot_files_path), environment);
  o.enable_scratch_encryption = reader.get_bool(keys::kEncryptedScratch, o.enable_scratch_encryption);
  o.security_policy = reader.get_string(keys::kSecurityPolicy, o.security_policy);
  o.security_policy_enforcer = reader.get_string(keys::kSecurityPolicyEnforcer, o.security_policy_enforcer);
  o.reference_info_file = reader.get_string(keys::kReferenceInfoFile, o.reference_info_file);
  o.hash_envelope_reference_info_file =
      reader.get_string(keys::kHashEnvelopeReferenceInfoFile, o.hash_envelope_reference_info_file);
  o.kernel_boot_options = reader.get_string(keys::kKernelBootOptions, o.kernel_boot_options);
  o.disable_time_sync = reader.get_bool(keys::kDisableTimeSync, o.disable_time_sync);
  o.writable_overlay_dirs = reader.get_bool(keys::kWritableOverlayDirs, o.writable_overlay_dirs);
  if (reader.has(keys::kPreferredRootFsType)) {
    const std::string value = reader.get_string(keys::kPreferredRootFsType, "");
    if (value == "initrd") {
      o.preferred_rootfs = RootFsType::Initrd;
    } else if (value == "vhd") {
      o.preferred_rootfs = RootFsType::Vhd;
    } else {
      warnings.push_back(fmt::format("annotation {} value {:?} must be 'initrd' or 'vhd'; ignored",
                                     keys::kPreferredRootFsType, value));
    }
  }
  if (o.preferred_rootfs == RootFsType::Initrd) o.rootfs_file = kInitrdFile;
  if (o.preferred_rootfs == RootFsType::Vhd) o.rootfs_file = kVhdFile;
  o.kernel_direct = reader.get_bool(keys::kKernelDirectBoot, o.kernel_direct);
  if (!o.kernel_direct) o.kernel_file = kKernelFile;
  o.fully_physically_backed = reader.get_bool(keys::kFullyPhysicallyBacked, o.fully_physically_backed);
  if (o.fully_physically_backed) {
    o.allow_overcommit = false;
    o.vpmem_count = 0;
  }
  if (const std::string extra = reader.get_string(keys::kExtraExecArgs, ""); !extra.empty()) {
    o.exec_command_line += " " + extra;
  }

  // The security policy silently overrides whatever an SNP boot cannot honour.
  const bool no_security_hardware = reader.get_bool(keys::kNoSecurityHardware, false);
  if (!o.security_policy.empty()) o.security_policy_enabled = true;
  if (o.security_policy_enabled && !no_security_hardware) {
    o.vpmem_count = 0;
    o.guest_state_file = kDefaultGuestStateFile;
    o.kernel_boot_options.clear();
    o.allow_overcommit = false;
    o.preferred_rootfs = RootFsType::NotApplicable;
    o.rootfs_file.clear();
    o.dm_verity_rootfs_vhd = kDefaultDmVerityRootFsVhd;
    o.dm_verity_mode = true;
  }
  if (o.security_policy_enabled) o.enable_scratch_encryption = reader.get_bool(keys::kEncryptedScratch, true);
  o.guest_state_file = reader.get_string(keys::kGuestStateFile, o.guest_state_file);
  o.dm_verity_rootfs_vhd = reader.get_string(keys::kDmVerityRootFsVhd, o.dm_verity_rootfs_vhd);
  o.dm_verity_mode = reader.get_bool(keys::kDmVerityMode, o.dm_verity_mode);
  o.dm_verity_create_args = reader.get_string(keys::kDmVerityCreateArgs, o.dm_verity_create_args);
  o.hcl_enabled = reader.get_nullable_bool(keys::kHclEnabled);
  o.assigned_devices = vpci_functions(spec.devices, warnings);
  o.policy_based_routing = reader.get_bool(keys::kPolicyBasedRouting, o.policy_based_routing);
  return o;
}

// uvm.VerifyOptions for LCOW.
void verify_options(const LegacyOptions& o, const hcs::HostProfile& host) {
  const std::string prefix = "option verification failed: ";
  if (o.enable_deferred_commit && !o.allow_overcommit) {
    fail(fmt::format("{}EnableDeferredCommit is not supported on physically backed VMs ({} with {}, {} or {})", prefix,
                     keys::kEnableDeferredCommit, keys::kAllowOvercommit, keys::kFullyPhysicallyBacked,
                     keys::kSecurityPolicy));
  }
  if (o.vpmem_count > kMaxVpmemCount) {
    fail(fmt::format("{}VPMem device count cannot be greater than {}", prefix, kMaxVpmemCount));
  }
  if (o.vpmem_count > 0 && o.vpmem_size_bytes % 4096 != 0) fail(prefix + "VPMemSizeBytes must be a multiple of 4096");
  if (o.kernel_direct && host.os_build < kBuildKernelDirect) {
    fail(prefix + "KernelDirectBoot is not supported on builds older than 18286");
  }
  if (o.enable_cold_discard_hint && host.os_build < kBuildColdDiscard) {
    fail(prefix + "EnableColdDiscardHint is not supported on builds older than 18967");
  }
  if (o.resource_partition_id && !o.cpu_group_id.empty()) {
    fail(fmt::format("{}resource partition ID and CPU group ID cannot be set at the same time ({} and {})", prefix,
                     keys::kResourcePartitionId, keys::kCpuGroupId));
  }
  if (host.architecture == "arm64" && o.vpmem_count > 0) fail(prefix + "VPMem devices are not supported on ARM64");
}

schema::VirtualMachineProcessor fetch_processor(const LegacyOptions& o, const hcs::HostProfile& host,
                                                std::vector<std::string>& warnings) {
  schema::VirtualMachineProcessor processor;
  processor.count = non_zero(static_cast<std::uint32_t>(normalize_processor_count(o.processor_count, host, warnings)));
  // int32 → uint64 sign-extends, as Go's conversion does.
  processor.limit = non_zero(static_cast<std::uint64_t>(std::int64_t{o.processor_limit}));
  processor.weight = non_zero(static_cast<std::uint64_t>(std::int64_t{o.processor_weight}));
  if (!o.cpu_group_id.empty()) {
    if (host.os_build < kBuild21H1) {
      fail(fmt::format("cpu group assignment on create requires a build of {} or higher", kBuild21H1));
    }
    processor.cpu_group = schema::CpuGroup{o.cpu_group_id};
  }
  return processor;
}

std::optional<schema::StorageQoS> storage_qos(const LegacyOptions& o) {
  if (o.storage_qos_bandwidth <= 0 && o.storage_qos_iops <= 0) return std::nullopt;
  return schema::StorageQoS{non_zero<std::int64_t>(o.storage_qos_iops),
                            non_zero<std::int64_t>(o.storage_qos_bandwidth)};
}

schema::VirtualMachineMemory memory_of(const LegacyOptions& o, std::uint64_t size) {
  schema::VirtualMachineMemory memory;
  memory.size_in_mb = non_zero(size);
  memory.allow_overcommit = non_zero(o.allow_overcommit);
  memory.enable_deferred_commit = non_zero(o.enable_deferred_commit);
  memory.enable_cold_discard_hint = non_zero(o.enable_cold_discard_hint);
  memory.low_mmio_gap_in_mb = non_zero(o.low_mmio_gap_in_mb);
  memory.high_mmio_base_in_mb = non_zero(o.high_mmio_base_in_mb);
  memory.high_mmio_gap_in_mb = non_zero(o.high_mmio_gap_in_mb);
  return memory;
}

std::map<std::string, schema::Scsi> scsi_controllers(std::size_t count) {
  std::map<std::string, schema::Scsi> scsi;
  for (std::size_t i = 0; i < count; ++i) scsi[kScsiControllerGuids[i]] = schema::Scsi{};
  return scsi;
}

schema::Attachment read_only_disk(const std::string& path) {
  schema::Attachment disk;
  disk.type = "VirtualDisk";
  disk.path = path;
  disk.read_only = true;
  return disk;
}

// makeLCOWVMGSDoc + makeLCOWSecurityDoc: the SNP VM booting from a VMGS copy in the bundle.
schema::ComputeSystem make_security_document(const LegacyOptions& o, const std::string& owner,
                                             const std::string& bundle, std::size_t scsi_count,
                                             const BuildEnvironment& environment, BuildResult& result) {
  if (o.preferred_rootfs != RootFsType::NotApplicable) {
    fail("specifying a PreferredRootFSType is incompatible with SNP mode");
  }
  const std::string vmgs_template = winpath::join(o.boot_files_path, o.guest_state_file);
  if (!file_exists(environment, vmgs_template)) {
    fail_not_found(fmt::format("the GuestState vmgs file '{}' was not found", vmgs_template));
  }
  const std::string dm_verity_template = winpath::join(o.boot_files_path, o.dm_verity_rootfs_vhd);
  if (!file_exists(environment, dm_verity_template)) {
    fail_not_found(fmt::format("the DM Verity VHD file '{}' was not found", dm_verity_template));
  }
  const schema::VirtualMachineProcessor processor = fetch_processor(o, environment.host, result.warnings);
  const std::string vmgs = winpath::join(bundle, o.guest_state_file);
  const std::string dm_verity = winpath::join(bundle, kDefaultDmVerityRootFsVhd);
  result.staged_files = {{vmgs_template, vmgs}, {dm_verity_template, dm_verity}};
  const std::uint64_t size = normalize_memory_size(o.memory_size_in_mb, result.warnings);

  schema::HvSocketSystemConfig hv_socket;
  hv_socket.default_bind_security_descriptor = kEveryoneSddl;
  hv_socket.default_connect_security_descriptor = kAdminsAndSystemSddl;
  hv_socket.service_table = o.additional_hv_socket;
  add_confidential_vsock_ports(hv_socket, o.extra_vsock_ports);

  schema::VirtualMachine vm;
  vm.stop_on_reset = true;
  vm.compute_topology = schema::Topology{memory_of(o, size), processor, std::nullopt};
  vm.storage_qos = storage_qos(o);
  schema::Devices devices;
  devices.hv_socket = schema::HvSocket2{hv_socket};
  devices.plan9 = schema::Plan9{};
  devices.scsi = scsi_controllers(scsi_count);
  if (scsi_count > 0 && o.dm_verity_mode)
    devices.scsi[kScsiControllerGuids[0]].attachments["0"] = read_only_disk(dm_verity);
  vm.devices = std::move(devices);
  vm.chipset = schema::Chipset{};
  vm.chipset->uefi = schema::Uefi{};
  vm.chipset->uefi->apply_secure_boot_template = "Apply";
  vm.chipset->uefi->secure_boot_template_id = kSecureBootTemplateId;
  vm.guest_state = schema::GuestState{vmgs, "FileMode", std::nullopt, true};

  schema::IsolationSettings isolation;
  isolation.isolation_type = "SecureNestedPaging";
  isolation.launch_data = non_zero(security_policy_launch_data(o.security_policy, ""));
  isolation.hcl_enabled = o.hcl_enabled;
  vm.security_settings = schema::SecuritySettings{std::nullopt, isolation};

  schema::ComputeSystem document;
  document.owner = non_zero(owner);
  document.schema_version = schema::Version{2, 5};
  document.should_terminate_on_last_handle_closed = true;
  document.virtual_machine = std::move(vm);
  return document;
}

// MakeLCOWDoc: kernel-direct or UEFI boot with the kernel command line built from the options.
schema::ComputeSystem make_document(const LegacyOptions& o, const std::string& owner, std::size_t scsi_count,
                                    const LegacyProcess& process, const BuildEnvironment& environment,
                                    BuildResult& result) {
  const hcs::HostProfile& host = environment.host;
  std::vector<std::string>& warnings = result.warnings;
  const std::string kernel_path = winpath::join(o.boot_files_path, o.kernel_file);
  if (!file_exists(environment, kernel_path)) {
    fail_not_found(fmt::format("failed to generate legacy LCOW HCS document: kernel: '{}' not found", kernel_path));
  }
  const std::string rootfs_path = winpath::join(o.boot_files_path, o.rootfs_file);
  if (!file_exists(environment, rootfs_path)) {
    fail_not_found(fmt::format("failed to generate legacy LCOW HCS document: boot file: '{}' not found", rootfs_path));
  }

  schema::VirtualMachineProcessor processor = fetch_processor(o, host, warnings);
  const NumaTopology numa = prepare_vnuma(o.numa, host, warnings);
  const std::uint64_t size = normalize_memory_size(o.memory_size_in_mb, warnings);
  if (numa.numa) {
    if (o.allow_overcommit) fail("vNUMA supports only Physical memory backing type");
    validate_numa_for_vm(*numa.numa, processor.count.value_or(0), size);
  }
  if (numa.processors) processor.numa_processors_settings = numa.processors;

  schema::VirtualMachine vm;
  vm.stop_on_reset = true;
  vm.chipset = schema::Chipset{};
  schema::VirtualMachineMemory memory = memory_of(o, size);
  if (numa.numa || numa.processors) memory.slit_type = schema::VirtualSlitType::FirmwareFallbackMeasured;
  vm.compute_topology = schema::Topology{memory, processor, numa.numa};
  if (o.resource_partition_id) vm.resource_partition_id = o.resource_partition_id;

  schema::Devices devices;
  schema::HvSocketSystemConfig hv_socket;
  hv_socket.default_bind_security_descriptor = kAdminsAndSystemSddl;  // admins and SYSTEM may bind: the GCS log socket
  hv_socket.service_table = o.additional_hv_socket;
  devices.hv_socket = schema::HvSocket2{hv_socket};
  devices.plan9 = schema::Plan9{};
  if (!o.assigned_devices.empty()) {
    std::optional<bool> propagate;
    if (host.os_build >= kBuild25H1Server && (numa.numa || numa.processors)) propagate = true;
    std::set<std::pair<std::string, std::uint16_t>> seen;
    for (const VpciFunction& function : o.assigned_devices) {
      if (!seen.emplace(function.instance_path, function.virtual_function).second) {
        fail(fmt::format("device {} with index {} is specified multiple times", function.instance_path,
                         function.virtual_function));
      }
      schema::VirtualPciDevice device;
      device.functions.push_back(
          schema::VirtualPciFunction{non_zero(function.instance_path), non_zero(function.virtual_function), {}});
      device.propagate_numa_affinity = propagate;
      devices.virtual_pci[new_guid(environment)] = device;
    }
  }
  vm.storage_qos = storage_qos(o);
  devices.scsi = scsi_controllers(scsi_count);
  if (o.vpmem_count > 0) {
    schema::VirtualPMemController vpmem;
    vpmem.maximum_count = non_zero(static_cast<std::uint8_t>(o.vpmem_count));
    vpmem.maximum_size_bytes = non_zero(o.vpmem_size_bytes);
    devices.virtual_pmem = vpmem;
  }

  std::string args;
  if (o.preferred_rootfs == RootFsType::Initrd) {
    if (!o.kernel_direct) args = "initrd=/" + o.rootfs_file;
  } else if (o.preferred_rootfs == RootFsType::Vhd) {
    if (o.vpmem_count > 0) {
      // The rootfs VHD on vPMem device 0. hcsshim compares filepath.Ext (".vhdx", with its dot) with "vhdx", so the
      // format is always Vhd1.
      args = "root=/dev/pmem0 ro rootwait init=/init";
      schema::VirtualPMemDevice rootfs;
      rootfs.host_path = rootfs_path;
      rootfs.read_only = true;
      rootfs.image_format = "Vhd1";
      devices.virtual_pmem->devices["0"] = rootfs;
    } else {
      args = "root=/dev/sda ro rootwait init=/init";
      if (o.dm_verity_mode) {
        if (o.dm_verity_create_args.empty()) {
          fail(
              fmt::format("DmVerityCreateArgs must be set when DmVerityMode is true and not booting from a vmgs file "
                          "({} needs {})",
                          keys::kDmVerityMode, keys::kDmVerityCreateArgs));
        }
        args = fmt::format("root=/dev/dm-0 dm-mod.create={} init=/init", go_quote(o.dm_verity_create_args));
      }
      if (scsi_count > 0) devices.scsi[kScsiControllerGuids[0]].attachments["0"] = read_only_disk(rootfs_path);
    }
  }
  // hv_sock, never virtio-vsock, carries the guest's vsock traffic.
  args += " initcall_blacklist=virtio_vsock_init";
  const bool arm64 = host.architecture == "arm64";
  const bool debugging = !o.console_pipe.empty();
  if (debugging) {
    args += arm64 ? " console=ttyAMA0,115200" : " 8250_core.nr_uarts=1 8250_core.skip_txen_test=1 console=ttyS0,115200";
    devices.com_ports["0"] = schema::ComPort{o.console_pipe, {}};
  } else if (!arm64) {
    args += " 8250_core.nr_uarts=0";
  }
  if (!debugging) args += " panic=-1 quiet";  // a kernel panic ends the VM
  if (!o.kernel_boot_options.empty()) args += " " + o.kernel_boot_options;
  if (!o.vpci_enabled) args += " pci=off";

  std::string exec_command_line = o.exec_command_line;
  if (o.disable_time_sync) exec_command_line += " -disable-time-sync";
  if (!process.scrub_logs) exec_command_line += " -scrub-logs=false";
  std::string exec = fmt::format("/bin/vsockexec -e {} {}", kLogVsockPort, exec_command_line);
  if (!o.process_dump_location.empty()) exec += " -core-dump-location " + o.process_dump_location;
  std::string init = fmt::format("-e {}", kEntropyVsockPort);
  if (o.writable_overlay_dirs) {
    if (o.preferred_rootfs == RootFsType::Initrd) {
      warnings.push_back("ignoring WritableOverlayDirs: the initrd root filesystem is already writable");
    } else if (o.preferred_rootfs == RootFsType::Vhd) {
      init += " -w";
    }
  }
  init += debugging ? " sh -c \"" + exec + " & exec sh\"" : " " + exec;
  // The unclamped processor count, as hcsshim writes it.
  args += fmt::format(" nr_cpus={} brd.rd_nr=0 pmtmr=0 -- {}", o.processor_count, init);

  if (!o.kernel_direct) {
    schema::UefiBootEntry entry;
    entry.device_path = "\\" + o.kernel_file;
    entry.device_type = schema::UefiBootDevice::VmbFs;
    entry.vmb_fs_root_path = non_zero(o.boot_files_path);
    entry.optional_data = args;
    vm.chipset->uefi = schema::Uefi{};
    vm.chipset->uefi->boot_this = entry;
  } else {
    schema::LinuxKernelDirect direct;
    direct.kernel_file_path = kernel_path;
    direct.kernel_cmd_line = args;
    if (o.preferred_rootfs == RootFsType::Initrd) direct.init_rd_path = rootfs_path;
    vm.chipset->linux_kernel_direct = direct;
  }
  vm.devices = std::move(devices);

  schema::ComputeSystem document;
  document.owner = non_zero(owner);
  document.schema_version = schema::Version{2, 1};
  document.should_terminate_on_last_handle_closed = true;
  document.virtual_machine = std::move(vm);
  return document;
}

}  // namespace

BuildResult build_legacy(const LegacySpec& spec, const std::optional<RuntimeOptions>& runtime_options,
                         const std::string& owner, const std::string& bundle, const BuildEnvironment& environment,
                         const LegacyProcess& process) {
  BuildResult result;
  std::vector<std::string>& warnings = result.warnings;

  // UpdateSpecFromOptions: the runtime options become annotations where the spec has none of its own.
  Annotations annotations = with_runtime_options(spec.annotations, runtime_options);
  process_annotations(annotations, warnings);
  const AnnotationReader reader(annotations, warnings);
  const LegacyOptions o = spec_to_options(reader, annotations, spec, environment, process, warnings);
  verify_options(o, environment.host);

  // Without vPMem the layers need every SCSI controller (from RS5 on).
  const std::size_t scsi_count =
      environment.host.os_build >= kBuildRs5 && o.vpmem_count == 0 ? kScsiControllerGuids.size() : 1;
  result.document = o.guest_state_file.empty()
                        ? make_document(o, owner, scsi_count, process, environment, result)
                        : make_security_document(o, owner, bundle, scsi_count, environment, result);

  SandboxOptions& sandbox = result.sandbox_options;
  sandbox.no_writable_file_shares = o.no_writable_file_shares;
  sandbox.enable_scratch_encryption = o.enable_scratch_encryption;
  sandbox.policy_based_routing = o.policy_based_routing;
  sandbox.fully_physically_backed = !o.allow_overcommit;
  if (o.security_policy_enabled) {
    sandbox.confidential = ConfidentialConfig{o.security_policy, o.security_policy_enforcer, o.reference_info_file,
                                              o.hash_envelope_reference_info_file};
  }
  return result;
}

}  // namespace shimcore::builder::lcow
