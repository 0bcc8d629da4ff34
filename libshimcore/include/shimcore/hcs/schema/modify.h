// HCS schema v2 ModifySettingRequest (HcsModifyComputeSystem) and the guest half it may carry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shimcore/hcs/schema/json_support.h"

namespace shimcore::hcs::schema {

// HCS documents Add/Remove/Update; hcsshim also sends "PreAdd" in guest network requests, so it is accepted too.
enum class ModifyRequestType : std::uint8_t { Add, Remove, Update, PreAdd };
constexpr EnumSpec<ModifyRequestType, 4> enum_spec(ModifyRequestType) {
  return {"ModifyRequestType",
          {{{ModifyRequestType::Add, "Add"},
            {ModifyRequestType::Remove, "Remove"},
            {ModifyRequestType::Update, "Update"},
            {ModifyRequestType::PreAdd, "PreAdd"}}}};
}

// The guest half of a modify: HCS forwards it to the guest when HCS owns the guest connection; hcsshim sends the same
// shape over its own GCS bridge. Settings depend on ResourceType and stay JSON (null = absent).
struct GuestModifySettingRequest {
  std::optional<std::string> resource_type;  // MappedVirtualDisk, Network, CombinedLayers, ...
  std::optional<ModifyRequestType> request_type;
  Json settings;
  bool operator==(const GuestModifySettingRequest&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(GuestModifySettingRequest);

// A hot change to a running compute system, addressed by ResourcePath (e.g.
// "VirtualMachine/Devices/Scsi/<controller>/Attachments/<lun>"). Settings and GuestRequest are HCS "Any": their type
// depends on ResourcePath (Attachment, Plan9Share, ProcessorLimits, a bare number for Memory/SizeInMB, ...), so they
// stay JSON; read them with e.g. `request.settings.get<Attachment>()`. Null = absent.
struct ModifySettingRequest {
  std::optional<std::string> resource_path;
  std::optional<ModifyRequestType> request_type;
  Json settings;
  Json guest_request;
  bool operator==(const ModifySettingRequest&) const = default;
};
SHIMCORE_HCS_SCHEMA_JSON(ModifySettingRequest);

// Parse the JSON text of a document; failures throw SchemaError (InvalidArgument) naming the JSON path.
ModifySettingRequest parse_modify_setting_request(std::string_view json_text);

}  // namespace shimcore::hcs::schema
