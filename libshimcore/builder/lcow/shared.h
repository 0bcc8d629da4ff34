// Constants and helpers the two LCOW pipelines share (file names, build numbers, SCSI controllers, vsock ports).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "builder/common/annotations.h"
#include "builder/common/vmutils.h"
#include "shimcore/builder/lcow.h"

namespace shimcore::builder::lcow::detail {

using namespace shimcore::builder::detail;  // NOLINT(google-build-using-namespace): the shared builder toolkit

inline constexpr const char* kInitrdFile = "initrd.img";
inline constexpr const char* kVhdFile = "rootfs.vhd";
inline constexpr const char* kKernelFile = "kernel";
inline constexpr const char* kUncompressedKernelFile = "vmlinux";
inline constexpr const char* kDefaultGuestStateFile = "kernel.vmgs";
inline constexpr const char* kDefaultDmVerityRootFsVhd = "rootfs.vhd";
inline constexpr const char* kDefaultReferenceInfoFile = "reference_info.cose";
inline constexpr const char* kDefaultHashEnvelopeReferenceInfoFile = "reference_info_hash_envelope.cose";

inline constexpr std::uint32_t kBuildRs5 = 17763;           // several SCSI controllers
inline constexpr std::uint32_t kBuildKernelDirect = 18286;  // LinuxKernelDirect boot
inline constexpr std::uint32_t kBuild19H1 = 18362;          // vPMem multi-mapping
inline constexpr std::uint32_t kBuildColdDiscard = 18967;   // EnableColdDiscardHint
inline constexpr std::uint32_t kBuild21H1 = 19043;          // CPU groups at create time
inline constexpr std::uint32_t kBuild25H1Server = 26100;    // vNUMA, vPCI NUMA affinity

inline constexpr std::array<const char*, 4> kScsiControllerGuids = {
    "df6d0690-79e5-55b6-a5ec-c1e2f77f580a", "0110f83b-de10-5172-a266-78bca56bf50a",
    "b5d2d8d4-3a75-51bf-945b-3444dc6b8579", "305891a9-b251-5dfe-91a2-c25d9212275b"};

inline constexpr std::uint32_t kEntropyVsockPort = 1;
inline constexpr std::uint32_t kLogVsockPort = 109;
inline constexpr std::uint32_t kGcsVsockPort = 0x40000000;
inline constexpr std::uint32_t kDefaultVpmemCount = 64;
inline constexpr std::uint32_t kMaxVpmemCount = 128;
inline constexpr std::uint64_t kDefaultVpmemSizeBytes = 4ULL * 1024 * 1024 * 1024;

inline constexpr const char* kAdminsAndSystemSddl = "D:P(A;;FA;;;SY)(A;;FA;;;BA)";
inline constexpr const char* kEveryoneSddl = "D:P(A;;FA;;;WD)";
inline constexpr const char* kSecureBootTemplateId = "1734c6e8-3154-4dda-ba5f-a874cc483422";

// The SNP launch data: base64(sha256(base64-decoded policy)), securitypolicy.NewSecurityPolicyDigest; a bad policy
// fails with Go's text after `context` (V2 says "failed to create security policy digest: ", V1 nothing).
std::string security_policy_launch_data(const std::string& policy, std::string_view context);

// The host-level hvsocket rules of a confidential VM: bind for everyone, connect for admins and SYSTEM, on the
// entropy, log, GCS and bridge vsock ports plus the extra ones.
void add_confidential_vsock_ports(hcs::schema::HvSocketSystemConfig& config, const std::vector<std::uint32_t>& extra);

[[noreturn]] void fail(std::string message);
[[noreturn]] void fail_not_found(std::string message);

std::string new_guid(const BuildEnvironment& environment);
bool file_exists(const BuildEnvironment& environment, const std::string& path);

}  // namespace shimcore::builder::lcow::detail
