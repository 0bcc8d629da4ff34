// The LCOW builders on inputs the golden set does not cover: lenient parsing, conflicts, build gates, the
// confidential (SNP) document, vNUMA, vPCI, the console, and V2's refusals.
#include <set>
#include <string>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <nlohmann/json.hpp>

#include "shimcore/builder/lcow.h"
#include "shimcore/errdefs.h"

namespace {

namespace lcow = shimcore::builder::lcow;
using Catch::Matchers::ContainsSubstring;
using shimcore::builder::Annotations;
using shimcore::builder::BuildEnvironment;
using shimcore::builder::RuntimeOptions;
using Json = nlohmann::json;

const std::string kBoot = R"(C:\boot)";
const std::string kPrefix = "io.microsoft.virtualmachine.";

BuildEnvironment environment(std::uint32_t build = 20348,
                             std::set<std::string> files = {"kernel", "vmlinux", "initrd.img", "rootfs.vhd"}) {
  BuildEnvironment env;
  env.host.os_build = build;
  env.host.logical_processors = 16;
  env.host.active_processors = 8;
  env.file_exists = [files](const std::string& path) {
    if (path == kBoot) return true;
    for (const std::string& file : files) {
      if (path == kBoot + "\\" + file) return true;
    }
    return false;
  };
  int next = 0;
  env.new_guid = [next]() mutable { return "00000000-0000-4000-8000-00000000000" + std::to_string(next++ % 10); };
  return env;
}

RuntimeOptions options() {
  RuntimeOptions opts;
  opts.sandbox_platform = "linux/amd64";
  opts.boot_files_root_path = kBoot;
  return opts;
}

Json v2(const Annotations& annotations, const BuildEnvironment& env = environment(),
        const std::vector<shimcore::builder::WindowsDevice>& devices = {}) {
  return lcow::build_v2({annotations, devices}, options(), "owner", R"(C:\bundle)", env).document;
}

Json legacy(Annotations annotations, const BuildEnvironment& env = environment(),
            const std::vector<shimcore::builder::WindowsDevice>& devices = {}) {
  annotations.emplace(kPrefix + "devices.virtualpmem.maximumcount", "0");
  return lcow::build_legacy({annotations, devices, std::nullopt}, options(), "owner", R"(C:\bundle)", env).document;
}

std::string kernel_command_line(const Json& document) {
  return document["VirtualMachine"]["Chipset"]["LinuxKernelDirect"]["KernelCmdLine"].get<std::string>();
}

}  // namespace

TEST_CASE("unknown annotations are ignored and unparsable values fall back to the default with a warning",
          "[lcow][builder]") {
  const Annotations annotations = {{"io.example.unknown", "anything"},
                                   {kPrefix + "computetopology.processor.count", "many"},
                                   {kPrefix + "computetopology.memory.sizeinmb", "-3"}};
  const lcow::BuildResult result = lcow::build_v2({annotations, {}}, options(), "owner", "", environment());
  const Json document = result.document;
  CHECK(document["VirtualMachine"]["ComputeTopology"]["Processor"]["Count"] == 2);
  CHECK(document["VirtualMachine"]["ComputeTopology"]["Memory"]["SizeInMB"] == 1024);
  REQUIRE(result.warnings.size() == 2);
  CHECK_THAT(result.warnings[0] + result.warnings[1], ContainsSubstring("processor.count"));
  CHECK_THAT(result.warnings[0] + result.warnings[1], ContainsSubstring("memory.sizeinmb"));
  CHECK(document == legacy(annotations));
}

