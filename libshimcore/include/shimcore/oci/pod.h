// The pod facts a shim reads from outside bytes: CRI annotations of an OCI spec and a CRI PodSandboxConfig.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace shimcore::oci {

// Annotations the CRI plugin puts on every OCI spec it generates.
inline constexpr std::string_view kContainerTypeAnnotation = "io.kubernetes.cri.container-type";
inline constexpr std::string_view kSandboxIdAnnotation = "io.kubernetes.cri.sandbox-id";

// What a task is to its pod. Standalone: no CRI annotations (as `ctr run` creates); the task is a pod of one.
enum class PodRole { Standalone, Sandbox, Container };
std::string_view to_string(PodRole role) noexcept;

struct PodMembership {
  PodRole role = PodRole::Standalone;
  std::string sandbox_id;  // empty for Standalone
};

// From an OCI spec's `annotations` object (absent or null: Standalone). An unknown container type, a container
// without a sandbox id or annotations that are not strings are InvalidArgument naming the value.
PodMembership pod_membership(const nlohmann::json& annotations);
// A sandbox task must name itself as its pod (hcsshim V1's createPod rule; V2 never checks, and a mismatch leaks the
// pod, spec §I.6): FailedPrecondition with hcsshim's text otherwise.
void require_sandbox_names_itself(const PodMembership& membership, std::string_view task_id);

// The parts of a CRI runtime.v1.PodSandboxConfig a shim uses (the message containerd's CRI plugin puts in
// CreateSandboxRequest.options as Any "runtime.v1.PodSandboxConfig").
struct PodSandboxConfig {
  std::string name;
  std::string uid;
  std::string namespace_name;
  std::uint32_t attempt = 0;
  std::string hostname;
  std::string log_directory;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

// Decodes the protobuf wire bytes of a runtime.v1.PodSandboxConfig; fields the shim does not use are skipped.
// Malformed bytes or a field of the wrong wire type are InvalidArgument naming the field.
PodSandboxConfig parse_pod_sandbox_config(std::string_view bytes);

}  // namespace shimcore::oci
