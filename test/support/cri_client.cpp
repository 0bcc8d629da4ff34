// CRI test client: generated stubs, a deadline per call, errors as CriError.
#include "cri_client.h"

#include <fmt/format.h>

namespace shimcore::testing {
namespace {

std::string status_code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return std::to_string(static_cast<int>(code));
  }
}

}  // namespace

CriError::CriError(std::string rpc, grpc::StatusCode code, const std::string& message)
    : std::runtime_error(fmt::format("CRI {}: {}: {}", rpc, status_code_name(code), message)),
      rpc_(std::move(rpc)),
      code_(code),
      status_message_(message) {}

CriClient::CriClient(const std::string& socket_path, std::chrono::milliseconds timeout)
    : timeout_(timeout),
      channel_(grpc::CreateChannel("unix://" + socket_path, grpc::InsecureChannelCredentials())),
      runtime_(runtime::v1::RuntimeService::NewStub(channel_)),
      images_(runtime::v1::ImageService::NewStub(channel_)) {}

template <typename Request, typename Response, typename Stub>
Response CriClient::call(const char* rpc, Stub& stub,
                         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                         const Request& request, std::chrono::milliseconds extra) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_ + extra);
  // containerd is started by the test just before: wait for its socket rather than failing on the first attempt.
  context.set_wait_for_ready(true);
  Response response;
  const grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) throw CriError(rpc, status.error_code(), status.error_message());
  return response;
}

runtime::v1::VersionResponse CriClient::version() {
  runtime::v1::VersionRequest request;
  request.set_version("v1");
  return call("Version", *runtime_, &runtime::v1::RuntimeService::Stub::Version, request);
}

std::string CriClient::run_pod_sandbox(const runtime::v1::PodSandboxConfig& config,
                                       const std::string& runtime_handler) {
  runtime::v1::RunPodSandboxRequest request;
  *request.mutable_config() = config;
  request.set_runtime_handler(runtime_handler);
  return call("RunPodSandbox", *runtime_, &runtime::v1::RuntimeService::Stub::RunPodSandbox, request).pod_sandbox_id();
}

void CriClient::stop_pod_sandbox(const std::string& pod_id) {
  runtime::v1::StopPodSandboxRequest request;
  request.set_pod_sandbox_id(pod_id);
  call("StopPodSandbox", *runtime_, &runtime::v1::RuntimeService::Stub::StopPodSandbox, request);
}

void CriClient::remove_pod_sandbox(const std::string& pod_id) {
  runtime::v1::RemovePodSandboxRequest request;
  request.set_pod_sandbox_id(pod_id);
  call("RemovePodSandbox", *runtime_, &runtime::v1::RuntimeService::Stub::RemovePodSandbox, request);
}

runtime::v1::PodSandboxStatusResponse CriClient::pod_sandbox_status(const std::string& pod_id, bool verbose) {
  runtime::v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(pod_id);
  request.set_verbose(verbose);
  return call("PodSandboxStatus", *runtime_, &runtime::v1::RuntimeService::Stub::PodSandboxStatus, request);
}

std::vector<runtime::v1::PodSandbox> CriClient::list_pod_sandbox() {
  const auto response = call("ListPodSandbox", *runtime_, &runtime::v1::RuntimeService::Stub::ListPodSandbox,
                             runtime::v1::ListPodSandboxRequest{});
  return {response.items().begin(), response.items().end()};
}

std::string CriClient::create_container(const std::string& pod_id, const runtime::v1::ContainerConfig& config,
                                        const runtime::v1::PodSandboxConfig& sandbox_config) {
  runtime::v1::CreateContainerRequest request;
  request.set_pod_sandbox_id(pod_id);
  *request.mutable_config() = config;
  *request.mutable_sandbox_config() = sandbox_config;
  return call("CreateContainer", *runtime_, &runtime::v1::RuntimeService::Stub::CreateContainer, request)
      .container_id();
}

void CriClient::start_container(const std::string& container_id) {
  runtime::v1::StartContainerRequest request;
  request.set_container_id(container_id);
  call("StartContainer", *runtime_, &runtime::v1::RuntimeService::Stub::StartContainer, request);
}

void CriClient::stop_container(const std::string& container_id, std::int64_t timeout_seconds) {
  runtime::v1::StopContainerRequest request;
  request.set_container_id(container_id);
  request.set_timeout(timeout_seconds);
  call("StopContainer", *runtime_, &runtime::v1::RuntimeService::Stub::StopContainer, request,
       std::chrono::seconds(timeout_seconds));
}

void CriClient::remove_container(const std::string& container_id) {
  runtime::v1::RemoveContainerRequest request;
  request.set_container_id(container_id);
  call("RemoveContainer", *runtime_, &runtime::v1::RuntimeService::Stub::RemoveContainer, request);
}

runtime::v1::ContainerStatusResponse CriClient::container_status(const std::string& container_id, bool verbose) {
  runtime::v1::ContainerStatusRequest request;
  request.set_container_id(container_id);
  request.set_verbose(verbose);
  return call("ContainerStatus", *runtime_, &runtime::v1::RuntimeService::Stub::ContainerStatus, request);
}

std::vector<runtime::v1::Container> CriClient::list_containers(const std::string& pod_id) {
  runtime::v1::ListContainersRequest request;
  if (!pod_id.empty()) request.mutable_filter()->set_pod_sandbox_id(pod_id);
  const auto response = call("ListContainers", *runtime_, &runtime::v1::RuntimeService::Stub::ListContainers, request);
  return {response.containers().begin(), response.containers().end()};
}

runtime::v1::ExecSyncResponse CriClient::exec_sync(const std::string& container_id, const std::vector<std::string>& cmd,
                                                   std::int64_t timeout_seconds) {
  runtime::v1::ExecSyncRequest request;
  request.set_container_id(container_id);
  for (const std::string& arg : cmd) request.add_cmd(arg);
  request.set_timeout(timeout_seconds);
  return call("ExecSync", *runtime_, &runtime::v1::RuntimeService::Stub::ExecSync, request,
              std::chrono::seconds(timeout_seconds));
}

std::vector<runtime::v1::Image> CriClient::list_images() {
  const auto response =
      call("ListImages", *images_, &runtime::v1::ImageService::Stub::ListImages, runtime::v1::ListImagesRequest{});
  return {response.images().begin(), response.images().end()};
}

std::optional<runtime::v1::Image> CriClient::image_status(const std::string& image) {
  runtime::v1::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  auto response = call("ImageStatus", *images_, &runtime::v1::ImageService::Stub::ImageStatus, request);
  if (!response.has_image()) return std::nullopt;
  return response.image();
}

runtime::v1::PodSandboxConfig make_pod_config(const std::string& name, const std::string& uid,
                                              const std::string& log_directory) {
  runtime::v1::PodSandboxConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_metadata()->set_uid(uid);
  config.mutable_metadata()->set_namespace_("default");
  config.set_hostname(name);
  config.set_log_directory(log_directory);
  config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(runtime::v1::POD);
  return config;
}

runtime::v1::ContainerConfig make_container_config(const std::string& name, const std::string& image,
                                                   const std::string& script) {
  runtime::v1::ContainerConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_image()->set_image(image);
  config.add_command("sh");
  config.add_args("-c");
  config.add_args(script);
  config.set_log_path(name + ".log");  // relative to the pod's log_directory
  return config;
}

}  // namespace shimcore::testing
