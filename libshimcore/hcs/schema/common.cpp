// JSON field lists of the shared schema types (common.h).
#include "shimcore/hcs/schema/common.h"

namespace shimcore::hcs::schema {

using detail::field;

SHIMCORE_HCS_SCHEMA_DEFINE(Version, field("Major", &Version::major), field("Minor", &Version::minor))

SHIMCORE_HCS_SCHEMA_DEFINE(RegistryKey, field("Hive", &RegistryKey::hive), field("Name", &RegistryKey::name),
                           field("Volatile", &RegistryKey::is_volatile))

SHIMCORE_HCS_SCHEMA_DEFINE(RegistryValue, field("Key", &RegistryValue::key), field("Name", &RegistryValue::name),
                           field("Type", &RegistryValue::type), field("StringValue", &RegistryValue::string_value),
                           field("BinaryValue", &RegistryValue::binary_value),
                           field("DWordValue", &RegistryValue::dword_value),
                           field("QWordValue", &RegistryValue::qword_value),
                           field("CustomType", &RegistryValue::custom_type))

SHIMCORE_HCS_SCHEMA_DEFINE(RegistryChanges, field("AddValues", &RegistryChanges::add_values),
                           field("DeleteKeys", &RegistryChanges::delete_keys))

SHIMCORE_HCS_SCHEMA_DEFINE(StorageQoS, field("IopsMaximum", &StorageQoS::iops_maximum),
                           field("BandwidthMaximum", &StorageQoS::bandwidth_maximum))

SHIMCORE_HCS_SCHEMA_DEFINE(HvSocketServiceConfig,
                           field("BindSecurityDescriptor", &HvSocketServiceConfig::bind_security_descriptor),
                           field("ConnectSecurityDescriptor", &HvSocketServiceConfig::connect_security_descriptor),
                           field("AllowWildcardBinds", &HvSocketServiceConfig::allow_wildcard_binds),
                           field("Disabled", &HvSocketServiceConfig::disabled))

SHIMCORE_HCS_SCHEMA_DEFINE(HvSocketSystemConfig,
                           field("DefaultBindSecurityDescriptor",
                                 &HvSocketSystemConfig::default_bind_security_descriptor),
                           field("DefaultConnectSecurityDescriptor",
                                 &HvSocketSystemConfig::default_connect_security_descriptor),
                           field("ServiceTable", &HvSocketSystemConfig::service_table))

}  // namespace shimcore::hcs::schema
