// A client of one shim's containerd.runhcs.v1.diag.ShimDiag service, over ttrpc (what containerd's shims serve) or
// gRPC. Every call has the same deadline and throws shimcore::Error with the kind of the status the shim returned.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "runhcs/shimdiag/shimdiag.pb.h"

namespace shimdiag {

namespace diag = containerd::runhcs::v1::diag;

class DiagClient {
 public:
  virtual ~DiagClient() = default;
  virtual diag::ExecProcessResponse exec(const diag::ExecProcessRequest& request) = 0;
  virtual diag::StacksResponse stacks() = 0;
  virtual diag::TasksResponse tasks(bool execs) = 0;
  virtual void share(const diag::ShareRequest& request) = 0;
  virtual diag::PidResponse pid() = 0;
};

// `timeout` bounds each call; exec's is the caller's (a diagnostic process may run for long), zero = none.
std::unique_ptr<DiagClient> make_ttrpc_client(const std::string& address, std::chrono::milliseconds timeout);
std::unique_ptr<DiagClient> make_grpc_client(const std::string& address, std::chrono::milliseconds timeout);

}  // namespace shimdiag
