// ttrpc server: asio accept/read/write loops around ServerSession, with handlers dispatched to a worker pool.
#include "shimcore/transport/ttrpc_server.h"

#include <fmt/format.h>

#ifdef _WIN32
#include "shimcore/transport/named_pipe_listener.h"
#else
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include <atomic>
#include <boost/asio.hpp>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "shimcore/thread_name.h"
#include "shimcore/transport/ttrpc_session.h"
#include "shimcore/transport/unix_socket.h"

#if defined(__SANITIZE_ADDRESS__) && __has_include(<sanitizer/lsan_interface.h>)
#include <sanitizer/lsan_interface.h>
#define SHIMCORE_HAS_LSAN 1
#else
#define SHIMCORE_HAS_LSAN 0
#endif

namespace shimcore::transport {

namespace asio = boost::asio;
#ifndef _WIN32
using LocalSocket = asio::local::stream_protocol::socket;
using LocalAcceptor = asio::local::stream_protocol::acceptor;
#endif

namespace {
bool is_named_pipe_address(std::string_view address) {
  return address.starts_with(R"(\\.\pipe\)") || address.starts_with("npipe://");
}
}  // namespace

namespace {

// What the server needs from a connection, whatever its stream type.
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void send(std::string frame) = 0;                                 // any thread
  virtual void send_final(std::uint32_t stream_id, std::string frame) = 0;  // any thread; frees the stream
  virtual void close() = 0;                                                 // any thread
};

class ServerState;

// One call in flight: the handler's Responder (unary) or StreamWriter (server stream).
class ServerCall final : public Responder, public StreamWriter {
 public:
  ServerCall(std::shared_ptr<ServerState> server, std::weak_ptr<ConnectionBase> connection, std::uint32_t stream_id)
      : server_(std::move(server)), connection_(std::move(connection)), stream_id_(stream_id) {}
  ~ServerCall() override;

  void reply(std::string payload) override { finish(ttrpc::encode_response(stream_id_, RpcStatus{}, payload)); }
  void fail(RpcStatus status) override { finish(ttrpc::encode_response(stream_id_, status, {})); }
  bool send(std::string payload) override {
    if (done_.load() || stop_.stop_requested()) return false;
    const auto connection = connection_.lock();
    if (!connection) return false;
    connection->send(ttrpc::encode_data(stream_id_, 0, payload));
    return true;
  }
  void end_stream() { finish(ttrpc::encode_data(stream_id_, ttrpc::kFlagRemoteClosed | ttrpc::kFlagNoData, {})); }
  void cancel() { stop_.request_stop(); }
  // Answers before it stops the handler: a handler that wakes on the stop token answers too (Canceled, say), and
  // whichever finishes first is the caller's answer. The deadline's answer must win.
  void expire() {
    fail(RpcStatus::of(ErrorKind::DeadlineExceeded, "deadline exceeded"));
    stop_.request_stop();
  }
  std::stop_token stop_token() const { return stop_.get_token(); }
  bool done() const { return done_.load(); }

 private:
  void finish(std::string frame);

  // Shared ownership: an asynchronous handler may keep its responder after the server object is gone.
  std::shared_ptr<ServerState> server_;
  std::weak_ptr<ConnectionBase> connection_;
  std::uint32_t stream_id_;
  std::atomic<bool> done_{false};
  std::stop_source stop_;
};

// Everything the connections and calls share; owned by TtrpcServer::Impl and by calls still in flight.
class ServerState : public std::enable_shared_from_this<ServerState> {
 public:
  ServerState(std::shared_ptr<const ServiceRegistry> registry, const TtrpcServerOptions& options)
      : registry(std::move(registry)),
        options(options),
        io(static_cast<int>(std::max<std::size_t>(1, options.io_threads))),
        worker_count(std::max<std::size_t>(1, options.worker_threads)),
        workers_named(static_cast<std::ptrdiff_t>(worker_count)),
        workers(std::make_unique<asio::thread_pool>(worker_count)) {
    // Names the pool's threads: one task per thread that holds it until every thread has taken one.
    for (std::size_t i = 0; i < worker_count; ++i) {
      asio::post(*workers, [this] {
        set_thread_name("ttrpc-worker");
        workers_named.arrive_and_wait();
      });
    }
    workers_named.wait();
  }

