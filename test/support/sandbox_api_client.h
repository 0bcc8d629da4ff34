// containerd's sandbox Store and Controller services over gRPC (the Sandbox Controller API with the "shim" sandbox
// controller), as an e2e test or benchmark drives a sandbox shim without CRI.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "containerd/services/sandbox/v1/sandbox.grpc.pb.h"

namespace shimcore::testing {

namespace sandbox_v1 = containerd::services::sandbox::v1;

// Every call is in the namespace "default" with a 60 s deadline and throws std::runtime_error naming the call and
// containerd's message when it fails.
class SandboxApi {
 public:
  explicit SandboxApi(const std::string& socket)
      : channel_(grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials())),
        store_(sandbox_v1::Store::NewStub(channel_)),
        controller_(sandbox_v1::Controller::NewStub(channel_)) {}

  // A Store record for a sandbox run by `shim` (a runtime name or path) with `spec` as its config.json.
  static containerd::types::Sandbox record(const std::string& id, const std::string& shim, const nlohmann::json& spec) {
    containerd::types::Sandbox sandbox;
    sandbox.set_sandbox_id(id);
    sandbox.mutable_runtime()->set_name(shim);
    sandbox.mutable_spec()->set_type_url("types.containerd.io/opencontainers/runtime-spec/1/Spec");
    sandbox.mutable_spec()->set_value(spec.dump());
    sandbox.set_sandboxer("shim");
    return sandbox;
  }

  // Store.Create, Controller.Create (containerd starts the shim: CreateSandbox), Controller.Start (StartSandbox).
  // Returns the shim's pid.
  std::uint32_t create_and_start(const containerd::types::Sandbox& sandbox) {
    sandbox_v1::StoreCreateRequest store;
    *store.mutable_sandbox() = sandbox;
    sandbox_v1::StoreCreateResponse stored;
    check(store_->Create(context().get(), store, &stored), "Store.Create");
    sandbox_v1::ControllerCreateRequest create;
    create.set_sandbox_id(sandbox.sandbox_id());
    *create.mutable_sandbox() = sandbox;
    create.set_sandboxer(sandbox.sandboxer());
    sandbox_v1::ControllerCreateResponse created;
    check(controller_->Create(context().get(), create, &created), "Controller.Create");
    sandbox_v1::ControllerStartRequest start;
    start.set_sandbox_id(sandbox.sandbox_id());
    start.set_sandboxer(sandbox.sandboxer());
    sandbox_v1::ControllerStartResponse started;
    check(controller_->Start(context().get(), start, &started), "Controller.Start");
    return started.pid();
  }

  // As CRI removes a pod: Controller.Stop (5 s), Wait, Shutdown, then Store.Delete. Returns Wait's exited_at.
  google::protobuf::Timestamp stop_and_remove(const std::string& id) {
    sandbox_v1::ControllerStopRequest stop;
    stop.set_sandbox_id(id);
    stop.set_timeout_secs(5);
    stop.set_sandboxer("shim");
    sandbox_v1::ControllerStopResponse stopped;
    check(controller_->Stop(context().get(), stop, &stopped), "Controller.Stop");
    sandbox_v1::ControllerWaitRequest wait;
    wait.set_sandbox_id(id);
    wait.set_sandboxer("shim");
    sandbox_v1::ControllerWaitResponse waited;
    check(controller_->Wait(context().get(), wait, &waited), "Controller.Wait");
    sandbox_v1::ControllerShutdownRequest shutdown;
    shutdown.set_sandbox_id(id);
    shutdown.set_sandboxer("shim");
    sandbox_v1::ControllerShutdownResponse shut;
    check(controller_->Shutdown(context().get(), shutdown, &shut), "Controller.Shutdown");
    sandbox_v1::StoreDeleteRequest remove;
    remove.set_sandbox_id(id);
    sandbox_v1::StoreDeleteResponse removed;
    check(store_->Delete(context().get(), remove, &removed), "Store.Delete");
    return waited.exited_at();
  }

 private:
  static std::unique_ptr<grpc::ClientContext> context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("containerd-namespace", "default");
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return context;
  }
  static void check(const grpc::Status& status, const char* call) {
    if (!status.ok()) throw std::runtime_error(std::string(call) + ": " + status.error_message());
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<sandbox_v1::Store::Stub> store_;
  std::unique_ptr<sandbox_v1::Controller::Stub> controller_;
};

}  // namespace shimcore::testing
