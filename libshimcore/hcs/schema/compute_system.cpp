// JSON field lists of ComputeSystem and HostedSystem, their parse entry points and validate.
#include "shimcore/hcs/schema/compute_system.h"

#include <string>
#include <string_view>

namespace shimcore::hcs::schema {

using detail::field;

SHIMCORE_HCS_SCHEMA_DEFINE(HostedSystem, field("SchemaVersion", &HostedSystem::schema_version),
                           field("Container", &HostedSystem::container))

SHIMCORE_HCS_SCHEMA_DEFINE(
    ComputeSystem, field("Owner", &ComputeSystem::owner), field("SchemaVersion", &ComputeSystem::schema_version),
    field("HostingSystemId", &ComputeSystem::hosting_system_id), field("HostedSystem", &ComputeSystem::hosted_system),
    field("Container", &ComputeSystem::container), field("VirtualMachine", &ComputeSystem::virtual_machine),
    field("ShouldTerminateOnLastHandleClosed", &ComputeSystem::should_terminate_on_last_handle_closed))

ComputeSystem parse_compute_system(std::string_view json_text) {
  return detail::parse_document<ComputeSystem>(json_text, "ComputeSystem");
}

HostedSystem parse_hosted_system(std::string_view json_text) {
  return detail::parse_document<HostedSystem>(json_text, "HostedSystem");
}

void validate(const ComputeSystem& system) {
  std::string found;
  int count = 0;
  const auto note = [&](bool set, std::string_view name) {
    if (!set) return;
    if (count++ > 0) found += " and ";
    found += name;
  };
  note(system.container.has_value(), "Container");
  note(system.virtual_machine.has_value(), "VirtualMachine");
  note(!system.hosted_system.is_null(), "HostedSystem");
  if (count == 1) return;
  throw make_error(ErrorKind::InvalidArgument,
                   "invalid ComputeSystem document: exactly one of Container, VirtualMachine, HostedSystem must be "
                   "set, found {}",
                   count == 0 ? std::string("none") : found);
}

}  // namespace shimcore::hcs::schema
