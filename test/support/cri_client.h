// Test client for Kubernetes CRI (runtime.v1 RuntimeService and ImageService) over containerd's gRPC socket.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cri/runtime/v1/api.grpc.pb.h"

namespace shimcore::testing {

// A failed CRI call: the RPC name, the gRPC status code and containerd's message.
class CriError : public std::runtime_error {
 public:
  CriError(std::string rpc, grpc::StatusCode code, const std::string& message);
  const std::string& rpc() const noexcept { return rpc_; }
  grpc::StatusCode code() const noexcept { return code_; }
  const std::string& status_message() const noexcept { return status_message_; }

 private:
  std::string rpc_;
  grpc::StatusCode code_;
  std::string status_message_;
};

// One CRI connection; every call has a deadline (`timeout`) and throws CriError when containerd answers an error.
class CriClient {
 public:
  explicit CriClient(const std::string& socket_path, std::chrono::milliseconds timeout = std::chrono::seconds(60));

  runtime::v1::VersionResponse version();

  // Returns the pod sandbox id.
  std::string run_pod_sandbox(const runtime::v1::PodSandboxConfig& config, const std::string& runtime_handler);
  void stop_pod_sandbox(const std::string& pod_id);
  void remove_pod_sandbox(const std::string& pod_id);
  runtime::v1::PodSandboxStatusResponse pod_sandbox_status(const std::string& pod_id, bool verbose = false);
  std::vector<runtime::v1::PodSandbox> list_pod_sandbox();

  // Returns the container id.
  std::string create_container(const std::string& pod_id, const runtime::v1::ContainerConfig& config,
                               const runtime::v1::PodSandboxConfig& sandbox_config);
  void start_container(const std::string& container_id);
  void stop_container(const std::string& container_id, std::int64_t timeout_seconds);
  void remove_container(const std::string& container_id);
  runtime::v1::ContainerStatusResponse container_status(const std::string& container_id, bool verbose = false);
  std::vector<runtime::v1::Container> list_containers(const std::string& pod_id = {});
  // `timeout_seconds` is CRI's own exec timeout (0: none); the call's deadline is extended to cover it.
  runtime::v1::ExecSyncResponse exec_sync(const std::string& container_id, const std::vector<std::string>& cmd,
                                          std::int64_t timeout_seconds = 0);

  std::vector<runtime::v1::Image> list_images();
  // nullopt when CRI does not know the image.
  std::optional<runtime::v1::Image> image_status(const std::string& image);

 private:
  template <typename Request, typename Response, typename Stub>
  Response call(const char* rpc, Stub& stub,
                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*), const Request& request,
                std::chrono::milliseconds extra = {});

  std::chrono::milliseconds timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<runtime::v1::ImageService::Stub> images_;
};

// A pod in its own network namespace (POD, never NODE: host-network pods with sandboxer = 'shim' crash containerd
// 2.1.9), with CRI logs under `log_directory`.
runtime::v1::PodSandboxConfig make_pod_config(const std::string& name, const std::string& uid,
                                              const std::string& log_directory);

// A container of `image` running `sh -c <script>`, logging to <pod log directory>/<name>.log.
runtime::v1::ContainerConfig make_container_config(const std::string& name, const std::string& image,
                                                   const std::string& script);

}  // namespace shimcore::testing
