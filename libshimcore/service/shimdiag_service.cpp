// ShimDiag handlers: decode, call the kind's diagnostics or task controller, map errors at the edge.
#include "shimcore/service/shimdiag_service.h"

#include <unistd.h>

#include "runhcs/shimdiag/shimdiag.pb.h"
#include "service/handlers.h"

namespace shimcore::service {
namespace {

namespace diag = containerd::runhcs::v1::diag;
using transport::CallContext;

controller::DiagExecRequest to_diag_exec(const diag::ExecProcessRequest& request) {
  controller::DiagExecRequest exec;
  exec.args.assign(request.args().begin(), request.args().end());
  exec.workdir = request.workdir();
  exec.stdio = {request.stdin(), request.stdout(), request.stderr(), request.terminal()};
  return exec;
}

}  // namespace

void register_shimdiag_service(transport::ServiceRegistry& registry, controller::TaskController& tasks,
                               controller::Diagnostics& diagnostics, transport::LongCalls& long_calls) {
  transport::Service service("containerd.runhcs.v1.diag.ShimDiag");
  auto* controller = &tasks;
  auto* kind = &diagnostics;
  auto* waiters = &long_calls;
  add_async<diag::ExecProcessRequest>(
      service, "DiagExecInHost",
      [waiters, kind](const CallContext& context, const diag::ExecProcessRequest& request,
                      transport::ResponderPtr responder) {
        waiters->run(context.stop, [kind, exec = to_diag_exec(request), responder](std::stop_token stop) {
          transport::complete_with_errors(*responder, [&] {
            diag::ExecProcessResponse response;
            response.set_exit_code(kind->exec(exec, stop));
            reply(responder, response);
          });
        });
      });
  service.add_blocking<diag::StacksRequest, diag::StacksResponse>(
      "DiagStacks", [kind](const CallContext&, const diag::StacksRequest&) {
        diag::StacksResponse response;
        controller::DiagStacks stacks = kind->stacks();
        response.set_stacks(std::move(stacks.shim));
        response.set_guest_stacks(std::move(stacks.guest));
        return response;
      });
  service.add_blocking<diag::TasksRequest, diag::TasksResponse>(
      "DiagTasks", [controller](const CallContext&, const diag::TasksRequest& request) {
        diag::TasksResponse response;
        for (const auto& summary : controller->summaries()) {
          diag::Task* task = response.add_tasks();
          task->set_id(summary.id);
          if (!request.execs()) continue;
          for (const auto& [exec_id, state] : summary.execs) {
            diag::Exec* exec = task->add_execs();
            exec->set_id(exec_id);
            exec->set_state(std::string(controller::to_string(state)));
          }
        }
        return response;
      });
  service.add_blocking<diag::ShareRequest, diag::ShareResponse>(
      "DiagShare", [kind](const CallContext&, const diag::ShareRequest& request) {
        kind->share(request.host_path(), request.uvm_path(), request.read_only());
        return diag::ShareResponse();
      });
  service.add_blocking<diag::PidRequest, diag::PidResponse>("DiagPid", [](const CallContext&, const diag::PidRequest&) {
    diag::PidResponse response;
    response.set_pid(static_cast<std::int32_t>(::getpid()));
    return response;
  });
  registry.add(std::move(service));
}

}  // namespace shimcore::service
