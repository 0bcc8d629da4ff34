// Sandbox API handlers: thin translations between containerd's messages and the sandbox controller's plain types.
#include "shimcore/service/sandbox_service.h"

#include "containerd/runtime/sandbox/v1/sandbox.pb.h"
#include "service/handlers.h"
#include "service/statistics.h"
#include "shimcore/errdefs.h"
#include "shimcore/oci/identifiers.h"
#include "shimcore/proto_time.h"
#include "shimcore/service/task_service.h"

namespace shimcore::service {
namespace {

namespace sandbox = containerd::runtime::sandbox::v1;
using transport::CallContext;
using transport::ResponderPtr;

// A pause container that ignores SIGTERM gets this long when StopSandbox names no timeout.
constexpr auto kDefaultStopGrace = std::chrono::seconds(10);

std::string_view type_name(std::string_view type_url) {
  const auto slash = type_url.rfind('/');
  return slash == std::string_view::npos ? type_url : type_url.substr(slash + 1);
}

// CRI puts the pod's config in `options`; ctr and the Controller API send runtime options or nothing.
std::optional<oci::PodSandboxConfig> pod_config_of(const sandbox::CreateSandboxRequest& request) {
  if (!request.has_options() || request.options().type_url().empty()) return std::nullopt;
  const std::string_view type = type_name(request.options().type_url());
  if (type == kPodSandboxConfigType) return oci::parse_pod_sandbox_config(request.options().value());
  if (type == "containerd.runhcs.v1.Options" || type == "runtimeoptions.v1.Options") return std::nullopt;
  throw make_error(ErrorKind::InvalidArgument,
                   "sandbox {}: unsupported options type \"{}\" (want {}, containerd.runhcs.v1.Options or "
                   "runtimeoptions.v1.Options)",
                   request.sandbox_id(), request.options().type_url(), kPodSandboxConfigType);
}

std::string cri_state(controller::SandboxState state) {
  return state == controller::SandboxState::Running ? "SANDBOX_READY" : "SANDBOX_NOTREADY";
}

}  // namespace

void register_sandbox_service(transport::ServiceRegistry& registry, controller::SandboxController& sandboxes,
                              transport::LongCalls& long_calls, std::function<void()> request_shutdown) {
  transport::Service service("containerd.runtime.sandbox.v1.Sandbox");
  auto* controller = &sandboxes;
  auto* waiters = &long_calls;

  service.add_blocking<sandbox::CreateSandboxRequest, sandbox::CreateSandboxResponse>(
      "CreateSandbox", [controller](const CallContext&, const sandbox::CreateSandboxRequest& request) {
        oci::validate_identifier("sandbox id", request.sandbox_id());
        oci::validate_bundle_path("bundle path", request.bundle_path());
        controller::CreateSandboxRequest create;
        create.id = request.sandbox_id();
        create.bundle = request.bundle_path();
        create.netns_path = request.netns_path();
        create.annotations = {request.annotations().begin(), request.annotations().end()};
        create.pod_config = pod_config_of(request);
        controller->create(create);
        return sandbox::CreateSandboxResponse();
      });
  service.add_blocking<sandbox::StartSandboxRequest, sandbox::StartSandboxResponse>(
      "StartSandbox", [controller](const CallContext&, const sandbox::StartSandboxRequest& request) {
        const auto [pid, created_at] = controller->start(request.sandbox_id());
        sandbox::StartSandboxResponse response;
        response.set_pid(pid);
        set_timestamp(*response.mutable_created_at(), created_at);
        return response;
      });
  service.add_blocking<sandbox::PlatformRequest, sandbox::PlatformResponse>(
      "Platform", [controller](const CallContext&, const sandbox::PlatformRequest& request) {
        const controller::SandboxPlatform platform = controller->platform(request.sandbox_id());
        sandbox::PlatformResponse response;
        response.mutable_platform()->set_os(platform.os);
        response.mutable_platform()->set_architecture(platform.architecture);
        response.mutable_platform()->set_os_version(platform.os_version);
        return response;
      });
  // StopSandbox may wait out the whole grace period: it runs on a long-call thread, so that a few of them cannot take
  // every server worker, and the wait ends early when the call is cancelled.
  add_async<sandbox::StopSandboxRequest>(
      service, "StopSandbox",
      [controller, waiters](const CallContext& context, const sandbox::StopSandboxRequest& request,
                            ResponderPtr responder) {
        const std::chrono::milliseconds grace =
            request.timeout_secs() > 0 ? std::chrono::seconds(request.timeout_secs()) : kDefaultStopGrace;
        waiters->run(context.stop, [controller, id = request.sandbox_id(), grace, responder](std::stop_token stop) {
          transport::complete_with_errors(*responder, [&] {
            controller->stop(id, grace, stop);
            reply(responder, sandbox::StopSandboxResponse());
          });
        });
      });
  // WaitSandbox keeps its responder until the sandbox stops instead of holding a worker thread.
  add_async<sandbox::WaitSandboxRequest>(
      service, "WaitSandbox",
      [controller](const CallContext&, const sandbox::WaitSandboxRequest& request, ResponderPtr responder) {
        controller->wait(request.sandbox_id(), [responder](const controller::ExitStatus& exit) {
          sandbox::WaitSandboxResponse response;
          response.set_exit_status(exit.exit_status);
          set_timestamp(*response.mutable_exited_at(), exit.exited_at);
          reply(responder, response);
        });
      });
  service.add_blocking<sandbox::SandboxStatusRequest, sandbox::SandboxStatusResponse>(
      "SandboxStatus", [controller](const CallContext&, const sandbox::SandboxStatusRequest& request) {
        const controller::SandboxStatus status = controller->status(request.sandbox_id(), request.verbose());
        sandbox::SandboxStatusResponse response;
        response.set_sandbox_id(status.id);
        response.set_pid(status.pid);
        response.set_state(cri_state(status.state));
        response.mutable_info()->insert(status.info.begin(), status.info.end());
        if (status.created_at) set_timestamp(*response.mutable_created_at(), *status.created_at);
        if (status.exited_at) set_timestamp(*response.mutable_exited_at(), *status.exited_at);
        return response;
      });
  service.add_blocking<sandbox::PingRequest, sandbox::PingResponse>(
      "PingSandbox", [controller](const CallContext&, const sandbox::PingRequest& request) {
        controller->ping(request.sandbox_id());
        return sandbox::PingResponse();
      });
  // The reply goes out first; the shim exits afterwards (request_shutdown lets in-flight replies finish).
  add_async<sandbox::ShutdownSandboxRequest>(
      service, "ShutdownSandbox",
      [controller, request_shutdown](const CallContext&, const sandbox::ShutdownSandboxRequest& request,
                                     ResponderPtr responder) {
        controller->shutdown(request.sandbox_id());
        reply(responder, sandbox::ShutdownSandboxResponse());
        request_shutdown();
      });
  // The sandbox's statistics in the runhcs type Task.Stats answers with: the pause container's, or (as hcsshim's LCOW
  // shim) the utility VM's.
  service.add_blocking<sandbox::SandboxMetricsRequest, sandbox::SandboxMetricsResponse>(
      "SandboxMetrics", [controller](const CallContext&, const sandbox::SandboxMetricsRequest& request) {
        const auto statistics = task_statistics(controller->statistics(request.sandbox_id()));
        sandbox::SandboxMetricsResponse response;
        containerd::types::Metric& metric = *response.mutable_metrics();
        set_timestamp(*metric.mutable_timestamp(), std::chrono::system_clock::now());
        metric.set_id(request.sandbox_id());
        metric.mutable_data()->set_type_url(std::string(kStatisticsTypeUrl));
        metric.mutable_data()->set_value(statistics.SerializeAsString());
        return response;
      });

  registry.add(std::move(service));
}

}  // namespace shimcore::service
