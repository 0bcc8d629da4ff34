// Task API handlers: thin translations between containerd's messages and the controller's plain types.
#include "shimcore/service/task_service.h"

#include <unistd.h>

#include <google/protobuf/empty.pb.h>

#include "containerd/task/v3/shim.pb.h"
#include "service/handlers.h"
#include "service/statistics.h"
#include "shimcore/build_info.h"
#include "shimcore/oci/identifiers.h"
#include "shimcore/proto_time.h"

namespace shimcore::service {
namespace {

namespace task = containerd::task::v3;
using transport::CallContext;
using transport::ResponderPtr;

controller::Stdio stdio_of(const std::string& in, const std::string& out, const std::string& err, bool terminal) {
  return {in, out, err, terminal};
}

containerd::v1::types::Status status_of(controller::ProcessState state) {
  switch (state) {
    case controller::ProcessState::Created: return containerd::v1::types::CREATED;
    case controller::ProcessState::Running: return containerd::v1::types::RUNNING;
    case controller::ProcessState::Stopped:
    case controller::ProcessState::Deleted: return containerd::v1::types::STOPPED;
  }
  return containerd::v1::types::UNKNOWN;
}

void unimplemented(transport::Service& service, const std::string& method) {
  service.add_unary(method, [method](const CallContext&, std::string_view, ResponderPtr responder) {
    responder->fail(transport::RpcStatus::of(ErrorKind::Unimplemented, method + " is not supported by this shim"));
  });
}

// Task.Update's resources: an OCI runtime-spec LinuxResources or WindowsResources, as JSON in the Any (containerd's
// typeurl for runtime-spec types), mapped to HCS's container limits.
controller::ResourceUpdate resource_update(const std::string& id, const google::protobuf::Any& resources) {
  const std::string& type = resources.type_url();
  const bool windows = type.ends_with("/WindowsResources");
  if (!windows && !type.ends_with("/LinuxResources")) {
    throw make_error(ErrorKind::InvalidArgument,
                     "update {}: unsupported resources type \"{}\" (want runtime-spec LinuxResources or "
                     "WindowsResources)",
                     id, type);
  }
  const nlohmann::json value = nlohmann::json::parse(resources.value(), nullptr, false);
  if (value.is_discarded() || !value.is_object()) {
    throw make_error(ErrorKind::InvalidArgument, "update {}: resources are not a JSON object", id);
  }
  controller::ResourceUpdate update;
  const auto number = [&](const nlohmann::json& object, const char* section,
                          const char* key) -> std::optional<std::uint64_t> {
    const auto outer = object.find(section);
    if (outer == object.end() || !outer->is_object()) return std::nullopt;
    const auto inner = outer->find(key);
    if (inner == outer->end() || inner->is_null()) return std::nullopt;
    if (!inner->is_number_unsigned() && !(inner->is_number_integer() && inner->get<std::int64_t>() >= 0)) {
      throw make_error(ErrorKind::InvalidArgument, "update {}: {}.{} must be a non-negative integer", id, section, key);
    }
    return inner->get<std::uint64_t>();
  };
  const auto narrow = [&](std::optional<std::uint64_t> value, const char* what) -> std::optional<std::uint32_t> {
    if (!value) return std::nullopt;
    if (*value > 0xffffffffu) throw make_error(ErrorKind::InvalidArgument, "update {}: {} is too large", id, what);
    return static_cast<std::uint32_t>(*value);
  };
  if (!windows) update.linux_resources = value;
  update.memory_limit_bytes = number(value, "memory", "limit");
  update.processor_weight = narrow(number(value, "cpu", "shares"), "cpu.shares");
  if (windows) {
    update.processor_count = narrow(number(value, "cpu", "count"), "cpu.count");
    update.processor_maximum = narrow(number(value, "cpu", "maximum"), "cpu.maximum");
  }
  return update;
}

}  // namespace

void register_task_service(transport::ServiceRegistry& registry, controller::TaskController& tasks,
                           std::function<void()> request_shutdown, std::string refuse_create) {
  transport::Service service("containerd.task.v3.Task");
  auto* controller = &tasks;

  service.add_blocking<task::CreateTaskRequest, task::CreateTaskResponse>(
      "Create", [controller, refuse_create](const CallContext&, const task::CreateTaskRequest& request) {
        if (!refuse_create.empty()) {
          throw make_error(ErrorKind::Unimplemented, "cannot create task {}: {}", request.id(), refuse_create);
        }
        // The id becomes a path component, a system id and a line in records `delete` reads back.
        oci::validate_identifier("task id", request.id());
        oci::validate_bundle_path("bundle", request.bundle());
        controller::CreateTaskRequest create;
        create.id = request.id();
        create.bundle = request.bundle();
        for (const auto& mount : request.rootfs()) {
          create.rootfs.push_back(
              {mount.type(), mount.source(), mount.target(), {mount.options().begin(), mount.options().end()}});
        }
        create.stdio = stdio_of(request.stdin(), request.stdout(), request.stderr(), request.terminal());
        task::CreateTaskResponse response;
        response.set_pid(controller->create(create));
        return response;
      });
  service.add_blocking<task::StartRequest, task::StartResponse>(
      "Start", [controller](const CallContext&, const task::StartRequest& request) {
        task::StartResponse response;
        response.set_pid(controller->start(request.id(), request.exec_id()));
        return response;
      });
  service.add_blocking<task::StateRequest, task::StateResponse>(
      "State", [controller](const CallContext&, const task::StateRequest& request) {
        const controller::ProcessStatus status = controller->state(request.id(), request.exec_id());
        task::StateResponse response;
        response.set_id(status.id);
        response.set_exec_id(status.exec_id);
        response.set_bundle(status.bundle);
        response.set_pid(status.pid);
        response.set_status(status_of(status.state));
        response.set_stdin(status.stdio.stdin_path);
        response.set_stdout(status.stdio.stdout_path);
        response.set_stderr(status.stdio.stderr_path);
        response.set_terminal(status.stdio.terminal);
        response.set_exit_status(status.exit_status);
        if (status.exited_at) set_timestamp(*response.mutable_exited_at(), *status.exited_at);
        return response;
      });
  service.add_blocking<task::DeleteRequest, task::DeleteResponse>(
      "Delete", [controller](const CallContext&, const task::DeleteRequest& request) {
        const controller::ExitStatus exit = controller->remove(request.id(), request.exec_id());
        task::DeleteResponse response;
        response.set_pid(exit.pid);
        response.set_exit_status(exit.exit_status);
        set_timestamp(*response.mutable_exited_at(), exit.exited_at);
        return response;
      });
  service.add_blocking<task::PidsRequest, task::PidsResponse>(
      "Pids", [controller](const CallContext&, const task::PidsRequest& request) {
        task::PidsResponse response;
        for (const std::uint32_t pid : controller->pids(request.id())) response.add_processes()->set_pid(pid);
        return response;
      });
  service.add_blocking<task::KillRequest, google::protobuf::Empty>(
      "Kill", [controller](const CallContext&, const task::KillRequest& request) {
        controller->kill(request.id(), request.exec_id(), request.signal(), request.all());
        return google::protobuf::Empty();
      });
  service.add_blocking<task::ExecProcessRequest, google::protobuf::Empty>(
      "Exec", [controller](const CallContext&, const task::ExecProcessRequest& request) {
        oci::validate_identifier("exec id", request.exec_id());
        controller::ExecRequest exec;
        exec.id = request.id();
        exec.exec_id = request.exec_id();
        exec.stdio = stdio_of(request.stdin(), request.stdout(), request.stderr(), request.terminal());
        // The OCI Process travels as JSON inside the Any (typeurl of runtime-spec Process).
        exec.process = nlohmann::json::parse(request.spec().value(), nullptr, false);
        if (exec.process.is_discarded() || !exec.process.is_object()) {
          throw make_error(ErrorKind::InvalidArgument, "exec {} in {}: the process spec is not a JSON object",
                           request.exec_id(), request.id());
        }
        controller->exec(exec);
        return google::protobuf::Empty();
      });
  service.add_blocking<task::ResizePtyRequest, google::protobuf::Empty>(
      "ResizePty", [controller](const CallContext&, const task::ResizePtyRequest& request) {
        controller->resize_pty(request.id(), request.exec_id(), request.width(), request.height());
        return google::protobuf::Empty();
      });
  service.add_blocking<task::CloseIORequest, google::protobuf::Empty>(
      "CloseIO", [controller](const CallContext&, const task::CloseIORequest& request) {
        controller->close_io(request.id(), request.exec_id(), request.stdin());
        return google::protobuf::Empty();
      });
  // Wait keeps its responder until the process exits instead of holding a worker thread.
  add_async<task::WaitRequest>(
      service, "Wait", [controller](const CallContext&, const task::WaitRequest& request, ResponderPtr responder) {
        controller->wait(request.id(), request.exec_id(), [responder](const controller::ExitStatus& exit) {
          task::WaitResponse response;
          response.set_exit_status(exit.exit_status);
          set_timestamp(*response.mutable_exited_at(), exit.exited_at);
          reply(responder, response);
        });
      });
  service.add_blocking<task::ConnectRequest, task::ConnectResponse>(
      "Connect", [controller](const CallContext&, const task::ConnectRequest& request) {
        task::ConnectResponse response;
        response.set_shim_pid(static_cast<std::uint32_t>(::getpid()));
        if (!request.id().empty()) {
          try {
            response.set_task_pid(controller->state(request.id(), "").pid);
          } catch (const Error& error) {
            if (error.kind() != ErrorKind::NotFound) throw;
          }
        }
        response.set_version(std::string(build_info().version));
        return response;
      });
  service.add_blocking<task::ShutdownRequest, google::protobuf::Empty>(
      "Shutdown", [controller, request_shutdown](const CallContext&, const task::ShutdownRequest& request) {
        // A shim with tasks left keeps serving (containerd sends Shutdown after each task's Delete), unless the caller
        // says `now`: then it goes, and its tasks with it (request_shutdown decides; a sandbox shim never goes here).
        if (request.now() || controller->task_count() == 0) request_shutdown();
        return google::protobuf::Empty();
      });
  service.add_blocking<task::StatsRequest, task::StatsResponse>(
      "Stats", [controller](const CallContext&, const task::StatsRequest& request) {
        const auto statistics = task_statistics(controller->task_statistics(request.id()));
        task::StatsResponse response;
        // The bare type name, as hcsshim's typeurl.MarshalAny writes it (containerd and ctr resolve it by name).
        response.mutable_stats()->set_type_url(std::string(kStatisticsTypeUrl));
        response.mutable_stats()->set_value(statistics.SerializeAsString());
        return response;
      });
  service.add_blocking<task::UpdateTaskRequest, google::protobuf::Empty>(
      "Update", [controller](const CallContext&, const task::UpdateTaskRequest& request) {
        if (!request.has_resources()) {
          throw make_error(ErrorKind::InvalidArgument, "update {}: no resources given", request.id());
        }
        controller->update(request.id(), resource_update(request.id(), request.resources()));
        return google::protobuf::Empty();
      });
  for (const char* method : {"Pause", "Resume", "Checkpoint"}) unimplemented(service, method);

  registry.add(std::move(service));
  registry.add_alias("containerd.task.v2.Task", "containerd.task.v3.Task");
}

}  // namespace shimcore::service
