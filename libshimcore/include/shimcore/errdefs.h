// One error vocabulary for all of libshimcore (containerd's errdefs kinds) and its single mapping to RPC status codes.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace shimcore {

// The kinds of containerd's errdefs package. Controllers and platform code classify every failure as one of these;
// the RPC edge turns the kind into a status code exactly once (to_status_code).
enum class ErrorKind : std::uint8_t {
  Unknown,
  InvalidArgument,
  NotFound,
  AlreadyExists,
  PermissionDenied,
  ResourceExhausted,
  FailedPrecondition,
  Conflict,
  NotModified,
  Aborted,
  OutOfRange,
  Unimplemented,
  Internal,
  Unavailable,
  DataLoss,
  Unauthenticated,
  Canceled,
  DeadlineExceeded,
};

// Every kind, in declaration order; lets tests and tables iterate without repeating the list.
inline constexpr ErrorKind kAllErrorKinds[] = {
    ErrorKind::Unknown,
    ErrorKind::InvalidArgument,
    ErrorKind::NotFound,
    ErrorKind::AlreadyExists,
    ErrorKind::PermissionDenied,
    ErrorKind::ResourceExhausted,
    ErrorKind::FailedPrecondition,
    ErrorKind::Conflict,
    ErrorKind::NotModified,
    ErrorKind::Aborted,
    ErrorKind::OutOfRange,
    ErrorKind::Unimplemented,
    ErrorKind::Internal,
    ErrorKind::Unavailable,
    ErrorKind::DataLoss,
    ErrorKind::Unauthenticated,
    ErrorKind::Canceled,
    ErrorKind::DeadlineExceeded,
};

// gRPC / ttrpc status codes (google.rpc.Code numbering).
enum class StatusCode : std::int32_t {
  Ok = 0,
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
};

// The errdefs -> status table containerd applies (errgrpc.ToGRPC): Conflict and NotModified travel as
// FailedPrecondition, as containerd itself sends them.
StatusCode to_status_code(ErrorKind kind) noexcept;
// The reverse direction (errgrpc.ToNative), for errors received from a peer. Ok and unknown numbers map to Unknown.
ErrorKind from_status_code(std::int32_t code) noexcept;
// Lower-case name as containerd prints it ("not found", "failed precondition", ...).
std::string_view to_string(ErrorKind kind) noexcept;

// An error with its kind. Thrown by libshimcore code and caught once at the RPC or command-line edge.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// Builds an Error whose message is formatted with fmt, e.g. make_error(ErrorKind::NotFound, "task {} not found", id).
template <typename... Args>
Error make_error(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  return Error(kind, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace shimcore