TEST_CASE("contradictory annotations are rejected with a message naming both keys", "[lcow][builder]") {
  const Annotations expansion = {{"io.microsoft.disable-unsafe-operations", "true"},
                                 {kPrefix + "fileshares.disablewritable", "false"}};
  for (const bool use_v2 : {true, false}) {
    CAPTURE(use_v2);
    try {
      use_v2 ? v2(expansion) : legacy(expansion);
      FAIL("accepted");
    } catch (const shimcore::Error& error) {
      CHECK(error.kind() == shimcore::ErrorKind::InvalidArgument);
      CHECK_THAT(error.what(), ContainsSubstring("io.microsoft.disable-unsafe-operations") &&
                                   ContainsSubstring("io.microsoft.virtualmachine.fileshares.disablewritable"));
    }
  }
  const Annotations group_and_partition = {{kPrefix + "cpugroup.id", "g"},
                                           {kPrefix + "resource-partition-id", "0d9a5a9e-6a3c-4b8c-9f1e-2b7c4e3d1a10"}};
  CHECK_THROWS_WITH(v2(group_and_partition),
                    ContainsSubstring(kPrefix + "cpugroup.id") && ContainsSubstring(kPrefix + "resource-partition-id"));
  CHECK_THROWS_WITH(legacy(group_and_partition),
                    ContainsSubstring(kPrefix + "cpugroup.id") && ContainsSubstring(kPrefix + "resource-partition-id"));
  const Annotations hpc = {{"io.microsoft.disable-unsafe-operations", "true"},
                           {"microsoft.com/hostprocess-container", "true"}};
  CHECK_THROWS_WITH(v2(hpc), ContainsSubstring("microsoft.com/disable-hostprocess-container") &&
                                 ContainsSubstring("microsoft.com/hostprocess-container"));
}

TEST_CASE("the expansion of disable-unsafe-operations reaches the sandbox options", "[lcow][builder]") {
  const lcow::BuildResult result =
      lcow::build_v2({{{"io.microsoft.disable-unsafe-operations", "true"}}, {}}, options(), "owner", "", environment());
  CHECK(result.sandbox_options.no_writable_file_shares);
}

TEST_CASE("build-number gates", "[lcow][builder]") {
  CHECK_THROWS(v2({{kPrefix + "cpugroup.id", "g"}}, environment(19042)));
  CHECK_THROWS(legacy({{kPrefix + "cpugroup.id", "g"}}, environment(19042)));
  CHECK_THROWS(v2({{kPrefix + "computetopology.memory.enablecolddiscardhint", "true"}}, environment(18966)));
  // Before 18286 there is no kernel-direct boot: UEFI by default, an explicit request is refused.
  CHECK(v2({}, environment(18285))["VirtualMachine"]["Chipset"].contains("Uefi"));
  CHECK_THROWS(v2({{kPrefix + "lcow.kerneldirectboot", "true"}}, environment(18285)));
  // One SCSI controller before RS5.
  CHECK(v2({}, environment(17134))["VirtualMachine"]["Devices"]["Scsi"].size() == 1);
  CHECK(v2({}, environment(17763))["VirtualMachine"]["Devices"]["Scsi"].size() == 4);
  // vNUMA needs 26100.
  const Annotations numa = {{kPrefix + "computetopology.memory.allowovercommit", "false"},
                            {kPrefix + "computetopology.processor.numa.max-processors-per-node", "2"},
                            {kPrefix + "computetopology.processor.numa.max-size-per-node", "512"}};
  CHECK_THROWS_WITH(v2(numa, environment(20348)), ContainsSubstring("vNUMA"));
  const Json document = v2(numa, environment(26100));
  CHECK(document["VirtualMachine"]["ComputeTopology"]["Numa"] == Json::parse(R"({"MaxSizePerNode":512})"));
  CHECK(document["VirtualMachine"]["ComputeTopology"]["Processor"]["NumaProcessorsSettings"] ==
        Json::parse(R"({"count_per_node":{"max":2}})"));
  CHECK(document["VirtualMachine"]["ComputeTopology"]["Memory"]["SlitType"] == "FirmwareFallbackMeasured");
  CHECK(document == legacy(numa, environment(26100)));
}

