// The host facts document builders depend on, injectable so that builders stay pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace shimcore::hcs {

class Client;

struct HostProfile {
  std::uint32_t os_build = 0;            // e.g. 26100 for Windows Server 2025
  std::string product_type = "Server";   // "Server" or "Workstation"
  std::uint32_t logical_processors = 0;  // as HCS reports them (ProcessorTopology.LogicalProcessorCount)
  std::string architecture = "amd64";    // GOARCH spelling: "amd64" or "arm64"
  // Processors this process may run on (what Go's runtime.NumCPU reports to hcsshim): a utility VM defaults to one
  // processor when this is 1, else to two. 0 = unknown.
  std::uint32_t active_processors = 0;
};

// The profile of the machine this runs on: OS version from the system (RtlGetVersion on Windows; the emulator's
// configured build elsewhere) and the processor count from HCS service properties. Throws HcsError.
HostProfile detect_host_profile(Client& client);

}  // namespace shimcore::hcs
