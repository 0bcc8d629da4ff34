// JSON field lists of ModifySettingRequest and GuestModifySettingRequest (modify.h).
#include "shimcore/hcs/schema/modify.h"

namespace shimcore::hcs::schema {

using detail::field;

SHIMCORE_HCS_SCHEMA_DEFINE(GuestModifySettingRequest, field("ResourceType", &GuestModifySettingRequest::resource_type),
                           field("RequestType", &GuestModifySettingRequest::request_type),
                           field("Settings", &GuestModifySettingRequest::settings))

SHIMCORE_HCS_SCHEMA_DEFINE(ModifySettingRequest, field("ResourcePath", &ModifySettingRequest::resource_path),
                           field("RequestType", &ModifySettingRequest::request_type),
                           field("Settings", &ModifySettingRequest::settings),
                           field("GuestRequest", &ModifySettingRequest::guest_request))

ModifySettingRequest parse_modify_setting_request(std::string_view json_text) {
  return detail::parse_document<ModifySettingRequest>(json_text, "ModifySettingRequest");
}

}  // namespace shimcore::hcs::schema
