// Host profile detection: OS build from the system, processor count from HCS.
#include "shimcore/hcs/host.h"

#include <thread>

#include "shimcore/hcs/client.h"

#ifdef _WIN32
#include <windows.h>
#endif

namespace shimcore::hcs {
namespace {

#ifdef _WIN32
// RtlGetVersion reports the real build even to processes without a compatibility manifest (GetVersionEx does not).
void read_windows_version(HostProfile& profile) {
  using RtlGetVersionFn = LONG(WINAPI*)(OSVERSIONINFOEXW*);
  const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  // Through the generic function-pointer type: a direct cast from FARPROC trips GCC's -Wcast-function-type.
  const auto address = ntdll != nullptr ? ::GetProcAddress(ntdll, "RtlGetVersion") : nullptr;
  const auto get_version = reinterpret_cast<RtlGetVersionFn>(reinterpret_cast<void (*)()>(address));
  OSVERSIONINFOEXW info{};
  info.dwOSVersionInfoSize = sizeof(info);
  if (get_version != nullptr && get_version(&info) == 0) {
    profile.os_build = info.dwBuildNumber;
    profile.product_type = info.wProductType == VER_NT_WORKSTATION ? "Workstation" : "Server";
  }
  SYSTEM_INFO system{};
  ::GetNativeSystemInfo(&system);
  profile.architecture = system.wProcessorArchitecture == PROCESSOR_ARCHITECTURE_ARM64 ? "arm64" : "amd64";
}
#endif

}  // namespace

HostProfile detect_host_profile(Client& client) {
  HostProfile profile;
  const nlohmann::json topology =
      client.service_properties({{"PropertyTypes", nlohmann::json::array({"ProcessorTopology"})}});
  const auto& properties = topology.at("Properties");
  if (!properties.is_array() || properties.size() != 1) {
    throw HcsError(hresult::kInvalidJson, "GetServiceProperties(ProcessorTopology)", topology.dump());
  }
  profile.logical_processors = properties.at(0).value("LogicalProcessorCount", 0u);
  profile.active_processors = std::thread::hardware_concurrency();
#ifdef _WIN32
  read_windows_version(profile);
#else
  // The emulator stands in for Windows: it reports the build it emulates among its Basic service properties.
  const nlohmann::json basic = client.service_properties({{"PropertyTypes", nlohmann::json::array({"Basic"})}});
  const auto& entries = basic.at("Properties");
  if (entries.is_array() && !entries.empty()) {
    profile.os_build = entries.at(0).value("OsBuild", 0u);
    profile.product_type = entries.at(0).value("ProductType", std::string("Server"));
    profile.architecture = entries.at(0).value("Architecture", std::string("amd64"));
  }
#endif
  return profile;
}

}  // namespace shimcore::hcs
