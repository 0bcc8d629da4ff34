// ttrpc client: one I/O thread owns the connection; callers block on futures with their own deadlines.
#include "shimcore/transport/ttrpc_client.h"

#include <boost/asio.hpp>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "shimcore/thread_name.h"
#include "shimcore/transport/ttrpc_frame.h"
#include "shimcore/transport/ttrpc_server.h"
#include "ttrpc/request.pb.h"

#ifdef _WIN32
#include <windows.h>
#endif

namespace shimcore::transport {

namespace asio = boost::asio;

namespace {

struct PendingCall {
  std::promise<CallResult> promise;
  std::uint32_t stream_id = 0;  // assigned on the I/O thread, so ids reach the wire in increasing order
  bool answered = false;
};

// What the client needs from a connection, whatever its stream type. Used only on the I/O thread.
class ClientConnection {
 public:
  virtual ~ClientConnection() = default;
  virtual void start() = 0;
  virtual bool closed() const = 0;
  virtual void submit(const std::shared_ptr<PendingCall>& call, std::string request_bytes) = 0;
  virtual void abandon(const std::shared_ptr<PendingCall>& call) = 0;
  virtual void close(std::string_view reason) = 0;
};

// One dialled connection over a Unix socket or (on Windows) a named pipe.
template <typename Stream>
class StreamConnection final : public ClientConnection, public std::enable_shared_from_this<StreamConnection<Stream>> {
 public:
  explicit StreamConnection(Stream socket)
      : socket_(std::move(socket)), read_buffer_(std::make_unique_for_overwrite<std::uint8_t[]>(kReadBufferSize)) {}

  void start() override { read_next(); }
  bool closed() const override { return closed_; }

  void submit(const std::shared_ptr<PendingCall>& call, std::string request_bytes) override {
    if (closed_) {
      answer(*call, {RpcStatus::of(ErrorKind::Unavailable, "ttrpc: connection closed"), {}});
      return;
    }
    call->stream_id = next_stream_id_;
    next_stream_id_ += 2;
    std::string frame;
    try {
      frame = ttrpc::encode_frame(call->stream_id, ttrpc::MessageType::Request, 0, request_bytes);
    } catch (const Error& error) {
      answer(*call, {RpcStatus::from_error(error), {}});
      return;
    }
    pending_.emplace(call->stream_id, call);
    write_queue_.push_back(std::move(frame));
    if (!writing_) write_next();
  }

  void abandon(const std::shared_ptr<PendingCall>& call) override { pending_.erase(call->stream_id); }

  void close(std::string_view reason) override {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    for (auto& [stream_id, call] : pending_)
      answer(*call, {RpcStatus::of(ErrorKind::Unavailable, std::string(reason)), {}});
    pending_.clear();
    write_queue_.clear();
  }

 private:
  static constexpr std::size_t kReadBufferSize = 16 * 1024;

  static void answer(PendingCall& call, CallResult result) {
    if (call.answered) return;
    call.answered = true;
    call.promise.set_value(std::move(result));
  }

  void write_next() {
    writing_ = true;
    asio::async_write(socket_, asio::buffer(write_queue_.front()),
                      [self = this->shared_from_this()](const boost::system::error_code& error, std::size_t) {
                        if (self->closed_) return;
                        self->write_queue_.pop_front();
                        if (error) {
                          self->close("ttrpc: write failed: " + error.message());
                          return;
                        }
                        if (self->write_queue_.empty()) {
                          self->writing_ = false;
                        } else {
                          self->write_next();
                        }
                      });
  }

  void read_next() {
    socket_.async_read_some(asio::buffer(read_buffer_.get(), kReadBufferSize),
                            [self = this->shared_from_this()](const boost::system::error_code& error, std::size_t n) {
                              self->on_read(error, n);
                            });
  }

  void on_read(const boost::system::error_code& error, std::size_t n) {
    if (closed_) return;
    if (error) {
      close(error == asio::error::eof ? "ttrpc: connection closed by server"
                                      : "ttrpc: read failed: " + error.message());
      return;
    }
    decoder_.feed(std::span<const std::uint8_t>(read_buffer_.get(), n));
    while (auto frame = decoder_.next()) {
      if (frame->header.type != static_cast<std::uint8_t>(ttrpc::MessageType::Response)) continue;
      const auto it = pending_.find(frame->header.stream_id);
      if (it == pending_.end()) continue;  // abandoned after its deadline
      const std::shared_ptr<PendingCall> call = it->second;
      pending_.erase(it);
      ::ttrpc::Response response;
      if (frame->oversized || !response.ParseFromString(frame->data)) {
        answer(*call, {RpcStatus::of(ErrorKind::Internal, "ttrpc: malformed response from server"), {}});
        continue;
      }
      CallResult result;
      if (response.has_status()) {
        result.status.code = static_cast<StatusCode>(response.status().code());
        result.status.message = response.status().message();
      }
      result.payload = std::move(*response.mutable_payload());
      answer(*call, std::move(result));
    }
    read_next();
  }

