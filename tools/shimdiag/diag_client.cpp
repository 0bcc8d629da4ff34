// ShimDiag over ttrpc (libshimcore's client) and over gRPC (the generated stub on a Unix socket).
#include "diag_client.h"

#include <grpcpp/grpcpp.h>

#include "runhcs/shimdiag/shimdiag.grpc.pb.h"
#include "shimcore/errdefs.h"
#include "shimcore/transport/grpc_server.h"
#include "shimcore/transport/ttrpc_client.h"

namespace shimdiag {
namespace {

constexpr const char* kService = "containerd.runhcs.v1.diag.ShimDiag";

class TtrpcDiagClient final : public DiagClient {
 public:
  TtrpcDiagClient(const std::string& address, std::chrono::milliseconds timeout) : client_(address) {
    if (timeout.count() > 0) options_.timeout = timeout;
  }
  diag::ExecProcessResponse exec(const diag::ExecProcessRequest& request) override {
    return call<diag::ExecProcessResponse>("DiagExecInHost", request);
  }
  diag::StacksResponse stacks() override { return call<diag::StacksResponse>("DiagStacks", diag::StacksRequest()); }
  diag::TasksResponse tasks(bool execs) override {
    diag::TasksRequest request;
    request.set_execs(execs);
    return call<diag::TasksResponse>("DiagTasks", request);
  }
  void share(const diag::ShareRequest& request) override { call<diag::ShareResponse>("DiagShare", request); }
  diag::PidResponse pid() override { return call<diag::PidResponse>("DiagPid", diag::PidRequest()); }

 private:
  template <typename Response, typename Request>
  Response call(const char* method, const Request& request) {
    return client_.call<Response>(kService, method, request, options_);
  }
  shimcore::transport::TtrpcClient client_;
  shimcore::transport::CallOptions options_;
};

class GrpcDiagClient final : public DiagClient {
 public:
  GrpcDiagClient(const std::string& address, std::chrono::milliseconds timeout)
      : stub_(diag::ShimDiag::NewStub(
            grpc::CreateChannel(shimcore::transport::grpc_unix_target(address), grpc::InsecureChannelCredentials()))),
        timeout_(timeout) {}
  diag::ExecProcessResponse exec(const diag::ExecProcessRequest& request) override {
    diag::ExecProcessResponse response;
    check(stub_->DiagExecInHost(context().get(), request, &response), "DiagExecInHost");
    return response;
  }
  diag::StacksResponse stacks() override {
    diag::StacksResponse response;
    check(stub_->DiagStacks(context().get(), diag::StacksRequest(), &response), "DiagStacks");
    return response;
  }
  diag::TasksResponse tasks(bool execs) override {
    diag::TasksRequest request;
    request.set_execs(execs);
    diag::TasksResponse response;
    check(stub_->DiagTasks(context().get(), request, &response), "DiagTasks");
    return response;
  }
  void share(const diag::ShareRequest& request) override {
    diag::ShareResponse response;
    check(stub_->DiagShare(context().get(), request, &response), "DiagShare");
  }
  diag::PidResponse pid() override {
    diag::PidResponse response;
    check(stub_->DiagPid(context().get(), diag::PidRequest(), &response), "DiagPid");
    return response;
  }

 private:
  std::unique_ptr<grpc::ClientContext> context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    if (timeout_.count() > 0) context->set_deadline(std::chrono::system_clock::now() + timeout_);
    return context;
  }
  // gRPC's status codes are the same numbers as errdefs' (google.rpc.Code).
  static void check(const grpc::Status& status, const char* method) {
    if (status.ok()) return;
    throw shimcore::Error(shimcore::from_status_code(static_cast<int>(status.error_code())),
                          status.error_message().empty() ? std::string(method) + " failed" : status.error_message());
  }
  std::unique_ptr<diag::ShimDiag::Stub> stub_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<DiagClient> make_ttrpc_client(const std::string& address, std::chrono::milliseconds timeout) {
  return std::make_unique<TtrpcDiagClient>(address, timeout);
}

std::unique_ptr<DiagClient> make_grpc_client(const std::string& address, std::chrono::milliseconds timeout) {
  return std::make_unique<GrpcDiagClient>(address, timeout);
}

}  // namespace shimdiag
