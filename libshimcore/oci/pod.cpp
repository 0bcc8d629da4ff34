// Pod facts from outside bytes: CRI annotations (JSON) and CRI PodSandboxConfig (protobuf wire format, read with
// protobuf's own wire decoder so that the shim needs no copy of the CRI schema).
#include "shimcore/oci/pod.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <limits>

#include "shimcore/errdefs.h"

namespace shimcore::oci {
namespace {

using google::protobuf::io::CodedInputStream;
using WireFormat = google::protobuf::internal::WireFormatLite;

// One length-delimited field's bytes; InvalidArgument when truncated.
std::string read_bytes(CodedInputStream& in, std::string_view field) {
  std::uint32_t length = 0;
  std::string value;
  if (!in.ReadVarint32(&length) || !in.ReadString(&value, static_cast<int>(length))) {
    throw make_error(ErrorKind::InvalidArgument, "PodSandboxConfig: field {} is truncated", field);
  }
  return value;
}

void expect_wire_type(std::uint32_t tag, WireFormat::WireType want, std::string_view field) {
  if (WireFormat::GetTagWireType(tag) != want) {
    throw make_error(ErrorKind::InvalidArgument, "PodSandboxConfig: field {} has wire type {}, want {}", field,
                     static_cast<int>(WireFormat::GetTagWireType(tag)), static_cast<int>(want));
  }
}

void skip(CodedInputStream& in, std::uint32_t tag, std::string_view message) {
  if (!WireFormat::SkipField(&in, tag)) {
    throw make_error(ErrorKind::InvalidArgument, "{}: malformed field {}", message, WireFormat::GetTagFieldNumber(tag));
  }
}

// Nested messages are read by separate streams over their bytes, so no recursion limit is involved.
CodedInputStream stream_of(std::string_view bytes) {
  return CodedInputStream(reinterpret_cast<const std::uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
}

// A map<string,string> entry: key = 1, value = 2.
std::pair<std::string, std::string> read_map_entry(std::string_view bytes, std::string_view field) {
  CodedInputStream in = stream_of(bytes);
  std::pair<std::string, std::string> entry;
  while (const std::uint32_t tag = in.ReadTag()) {
    const int number = WireFormat::GetTagFieldNumber(tag);
    if (number == 1 || number == 2) {
      expect_wire_type(tag, WireFormat::WIRETYPE_LENGTH_DELIMITED, field);
      (number == 1 ? entry.first : entry.second) = read_bytes(in, field);
    } else {
      skip(in, tag, "PodSandboxConfig map entry");
    }
  }
  if (!in.ConsumedEntireMessage()) throw make_error(ErrorKind::InvalidArgument, "PodSandboxConfig: bad {}", field);
  return entry;
}

// PodSandboxMetadata: name = 1, uid = 2, namespace = 3, attempt = 4.
void read_metadata(std::string_view bytes, PodSandboxConfig& config) {
  CodedInputStream in = stream_of(bytes);
  while (const std::uint32_t tag = in.ReadTag()) {
    switch (WireFormat::GetTagFieldNumber(tag)) {
      case 1:
        expect_wire_type(tag, WireFormat::WIRETYPE_LENGTH_DELIMITED, "metadata.name");
        config.name = read_bytes(in, "metadata.name");
        break;
      case 2:
        expect_wire_type(tag, WireFormat::WIRETYPE_LENGTH_DELIMITED, "metadata.uid");
        config.uid = read_bytes(in, "metadata.uid");
        break;
      case 3:
        expect_wire_type(tag, WireFormat::WIRETYPE_LENGTH_DELIMITED, "metadata.namespace");
        config.namespace_name = read_bytes(in, "metadata.namespace");
        break;
      case 4:
        expect_wire_type(tag, WireFormat::WIRETYPE_VARINT, "metadata.attempt");
        if (!in.ReadVarint32(&config.attempt)) {
          throw make_error(ErrorKind::InvalidArgument, "PodSandboxConfig: field metadata.attempt is truncated");
        }
        break;
      default: skip(in, tag, "PodSandboxMetadata");
    }
  }
  if (!in.ConsumedEntireMessage()) throw make_error(ErrorKind::InvalidArgument, "PodSandboxConfig: bad metadata");
}

}  // namespace

void require_sandbox_names_itself(const PodMembership& membership, std::string_view task_id) {
  if (membership.role != PodRole::Sandbox || membership.sandbox_id == task_id) return;
  throw make_error(ErrorKind::FailedPrecondition, "expected annotation '{}': '{}' got '{}'", kSandboxIdAnnotation,
                   task_id, membership.sandbox_id);
}

std::string_view to_string(PodRole role) noexcept {
  switch (role) {
    case PodRole::Standalone: return "standalone";
    case PodRole::Sandbox: return "sandbox";
    case PodRole::Container: return "container";
  }
  return "unknown";
}

PodMembership pod_membership(const nlohmann::json& annotations) {
  PodMembership membership;
  if (annotations.is_null()) return membership;
  if (!annotations.is_object()) throw make_error(ErrorKind::InvalidArgument, "annotations must be a JSON object");
  const auto text = [&](std::string_view key) -> std::string {
    const auto it = annotations.find(key);
    if (it == annotations.end()) return {};
    if (!it->is_string()) throw make_error(ErrorKind::InvalidArgument, "annotation {} must be a string", key);
    return it->get<std::string>();
  };
  const std::string type = text(kContainerTypeAnnotation);
  membership.sandbox_id = text(kSandboxIdAnnotation);
  if (type.empty()) {
    membership.sandbox_id.clear();  // a sandbox id alone does not make a CRI container
    return membership;
  }
  if (type == "sandbox") {
    membership.role = PodRole::Sandbox;
  } else if (type == "container") {
    membership.role = PodRole::Container;
  } else {
    throw make_error(ErrorKind::InvalidArgument,
                     "unknown container type \"{}\" in annotation {} (want sandbox or container)", type,
                     kContainerTypeAnnotation);
  }
  if (membership.sandbox_id.empty()) {
    throw make_error(ErrorKind::InvalidArgument, "container type {} needs annotation {}", type, kSandboxIdAnnotation);
  }
  return membership;
}

PodSandboxConfig parse_pod_sandbox_config(std::string_view bytes) {
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw make_error(ErrorKind::InvalidArgument, "PodSandboxConfig: {} bytes is too large", bytes.size());
  }
  PodSandboxConfig config;
  CodedInputStream in = stream_of(bytes);
  while (const std::uint32_t tag = in.ReadTag()) {
    switch (WireFormat::GetTagFieldNumber(tag)) {
      case 1:
        expect_wire_type(tag, WireFormat::WIRETYPE_LENGTH_DELIMITED, "metadata");
        read_metadata(read_bytes(in, "metadata"), config);
        break;
      case 2:
        expect_wire_type(tag, WireFormat::WIRETYPE_LENGTH_DELIMITED, "hostname");
        config.hostname = read_bytes(in, "hostname");
        break;
      case 3:
        expect_wire_type(tag, WireFormat::WIRETYPE_LENGTH_DELIMITED, "log_directory");
        config.log_directory = read_bytes(in, "log_directory");
        break;
      case 6: {
        expect_wire_type(tag, WireFormat::WIRETYPE_LENGTH_DELIMITED, "labels");
        auto entry = read_map_entry(read_bytes(in, "labels"), "labels");
        config.labels.insert_or_assign(std::move(entry.first), std::move(entry.second));
        break;
      }
      case 7: {
        expect_wire_type(tag, WireFormat::WIRETYPE_LENGTH_DELIMITED, "annotations");
        auto entry = read_map_entry(read_bytes(in, "annotations"), "annotations");
        config.annotations.insert_or_assign(std::move(entry.first), std::move(entry.second));
        break;
      }
      default: skip(in, tag, "PodSandboxConfig");
    }
  }
  if (!in.ConsumedEntireMessage()) {
    throw make_error(ErrorKind::InvalidArgument, "PodSandboxConfig: malformed bytes at offset {}",
                     in.CurrentPosition());
  }
  return config;
}

}  // namespace shimcore::oci