  Stream socket_;
  std::unique_ptr<std::uint8_t[]> read_buffer_;
  ttrpc::FrameDecoder decoder_;
  std::deque<std::string> write_queue_;
  bool writing_ = false;
  bool closed_ = false;
  std::uint32_t next_stream_id_ = 1;
  std::map<std::uint32_t, std::shared_ptr<PendingCall>> pending_;
};

}  // namespace

class TtrpcClient::Impl {
 public:
  explicit Impl(std::string address)
      : address(std::move(address)), work(io.get_executor()), thread([this] {
          set_thread_name("ttrpc-client");
          io.run();
        }) {}

  ~Impl() {
    disconnect();
    work.reset();
    io.stop();
  }

  // The live connection, dialled now if there is none. Throws Error(Unavailable).
  std::shared_ptr<ClientConnection> connection() {
    const std::lock_guard lock(mutex);
    if (current) {
      // closed() is read on the I/O thread only; ask it there.
      std::promise<bool> closed;
      asio::post(io, [&] { closed.set_value(current->closed()); });
      if (!closed.get_future().get()) return current;
    }
    current = dial();
    asio::post(io, [connection = current] { connection->start(); });
    return current;
  }

#ifdef _WIN32
  // \\.\pipe\name (or npipe://): open the pipe overlapped, waiting briefly while every instance is busy.
  std::shared_ptr<ClientConnection> dial() {
    std::string path = address.starts_with("npipe://") ? address.substr(8) : address;
    for (char& c : path) {
      if (c == '/') c = '\\';
    }
    const std::wstring wide(path.begin(), path.end());
    for (int attempt = 0;; ++attempt) {
      const HANDLE handle = ::CreateFileW(wide.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                                          FILE_FLAG_OVERLAPPED, nullptr);
      if (handle != INVALID_HANDLE_VALUE) {
        return std::make_shared<StreamConnection<asio::windows::stream_handle>>(
            asio::windows::stream_handle(io, handle));
      }
      const DWORD error = ::GetLastError();
      if (error != ERROR_PIPE_BUSY || attempt == 50) {
        throw make_error(ErrorKind::Unavailable, "ttrpc: cannot open pipe {} (error {})", address, error);
      }
      ::WaitNamedPipeW(wide.c_str(), 100);
    }
  }
#else
  std::shared_ptr<ClientConnection> dial() {
    using LocalSocket = asio::local::stream_protocol::socket;
    const std::string path = unix_socket_path(address);
    LocalSocket socket(io);
    boost::system::error_code error;
    socket.connect(asio::local::stream_protocol::endpoint(path), error);
    if (error) throw make_error(ErrorKind::Unavailable, "ttrpc: cannot connect to {}: {}", address, error.message());
    return std::make_shared<StreamConnection<LocalSocket>>(std::move(socket));
  }
#endif

  void disconnect() {
    const std::lock_guard lock(mutex);
    if (!current) return;
    std::promise<void> done;
    asio::post(io, [&] {
      current->close("ttrpc: client disconnected");
      done.set_value();
    });
    done.get_future().wait();
    current.reset();
  }

  std::string address;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::mutex mutex;
  std::shared_ptr<ClientConnection> current;
  std::jthread thread;  // last member: joined first, while everything it touches still exists
};

TtrpcClient::TtrpcClient(std::string address) : impl_(std::make_unique<Impl>(std::move(address))) {}

TtrpcClient::~TtrpcClient() = default;

void TtrpcClient::disconnect() { impl_->disconnect(); }

CallResult TtrpcClient::call(std::string_view service, std::string_view method, std::string payload,
                             const CallOptions& options) {
  std::shared_ptr<ClientConnection> connection;
  try {
    connection = impl_->connection();
  } catch (const Error& error) {
    return {RpcStatus::from_error(error), {}};
  }
  ::ttrpc::Request request;
  request.set_service(std::string(service));
  request.set_method(std::string(method));
  request.set_payload(std::move(payload));
  if (options.timeout) request.set_timeout_nano(std::max<std::int64_t>(1, options.timeout->count()));
  for (const auto& [key, value] : options.metadata) {
    auto* pair = request.add_metadata();
    pair->set_key(key);
    pair->set_value(value);
  }
  auto pending = std::make_shared<PendingCall>();
  std::future<CallResult> result = pending->promise.get_future();
  asio::post(impl_->io, [connection, pending, bytes = request.SerializeAsString()]() mutable {
    connection->submit(pending, std::move(bytes));
  });
  if (options.timeout && result.wait_for(*options.timeout) != std::future_status::ready) {
    asio::post(impl_->io, [connection, pending] { connection->abandon(pending); });
    return {RpcStatus::of(ErrorKind::DeadlineExceeded, "ttrpc: deadline exceeded"), {}};
  }
  return result.get();
}

}  // namespace shimcore::transport
