// gRPC server: one callback generic service in front of the ServiceRegistry, with handlers run on a worker pool.
#include "shimcore/transport/grpc_server.h"

#include "shimcore/transport/unix_socket.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

#include "shimcore/transport/ttrpc_server.h"

namespace shimcore::transport {

std::string grpc_unix_target(const std::string& address) { return "unix:" + unix_socket_path(address); }

namespace {

namespace asio = boost::asio;

grpc::ByteBuffer to_byte_buffer(std::string_view bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());  // copies
  return grpc::ByteBuffer(&slice, 1);
}

std::string to_bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes;
}

// RpcStatus and grpc::StatusCode both use google.rpc.Code numbering, so the mapping is a cast.
grpc::Status to_grpc_status(const RpcStatus& status) {
  return {static_cast<grpc::StatusCode>(status.code), status.message};
}

// "/pkg.Service/Method" -> {"pkg.Service", "Method"}. Anything else yields a service name no registry holds, so the
// caller gets ttrpc's "service X" answer.
std::pair<std::string, std::string> split_method(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (path.size() < 3 || path.front() != '/' || slash == 0) return {path, {}};
  return {path.substr(1, slash - 1), path.substr(slash + 1)};
}

std::optional<Deadline> steady_deadline(std::chrono::system_clock::time_point deadline) {
  // gRPC reports "no deadline" as time_point::max(); anything a century away is treated the same, which also keeps
  // the conversion below from overflowing.
  const auto left = deadline - std::chrono::system_clock::now();
  if (deadline == std::chrono::system_clock::time_point::max() || left > std::chrono::hours(24 * 365 * 100)) {
    return std::nullopt;
  }
  return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
}

// Everything the calls share; owned by GrpcServer::Impl and by calls whose handlers still run.
struct ServerState {
  ServerState(std::shared_ptr<const ServiceRegistry> registry, const GrpcServerOptions& options)
      : registry(std::move(registry)), options(options), workers(std::max<std::size_t>(1, options.worker_threads)) {}

  void call_started() {
    const std::lock_guard lock(mutex);
    ++in_flight;
  }
  void call_finished() {
    const std::lock_guard lock(mutex);
    --in_flight;
  }

  std::shared_ptr<const ServiceRegistry> registry;
  GrpcServerOptions options;
  asio::thread_pool workers;
  mutable std::mutex mutex;
  std::size_t in_flight = 0;
  bool stopping = false;
};

class CallReactor;

// The state of one call that both sides touch: the reactor (gRPC threads) and the handler (a worker). Every
// operation on the reactor happens under mutex_, because gRPC forbids concurrent Write/Finish on one call. Holding
// it while calling into gRPC is safe: gRPC runs the reactions of a non-inlineable reactor on its executor, never
// inline in StartWrite/Finish, so no reaction re-enters this mutex on the same thread.
class CallState final : public StreamWriter {
 public:
  CallState(std::shared_ptr<ServerState> server, CallReactor& reactor, grpc::CallbackServerContext& context)
      : server_(std::move(server)), reactor_(&reactor), context_(&context) {
    server_->call_started();
  }

  std::stop_token stop_token() const { return stop_.get_token(); }
  ServerState& server() { return *server_; }

  // Unary answer: the one message and OK in a single operation.
  void reply(std::string payload);
  // Any error status; for a stream, sent once the write in progress is done.
  void fail(const RpcStatus& status) { answer(to_grpc_status(status)); }
  // Server streaming: one gRPC message per call, queued behind the write in progress.
  bool send(std::string payload) override;
  // Server streaming: OK after the queued messages.
  void end_stream() { answer(grpc::Status::OK); }

  // Reactions, on gRPC threads.
  void on_write_done(bool ok);
  void on_cancel();