  void track(std::shared_ptr<ConnectionBase> connection) {
    const std::lock_guard lock(mutex);
    connections.insert(std::move(connection));
  }
  void forget(const std::shared_ptr<ConnectionBase>& connection) {
    const std::lock_guard lock(mutex);
    connections.erase(connection);
    changed.notify_all();
  }
  void call_started() {
    const std::lock_guard lock(mutex);
    ++in_flight;
  }
  void call_finished() {
    const std::lock_guard lock(mutex);
    --in_flight;
    changed.notify_all();
  }

  // Runs one call on the worker pool.
  void dispatch(const std::shared_ptr<ServerCall>& call, const Method& method, CallContext context,
                std::string payload) {
    asio::post(*workers, [this, call, &method, context = std::move(context), payload = std::move(payload)] {
      const BusyWorker busy(*this);
      if (method.unary) {
        const ResponderPtr responder = call;
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
      }
    });
  }

  // Counts a worker inside a handler, so that shutdown can tell a pool that will join from one that would hang.
  class BusyWorker {
   public:
    explicit BusyWorker(ServerState& state) : state_(state) {
      const std::lock_guard lock(state_.mutex);
      ++state_.busy_workers;
    }
    ~BusyWorker() {
      const std::lock_guard lock(state_.mutex);
      --state_.busy_workers;
      state_.changed.notify_all();
    }
    BusyWorker(const BusyWorker&) = delete;
    BusyWorker& operator=(const BusyWorker&) = delete;

   private:
    ServerState& state_;
  };

  std::shared_ptr<const ServiceRegistry> registry;
  TtrpcServerOptions options;
  asio::io_context io;
  std::size_t worker_count;
  // A member, not a local of the constructor: a worker may still be inside arrive_and_wait when wait() returns.
  std::latch workers_named;
  // Owned, and joined by shutdown(); released unjoined only when a handler outlives the cancel bound (see shutdown).
  std::unique_ptr<asio::thread_pool> workers;
  std::mutex mutex;
  std::condition_variable changed;
  std::set<std::shared_ptr<ConnectionBase>> connections;
  std::size_t in_flight = 0;
  std::size_t busy_workers = 0;  // workers inside a handler
  bool stopping = false;
};

ServerCall::~ServerCall() {
  // A handler that dropped its responder without answering still owes the client an answer.
  if (!done_.load())
    finish(ttrpc::encode_response(stream_id_, RpcStatus::of(ErrorKind::Internal, "handler returned no answer"), {}));
}

void ServerCall::finish(std::string frame) {
  if (done_.exchange(true)) return;
  if (const auto connection = connection_.lock()) connection->send_final(stream_id_, std::move(frame));
  server_->call_finished();
}

// One accepted connection. All its state is touched only on its strand.
template <typename Stream>
class Connection final : public ConnectionBase, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(ServerState& server, Stream stream)
      : server_(server),
        stream_(std::move(stream)),
        session_(*server.registry,
                 ttrpc::ServerSession::Hooks{[this](ttrpc::IncomingCall call) { start_call(std::move(call)); },
                                             [this](std::string frame) { write_frame(std::move(frame)); }},
                 server.options.max_streams_per_connection),
        read_buffer_(std::make_unique_for_overwrite<std::uint8_t[]>(kReadBufferSize)) {}

  void start() { read_next(); }

  void send(std::string frame) override { write_frame(std::move(frame)); }

  void send_final(std::uint32_t stream_id, std::string frame) override {
    write_frame(std::move(frame));
    asio::post(stream_.get_executor(), [self = this->shared_from_this(), stream_id] {
      self->session_.on_call_finished(stream_id);
      self->calls_.erase(stream_id);
      self->timers_.erase(stream_id);
    });
  }

