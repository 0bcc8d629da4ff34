// HCS schema v2 ComputeSystem, the HcsCreateComputeSystem document, and HostedSystem (a container inside a UVM).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "shimcore/hcs/schema/common.h"
#include "shimcore/hcs/schema/container.h"
#include "shimcore/hcs/schema/json_support.h"
#include "shimcore/hcs/schema/virtual_machine.h"

namespace shimcore::hcs::schema {

// A Windows container run inside a utility VM: sent to HCS as ComputeSystem.HostedSystem (with HostingSystemId) or
// to the guest over the GCS bridge.
struct HostedSystem {
  std::optional<Version> schema_version;
  std::optional<Container> container;
  bool operator==(const HostedSystem&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(HostedSystem);

// The document HcsCreateComputeSystem takes. Exactly one of container, virtual_machine, hosted_system is set (see
// validate); parsing alone does not check that, so that a caller can report every problem it finds.
struct ComputeSystem {
  std::optional<std::string> owner;              // the owning client; hcsshim: the shim executable's name
  std::optional<Version> schema_version;         // {2,1}; {2,5} for confidential VMs
  std::optional<std::string> hosting_system_id;  // the utility VM hosting hosted_system
  // HCS types HostedSystem as Any: hcsshim sends a HostedSystem for WCOW and a different shape
  // (CWCOWHostedSystem) for confidential WCOW, so it is kept as JSON. Read the usual shape with
  // `hosted_system.get<HostedSystem>()`. Null = absent.
  Json hosted_system;
  std::optional<Container> container;
  std::optional<VirtualMachine> virtual_machine;
  std::optional<bool> should_terminate_on_last_handle_closed;  // hcsshim: always true
  bool operator==(const ComputeSystem&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ComputeSystem);

// Parse the JSON text of a document. Malformed JSON, a value of the wrong type or out of range, or an unknown enum
// string throws SchemaError (a shimcore::Error of kind InvalidArgument) whose message names the JSON path.
ComputeSystem parse_compute_system(std::string_view json_text);
HostedSystem parse_hosted_system(std::string_view json_text);

// Checks what HCS requires of a ComputeSystem beyond its JSON shape: exactly one of Container, VirtualMachine,
// HostedSystem. Throws Error(InvalidArgument) naming what was found.
void validate(const ComputeSystem& system);

}  // namespace shimcore::hcs::schema
