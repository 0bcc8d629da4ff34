// The QEMU backend's mapping of LCOW VM documents: hcsshim's kernel command line for QEMU's PC, the QEMU argv for a
// document of the builder's shape, and the refusals (each names the field), including hcsshim's own default-config
// document, which boots a VHD from SCSI.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "hcs/emulator/qemu_guest.h"
#include "shimcore/hcs/hresult.h"
#include "test_util.h"

using namespace shimcore::hcs;
using namespace shimcore::hcs::emulator;
using Catch::Matchers::ContainsSubstring;
using nlohmann::json;
using shimcore::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// The command line the LCOW builder writes for an initrd boot (v2 pipeline, default options, 2 processors).
constexpr const char* kBuilderCommandLine =
    "initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=0 panic=-1 quiet pci=off nr_cpus=2 brd.rd_nr=0 pmtmr=0 "
    "-- -e 1 /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json -loglevel info";

struct BootFiles {
  TempDir dir;
  fs::path kernel = dir.path / "kernel";
  fs::path initrd = dir.path / "initrd.img";
  BootFiles() {
    std::ofstream(kernel) << "k";
    std::ofstream(initrd) << "i";
  }
};

json document(const BootFiles& files) {
  // The builder's shape: Windows-style separators before the file name, as winpath::join writes them.
  return json::parse(R"({
    "Owner": "shim", "SchemaVersion": {"Major": 2, "Minor": 1}, "ShouldTerminateOnLastHandleClosed": true,
    "VirtualMachine": {
      "StopOnReset": true,
      "Chipset": {"LinuxKernelDirect": {"KernelFilePath": ")" +
                     files.dir.path.string() + R"(\\kernel", "InitRdPath": ")" + files.dir.path.string() +
                     R"(\\initrd.img", "KernelCmdLine": ")" + kBuilderCommandLine + R"("}},
      "ComputeTopology": {"Memory": {"SizeInMB": 768, "AllowOvercommit": true}, "Processor": {"Count": 2}},
      "Devices": {"Scsi": {"0": {}, "1": {}}, "HvSocket": {"HvSocketConfig": {"DefaultBindSecurityDescriptor": "D:P"}},
                  "Plan9": {}}
    }})");
}

const QemuPaths kPaths{"/run/x/vm/r/qemu-mux.sock", "/run/x/vm/r/qemu-9p"};

std::string value_after(const std::vector<std::string>& args, const std::string& flag) {
  const auto it = std::find(args.begin(), args.end(), flag);
  REQUIRE(it != args.end());
  REQUIRE(it + 1 != args.end());
  return *(it + 1);
}

std::string refusal(const json& doc) {
  try {
    qemu_command_line(doc, kPaths, QemuOptions{});
  } catch (const HcsError& error) {
    CHECK(error.hresult() == hresult::kNotImplemented);
    return error.what();
  }
  FAIL("the document was mapped");
  return {};
}

}  // namespace

TEST_CASE("qemu: hcsshim's kernel command line for QEMU's PC keeps the init arguments") {
  CHECK(qemu_kernel_command_line(kBuilderCommandLine) ==
        "initcall_blacklist=virtio_vsock_init 8250_core.nr_uarts=1 panic=-1 quiet nr_cpus=2 brd.rd_nr=0 pmtmr=0 "
        "console=ttyS0 -- -e 1 /bin/vsockexec -e 109 /bin/gcs -v4 -log-format json -loglevel info");
  // A console the document asked for stays the only one; pci=off goes wherever it is.
  CHECK(qemu_kernel_command_line("pci=off 8250_core.nr_uarts=1 console=ttyS0,115200 -- sh") ==
        "8250_core.nr_uarts=1 console=ttyS0,115200 -- sh");
  CHECK(qemu_kernel_command_line("") == "console=ttyS0");
  CHECK(qemu_kernel_command_line("-- /bin/gcs") == "console=ttyS0 -- /bin/gcs");
}