  void close() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->close_now(); });
  }

 private:
  static constexpr std::size_t kReadBufferSize = 16 * 1024;

  void read_next() {
    stream_.async_read_some(asio::buffer(read_buffer_.get(), kReadBufferSize),
                            [self = this->shared_from_this()](const boost::system::error_code& error, std::size_t n) {
                              self->on_read(error, n);
                            });
  }

  void on_read(const boost::system::error_code& error, std::size_t n) {
    if (closed_) return;
    if (error) {
      close_now();  // EOF, reset, or a truncated frame: in-flight calls are cancelled
      return;
    }
    decoder_.feed(std::span<const std::uint8_t>(read_buffer_.get(), n));
    while (auto frame = decoder_.next()) {
      if (session_.on_frame(*frame) == ttrpc::ServerSession::Verdict::Close) {
        close_now();
        return;
      }
      if (closed_) return;
    }
    read_next();
  }

  void start_call(ttrpc::IncomingCall incoming) {
    auto call = std::make_shared<ServerCall>(server_.shared_from_this(), this->weak_from_this(), incoming.stream_id);
    server_.call_started();
    CallContext context;
    context.service = std::move(incoming.service);
    context.method = std::move(incoming.method_name);
    context.metadata = std::move(incoming.metadata);
    context.stop = call->stop_token();
    if (incoming.timeout_nano > 0) {
      // Clamped before the addition: now() + INT64_MAX ns overflows (undefined, and in practice a past deadline).
      const std::chrono::nanoseconds timeout =
          std::min(std::chrono::nanoseconds(incoming.timeout_nano), server_.options.max_timeout);
      context.deadline = std::chrono::steady_clock::now() + timeout;
      auto timer = std::make_unique<asio::steady_timer>(stream_.get_executor(), *context.deadline);
      timer->async_wait([weak = std::weak_ptr<ServerCall>(call)](const boost::system::error_code& error) {
        if (error) return;  // cancelled: the call finished first
        if (const auto expired = weak.lock()) expired->expire();
      });
      timers_.emplace(incoming.stream_id, std::move(timer));
    }
    calls_.emplace(incoming.stream_id, call);
    server_.dispatch(call, *incoming.method, std::move(context), std::move(incoming.payload));
  }

  // Writes a frame from any thread. The write state is guarded by write_mutex_ rather than the strand so that an
  // answer leaves straight from the worker that produced it when the socket is idle: one thread hop less per call.
  void write_frame(std::string frame) {
    std::unique_lock lock(write_mutex_);
    if (write_closed_) return;
#ifndef _WIN32
    if (!writing_ && write_queue_.empty()) {
      const ssize_t sent = ::send(stream_.native_handle(), frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent == static_cast<ssize_t>(frame.size())) return;
      if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        lock.unlock();
        close();
        return;
      }
      frame.erase(0, sent > 0 ? static_cast<std::size_t>(sent) : 0);
    }
#endif
    pending_bytes_ += frame.size();
    if (pending_bytes_ > server_.options.max_pending_write_bytes) {
      lock.unlock();
      close();  // the peer is not reading its answers
      return;
    }
    write_queue_.push_back(std::move(frame));
    if (!writing_) {
      writing_ = true;
      asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->write_next(); });
    }
  }

  // On the strand: writes the queue's front asynchronously. deque::push_back keeps references to existing
  // elements valid, so the buffer stays put while other threads append.
  void write_next() {
    std::unique_lock lock(write_mutex_);
    if (write_closed_ || write_queue_.empty()) {
      writing_ = false;
      return;
    }
    const asio::const_buffer buffer = asio::buffer(write_queue_.front());
    lock.unlock();
    asio::async_write(stream_, buffer,
                      [self = this->shared_from_this()](const boost::system::error_code& error, std::size_t) {
                        self->on_written(error);
                      });
  }

  void on_written(const boost::system::error_code& error) {
    {
      const std::lock_guard lock(write_mutex_);
      if (write_closed_) return;
      pending_bytes_ -= write_queue_.front().size();
      write_queue_.pop_front();
    }
    if (error) {
      close_now();
      return;
    }
    write_next();
  }

  void close_now() {
    if (closed_) return;
    closed_ = true;
    {
      // Under the write lock: no worker may be inside send() on this descriptor when it is closed (and reused).
      const std::lock_guard lock(write_mutex_);
      write_closed_ = true;
      write_queue_.clear();
      boost::system::error_code ignored;
      stream_.close(ignored);
    }
    for (auto& [stream_id, weak_call] : calls_) {
      if (const auto call = weak_call.lock()) call->cancel();
    }
    calls_.clear();
    timers_.clear();
    server_.forget(this->shared_from_this());
  }

  ServerState& server_;
  Stream stream_;
  ttrpc::FrameDecoder decoder_;
  ttrpc::ServerSession session_;
  std::unique_ptr<std::uint8_t[]> read_buffer_;
  bool closed_ = false;     // strand only
  std::mutex write_mutex_;  // guards the four members below
  std::deque<std::string> write_queue_;
  std::size_t pending_bytes_ = 0;
  bool writing_ = false;
  bool write_closed_ = false;
  std::map<std::uint32_t, std::weak_ptr<ServerCall>> calls_;
  std::map<std::uint32_t, std::unique_ptr<asio::steady_timer>> timers_;
};

