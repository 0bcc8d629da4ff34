// Windows named-pipe listener for asio: hands out one connected pipe instance per client (Windows builds only).
#pragma once

#ifdef _WIN32

#include <boost/asio/io_context.hpp>
#include <boost/asio/windows/stream_handle.hpp>
#include <functional>
#include <string>

namespace shimcore::transport {

// Serves `\\.\pipe\<name>` the way containerd's Go shims do (go-winio): byte-mode, overlapped, unlimited
// instances, a fresh instance waiting for the next client while earlier ones are in use. The first instance is
// created with FILE_FLAG_FIRST_PIPE_INSTANCE, so a second server on the same name fails with AlreadyExists.
class NamedPipeListener {
 public:
  using AcceptHandler = std::function<void(const boost::system::error_code&, boost::asio::windows::stream_handle)>;

  // `sddl` is the pipe's security descriptor; the default admits only Administrators and SYSTEM, as hcsshim's shim
  // pipes under \\.\pipe\ProtectedPrefix\Administrators do. Throws shimcore::Error.
  NamedPipeListener(boost::asio::io_context& io, std::string path, std::string sddl = "D:P(A;;GA;;;BA)(A;;GA;;;SY)");
  ~NamedPipeListener();
  NamedPipeListener(const NamedPipeListener&) = delete;
  NamedPipeListener& operator=(const NamedPipeListener&) = delete;

  // Completes once with the next connected client (or an error, e.g. operation_aborted after close()).
  void async_accept(AcceptHandler handler);
  void close();
  bool is_open() const noexcept { return open_; }
  const std::string& path() const noexcept { return path_; }

 private:
  boost::asio::windows::stream_handle create_instance(bool first);

  boost::asio::io_context& io_;
  std::string path_;
  std::wstring wide_path_;
  std::string sddl_;
  boost::asio::windows::stream_handle waiting_;  // the instance a client connects to next
  bool open_ = true;
};

}  // namespace shimcore::transport

#endif  // _WIN32