TEST_CASE("explicit vNUMA must add up to the VM", "[lcow][builder]") {
  Annotations numa = {{kPrefix + "computetopology.memory.allowovercommit", "false"},
                      {kPrefix + "computetopology.processor.count", "4"},
                      {kPrefix + "computetopology.memory.sizeinmb", "2048"},
                      {kPrefix + "computetopology.numa.mapped-physical-nodes", "0,1"},
                      {kPrefix + "computetopology.numa.count-of-processors", "2,2"},
                      {kPrefix + "computetopology.numa.count-of-memory-blocks", "1024,1024"}};
  const Json document = v2(numa, environment(26100));
  CHECK(document["VirtualMachine"]["ComputeTopology"]["Numa"] == Json::parse(R"({"VirtualNodeCount":2,"Settings":[
      {"MemoryBackingType":"Physical","CountOfProcessors":2,"CountOfMemoryBlocks":1024},
      {"VirtualNodeNumber":1,"PhysicalNodeNumber":1,"VirtualSocketNumber":1,"MemoryBackingType":"Physical",
       "CountOfProcessors":2,"CountOfMemoryBlocks":1024}]})"));
  numa[kPrefix + "computetopology.numa.count-of-memory-blocks"] = "1024,512";
  CHECK_THROWS_WITH(v2(numa, environment(26100)), ContainsSubstring("does not match UVM memory"));
}