#ifndef _WIN32
bool peer_is_same_user(LocalSocket& socket) {
#ifdef SO_PEERCRED
  ucred credentials{};
  socklen_t length = sizeof(credentials);
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return false;
  return credentials.uid == ::geteuid();
#else
  (void)socket;
  return true;
#endif
}

#endif

}  // namespace

class TtrpcServer::Impl {
 public:
  Impl(std::shared_ptr<const ServiceRegistry> registry, const TtrpcServerOptions& options)
      : state_owner(std::make_shared<ServerState>(std::move(registry), options)), state(*state_owner) {}

  ~Impl() { shutdown(std::chrono::milliseconds(0)); }

  void listen(const std::string& address) {
    if (is_named_pipe_address(address)) {
#ifdef _WIN32
      std::string path = address.starts_with("npipe://") ? address.substr(8) : address;
      for (char& c : path) {
        if (c == '/') c = '\\';
      }
      pipe_listeners.push_back(std::make_unique<NamedPipeListener>(state.io, path));
      return;
#else
      throw make_error(ErrorKind::InvalidArgument, "named pipe address \"{}\" is only available on Windows", address);
#endif
    }
#ifdef _WIN32
    throw make_error(ErrorKind::InvalidArgument, "unsupported address \"{}\" (want \\\\.\\pipe\\name)", address);
#else
    const std::string path = unix_socket_path(address);
    clear_stale_socket(path);
    auto acceptor = std::make_unique<LocalAcceptor>(state.io);
    boost::system::error_code error;
    acceptor->open(asio::local::stream_protocol(), error);
    if (!error) acceptor->bind(asio::local::stream_protocol::endpoint(path), error);
    if (error) throw make_error(ErrorKind::Unavailable, "cannot bind {}: {}", path, error.message());
    socket_paths.push_back(path);
    if (::chmod(path.c_str(), static_cast<mode_t>(state.options.socket_mode)) != 0) {
      throw make_error(ErrorKind::Internal, "cannot set the mode of {}", path);
    }
    acceptor->listen(asio::socket_base::max_listen_connections, error);
    if (error) throw make_error(ErrorKind::Unavailable, "cannot listen on {}: {}", path, error.message());
    acceptors.push_back(std::move(acceptor));
#endif
  }

  void start() {
    if (started) throw make_error(ErrorKind::FailedPrecondition, "ttrpc server already started");
    if (acceptors.empty() && pipe_listeners.empty()) {
      throw make_error(ErrorKind::FailedPrecondition, "ttrpc server has no listener");
    }
    started = true;
    for (auto& acceptor : acceptors) accept_next(*acceptor);
    for (auto& listener : pipe_listeners) accept_next(*listener);
    work.emplace(state.io.get_executor());
    const std::size_t threads = std::max<std::size_t>(1, state.options.io_threads);
    for (std::size_t i = 0; i < threads; ++i) {
      io_threads.emplace_back([this] {
        set_thread_name("ttrpc-io");
        state.io.run();
      });
    }
  }