TEST_CASE("qemu: a builder-shaped LCOW document becomes QEMU's argv") {
  const BootFiles files;
  QemuOptions options;
  options.binary = "/usr/bin/qemu-system-x86_64";
  const QemuMapping mapping = qemu_command_line(document(files), kPaths, options);
  const auto& args = mapping.args;
  CHECK(args.front() == "/usr/bin/qemu-system-x86_64");
  CHECK(value_after(args, "-smp") == "2");
  CHECK(value_after(args, "-m") == "768");
  CHECK(value_after(args, "-accel") == "tcg,thread=single");
  CHECK(value_after(args, "-kernel") == files.kernel.string());
  CHECK(value_after(args, "-initrd") == files.initrd.string());
  CHECK(value_after(args, "-append") == qemu_kernel_command_line(kBuilderCommandLine));
  CHECK(value_after(args, "-chardev") == "socket,id=mux,path=/run/x/vm/r/qemu-mux.sock");
  CHECK(value_after(args, "-fsdev") == "local,id=p9,path=/run/x/vm/r/qemu-9p,security_model=none,multidevs=remap");
  CHECK(std::count(args.begin(), args.end(), "virtserialport,bus=vser0.0,chardev=mux,name=shimcore.mux") == 1);
  CHECK(std::count(args.begin(), args.end(), "virtio-9p-pci,fsdev=p9,mount_tag=plan9") == 1);
  CHECK(std::count(args.begin(), args.end(), "-no-reboot") == 1);
  // What has no QEMU counterpart is reported, not dropped silently.
  CHECK(mapping.ignored == std::vector<std::string>{"ComputeTopology.Memory.AllowOvercommit", "Devices.HvSocket",
                                                    "Devices.Scsi", "Devices.Plan9"});
}

TEST_CASE("qemu: what the backend cannot map is refused, naming the field") {
  const BootFiles files;
  const json good = document(files);

  json uefi = good;
  uefi["VirtualMachine"]["Chipset"] = json::parse(R"({"Uefi": {"BootThis": {"DevicePath": "\\kernel"}}})");
  CHECK_THAT(refusal(uefi), ContainsSubstring("VirtualMachine.Chipset.Uefi"));

  json vhd = good;
  vhd["VirtualMachine"]["Chipset"]["LinuxKernelDirect"].erase("InitRdPath");
  CHECK_THAT(refusal(vhd), ContainsSubstring("without an InitRdPath"));

  json scsi = good;
  scsi["VirtualMachine"]["Devices"]["Scsi"]["1"]["Attachments"]["0"] = {{"Type", "VirtualDisk"}, {"Path", "/x.vhd"}};
  CHECK_THAT(refusal(scsi), ContainsSubstring("Devices.Scsi.1.Attachments"));

  json pmem = good;
  pmem["VirtualMachine"]["Devices"]["VirtualPMem"]["Devices"]["0"] = {{"HostPath", "/x.vhd"}};
  CHECK_THAT(refusal(pmem), ContainsSubstring("Devices.VirtualPMem.Devices"));

  json vpci = good;
  vpci["VirtualMachine"]["Devices"]["VirtualPci"]["gpu"] = json::object({{"Functions", json::array()}});
  CHECK_THAT(refusal(vpci), ContainsSubstring("Devices.VirtualPci"));

  json snp = good;
  snp["VirtualMachine"]["SecuritySettings"] = {{"Isolation", {{"IsolationType", "SecureNestedPaging"}}}};
  CHECK_THAT(refusal(snp), ContainsSubstring("VirtualMachine.SecuritySettings"));

  json cpus = good;
  cpus["VirtualMachine"]["ComputeTopology"]["Processor"]["Count"] = 0;
  CHECK_THAT(refusal(cpus), ContainsSubstring("Processor.Count 0"));

  // A kernel file that is not there is FileNotFound, naming the field and path.
  json missing = good;
  missing["VirtualMachine"]["Chipset"]["LinuxKernelDirect"]["KernelFilePath"] = "/nonexistent/kernel";
  try {
    qemu_command_line(missing, kPaths, QemuOptions{});
    FAIL("mapped a missing kernel");
  } catch (const HcsError& error) {
    CHECK(error.hresult() == hresult::kFileNotFound);
    CHECK_THAT(error.what(), ContainsSubstring("LinuxKernelDirect.KernelFilePath /nonexistent/kernel does not exist"));
  }
}

TEST_CASE("qemu: hcsshim's own default-config document boots a VHD from SCSI, which the backend refuses") {
  std::ifstream in(std::string(SHIMCORE_GOLDEN_DIR) + "/lcow/public/sboptions-default--default-config/v2.json");
  REQUIRE(in.good());
  const json golden = json::parse(in);
  // Its boot files are Windows paths; with real files in their place, its rootfs.vhd SCSI attachment is refused.
  const BootFiles files;
  json doc = golden;
  doc["VirtualMachine"]["Chipset"]["LinuxKernelDirect"]["KernelFilePath"] = files.kernel.string();
  doc["VirtualMachine"]["Chipset"]["LinuxKernelDirect"]["InitRdPath"] = files.initrd.string();
  CHECK_THAT(refusal(doc), ContainsSubstring("SCSI attachments (Devices.Scsi.df6d0690-79e5-55b6-a5ec-c1e2f77f580a"));
}