 private:
  // Chooses the call's answer if none was chosen yet; returns false if one was.
  bool claim_answer_locked() {
    if (answered_) return false;
    answered_ = true;
    server_->call_finished();
    return true;
  }
  void answer(grpc::Status status) {
    const std::lock_guard lock(mutex_);
    if (claim_answer_locked()) finish_locked(std::move(status));
  }
  void finish_locked(grpc::Status status);
  void start_write_locked();
  // Messages not yet handed to gRPC can no longer reach a cancelled call; dropping them lets Finish follow the write
  // in progress, which must stay in place until OnWriteDone.
  void drop_queued_writes_locked() {
    if (writes_.size() <= 1) return;
    writes_.erase(writes_.begin() + 1, writes_.end());
    pending_bytes_ = writes_.front().Length();
  }

  std::shared_ptr<ServerState> server_;
  std::mutex mutex_;
  // Both are null once Finish has been issued: from then on gRPC may run OnDone and delete them at any moment.
  CallReactor* reactor_;
  grpc::CallbackServerContext* context_;
  bool answered_ = false;
  std::optional<grpc::Status> finish_pending_;  // Finish waits for the write in progress
  std::deque<grpc::ByteBuffer> writes_;         // front() is in progress while writing_; a deque keeps it in place
  std::size_t pending_bytes_ = 0;
  bool writing_ = false;
  // The unary answer; gRPC reads it until OnDone, and this object outlives the reactor.
  grpc::ByteBuffer last_message_;
  std::stop_source stop_;
};

// The Responder a unary handler gets. Separate from CallState because the reactor also holds the CallState, so only
// this object's destruction tells that the handler dropped the call without answering.
class UnaryResponder final : public Responder {
 public:
  explicit UnaryResponder(std::shared_ptr<CallState> call) : call_(std::move(call)) {}
  ~UnaryResponder() override { call_->fail(RpcStatus::of(ErrorKind::Internal, "handler returned no answer")); }
  UnaryResponder(const UnaryResponder&) = delete;
  UnaryResponder& operator=(const UnaryResponder&) = delete;

  void reply(std::string payload) override { call_->reply(std::move(payload)); }
  void fail(RpcStatus status) override { call_->fail(status); }

 private:
  std::shared_ptr<CallState> call_;
};

// One gRPC call, whatever its method: reads the single request, hands it to the worker pool and relays the answer.
// Unknown services and methods are answered at once.
class CallReactor final : public grpc::ServerGenericBidiReactor {
 public:
  // gRPC owns reactors through raw pointers and expects them to delete themselves in OnDone; this is the only place
  // one is created, and OnDone the only place it is destroyed.
  static CallReactor* create(const std::shared_ptr<ServerState>& server, grpc::GenericCallbackServerContext& context) {
    return std::make_unique<CallReactor>(server, context).release();
  }

  CallReactor(const std::shared_ptr<ServerState>& server, grpc::GenericCallbackServerContext& context) {
    auto [service, method] = split_method(context.method());
    const Lookup lookup = lookup_method(*server->registry, service, method);
    if (lookup.method == nullptr) {
      Finish(to_grpc_status(lookup.status));
      return;
    }
    method_ = lookup.method;
    call_ = std::make_shared<CallState>(server, *this, context);
    call_context_.service = std::move(service);
    call_context_.method = std::move(method);
    call_context_.deadline = steady_deadline(context.deadline());
    for (const auto& [key, value] : context.client_metadata()) {
      call_context_.metadata.emplace_back(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
    }
    call_context_.stop = call_->stop_token();
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed without a request (a cancelled call also lands here; then the answer is ignored).
      call_->fail(RpcStatus::of(ErrorKind::Internal, "no request message"));
      return;
    }
    dispatch(call_, *method_, std::move(call_context_), to_bytes(request_));
    request_.Clear();
  }

  void OnWriteDone(bool ok) override { call_->on_write_done(ok); }

  // Client cancel, deadline passed, or server shutdown past its grace.
  void OnCancel() override {
    if (call_) call_->on_cancel();
  }