  bool shutdown(std::chrono::milliseconds grace) {
    {
      const std::lock_guard lock(state.mutex);
      if (state.stopping) return drained;
      state.stopping = true;
    }
    // Stop accepting: the acceptors belong to the I/O threads once started.
    run_on_io([this] {
      for (auto& acceptor : acceptors) {
        boost::system::error_code ignored;
        acceptor->close(ignored);
      }
      for (auto& listener : pipe_listeners) listener->close();
    });
    for (const std::string& path : socket_paths) {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
    {
      std::unique_lock lock(state.mutex);
      state.changed.wait_for(lock, grace, [this] { return state.in_flight == 0; });
    }
    // Close every connection; that requests stop on the calls still running.
    std::vector<std::shared_ptr<ConnectionBase>> open;
    {
      const std::lock_guard lock(state.mutex);
      open.assign(state.connections.begin(), state.connections.end());
    }
    for (const auto& connection : open) connection->close();
    if (started) {
      std::unique_lock lock(state.mutex);
      state.changed.wait_for(lock, std::chrono::seconds(2), [this] { return state.connections.empty(); });
    }
    // Closing the connections requested stop on every call; handlers that honour it return promptly.
    {
      std::unique_lock lock(state.mutex);
      drained = state.changed.wait_for(lock, state.options.cancel_bound, [this] { return state.busy_workers == 0; });
    }
    work.reset();
    state.io.stop();
    io_threads.clear();  // joins
    state.workers->stop();
    if (drained) {
      state.workers->join();
    } else {
      // A handler ignores its stop token. Joining would hang shutdown (and SIGTERM) for as long as it runs, so its
      // pool is given up: the threads end after their current handler, and the process is expected to exit first.
      [[maybe_unused]] asio::thread_pool* abandoned = state.workers.release();  // deliberately never destroyed
#if SHIMCORE_HAS_LSAN
      __lsan_ignore_object(abandoned);  // not a leak to report: destroying it would join the stuck thread
#endif
    }
    const std::lock_guard lock(state.mutex);
    state.connections.clear();
    return drained;
  }

#ifndef _WIN32
  void accept_next(LocalAcceptor& acceptor) {
    acceptor.async_accept(asio::make_strand(state.io),
                          [this, &acceptor](const boost::system::error_code& error, LocalSocket socket) {
                            if (!acceptor.is_open()) return;
                            if (!error) {
                              if (state.options.require_same_user && !peer_is_same_user(socket)) {
                                boost::system::error_code ignored;
                                socket.close(ignored);
                              } else {
                                auto connection = std::make_shared<Connection<LocalSocket>>(state, std::move(socket));
                                state.track(connection);
                                connection->start();
                              }
                            }
                            accept_next(acceptor);
                          });
  }
  // Named pipes exist only on Windows; the empty list keeps the shared code free of platform branches.
  struct NoPipeListener {
    void close() {}
  };
  void accept_next(NoPipeListener&) {}
#else
  // Pipe access is decided by the pipe's security descriptor, so there is no per-connection credential check.
  void accept_next(NamedPipeListener& listener) {
    listener.async_accept([this, &listener](const boost::system::error_code& error, asio::windows::stream_handle pipe) {
      if (!listener.is_open()) return;
      if (!error) {
        auto connection = std::make_shared<Connection<asio::windows::stream_handle>>(state, std::move(pipe));
        state.track(connection);
        connection->start();
      }
      accept_next(listener);
    });
  }
  // Unix sockets are not offered on Windows; the empty list keeps the shared code free of platform branches.
  struct NoAcceptor {
    void close(boost::system::error_code&) {}
  };
  void accept_next(NoAcceptor&) {}
#endif

  // Runs `task` on an I/O thread and waits for it (or runs it here when the threads never started).
  template <typename Task>
  void run_on_io(Task task) {
    if (!started || io_threads.empty()) {
      task();
      return;
    }
    std::promise<void> done;
    asio::post(state.io, [&] {
      task();
      done.set_value();
    });
    done.get_future().wait();
  }

  std::shared_ptr<ServerState> state_owner;
  ServerState& state;
#ifndef _WIN32
  std::vector<std::unique_ptr<LocalAcceptor>> acceptors;
  std::vector<std::unique_ptr<NoPipeListener>> pipe_listeners;
#else
  std::vector<std::unique_ptr<NoAcceptor>> acceptors;
  std::vector<std::unique_ptr<NamedPipeListener>> pipe_listeners;
#endif
  std::vector<std::string> socket_paths;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::jthread> io_threads;
  bool started = false;
  bool drained = true;
};

TtrpcServer::TtrpcServer(std::shared_ptr<const ServiceRegistry> registry, TtrpcServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(registry), options)) {}

TtrpcServer::~TtrpcServer() = default;

void TtrpcServer::listen(const std::string& address) { impl_->listen(address); }
void TtrpcServer::start() { impl_->start(); }
bool TtrpcServer::shutdown(std::chrono::milliseconds grace) { return impl_->shutdown(grace); }

std::size_t TtrpcServer::connection_count() const {
  const std::lock_guard lock(impl_->state.mutex);
  return impl_->state.connections.size();
}

std::size_t TtrpcServer::in_flight_calls() const {
  const std::lock_guard lock(impl_->state.mutex);
  return impl_->state.in_flight;
}

}  // namespace shimcore::transport