TEST_CASE("kernel command line: hcsshim's order, console, dm-verity, initrd", "[lcow][builder]") {
  CHECK(kernel_command_line(v2({})) ==
        "root=/dev/sda ro rootwait init=/init initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=0 panic=-1 quiet "
        "pci=off nr_cpus=2 brd.rd_nr=0 pmtmr=0 -- -e 1 /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json -loglevel "
        "info");
  const Json console = v2({{kPrefix + "console.pipe", R"(\\.\pipe\vm)"}});
  CHECK_THAT(kernel_command_line(console),
             ContainsSubstring("8250_core.nr_uarts=1 8250_core.skip_txen_test=1 console=ttyS0,115200 pci=off") &&
                 ContainsSubstring(R"(-e 1 sh -c"/bin/vsockexec -e 109 /bin/gcs)") &&
                 ContainsSubstring(R"(-loglevel info& exec sh")"));
  CHECK(console["VirtualMachine"]["Devices"]["ComPorts"] == Json::parse(R"({"0":{"NamedPipe":"\\\\.\\pipe\\vm"}})"));
  CHECK_THROWS_WITH(v2({{kPrefix + "console.pipe", R"(C:\not-a-pipe)"}}), ContainsSubstring("console.pipe"));
  // The legacy path quotes differently and does not check the pipe name.
  CHECK_THAT(kernel_command_line(legacy({{kPrefix + "console.pipe", "COM1"}})),
             ContainsSubstring(R"(-e 1 sh -c "/bin/vsockexec -e 109)") && ContainsSubstring("info & exec sh\""));

  const Json verity = v2({{kPrefix + "lcow.dmverity-mode", "true"},
                          {kPrefix + "lcow.dmverity-create-args", "vroot,,,ro,0 8 verity \"a\""}});
  CHECK_THAT(kernel_command_line(verity),
             ContainsSubstring(R"(root=/dev/dm-0 dm-mod.create="vroot,,,ro,0 8 verity \"a\"" init=/init )"));
  CHECK_THROWS(v2({{kPrefix + "lcow.dmverity-mode", "true"}}));

  // Kernel-direct with an initrd: InitRdPath, no rootfs arguments (legacy leaves a leading space).
  const Annotations initrd = {{kPrefix + "lcow.preferredrootfstype", "initrd"}};
  const Json direct = v2(initrd)["VirtualMachine"]["Chipset"]["LinuxKernelDirect"];
  CHECK(direct["InitRdPath"] == R"(C:\boot\initrd.img)");
  CHECK(direct["KernelCmdLine"].get<std::string>().starts_with("initcall_blacklist="));
  CHECK(kernel_command_line(legacy(initrd)).starts_with(" initcall_blacklist="));

  // Live migration: no Plan9, vsockexec reconnects.
  const Json migratable = v2({{"io.microsoft.migration.support-enabled", "true"}});
  CHECK_FALSE(migratable["VirtualMachine"]["Devices"].contains("Plan9"));
  CHECK_THAT(kernel_command_line(migratable), ContainsSubstring("/bin/vsockexec -r -e 109"));
}

TEST_CASE("runtime options: GCS log level and scrubbing on the V2 path", "[lcow][builder]") {
  RuntimeOptions opts = options();
  opts.log_level = "debug";
  opts.scrub_logs = false;
  const Json document = lcow::build_v2({}, opts, "owner", "", environment()).document;
  CHECK_THAT(kernel_command_line(document), ContainsSubstring("-loglevel debug -scrub-logs=false"));
}

TEST_CASE("V2 refusals: no options, platform, vPMem, ncproxy, kernel drivers, no-multimapping", "[lcow][builder]") {
  CHECK_THROWS_WITH(lcow::build_v2({}, std::nullopt, "o", "", environment()), ContainsSubstring("no options"));
  RuntimeOptions windows = options();
  windows.sandbox_platform = "windows/amd64";
  CHECK_THROWS_WITH(lcow::build_v2({}, windows, "o", "", environment()), ContainsSubstring("windows/amd64"));
  CHECK_THROWS_WITH(v2({{kPrefix + "devices.virtualpmem.maximumcount", "4"}}), ContainsSubstring("vPMem"));
  // Physically backed VMs never get vPMem, so the count is ignored.
  CHECK_NOTHROW(v2({{kPrefix + "devices.virtualpmem.maximumcount", "4"}, {kPrefix + "fullyphysicallybacked", "true"}}));
  for (const std::string& key : {std::string("io.microsoft.network.ncproxy"), kPrefix + "kerneldrivers",
                                 kPrefix + "lcow.vpmem.nomultimapping"}) {
    CHECK_THROWS_WITH(v2({{key, "x"}}), ContainsSubstring(key));
  }
  // The legacy path takes all of them.
  const Json with_vpmem = lcow::build_legacy({{{kPrefix + "lcow.vpmem.nomultimapping", "true"}}, {}, std::nullopt},
                                             options(), "o", "", environment())
                              .document;
  CHECK(with_vpmem["VirtualMachine"]["Devices"]["VirtualPMem"]["MaximumCount"] == 64);
}

TEST_CASE("vPCI devices: random VMBus keys, virtual functions, duplicates, other types skipped", "[lcow][builder]") {
  const std::vector<shimcore::builder::WindowsDevice> devices = {
      {R"(PCIP\VEN_1&DEV_2\3)", "vpci-instance-id"}, {"GPU-1", "gpu"}, {"class/x", "class"}};
  const Json document = v2({}, environment(), devices);
  CHECK(document["VirtualMachine"]["Devices"]["VirtualPci"] == Json::parse(R"({
      "00000000-0000-4000-8000-000000000000":{"Functions":[{"DeviceInstancePath":"PCIP\\VEN_1&DEV_2","VirtualFunction":3}]},
      "00000000-0000-4000-8000-000000000001":{"Functions":[{"DeviceInstancePath":"GPU-1"}]}})"));
  CHECK(document == legacy({}, environment(), devices));
  CHECK_THROWS_WITH(v2({}, environment(), {{"A/1", "vpci"}, {R"(A\1)", "gpu"}}),
                    ContainsSubstring("specified multiple times"));
}

TEST_CASE("hvsocket service table from annotations", "[lcow][builder]") {
  const Json document = v2({{kPrefix + "hv-socket.service-table.ABCDEF01-0000-0000-0000-000000000001",
                             R"j({"bindsecuritydescriptor":"D:P(A;;FA;;;WD)","AllowWildcardBinds":true,"x":1})j"},
                            {kPrefix + "hv-socket.service-table.not-a-guid", "{}"},
                            {kPrefix + "hv-socket.service-table.00000000-0000-0000-0000-000000000002", "[]"}});
  CHECK(document["VirtualMachine"]["Devices"]["HvSocket"]["HvSocketConfig"]["ServiceTable"] ==
        Json::parse(R"j({"abcdef01-0000-0000-0000-000000000001":
                        {"BindSecurityDescriptor":"D:P(A;;FA;;;WD)","AllowWildcardBinds":true}})j"));
}

TEST_CASE("confidential (SNP): schema 2.5, VMGS from the bundle, dm-verity rootfs, launch data", "[lcow][builder]") {
  // base64 of {"allow_all":true}; its SHA-256, base64-encoded, is the launch data.
  const Annotations snp = {{kPrefix + "lcow.securitypolicy", "eyJhbGxvd19hbGwiOnRydWV9"},
                           {kPrefix + "lcow.hcl-enabled", "false"},
                           {kPrefix + "console.pipe", R"(\\.\pipe\ignored)"}};
  const BuildEnvironment env = environment(20348, {"kernel.vmgs", "rootfs.vhd", "kernel"});
  const lcow::BuildResult result = lcow::build_v2({snp, {}}, options(), "owner", R"(C:\bundle)", env);
  const Json document = result.document;
  CHECK(document["SchemaVersion"] == Json::parse(R"({"Major":2,"Minor":5})"));
  const Json& vm = document["VirtualMachine"];
  CHECK(vm["Chipset"] == Json::parse(R"({"Uefi":{"ApplySecureBootTemplate":"Apply",
                                         "SecureBootTemplateId":"1734c6e8-3154-4dda-ba5f-a874cc483422"}})"));
  CHECK(vm["GuestState"] == Json::parse(R"({"GuestStateFilePath":"C:\\bundle\\kernel.vmgs",
                                            "GuestStateFileType":"FileMode","ForceTransientState":true})"));
  CHECK(vm["SecuritySettings"]["Isolation"]["IsolationType"] == "SecureNestedPaging");
  CHECK(vm["SecuritySettings"]["Isolation"]["HclEnabled"] == false);
  CHECK(vm["SecuritySettings"]["Isolation"]["LaunchData"] == "NrnRV6dWwAa7pEGOgX0gNH6UvQEweaA+SQgbs6ZyloA=");
  CHECK(vm["Devices"]["Scsi"]["df6d0690-79e5-55b6-a5ec-c1e2f77f580a"]["Attachments"]["0"]["Path"] ==
        R"(C:\bundle\rootfs.vhd)");
  CHECK_FALSE(vm["Devices"].contains("ComPorts"));
  CHECK(vm["Devices"]["HvSocket"]["HvSocketConfig"]["ServiceTable"].size() == 4);
  CHECK_FALSE(vm["ComputeTopology"]["Memory"].contains("AllowOvercommit"));
  CHECK(result.staged_files.size() == 2);
  CHECK(result.sandbox_options.enable_scratch_encryption);
  CHECK(result.sandbox_options.fully_physically_backed);
  REQUIRE(result.sandbox_options.confidential);
  CHECK(result.sandbox_options.confidential->security_policy_enforcer == "rego");

  // The legacy SNP document is the same VM, without V2's extras.
  const Json legacy_document =
      lcow::build_legacy({snp, {}, std::nullopt}, options(), "owner", R"(C:\bundle)", env).document;
  CHECK(legacy_document["VirtualMachine"]["SecuritySettings"] == vm["SecuritySettings"]);
  CHECK(legacy_document["VirtualMachine"]["GuestState"] == vm["GuestState"]);
  CHECK(legacy_document["VirtualMachine"]["Devices"]["Scsi"] == vm["Devices"]["Scsi"]);

  // Without the VMGS template both refuse.
  CHECK_THROWS_WITH(lcow::build_v2({snp, {}}, options(), "owner", "", environment()), ContainsSubstring("kernel.vmgs"));
  // Without security hardware the policy is kept but the VM is a regular one.
  Annotations soft = snp;
  soft[kPrefix + "no_security_hardware"] = "true";
  const lcow::BuildResult regular = lcow::build_v2({soft, {}}, options(), "owner", "", environment());
  CHECK(regular.document.schema_version->minor == 1);
  CHECK(regular.sandbox_options.enable_scratch_encryption);
}

