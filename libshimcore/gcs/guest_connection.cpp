// Typed GCS RPCs, stdio port allocation and exit-notification routing over one Bridge.
#include "shimcore/gcs/guest_connection.h"

#include <fmt/format.h>

#include "shimcore/errdefs.h"

namespace shimcore::gcs {
namespace {

RequestBase base_for(const std::string& container_id) {
  RequestBase base;
  base.container_id = container_id;
  return base;
}

std::string dump(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

GuestConnection::GuestConnection(Key, GuestTransport& transport, GuestConnectionOptions options)
    : transport_(transport), options_(std::move(options)) {}

GuestConnection::~GuestConnection() { bridge_.reset(); }

std::unique_ptr<GuestConnection> GuestConnection::connect(GuestTransport& transport, PortListener& bridge_listener,
                                                          std::chrono::milliseconds connect_timeout,
                                                          GuestConnectionOptions options) {
  auto connection = std::make_unique<GuestConnection>(Key{}, transport, std::move(options));
  auto stream = bridge_listener.accept(connect_timeout);
  Bridge::Options bridge_options;
  bridge_options.call_timeout = connection->options_.call_timeout;
  bridge_options.on_closed = connection->options_.on_closed;
  bridge_options.debug_log = connection->options_.debug_log;
  GuestConnection* self = connection.get();
  bridge_options.on_notification = [self](const ContainerNotification& n) { return self->notify(n); };
  connection->bridge_ = std::make_unique<Bridge>(std::move(stream), std::move(bridge_options));

  NegotiateProtocolRequest request;
  request.base.container_id = std::string(kNullContainerId);
  const auto response = decode<NegotiateProtocolResponse>(
      connection->bridge_->call(Rpc::NegotiateProtocol, encode_body(request), connect_timeout));
  if (response.version != kProtocolVersion) {
    connection->close("protocol negotiation failed");
    throw make_error(ErrorKind::FailedPrecondition, "the guest negotiated bridge protocol {}, want {}",
                     response.version, kProtocolVersion);
  }
  connection->version_ = response.version;
  connection->capabilities_ = response.capabilities;
  return connection;
}

bool GuestConnection::notify(const ContainerNotification& notification) {
  ExitCallback callback;
  {
    std::lock_guard lock(mutex_);
    auto it = exit_callbacks_.find(notification.base.container_id);
    if (it == exit_callbacks_.end()) return false;
    callback = std::move(it->second);
    exit_callbacks_.erase(it);
  }
  if (callback) callback(notification);
  return true;
}

std::string GuestConnection::call(Rpc rpc, const nlohmann::json& body,
                                  std::optional<std::chrono::milliseconds> timeout) {
  return bridge_->call(rpc, dump(body), timeout);
}

std::uint32_t GuestConnection::next_port() {
  std::lock_guard lock(mutex_);
  return next_port_++;
}

void GuestConnection::create_container(const std::string& id, const nlohmann::json& config, ExitCallback on_exit) {
  {
    std::lock_guard lock(mutex_);
    if (!exit_callbacks_.emplace(id, std::move(on_exit)).second) {
      throw make_error(ErrorKind::AlreadyExists, "container {} already exists in the guest connection", id);
    }
  }
  CreateRequest request{base_for(id), config};
  try {
    call(Rpc::Create, request);
  } catch (...) {
    std::lock_guard lock(mutex_);
    exit_callbacks_.erase(id);
    throw;
  }
}

void GuestConnection::start_container(const std::string& id) { call(Rpc::Start, base_for(id)); }

void GuestConnection::shutdown_container(const std::string& id, bool forced) {
  try {
    call(forced ? Rpc::ShutdownForced : Rpc::ShutdownGraceful, base_for(id), options_.shutdown_timeout);
  } catch (const GuestError& e) {
    if (e.hresult() != wire_error::kSystemNotFound) throw;
  }
}

void GuestConnection::delete_container_state(const std::string& id) { call(Rpc::DeleteContainerState, base_for(id)); }

std::unique_ptr<GuestProcess> GuestConnection::execute_process(const std::string& container_id,
                                                               const ProcessParameters& parameters) {
  ExecuteProcessRequest request;
  request.base = base_for(container_id);
  request.parameters = parameters;
  std::unique_ptr<PortListener> stdin_listener, stdout_listener, stderr_listener;
  if (parameters.create_stdin_pipe) {
    stdin_listener = transport_.listen(next_port());
    request.stdio.stdin_port = stdin_listener->port();
  }
  if (parameters.create_stdout_pipe) {
    stdout_listener = transport_.listen(next_port());
    request.stdio.stdout_port = stdout_listener->port();
  }
  if (parameters.create_stderr_pipe) {
    stderr_listener = transport_.listen(next_port());
    request.stdio.stderr_port = stderr_listener->port();
  }
  const auto response = decode<ExecuteProcessResponse>(bridge_->call(Rpc::ExecuteProcess, encode_body(request)));
  auto process = std::make_unique<GuestProcess>(GuestProcess::Key{}, *this, container_id, response.process_id);
  // The guest dialled before answering; its connections wait in the listeners' backlogs.
  try {
    const auto accept = [&](std::unique_ptr<PortListener>& listener, hcs::OsHandle& into) {
      if (listener) into = listener->accept(options_.stdio_accept_timeout)->release_handle();
    };
    accept(stdin_listener, process->stdio_.std_in);
    accept(stdout_listener, process->stdio_.std_out);
    accept(stderr_listener, process->stdio_.std_err);
  } catch (const Error&) {
    // A process whose stdio never connected is of no use to the caller: do not leave it running.
    try {
      process->signal(std::nullopt);
    } catch (const Error&) {
    }
    throw;
  }
  WaitForProcessRequest wait{base_for(container_id), response.process_id, kInfiniteTimeout};
  process->wait_call_ = bridge_->start_call(Rpc::WaitForProcess, encode_body(wait));
  return process;
}

void GuestConnection::modify_settings(const std::string& container_id, std::string resource_type,
                                      std::string request_type, nlohmann::json settings) {
  ModifySettingsRequest request{base_for(container_id), std::move(resource_type), std::move(request_type),
                                std::move(settings)};
  call(Rpc::ModifySettings, request);
}

nlohmann::json GuestConnection::get_properties(const std::string& container_id,
                                               std::vector<std::string> property_types) {
  GetPropertiesRequest request{base_for(container_id), std::move(property_types)};
  return decode<GetPropertiesResponse>(call(Rpc::GetProperties, request)).properties;
}

std::string GuestConnection::dump_stacks(std::optional<std::chrono::milliseconds> timeout) {
  return decode<DumpStacksResponse>(call(Rpc::DumpStacks, base_for(std::string(kNullContainerId)), timeout))
      .guest_stacks;
}

bool GuestConnection::shutdown_vm(bool forced, std::chrono::milliseconds bound) {
  if (bridge_->closed()) return true;
  try {
    bridge_->send_unanswered(forced ? Rpc::ShutdownForced : Rpc::ShutdownGraceful,
                             dump(nlohmann::json(base_for(std::string(kNullContainerId)))));
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Unavailable) throw;
    return true;  // already closed
  }
  return bridge_->wait_closed(bound);
}

void GuestConnection::close(const std::string& reason) { bridge_->close(reason); }
bool GuestConnection::closed() const { return bridge_->closed(); }
std::string GuestConnection::close_reason() const { return bridge_->close_reason(); }

hcs::ProcessStdio GuestProcess::take_stdio() { return std::move(stdio_); }

std::uint32_t GuestProcess::wait(std::optional<std::chrono::milliseconds> timeout) {
  if (timeout && !wait_call_->wait_done(*timeout)) {
    throw make_error(ErrorKind::DeadlineExceeded, "guest process {} did not exit within {} ms", pid_, timeout->count());
  }
  return decode<WaitForProcessResponse>(wait_call_->wait_unbounded()).exit_code;
}

bool GuestProcess::exited() const { return wait_call_->done(); }

void GuestProcess::signal(std::optional<int> signal) {
  SignalProcessRequest request{base_for(container_id_), pid_, signal};
  connection_->call(Rpc::SignalProcess, request);
}

void GuestProcess::resize_console(std::uint16_t height, std::uint16_t width) {
  ResizeConsoleRequest request{base_for(container_id_), pid_, height, width};
  connection_->call(Rpc::ResizeConsole, request);
}

}  // namespace shimcore::gcs
