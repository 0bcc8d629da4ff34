// The errdefs kind <-> RPC status code table, kept in one place.
#include "shimcore/errdefs.h"

namespace shimcore {

StatusCode to_status_code(ErrorKind kind) noexcept {
  // No default: the compiler flags a kind added to the enum without a row here.
  switch (kind) {
    case ErrorKind::Unknown: return StatusCode::Unknown;
    case ErrorKind::InvalidArgument: return StatusCode::InvalidArgument;
    case ErrorKind::NotFound: return StatusCode::NotFound;
    case ErrorKind::AlreadyExists: return StatusCode::AlreadyExists;
    case ErrorKind::PermissionDenied: return StatusCode::PermissionDenied;
    case ErrorKind::ResourceExhausted: return StatusCode::ResourceExhausted;
    case ErrorKind::FailedPrecondition: return StatusCode::FailedPrecondition;
    case ErrorKind::Conflict: return StatusCode::FailedPrecondition;
    case ErrorKind::NotModified: return StatusCode::FailedPrecondition;
    case ErrorKind::Aborted: return StatusCode::Aborted;
    case ErrorKind::OutOfRange: return StatusCode::OutOfRange;
    case ErrorKind::Unimplemented: return StatusCode::Unimplemented;
    case ErrorKind::Internal: return StatusCode::Internal;
    case ErrorKind::Unavailable: return StatusCode::Unavailable;
    case ErrorKind::DataLoss: return StatusCode::DataLoss;
    case ErrorKind::Unauthenticated: return StatusCode::Unauthenticated;
    case ErrorKind::Canceled: return StatusCode::Canceled;
    case ErrorKind::DeadlineExceeded: return StatusCode::DeadlineExceeded;
  }
  return StatusCode::Unknown;
}

ErrorKind from_status_code(std::int32_t code) noexcept {
  switch (static_cast<StatusCode>(code)) {
    case StatusCode::Canceled: return ErrorKind::Canceled;
    case StatusCode::InvalidArgument: return ErrorKind::InvalidArgument;
    case StatusCode::DeadlineExceeded: return ErrorKind::DeadlineExceeded;
    case StatusCode::NotFound: return ErrorKind::NotFound;
    case StatusCode::AlreadyExists: return ErrorKind::AlreadyExists;
    case StatusCode::PermissionDenied: return ErrorKind::PermissionDenied;
    case StatusCode::ResourceExhausted: return ErrorKind::ResourceExhausted;
    case StatusCode::FailedPrecondition: return ErrorKind::FailedPrecondition;
    case StatusCode::Aborted: return ErrorKind::Aborted;
    case StatusCode::OutOfRange: return ErrorKind::OutOfRange;
    case StatusCode::Unimplemented: return ErrorKind::Unimplemented;
    case StatusCode::Internal: return ErrorKind::Internal;
    case StatusCode::Unavailable: return ErrorKind::Unavailable;
    case StatusCode::DataLoss: return ErrorKind::DataLoss;
    case StatusCode::Unauthenticated: return ErrorKind::Unauthenticated;
    case StatusCode::Ok:
    case StatusCode::Unknown: return ErrorKind::Unknown;
  }
  return ErrorKind::Unknown;
}

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::Unknown: return "unknown";
    case ErrorKind::InvalidArgument: return "invalid argument";
    case ErrorKind::NotFound: return "not found";
    case ErrorKind::AlreadyExists: return "already exists";
    case ErrorKind::PermissionDenied: return "permission denied";
    case ErrorKind::ResourceExhausted: return "resource exhausted";
    case ErrorKind::FailedPrecondition: return "failed precondition";
    case ErrorKind::Conflict: return "conflict";
    case ErrorKind::NotModified: return "not modified";
    case ErrorKind::Aborted: return "aborted";
    case ErrorKind::OutOfRange: return "out of range";
    case ErrorKind::Unimplemented: return "not implemented";
    case ErrorKind::Internal: return "internal";
    case ErrorKind::Unavailable: return "unavailable";
    case ErrorKind::DataLoss: return "data loss";
    case ErrorKind::Unauthenticated: return "unauthenticated";
    case ErrorKind::Canceled: return "canceled";
    case ErrorKind::DeadlineExceeded: return "deadline exceeded";
  }
  return "unknown";
}

}  // namespace shimcore