TEST_CASE("processor and memory normalisation", "[lcow][builder]") {
  const Json document = v2({{kPrefix + "computetopology.processor.count", "64"},
                            {kPrefix + "computetopology.memory.sizeinmb", "1001"},
                            {kPrefix + "computetopology.processor.limit", "-1"}});
  CHECK(document["VirtualMachine"]["ComputeTopology"]["Processor"]["Count"] == 16);
  CHECK(document["VirtualMachine"]["ComputeTopology"]["Processor"]["Limit"] == 4294967295ULL);
  CHECK(document["VirtualMachine"]["ComputeTopology"]["Memory"]["SizeInMB"] == 1002);
  CHECK_THAT(kernel_command_line(document), ContainsSubstring("nr_cpus=16"));
  // The legacy path clamps the VM but writes the requested count on the kernel command line, and sign-extends.
  const Json old = legacy(
      {{kPrefix + "computetopology.processor.count", "64"}, {kPrefix + "computetopology.processor.limit", "-1"}});
  CHECK(old["VirtualMachine"]["ComputeTopology"]["Processor"]["Count"] == 16);
  CHECK(old["VirtualMachine"]["ComputeTopology"]["Processor"]["Limit"] == 18446744073709551615ULL);
  CHECK_THAT(kernel_command_line(old), ContainsSubstring("nr_cpus=64"));
  // One active processor: one virtual processor by default.
  BuildEnvironment single = environment();
  single.host.active_processors = 1;
  CHECK(v2({}, single)["VirtualMachine"]["ComputeTopology"]["Processor"]["Count"] == 1);
}

