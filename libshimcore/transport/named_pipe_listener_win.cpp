// Windows named-pipe listener: overlapped ConnectNamedPipe completed through asio's I/O completion port.
#include "shimcore/transport/named_pipe_listener.h"

#ifdef _WIN32

#include <sddl.h>
#include <windows.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/windows/overlapped_ptr.hpp>

#include "shimcore/errdefs.h"

namespace shimcore::transport {
namespace {

namespace asio = boost::asio;

std::wstring widen(const std::string& text) {
  if (text.empty()) return {};
  const int length = ::MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
  std::wstring wide(static_cast<std::size_t>(length), L'\0');
  ::MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), wide.data(), length);
  return wide;
}

// Owns the security descriptor LocalAlloc'ed by ConvertStringSecurityDescriptorToSecurityDescriptorW.
class SecurityDescriptor {
 public:
  explicit SecurityDescriptor(const std::string& sddl) {
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(widen(sddl).c_str(), SDDL_REVISION_1, &descriptor_,
                                                                nullptr)) {
      throw make_error(ErrorKind::InvalidArgument, "invalid pipe security descriptor \"{}\" (error {})", sddl,
                       ::GetLastError());
    }
  }
  ~SecurityDescriptor() { ::LocalFree(descriptor_); }
  SecurityDescriptor(const SecurityDescriptor&) = delete;
  SecurityDescriptor& operator=(const SecurityDescriptor&) = delete;
  PSECURITY_DESCRIPTOR get() const noexcept { return descriptor_; }

 private:
  PSECURITY_DESCRIPTOR descriptor_ = nullptr;
};

constexpr DWORD kPipeBufferSize = 64 * 1024;

}  // namespace

NamedPipeListener::NamedPipeListener(asio::io_context& io, std::string path, std::string sddl)
    : io_(io), path_(std::move(path)), wide_path_(widen(path_)), sddl_(std::move(sddl)), waiting_(io) {
  waiting_ = create_instance(true);
}

NamedPipeListener::~NamedPipeListener() { close(); }

asio::windows::stream_handle NamedPipeListener::create_instance(bool first) {
  const SecurityDescriptor descriptor(sddl_);
  SECURITY_ATTRIBUTES attributes{sizeof(SECURITY_ATTRIBUTES), descriptor.get(), FALSE};
  const DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
  const HANDLE handle = ::CreateNamedPipeW(wide_path_.c_str(), open_mode,
                                           PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                                           PIPE_UNLIMITED_INSTANCES, kPipeBufferSize, kPipeBufferSize, 0, &attributes);
  if (handle == INVALID_HANDLE_VALUE) {
    const DWORD error = ::GetLastError();
    if (error == ERROR_ACCESS_DENIED || error == ERROR_PIPE_BUSY) {
      throw make_error(ErrorKind::AlreadyExists, "named pipe {} is already served (error {})", path_, error);
    }
    throw make_error(ErrorKind::Unavailable, "cannot create named pipe {} (error {})", path_, error);
  }
  // Wrapping the handle associates it with the io_context's completion port; each instance gets its own strand so
  // that a connection's handlers never run concurrently, as with a Unix socket.
  return asio::windows::stream_handle(asio::make_strand(io_), handle);
}

void NamedPipeListener::async_accept(AcceptHandler handler) {
  if (!open_) {
    asio::post(io_, [handler = std::move(handler), this] {
      handler(asio::error::operation_aborted, asio::windows::stream_handle(io_));
    });
    return;
  }
  asio::windows::overlapped_ptr overlapped(
      io_, [this, handler](const boost::system::error_code& error, std::size_t) mutable {
        if (!open_) {
          handler(asio::error::operation_aborted, asio::windows::stream_handle(io_));
          return;
        }
        asio::windows::stream_handle connected = std::move(waiting_);
        try {
          waiting_ = create_instance(false);
        } catch (const Error&) {
          open_ = false;
        }
        handler(error, std::move(connected));
      });
  const BOOL connected = ::ConnectNamedPipe(waiting_.native_handle(), overlapped.get());
  const DWORD error = ::GetLastError();
  if (connected || error == ERROR_PIPE_CONNECTED) {
    // The client connected between CreateNamedPipe and ConnectNamedPipe: no completion packet will come.
    overlapped.complete(boost::system::error_code(), 0);
  } else if (error == ERROR_IO_PENDING) {
    overlapped.release();  // the completion port now owns the operation
  } else {
    overlapped.complete(boost::system::error_code(static_cast<int>(error), asio::error::get_system_category()), 0);
  }
}

void NamedPipeListener::close() {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ignored;
  waiting_.close(ignored);  // fails a pending ConnectNamedPipe with operation_aborted
}

}  // namespace shimcore::transport

#endif  // _WIN32
