// libFuzzer target: random annotation maps, runtime options, devices, hosts and boot files through both LCOW
// pipelines. Either pipeline may reject the input (shimcore::Error); nothing else may escape, and every document must
// serialise and parse back into the schema types.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "shimcore/builder/lcow.h"
#include "shimcore/errdefs.h"
#include "shimcore/hcs/schema/schema.h"

namespace {

namespace builder = shimcore::builder;
namespace lcow = shimcore::builder::lcow;

// Annotation keys the builders read (and a few near misses), so that most fuzzed maps hit real rules.
const std::vector<std::string> kKeys = {
    "io.microsoft.virtualmachine.computetopology.processor.count",
    "io.microsoft.virtualmachine.computetopology.processor.limit",
    "io.microsoft.virtualmachine.computetopology.processor.weight",
    "io.microsoft.virtualmachine.computetopology.memory.sizeinmb",
    "io.microsoft.virtualmachine.computetopology.memory.lowmmiogapinmb",
    "io.microsoft.virtualmachine.computetopology.memory.highmmiobaseinmb",
    "io.microsoft.virtualmachine.computetopology.memory.highmmiogapinmb",
    "io.microsoft.virtualmachine.computetopology.memory.allowovercommit",
    "io.microsoft.virtualmachine.computetopology.memory.enabledeferredcommit",
    "io.microsoft.virtualmachine.computetopology.memory.enablecolddiscardhint",
    "io.microsoft.virtualmachine.fullyphysicallybacked",
    "io.microsoft.virtualmachine.computetopology.processor.numa.max-processors-per-node",
    "io.microsoft.virtualmachine.computetopology.processor.numa.max-size-per-node",
    "io.microsoft.virtualmachine.computetopology.numa.preferred-physical-nodes",
    "io.microsoft.virtualmachine.computetopology.numa.mapped-physical-nodes",
    "io.microsoft.virtualmachine.computetopology.numa.count-of-processors",
    "io.microsoft.virtualmachine.computetopology.numa.count-of-memory-blocks",
    "io.microsoft.virtualmachine.cpugroup.id",
    "io.microsoft.virtualmachine.resource-partition-id",
    "io.microsoft.virtualmachine.storageqos.iopsmaximum",
    "io.microsoft.virtualmachine.storageqos.bandwidthmaximum",
    "io.microsoft.virtualmachine.bootfilesrootpath",
    "io.microsoft.virtualmachine.lcow.kerneldirectboot",
    "io.microsoft.virtualmachine.lcow.preferredrootfstype",
    "io.microsoft.virtualmachine.lcow.kernelbootoptions",
    "io.microsoft.virtualmachine.lcow.vpcienabled",
    "io.microsoft.virtualmachine.lcow.timesync.disable",
    "io.microsoft.virtualmachine.lcow.dmverity-mode",
    "io.microsoft.virtualmachine.lcow.dmverity-create-args",
    "io.microsoft.virtualmachine.lcow.dmverity-rootfs-vhd",
    "io.microsoft.virtualmachine.lcow.securitypolicy",
    "io.microsoft.virtualmachine.lcow.enforcer",
    "io.microsoft.virtualmachine.lcow.gueststatefile",
    "io.microsoft.virtualmachine.lcow.hcl-enabled",
    "io.microsoft.virtualmachine.no_security_hardware",
    "io.microsoft.virtualmachine.storage.scratch.encrypted",
    "io.microsoft.virtualmachine.fileshares.disablewritable",
    "io.microsoft.virtualmachine.devices.virtualpmem.maximumcount",
    "io.microsoft.virtualmachine.devices.virtualpmem.maximumsizebytes",
    "io.microsoft.virtualmachine.lcow.vpmem.nomultimapping",
    "io.microsoft.virtualmachine.kerneldrivers",
    "io.microsoft.network.ncproxy",
    "io.microsoft.container.processdumplocation",
    "io.microsoft.virtualmachine.console.pipe",
    "io.microsoft.virtualmachine.hv-socket.service-table.0000006d-facb-11e6-bd58-64006a7986d3",
    "io.microsoft.virtualmachine.hv-socket.service-table.",
    "io.microsoft.virtualmachine.lcow.extra-vsock-ports",
    "io.microsoft.virtualmachine.lcow.writable-overlay-directories",
    "io.microsoft.virtualmachine.lcow.network.policybasedrouting",
    "io.microsoft.virtualmachine.lcow.extra-exec-command-args",
    "io.microsoft.migration.support-enabled",
    "io.microsoft.disable-unsafe-operations",
    "microsoft.com/hostprocess-container",
    "microsoft.com/disable-hostprocess-container",
};

const std::vector<std::string> kValues = {"true",
                                          "false",
                                          "0",
                                          "1",
                                          "-1",
                                          "4",
                                          "2048",
                                          "255",
                                          "0,1",
                                          "1,255",
                                          "65535",
                                          "4294967296",
                                          "18446744073709551615",
                                          "vhd",
                                          "initrd",
                                          "",
                                          "eyJ4IjoxfQ==",
                                          R"(\\.\pipe\vm)",
                                          "{}",
                                          "null",
                                          "0d9a5a9e-6a3c-4b8c-9f1e-2b7c4e3d1a10",
                                          "C:\\boot"};
const std::vector<std::string> kFiles = {"kernel", "vmlinux", "initrd.img", "rootfs.vhd", "kernel.vmgs", "x.vhd"};

std::string pick(FuzzedDataProvider& input, const std::vector<std::string>& list) {
  return list[input.ConsumeIntegralInRange<std::size_t>(0, list.size() - 1)];
}

std::string text(FuzzedDataProvider& input, const std::vector<std::string>& list) {
  return input.ConsumeBool() ? pick(input, list) : input.ConsumeRandomLengthString(64);
}

void check(const lcow::BuildResult& result) {
  const nlohmann::json json = result.document;
  // Fuzzed strings need not be UTF-8: replace what JSON cannot carry, then the text must parse back.
  const std::string serialised = json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)shimcore::hcs::schema::parse_compute_system(serialised);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);

  builder::BuildEnvironment environment;
  environment.host.os_build = input.PickValueInArray<std::uint32_t>({17134, 17763, 18286, 19043, 20348, 26100});
  environment.host.logical_processors = input.ConsumeIntegralInRange<std::uint32_t>(0, 64);
  environment.host.active_processors = input.ConsumeIntegralInRange<std::uint32_t>(0, 4);
  environment.host.architecture = input.ConsumeBool() ? "amd64" : "arm64";
  std::vector<std::string> files;
  for (const std::string& file : kFiles) {
    if (input.ConsumeBool()) files.push_back(R"(C:\boot\)" + file);
  }
  environment.file_exists = [files](const std::string& path) {
    if (path == R"(C:\boot)") return true;
    for (const std::string& file : files) {
      if (file == path) return true;
    }
    return false;
  };

  std::optional<builder::RuntimeOptions> options;
  if (input.ConsumeBool()) {
    options.emplace();
    options->sandbox_platform = input.ConsumeBool() ? "linux/amd64" : input.ConsumeRandomLengthString(16);
    options->boot_files_root_path = input.ConsumeBool() ? R"(C:\boot)" : input.ConsumeRandomLengthString(32);
    options->vm_processor_count = input.ConsumeIntegral<std::int32_t>();
    options->vm_memory_size_in_mb = input.ConsumeIntegral<std::int32_t>();
    options->log_level = input.ConsumeRandomLengthString(8);
    if (input.ConsumeBool()) options->scrub_logs = input.ConsumeBool();
    options->ncproxy_addr = input.ConsumeBool() ? "" : "ncproxy";
    for (int i = input.ConsumeIntegralInRange(0, 3); i > 0; --i) {
      options->default_container_annotations[text(input, kKeys)] = text(input, kValues);
    }
  }

  builder::Annotations annotations;
  for (int i = input.ConsumeIntegralInRange(0, 24); i > 0; --i) annotations[text(input, kKeys)] = text(input, kValues);
  std::vector<builder::WindowsDevice> devices;
  for (int i = input.ConsumeIntegralInRange(0, 3); i > 0; --i) {
    devices.push_back({input.ConsumeRandomLengthString(24), pick(input, {"vpci", "gpu", "vpci-instance-id", "class"})});
  }
  lcow::WindowsResources resources;
  if (input.ConsumeBool()) resources.cpu_count = input.ConsumeIntegral<std::uint64_t>();
  if (input.ConsumeBool()) resources.memory_limit = input.ConsumeIntegral<std::uint64_t>();
  if (input.ConsumeBool()) resources.storage_iops = input.ConsumeIntegral<std::uint64_t>();

  // A rejection is fine; a document that does not survive its own schema is not (so check outside the try).
  std::optional<lcow::BuildResult> legacy;
  try {
    legacy = lcow::build_legacy({annotations, devices, resources}, options, "owner", R"(C:\bundle)", environment);
  } catch (const shimcore::Error&) {
  }
  if (legacy) check(*legacy);
  std::optional<lcow::BuildResult> v2;
  try {
    v2 = lcow::build_v2({annotations, devices}, options, "owner", R"(C:\bundle)", environment);
  } catch (const shimcore::Error&) {
  }
  if (v2) check(*v2);
  return 0;
}