// Re-derived from hcsshim V1 (internal/oci/uvm.go handleLCOWSecurityPolicy, internal/uvm/create_lcow.go
// makeLCOWVMGSDoc + makeLCOWSecurityDoc, pkg/securitypolicy NewSecurityPolicyDigest).
TEST_CASE("legacy confidential (SNP): the document hcsshim V1 builds, its overrides, what it ignores, its errors",
          "[lcow][builder]") {
  const BuildEnvironment env =
      environment(20348, {"kernel", "vmlinux", "rootfs.vhd", "kernel.vmgs", "custom.vmgs", "verity.vhd"});
  const auto build = [&](Annotations annotations, const std::vector<shimcore::builder::WindowsDevice>& devices = {}) {
    return lcow::build_legacy({std::move(annotations), devices, std::nullopt}, options(), "owner", R"(C:\bundle)", env);
  };
  const std::string policy = "e30=";  // base64 of {}
  const std::string launch_data = "RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=";
  const Json port_rule = Json::parse(R"j({"BindSecurityDescriptor":"D:P(A;;FA;;;WD)",
      "ConnectSecurityDescriptor":"D:P(A;;FA;;;SY)(A;;FA;;;BA)","AllowWildcardBinds":true})j");

  // The plain SNP VM, and everything it leaves out (no HclEnabled, EnableTpm, AllowOvercommit, VPMem, console, kernel).
  const lcow::BuildResult plain = build({{kPrefix + "lcow.securitypolicy", policy}});
  const Json plain_document = plain.document;
  CHECK(plain_document["SchemaVersion"] == Json::parse(R"({"Major":2,"Minor":5})"));
  CHECK(plain_document["Owner"] == "owner");
  CHECK(plain_document["ShouldTerminateOnLastHandleClosed"] == true);
  Json expected = Json::parse(R"j({"StopOnReset":true,
      "Chipset":{"Uefi":{"ApplySecureBootTemplate":"Apply","SecureBootTemplateId":"1734c6e8-3154-4dda-ba5f-a874cc483422"}},
      "ComputeTopology":{"Memory":{"SizeInMB":1024},"Processor":{"Count":2}},
      "Devices":{"Scsi":{"df6d0690-79e5-55b6-a5ec-c1e2f77f580a":{"Attachments":{"0":
                          {"Type":"VirtualDisk","Path":"C:\\bundle\\rootfs.vhd","ReadOnly":true}}},
                         "0110f83b-de10-5172-a266-78bca56bf50a":{},"b5d2d8d4-3a75-51bf-945b-3444dc6b8579":{},
                         "305891a9-b251-5dfe-91a2-c25d9212275b":{}},
                 "HvSocket":{"HvSocketConfig":{"DefaultBindSecurityDescriptor":"D:P(A;;FA;;;WD)",
                                               "DefaultConnectSecurityDescriptor":"D:P(A;;FA;;;SY)(A;;FA;;;BA)"}},
                 "Plan9":{}},
      "GuestState":{"GuestStateFilePath":"C:\\bundle\\kernel.vmgs","GuestStateFileType":"FileMode",
                    "ForceTransientState":true},
      "SecuritySettings":{"Isolation":{"IsolationType":"SecureNestedPaging"}}})j");
  expected["SecuritySettings"]["Isolation"]["LaunchData"] = launch_data;
  for (const char* port : {"00000001", "0000006d", "40000000", "40000001"}) {
    expected["Devices"]["HvSocket"]["HvSocketConfig"]["ServiceTable"]
            [std::string(port) + "-facb-11e6-bd58-64006a7986d3"] = port_rule;
  }
  CHECK(plain_document["VirtualMachine"] == expected);
  CHECK(plain.sandbox_options.enable_scratch_encryption);
  CHECK(plain.sandbox_options.fully_physically_backed);
  REQUIRE(plain.sandbox_options.confidential);
  CHECK(plain.sandbox_options.confidential->security_policy_enforcer.empty());  // V1 has no default enforcer

  // What may still override the policy's choices (guest state file, dm-verity, HCL, scratch encryption) and what
  // passes through; what the policy forces (VPMem 0 even past the limit, overcommit off, no kernel options) stays.
  const lcow::BuildResult overridden = build({{kPrefix + "lcow.securitypolicy", policy},
                                              {kPrefix + "lcow.gueststatefile", "custom.vmgs"},
                                              {kPrefix + "lcow.dmverity-rootfs-vhd", "verity.vhd"},
                                              {kPrefix + "lcow.dmverity-mode", "false"},
                                              {kPrefix + "lcow.hcl-enabled", "false"},
                                              {kPrefix + "lcow.extra-vsock-ports", "1234"},
                                              {kPrefix + "computetopology.memory.allowovercommit", "true"},
                                              {kPrefix + "devices.virtualpmem.maximumcount", "200"},
                                              {kPrefix + "devices.virtualpmem.maximumsizebytes", "5"},
                                              {kPrefix + "lcow.kernelbootoptions", "debug"},
                                              {kPrefix + "computetopology.memory.enablecolddiscardhint", "true"},
                                              {kPrefix + "computetopology.memory.lowmmiogapinmb", "256"},
                                              {kPrefix + "storageqos.iopsmaximum", "100"},
                                              {kPrefix + "cpugroup.id", "g"},
                                              {kPrefix + "console.pipe", R"(\\.\pipe\x)"},
                                              {kPrefix + "storage.scratch.encrypted", "false"}});
  const Json overridden_document = overridden.document;
  const Json& vm = overridden_document["VirtualMachine"];
  CHECK(vm["GuestState"]["GuestStateFilePath"] == R"(C:\bundle\custom.vmgs)");
  REQUIRE(overridden.staged_files.size() == 2);
  CHECK(overridden.staged_files[0].source == R"(C:\boot\custom.vmgs)");
  CHECK(overridden.staged_files[0].destination == R"(C:\bundle\custom.vmgs)");
  CHECK(overridden.staged_files[1].source == R"(C:\boot\verity.vhd)");
  CHECK(overridden.staged_files[1].destination == R"(C:\bundle\rootfs.vhd)");
  CHECK(vm["Devices"]["Scsi"]["df6d0690-79e5-55b6-a5ec-c1e2f77f580a"] == Json::object());
  CHECK(vm["SecuritySettings"]["Isolation"]["HclEnabled"] == false);
  CHECK(vm["Devices"]["HvSocket"]["HvSocketConfig"]["ServiceTable"].size() == 5);
  CHECK(vm["Devices"]["HvSocket"]["HvSocketConfig"]["ServiceTable"]["000004d2-facb-11e6-bd58-64006a7986d3"] ==
        port_rule);
  CHECK(vm["ComputeTopology"]["Memory"] ==
        Json::parse(R"({"SizeInMB":1024,"EnableColdDiscardHint":true,"LowMmioGapInMB":256})"));
  CHECK(vm["ComputeTopology"]["Processor"] == Json::parse(R"({"Count":2,"CpuGroup":{"Id":"g"}})"));
  CHECK(vm["StorageQoS"] == Json::parse(R"({"IopsMaximum":100})"));
  CHECK_FALSE(vm["Devices"].contains("VirtualPMem"));
  CHECK_FALSE(vm["Devices"].contains("ComPorts"));
  CHECK_FALSE(overridden.sandbox_options.enable_scratch_encryption);

  // What an SNP VM ignores: resource partition, vNUMA, vPCI devices (duplicates included).
  const Json ignoring = build({{kPrefix + "lcow.securitypolicy", policy},
                               {kPrefix + "resource-partition-id", "0D9A5A9E-6A3C-4B8C-9F1E-2B7C4E3D1A10"},
                               {kPrefix + "computetopology.processor.numa.max-processors-per-node", "1"}},
                              {{R"(A\1)", "vpci-instance-id"}, {"A/1", "vpci"}})
                            .document;
  REQUIRE(ignoring.contains("VirtualMachine"));
  CHECK_FALSE(ignoring["VirtualMachine"].contains("ResourcePartitionId"));
  CHECK_FALSE(ignoring["VirtualMachine"]["Devices"].contains("VirtualPci"));
  CHECK_FALSE(ignoring["VirtualMachine"]["ComputeTopology"].contains("Numa"));
  CHECK_FALSE(ignoring["VirtualMachine"]["ComputeTopology"]["Processor"].contains("NumaProcessorsSettings"));
  CHECK_FALSE(ignoring["VirtualMachine"]["ComputeTopology"]["Memory"].contains("SlitType"));

  // Errors: Go's base64 offsets, unprefixed in V1 and prefixed in V2; deferred commit under the policy.
  const std::vector<std::pair<std::string, std::size_t>> bad_policies = {{"not-base64", 3}, {"e30", 0},  {"e30=x", 4},
                                                                         {"ZQ=", 3},        {"Z===", 1}, {"ZQ=x", 2}};
  for (const auto& [bad, offset] : bad_policies) {
    CAPTURE(bad);
    const std::string go_text =
        "failed to decode base64 security policy: illegal base64 data at input byte " + std::to_string(offset);
    try {
      build({{kPrefix + "lcow.securitypolicy", bad}});
      FAIL("accepted");
    } catch (const shimcore::Error& error) {
      CHECK(error.kind() == shimcore::ErrorKind::InvalidArgument);
      CHECK(std::string(error.what()) == go_text);
    }
    CHECK_THROWS_WITH(
        lcow::build_v2({{{kPrefix + "lcow.securitypolicy", bad}}, {}}, options(), "owner", R"(C:\bundle)", env),
        "failed to create security policy digest: " + go_text);
  }
  CHECK(Json(build({{kPrefix + "lcow.securitypolicy", "ZQ\r\n=="}})
                 .document)["VirtualMachine"]["SecuritySettings"]["Isolation"]["LaunchData"] ==
        "P3m7e0NbBTIWUdrv03TNxoHcBvqmXjdOODN7iMoEbeo=");  // sha256("e")
  CHECK_THROWS_WITH(build({{kPrefix + "lcow.securitypolicy", policy}, {kPrefix + "computetopology.memory.enabledeferredcommit", "true"}}),
                    ContainsSubstring("EnableDeferredCommit is not supported on physically backed VMs") &&
                        ContainsSubstring(kPrefix + "lcow.securitypolicy"));
  // A guest state file without a policy still asks for the SNP document, which a rootfs type contradicts.
  CHECK_THROWS_WITH(build({{kPrefix + "lcow.gueststatefile", "kernel.vmgs"}}),
                    "specifying a PreferredRootFSType is incompatible with SNP mode");
  // A policy whose guest state file is emptied again gives the regular document, without the cleared kernel options.
  const Json regular = build({{kPrefix + "lcow.securitypolicy", policy},
                              {kPrefix + "lcow.gueststatefile", ""},
                              {kPrefix + "lcow.kernelbootoptions", "debug"}})
                           .document;
  CHECK(regular["SchemaVersion"] == Json::parse(R"({"Major":2,"Minor":1})"));
  CHECK_FALSE(regular["VirtualMachine"].contains("GuestState"));
  CHECK_FALSE(regular["VirtualMachine"].contains("SecuritySettings"));
  CHECK_FALSE(regular["VirtualMachine"]["Chipset"]["LinuxKernelDirect"].contains("InitRdPath"));
  CHECK_THAT(kernel_command_line(regular), !ContainsSubstring("debug") && ContainsSubstring("nr_cpus=2"));
}