  void OnDone() override {
    // The reactor contract of grpc's callback API: OnDone is the last reaction and the reactor must free itself here.
    // The project bans naked new/delete otherwise; this matches the make_unique(...).release() in create().
    delete this;
  }

 private:
  // Runs the handler on the worker pool, as TtrpcServer does.
  static void dispatch(const std::shared_ptr<CallState>& call, const Method& method, CallContext context,
                       std::string payload) {
    asio::post(call->server().workers, [call, &method, context = std::move(context), payload = std::move(payload)] {
      if (method.unary) {
        const ResponderPtr responder = std::make_shared<UnaryResponder>(call);
        complete_with_errors(*responder, [&] { method.unary(context, payload, responder); });
        return;
      }
      try {
        method.server_stream(context, payload, *call);
        call->end_stream();
      } catch (const Error& error) {
        call->fail(RpcStatus::from_error(error));
      } catch (const std::exception& error) {
        call->fail(RpcStatus::of(ErrorKind::Unknown, error.what()));
      } catch (...) {
        call->fail(RpcStatus::of(ErrorKind::Unknown, "unknown exception"));
      }
    });
  }

  const Method* method_ = nullptr;
  std::shared_ptr<CallState> call_;  // null for a call answered Unimplemented at once
  CallContext call_context_;
  grpc::ByteBuffer request_;
};

void CallState::reply(std::string payload) {
  const std::lock_guard lock(mutex_);
  if (!claim_answer_locked()) return;
  last_message_ = to_byte_buffer(payload);
  reactor_->StartWriteAndFinish(&last_message_, grpc::WriteOptions(), grpc::Status::OK);
  reactor_ = nullptr;
  context_ = nullptr;
}

bool CallState::send(std::string payload) {
  const std::lock_guard lock(mutex_);
  if (answered_ || stop_.stop_requested()) return false;
  if (pending_bytes_ + payload.size() > server_->options.max_pending_write_bytes) {
    // The client is not reading. Cancelling also aborts the write in progress, whose completion then sends Finish.
    stop_.request_stop();
    drop_queued_writes_locked();
    claim_answer_locked();
    finish_locked({grpc::StatusCode::RESOURCE_EXHAUSTED, "client is not reading the stream"});
    if (context_ != nullptr) context_->TryCancel();
    return false;
  }
  pending_bytes_ += payload.size();
  writes_.push_back(to_byte_buffer(payload));
  if (!writing_) start_write_locked();
  return true;
}

void CallState::start_write_locked() {
  writing_ = true;
  reactor_->StartWrite(&writes_.front());
}

void CallState::finish_locked(grpc::Status status) {
  if (reactor_ == nullptr) return;
  if (writing_) {
    // gRPC allows one write at a time and the message must stay valid until OnWriteDone; queued ones are kept.
    finish_pending_ = std::move(status);
    return;
  }
  reactor_->Finish(std::move(status));
  reactor_ = nullptr;
  context_ = nullptr;
}

void CallState::on_write_done(bool ok) {
  const std::lock_guard lock(mutex_);
  pending_bytes_ -= writes_.front().Length();
  writes_.pop_front();
  writing_ = false;
  if (!ok) {
    // The stream is broken (client gone or call cancelled); OnCancel follows and picks the answer if none was.
    stop_.request_stop();
    writes_.clear();
    pending_bytes_ = 0;
  }
  if (!writes_.empty() && reactor_ != nullptr) {
    start_write_locked();
  } else if (finish_pending_) {
    finish_locked(*std::exchange(finish_pending_, std::nullopt));
  }
}

void CallState::on_cancel() {
  stop_.request_stop();
  const std::lock_guard lock(mutex_);
  drop_queued_writes_locked();
  // Every call must be finished even when cancelled; the status is never seen by the client.
  if (claim_answer_locked()) finish_locked({grpc::StatusCode::CANCELLED, "call cancelled"});
}

