// The V2 LCOW pipeline (hcsshim internal/builder/vm/lcow BuildSandboxConfig): sandbox spec + runhcs options → the
// utility VM's ComputeSystem document and the sandbox options.
#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "builder/lcow/shared.h"

namespace shimcore::builder::lcow {

namespace {

using namespace detail;  // NOLINT(google-build-using-namespace)
namespace schema = hcs::schema;

struct Boot {
  schema::Chipset chipset;
  std::string rootfs_full_path;
};

std::string resolve_boot_files_path(const AnnotationReader& reader, const RuntimeOptions& options,
                                    const BuildEnvironment& environment) {
  std::string path = reader.get_string(keys::kBootFilesRootPath, options.boot_files_root_path);
  if (path.empty()) path = environment.default_boot_files_path;
  path = winpath::abs(path, environment.working_directory);
  if (!file_exists(environment, path)) {
    fail_not_found(fmt::format("failed to parse boot options: boot_files_root_path {:?} not found", path));
  }
  return path;
}

Boot parse_boot_options(const AnnotationReader& reader, const RuntimeOptions& options,
                        const BuildEnvironment& environment) {
  const std::string boot_path = resolve_boot_files_path(reader, options, environment);
  const auto exists = [&](const std::string& name) { return file_exists(environment, winpath::join(boot_path, name)); };
  const hcs::HostProfile& host = environment.host;

  std::string rootfs = exists(kVhdFile) ? kVhdFile : kInitrdFile;
  const bool kernel_direct_supported = host.os_build >= kBuildKernelDirect && host.architecture != "arm64";
  const bool kernel_direct = reader.get_bool(keys::kKernelDirectBoot, kernel_direct_supported);
  if (kernel_direct && !kernel_direct_supported) {
    fail("failed to parse boot options: KernelDirectBoot is not supported on builds older than 18286");
  }

  std::string kernel;
  if (kernel_direct) {
    if (exists(kUncompressedKernelFile)) {
      kernel = kUncompressedKernelFile;
    } else if (exists(kKernelFile)) {
      kernel = kKernelFile;
    } else {
      fail_not_found("failed to parse boot options: kernel file not found in boot files path for kernel direct boot");
    }
  } else {
    kernel = kKernelFile;
    if (!exists(kKernelFile)) {
      fail_not_found(
          fmt::format("failed to parse boot options: kernel file {:?} not found in boot files path", kernel));
    }
  }

  if (const std::string preferred = reader.get_string(keys::kPreferredRootFsType, ""); !preferred.empty()) {
    if (preferred == "initrd") {
      rootfs = kInitrdFile;
    } else if (preferred == "vhd") {
      rootfs = kVhdFile;
    } else {
      fail(fmt::format("failed to parse boot options: invalid PreferredRootFSType: {}", preferred));
    }
    if (!exists(rootfs))
      fail_not_found(fmt::format("failed to parse boot options: {:?} not found in boot files path", rootfs));
  }

  Boot boot;
  if (kernel_direct) {
    schema::LinuxKernelDirect direct;
    direct.kernel_file_path = winpath::join(boot_path, kernel);
    if (rootfs == kInitrdFile) direct.init_rd_path = winpath::join(boot_path, rootfs);
    boot.chipset.linux_kernel_direct = direct;
  } else {
    schema::UefiBootEntry entry;
    entry.device_path = "\\" + kernel;
    entry.device_type = schema::UefiBootDevice::VmbFs;
    entry.vmb_fs_root_path = non_zero(boot_path);
    boot.chipset.uefi = schema::Uefi{};
    boot.chipset.uefi->boot_this = entry;
  }
  boot.rootfs_full_path = winpath::join(boot_path, rootfs);
  return boot;
}

std::string build_kernel_args(const AnnotationReader& reader, const RuntimeOptions& options,
                              std::uint32_t processor_count, bool kernel_direct, bool has_console,
                              const std::string& rootfs_file, bool live_migration) {
  const bool vpci_enabled = reader.get_bool(keys::kVpciEnabled, false);
  const bool disable_time_sync = reader.get_bool(keys::kDisableTimeSync, false);
  const bool writable_overlay_dirs = reader.get_bool(keys::kWritableOverlayDirs, false);
  const std::string dump_location = reader.get_string(keys::kProcessDumpLocation, "");

  std::vector<std::string> args;
  if (rootfs_file == kInitrdFile && !kernel_direct) {
    args.push_back("initrd=/" + rootfs_file);
  } else if (rootfs_file == kVhdFile) {
    if (reader.get_bool(keys::kDmVerityMode, false)) {
      const std::string create_args = reader.get_string(keys::kDmVerityCreateArgs, "");
      if (create_args.empty()) {
        fail(
            "failed to build kernel args: DmVerityCreateArgs should be set when DmVerityMode is true and not booting "
            "from a vmgs file");
      }
      args.push_back(fmt::format("root=/dev/dm-0 dm-mod.create={} init=/init", go_quote(create_args)));
    } else {
      args.emplace_back("root=/dev/sda ro rootwait init=/init");
    }
  }
  // hv_sock, never virtio-vsock, carries the guest's vsock traffic.
  args.emplace_back("initcall_blacklist=virtio_vsock_init");
  if (has_console) {
    args.insert(args.end(), {"8250_core.nr_uarts=1", "8250_core.skip_txen_test=1", "console=ttyS0,115200"});
  } else {
    args.insert(args.end(), {"8250_core.nr_uarts=0", "panic=-1", "quiet"});
  }
  if (std::string boot_options = reader.get_string(keys::kKernelBootOptions, ""); !boot_options.empty()) {
    args.push_back(std::move(boot_options));
  }
  if (!vpci_enabled) args.emplace_back("pci=off");
  args.push_back(fmt::format("nr_cpus={}", processor_count));
  args.insert(args.end(), {"brd.rd_nr=0", "pmtmr=0"});

  std::vector<std::string> gcs = {live_migration ? "/bin/vsockexec -r -e 109" : "/bin/vsockexec -e 109", "/bin/gcs",
                                  "-v4", "-log-format json",
                                  "-loglevel " + (options.log_level.empty() ? std::string("info") : options.log_level)};
  if (disable_time_sync) gcs.emplace_back("-disable-time-sync");
  if (options.scrub_logs) gcs.push_back(fmt::format("-scrub-logs={}", *options.scrub_logs));
  if (!dump_location.empty()) gcs.insert(gcs.end(), {"-core-dump-location", dump_location});
  if (std::string extra = reader.get_string(keys::kExtraExecArgs, ""); !extra.empty()) gcs.push_back(std::move(extra));
  const std::string gcs_command = fmt::format("{}", fmt::join(gcs, " "));

  std::vector<std::string> init = {fmt::format("-e {}", kEntropyVsockPort)};
  if (writable_overlay_dirs) {
    if (rootfs_file == kInitrdFile) {
      reader.warn("ignoring WritableOverlayDirs: the initrd root filesystem is already writable");
    } else if (rootfs_file == kVhdFile) {
      init.emplace_back("-w");
    }
  }
  init.push_back(has_console ? "sh -c\"" + gcs_command + "& exec sh\"" : gcs_command);
  args.emplace_back("--");
  args.push_back(fmt::format("{}", fmt::join(init, " ")));
  return fmt::format("{}", fmt::join(args, " "));
}

}  // namespace

BuildResult build_v2(const SandboxSpec& spec, const std::optional<RuntimeOptions>& runtime_options,
                     const std::string& owner, const std::string& bundle, const BuildEnvironment& environment) {
  if (!runtime_options) fail("no options provided");
  const RuntimeOptions& options = *runtime_options;
  const hcs::HostProfile& host = environment.host;
  BuildResult result;
  std::vector<std::string>& warnings = result.warnings;

  // Annotations: the shim's defaults under the spec's own, then expansion and the refused ones.
  Annotations annotations = spec.annotations;
  for (const auto& [key, value] : options.default_container_annotations) annotations.emplace(key, value);
  process_annotations(annotations, warnings);
  const AnnotationReader reader(annotations, warnings);
  for (const char* key : {keys::kNetworkConfigProxy, keys::kVpmemNoMultiMapping, keys::kKernelDrivers}) {
    if (!reader.get_string(key, "").empty()) fail(fmt::format("{} annotation is not supported", key));
  }

  std::string platform = options.sandbox_platform;
  std::transform(platform.begin(), platform.end(), platform.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (platform != "linux/amd64" && platform != "linux/arm64") {
    fail(fmt::format("unsupported sandbox platform: {}", options.sandbox_platform));
  }

  SandboxOptions& sandbox = result.sandbox_options;
  sandbox.architecture = platform.substr(platform.find('/') + 1);
  sandbox.policy_based_routing = reader.get_bool(keys::kPolicyBasedRouting, false);
  sandbox.no_writable_file_shares = reader.get_bool(keys::kDisableWritableFileShares, false);
  if (std::string policy = reader.get_string(keys::kSecurityPolicy, ""); !policy.empty()) {
    sandbox.confidential = ConfidentialConfig{
        std::move(policy), reader.get_string(keys::kSecurityPolicyEnforcer, "rego"),
        reader.get_string(keys::kReferenceInfoFile, kDefaultReferenceInfoFile),
        reader.get_string(keys::kHashEnvelopeReferenceInfoFile, kDefaultHashEnvelopeReferenceInfoFile)};
  }
  sandbox.enable_scratch_encryption = reader.get_bool(keys::kEncryptedScratch, sandbox.confidential.has_value());

  const bool no_security_hardware = reader.get_bool(keys::kNoSecurityHardware, false);
  // SNP needs both a policy and the hardware; without the hardware the policy is still enforced by the guest.
  const bool confidential = sandbox.confidential.has_value() && !no_security_hardware;
  const bool fully_physically_backed = reader.get_bool(keys::kFullyPhysicallyBacked, false);
  const bool live_migration = reader.get_bool(keys::kLiveMigrationSupport, false);

  // Processors.
  std::int32_t count = reader.get_int32(keys::kProcessorCount, options.vm_processor_count);
  if (count <= 0) count = default_processor_count(host);
  count = normalize_processor_count(count, host, warnings);
  const std::int32_t limit = reader.get_int32(keys::kProcessorLimit, 0);
  const std::int32_t weight = reader.get_int32(keys::kProcessorWeight, 0);
  schema::VirtualMachineProcessor processor;
  processor.count = non_zero(static_cast<std::uint32_t>(count));
  processor.limit = non_zero(std::uint64_t{static_cast<std::uint32_t>(limit)});
  processor.weight = non_zero(std::uint64_t{static_cast<std::uint32_t>(weight)});
  if (const std::string group = reader.get_string(keys::kCpuGroupId, ""); !group.empty()) {
    if (host.os_build < kBuild21H1) {
      fail(
          fmt::format("failed to parse CPU parameters: cpu group assignment on create requires a build of {} or "
                      "higher",
                      kBuild21H1));
    }
    processor.cpu_group = schema::CpuGroup{group};
  }

  // Resource partition: a GUID, and never together with a CPU group.
  std::string resource_partition = reader.get_string(keys::kResourcePartitionId, "");
  if (!resource_partition.empty()) {
    if (!go_parse_guid(resource_partition)) {
      fail(
          fmt::format("failed to parse resource partition parameters: failed to parse resource_partition_id {:?} to "
                      "GUID",
                      resource_partition));
    }
    if (processor.cpu_group) {
      fail(fmt::format("failed to parse resource partition parameters: {} and {} cannot be set at the same time",
                       keys::kCpuGroupId, keys::kResourcePartitionId));
    }
  }

  // Memory. The option is an int32: a negative one wraps to a huge uint64 as Go's conversion does.
  std::uint64_t size =
      reader.get_uint64(keys::kMemorySizeInMb, static_cast<std::uint64_t>(std::int64_t{options.vm_memory_size_in_mb}));
  if (size == 0) size = 1024;
  size = normalize_memory_size(size, warnings);
  bool allow_overcommit = reader.get_bool(keys::kAllowOvercommit, true);
  const bool deferred_commit = reader.get_bool(keys::kEnableDeferredCommit, false);
  if (fully_physically_backed) allow_overcommit = false;
  const bool cold_discard = reader.get_bool(keys::kEnableColdDiscardHint, false);
  if (cold_discard && host.os_build < kBuildColdDiscard) {
    fail("failed to parse memory parameters: EnableColdDiscardHint is not supported on builds older than 18967");
  }
  if (deferred_commit && !allow_overcommit) {
    fail(
        fmt::format("failed to parse memory parameters: enable_deferred_commit is not supported on physically backed "
                    "vms ({} with {} or {})",
                    keys::kEnableDeferredCommit, keys::kAllowOvercommit, keys::kFullyPhysicallyBacked));
  }
  schema::VirtualMachineMemory memory;
  memory.size_in_mb = non_zero(size);
  memory.low_mmio_gap_in_mb = non_zero(reader.get_uint64(keys::kLowMmioGap, 0));
  memory.high_mmio_base_in_mb = non_zero(reader.get_uint64(keys::kHighMmioBase, 0));
  memory.high_mmio_gap_in_mb = non_zero(reader.get_uint64(keys::kHighMmioGap, 0));
  memory.enable_deferred_commit = non_zero(deferred_commit);
  memory.enable_cold_discard_hint = non_zero(cold_discard);

  // vNUMA (not for confidential VMs).
  NumaTopology numa;
  if (!confidential) {
    const NumaRequest request{reader.get_uint32(keys::kNumaMaxProcessorsPerNode, 0),
                              reader.get_uint64(keys::kNumaMaxSizePerNode, 0),
                              reader.get_uint32_list(keys::kNumaPreferredPhysicalNodes, {}),
                              reader.get_uint32_list(keys::kNumaMappedPhysicalNodes, {}),
                              reader.get_uint32_list(keys::kNumaCountOfProcessors, {}),
                              reader.get_uint64_list(keys::kNumaCountOfMemoryBlocks, {})};
    numa = prepare_vnuma(request, host, warnings);
    if (numa.numa) {
      if (allow_overcommit) fail("failed to parse NUMA parameters: vNUMA supports only Physical memory backing type");
      validate_numa_for_vm(*numa.numa, static_cast<std::uint32_t>(count), size);
    }
    processor.numa_processors_settings = numa.processors;
    if (numa.numa || numa.processors) memory.slit_type = schema::VirtualSlitType::FirmwareFallbackMeasured;
  }

  // Storage QoS.
  std::optional<schema::StorageQoS> storage_qos;
  const std::int32_t iops = reader.get_int32(keys::kStorageQosIops, 0);
  const std::int32_t bandwidth = reader.get_int32(keys::kStorageQosBandwidth, 0);
  if (iops > 0 || bandwidth > 0)
    storage_qos = schema::StorageQoS{non_zero<std::int64_t>(iops), non_zero<std::int64_t>(bandwidth)};

  // Boot (the confidential path boots from its VMGS instead).
  Boot boot;
  if (!confidential) boot = parse_boot_options(reader, options, environment);

  // Devices: no vPMem, SCSI controllers up front, the rootfs VHD at controller 0 LUN 0, assigned vPCI devices.
  std::uint32_t vpmem_count = reader.get_uint32(keys::kVpmemCount, 0);
  if (fully_physically_backed || confidential || host.architecture == "arm64") vpmem_count = 0;
  if (vpmem_count > 0) fail("failed to parse device options: v2 shims do not support vPMem devices");
  const std::size_t scsi_count = host.os_build >= kBuildRs5 ? kScsiControllerGuids.size() : 1;
  std::map<std::string, schema::Scsi> scsi;
  for (std::size_t i = 0; i < scsi_count; ++i) scsi[kScsiControllerGuids[i]] = schema::Scsi{};
  if (winpath::base(boot.rootfs_full_path) == kVhdFile && !confidential) {
    schema::Attachment rootfs;
    rootfs.type = "VirtualDisk";
    rootfs.path = boot.rootfs_full_path;
    rootfs.read_only = true;
    scsi[kScsiControllerGuids[0]].attachments["0"] = rootfs;
  }
  std::map<std::string, schema::VirtualPciDevice> vpci;
  if (!confidential && !spec.devices.empty()) {
    std::optional<bool> propagate;
    if (host.os_build >= kBuild25H1Server && numa.numa && numa.processors) propagate = true;
    std::set<std::pair<std::string, std::uint16_t>> seen;
    for (const VpciFunction& function : vpci_functions(spec.devices, warnings)) {
      if (!seen.emplace(function.instance_path, function.virtual_function).second) {
        fail(fmt::format("failed to parse device options: device {} with index {} is specified multiple times",
                         function.instance_path, function.virtual_function));
      }
      schema::VirtualPciDevice device;
      device.functions.push_back(
          schema::VirtualPciFunction{non_zero(function.instance_path), non_zero(function.virtual_function), {}});
      device.propagate_numa_affinity = propagate;
      vpci[new_guid(environment)] = device;
    }
  }

  // hvsocket and the serial console.
  schema::HvSocketSystemConfig hv_socket;
  hv_socket.default_bind_security_descriptor = kAdminsAndSystemSddl;  // admins and SYSTEM may bind: the GCS log socket
  hv_socket.service_table = parse_hv_socket_service_table(annotations, warnings);
  std::map<std::string, schema::ComPort> com_ports;
  if (!confidential) {
    if (const std::string pipe = reader.get_string(keys::kConsolePipe, ""); !pipe.empty()) {
      if (!pipe.starts_with(R"(\\.\pipe\)")) {
        fail(
            fmt::format("failed to parse additional parameters: listener for serial console ({}) is not a named "
                        "pipe",
                        keys::kConsolePipe));
      }
      com_ports["0"] = schema::ComPort{pipe, {}};
    }
  }

  // Confidential (SNP): secure-boot UEFI from a VMGS copy in the bundle, the dm-verity rootfs, launch data.
  std::optional<schema::SecuritySettings> security;
  std::optional<schema::GuestState> guest_state;
  if (confidential) {
    const std::string boot_path = resolve_boot_files_path(reader, options, environment);
    std::string guest_state_file = reader.get_string(keys::kGuestStateFile, "");
    if (guest_state_file.empty()) guest_state_file = kDefaultGuestStateFile;
    const std::string vmgs_template = winpath::join(boot_path, guest_state_file);
    if (!file_exists(environment, vmgs_template)) {
      fail_not_found(fmt::format("failed to parse confidential options: the GuestState vmgs file '{}' was not found",
                                 vmgs_template));
    }
    std::string dm_verity_file = reader.get_string(keys::kDmVerityRootFsVhd, "");
    if (dm_verity_file.empty()) dm_verity_file = kDefaultDmVerityRootFsVhd;
    const std::string dm_verity_template = winpath::join(boot_path, dm_verity_file);
    if (!file_exists(environment, dm_verity_template)) {
      fail_not_found(fmt::format("failed to parse confidential options: the DM Verity VHD file '{}' was not found",
                                 dm_verity_template));
    }
    boot.chipset = schema::Chipset{};
    boot.chipset.uefi = schema::Uefi{};
    boot.chipset.uefi->apply_secure_boot_template = "Apply";
    boot.chipset.uefi->secure_boot_template_id = kSecureBootTemplateId;

    schema::IsolationSettings isolation;
    isolation.isolation_type = "SecureNestedPaging";
    isolation.launch_data = non_zero(security_policy_launch_data(sandbox.confidential->security_policy,
                                                                 "failed to create security policy digest: "));
    isolation.hcl_enabled = reader.get_nullable_bool(keys::kHclEnabled);
    security = schema::SecuritySettings{std::nullopt, isolation};

    hv_socket.default_bind_security_descriptor = kEveryoneSddl;
    hv_socket.default_connect_security_descriptor = kAdminsAndSystemSddl;
    add_confidential_vsock_ports(hv_socket, reader.get_uint32_list(keys::kExtraVsockPorts, {}));

    const std::string vmgs = winpath::join(bundle, guest_state_file);
    const std::string dm_verity = winpath::join(bundle, kDefaultDmVerityRootFsVhd);
    result.staged_files = {{vmgs_template, vmgs}, {dm_verity_template, dm_verity}};
    schema::Attachment rootfs;
    rootfs.type = "VirtualDisk";
    rootfs.path = dm_verity;
    rootfs.read_only = true;
    scsi[kScsiControllerGuids[0]].attachments["0"] = rootfs;
    guest_state = schema::GuestState{vmgs, "FileMode", std::nullopt, true};
    allow_overcommit = false;
  }
  memory.allow_overcommit = non_zero(allow_overcommit);
  sandbox.fully_physically_backed = !allow_overcommit;

  // The kernel command line, once everything it depends on is known (a confidential VMGS carries its own).
  if (!confidential) {
    const std::string kernel_args = build_kernel_args(reader, options, static_cast<std::uint32_t>(count),
                                                      boot.chipset.linux_kernel_direct.has_value(), !com_ports.empty(),
                                                      winpath::base(boot.rootfs_full_path), live_migration);
    if (boot.chipset.linux_kernel_direct) {
      boot.chipset.linux_kernel_direct->kernel_cmd_line = non_zero(kernel_args);
    } else if (boot.chipset.uefi && boot.chipset.uefi->boot_this) {
      boot.chipset.uefi->boot_this->optional_data = non_zero(kernel_args);
    }
  }

  schema::ComputeSystem& document = result.document;
  document.owner = non_zero(owner);
  document.schema_version = schema::Version{2, confidential ? 5 : 1};
  document.should_terminate_on_last_handle_closed = true;
  schema::VirtualMachine vm;
  vm.stop_on_reset = true;
  vm.chipset = boot.chipset;
  vm.compute_topology = schema::Topology{memory, processor, numa.numa};
  vm.storage_qos = storage_qos;
  vm.resource_partition_id = non_zero(resource_partition);
  schema::Devices devices;
  devices.scsi = std::move(scsi);
  devices.virtual_pci = std::move(vpci);
  devices.hv_socket = schema::HvSocket2{hv_socket};
  devices.com_ports = std::move(com_ports);
  // A live-migratable VM has no Plan9 device: its state cannot be saved and restored.
  if (!live_migration) devices.plan9 = schema::Plan9{};
  vm.devices = std::move(devices);
  vm.guest_state = guest_state;
  vm.security_settings = security;
  document.virtual_machine = std::move(vm);
  return result;
}

}  // namespace shimcore::builder::lcow