class GenericService final : public grpc::CallbackGenericService {
 public:
  explicit GenericService(std::shared_ptr<ServerState> server) : server_(std::move(server)) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override {
    return CallReactor::create(server_, *context);
  }

 private:
  std::shared_ptr<ServerState> server_;
};

}  // namespace

class GrpcServer::Impl {
 public:
  Impl(std::shared_ptr<const ServiceRegistry> registry, const GrpcServerOptions& options)
      : state(std::make_shared<ServerState>(std::move(registry), options)), service(state) {}

  ~Impl() { shutdown(std::chrono::milliseconds(0)); }

  void listen(const std::string& address) {
    if (started) throw make_error(ErrorKind::FailedPrecondition, "gRPC server already started");
    const std::string path = unix_socket_path(address);
    clear_stale_socket(path);
    socket_paths.push_back(path);
  }

  void start() {
    if (started) throw make_error(ErrorKind::FailedPrecondition, "gRPC server already started");
    if (socket_paths.empty()) throw make_error(ErrorKind::FailedPrecondition, "gRPC server has no listener");
    grpc::ServerBuilder builder;
    std::vector<int> ports(socket_paths.size(), 0);
    for (std::size_t i = 0; i < socket_paths.size(); ++i) {
      builder.AddListeningPort("unix:" + socket_paths[i], grpc::InsecureServerCredentials(), &ports[i]);
    }
    builder.RegisterCallbackGenericService(&service);
    builder.SetMaxReceiveMessageSize(state->options.max_message_bytes);
    builder.SetMaxSendMessageSize(state->options.max_message_bytes);
    server = builder.BuildAndStart();
    const bool all_bound = std::ranges::all_of(ports, [](int port) { return port != 0; });
    if (!server || !all_bound) {
      if (server) server->Shutdown();
      server.reset();
      throw make_error(ErrorKind::Unavailable, "cannot listen on {}", fmt::join(socket_paths, ", "));
    }
    started = true;
    for (const std::string& path : socket_paths) {
      if (::chmod(path.c_str(), static_cast<mode_t>(state->options.socket_mode)) != 0) {
        throw make_error(ErrorKind::Internal, "cannot set the mode of {}", path);
      }
    }
  }

  void shutdown(std::chrono::milliseconds grace) {
    {
      const std::lock_guard lock(state->mutex);
      if (state->stopping) return;
      state->stopping = true;
    }
    if (server) {
      // Unlinking first turns new clients away at once, as TtrpcServer does, while gRPC drains the calls.
      for (const std::string& path : socket_paths) ::unlink(path.c_str());
      // Refuses new calls, waits for the running ones up to the deadline, then cancels the rest: their OnCancel
      // requests the stop tokens and finishes them, so this returns without waiting for the handlers themselves.
      server->Shutdown(std::chrono::system_clock::now() + grace);
      server->Wait();
    }
    // Handlers that ignore their stop token are waited for here, as TtrpcServer does.
    state->workers.join();
    server.reset();
  }

  std::shared_ptr<ServerState> state;
  GenericService service;  // outlives `server`, which refers to it
  std::vector<std::string> socket_paths;
  std::unique_ptr<grpc::Server> server;
  bool started = false;
};

GrpcServer::GrpcServer(std::shared_ptr<const ServiceRegistry> registry, GrpcServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(registry), options)) {}

GrpcServer::~GrpcServer() = default;

void GrpcServer::listen(const std::string& address) { impl_->listen(address); }
void GrpcServer::start() { impl_->start(); }
void GrpcServer::shutdown(std::chrono::milliseconds grace) { impl_->shutdown(grace); }

std::size_t GrpcServer::in_flight_calls() const {
  const std::lock_guard lock(impl_->state->mutex);
  return impl_->state->in_flight;
}

}  // namespace shimcore::transport
