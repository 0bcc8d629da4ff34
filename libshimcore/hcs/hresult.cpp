// HRESULT classification for HCS results.
#include "shimcore/hcs/hresult.h"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace shimcore::hcs {
namespace {

struct NamedCode {
  std::uint32_t hr;
  std::string_view name;
};

constexpr std::array kNames{
    NamedCode{hresult::kNotImplemented, "E_NOTIMPL"},
    NamedCode{hresult::kInvalidArgument, "E_INVALIDARG"},
    NamedCode{hresult::kAccessDenied, "ERROR_ACCESS_DENIED"},
    NamedCode{hresult::kInvalidHandle, "ERROR_INVALID_HANDLE"},
    NamedCode{hresult::kFileNotFound, "ERROR_FILE_NOT_FOUND"},
    NamedCode{hresult::kElementNotFound, "ERROR_NOT_FOUND"},
    NamedCode{hresult::kNotSupported, "ERROR_NOT_SUPPORTED"},
    NamedCode{hresult::kProcNotFound, "ERROR_PROC_NOT_FOUND"},
    NamedCode{hresult::kTerminatedDuringStart, "HCS_E_TERMINATED_DURING_START"},
    NamedCode{hresult::kInvalidState, "HCS_E_INVALID_STATE"},
    NamedCode{hresult::kUnexpectedExit, "HCS_E_UNEXPECTED_EXIT"},
    NamedCode{hresult::kTerminated, "HCS_E_TERMINATED"},
    NamedCode{hresult::kConnectionClosed, "HCS_E_CONNECTION_CLOSED"},
    NamedCode{hresult::kUnknownMessage, "HCS_E_UNKNOWN_MESSAGE"},
    NamedCode{hresult::kInvalidJson, "HCS_E_INVALID_JSON"},
    NamedCode{hresult::kSystemNotFound, "HCS_E_SYSTEM_NOT_FOUND"},
    NamedCode{hresult::kSystemAlreadyExists, "HCS_E_SYSTEM_ALREADY_EXISTS"},
    NamedCode{hresult::kSystemAlreadyStopped, "HCS_E_SYSTEM_ALREADY_STOPPED"},
    NamedCode{hresult::kServiceNotAvailable, "HCS_E_SERVICE_NOT_AVAILABLE"},
    NamedCode{hresult::kOperationNotStarted, "HCS_E_OPERATION_NOT_STARTED"},
    NamedCode{hresult::kOperationAlreadyStarted, "HCS_E_OPERATION_ALREADY_STARTED"},
    NamedCode{hresult::kOperationPending, "HCS_E_OPERATION_PENDING"},
    NamedCode{hresult::kOperationTimeout, "HCS_E_OPERATION_TIMEOUT"},
    NamedCode{hresult::kCallbackAlreadySet, "HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET"},
    NamedCode{hresult::kHcsAccessDenied, "HCS_E_ACCESS_DENIED"},
    NamedCode{hresult::kProcessInfoNotAvailable, "HCS_E_PROCESS_INFO_NOT_AVAILABLE"},
    NamedCode{hresult::kServiceDisconnect, "HCS_E_SERVICE_DISCONNECT"},
    NamedCode{hresult::kProcessAlreadyStopped, "HCS_E_PROCESS_ALREADY_STOPPED"},
};

bool same_code(std::uint32_t hr, std::uint32_t known) noexcept {
  return hr == known || (((known >> 16) & 0x1fff) == 0x37 && is_hcs_code(hr, known));
}

}  // namespace

ErrorKind kind_of(std::uint32_t hr) noexcept {
  using namespace hresult;
  if (!failed(hr)) return ErrorKind::Unknown;
  if (same_code(hr, kSystemNotFound) || hr == kElementNotFound || hr == kFileNotFound) return ErrorKind::NotFound;
  if (same_code(hr, kSystemAlreadyExists)) return ErrorKind::AlreadyExists;
  if (same_code(hr, kInvalidState) || same_code(hr, kSystemAlreadyStopped) || same_code(hr, kProcessAlreadyStopped) ||
      same_code(hr, kOperationAlreadyStarted) || same_code(hr, kOperationNotStarted) ||
      same_code(hr, kCallbackAlreadySet)) {
    return ErrorKind::FailedPrecondition;
  }
  if (same_code(hr, kInvalidJson) || hr == kInvalidArgument || same_code(hr, kUnknownMessage)) {
    return ErrorKind::InvalidArgument;
  }
  if (hr == kNotImplemented || hr == kNotSupported || hr == kProcNotFound) return ErrorKind::Unimplemented;
  if (same_code(hr, kOperationTimeout)) return ErrorKind::DeadlineExceeded;
  if (same_code(hr, kServiceNotAvailable) || same_code(hr, kServiceDisconnect) || same_code(hr, kConnectionClosed)) {
    return ErrorKind::Unavailable;
  }
  if (hr == kAccessDenied || same_code(hr, kHcsAccessDenied)) return ErrorKind::PermissionDenied;
  if (hr == kInvalidHandle) return ErrorKind::FailedPrecondition;
  return ErrorKind::Unknown;
}

std::string describe(std::uint32_t hr) {
  for (const NamedCode& named : kNames) {
    if (same_code(hr, named.hr)) return fmt::format("{} ({:#010x})", named.name, hr);
  }
  return fmt::format("{:#010x}", hr);
}

HcsError::HcsError(std::uint32_t hr, std::string_view operation, std::string result_document)
    : Error(kind_of(hr), fmt::format("hcs {}: {}", operation, describe(hr))),
      hresult_(hr),
      operation_(operation),
      result_document_(std::move(result_document)) {}

bool HcsError::already_stopped() const noexcept {
  return is_hcs_code(hresult_, hresult::kSystemAlreadyStopped) ||
         is_hcs_code(hresult_, hresult::kProcessAlreadyStopped) || hresult_ == hresult::kElementNotFound;
}

bool HcsError::not_found() const noexcept {
  return is_hcs_code(hresult_, hresult::kSystemNotFound) || hresult_ == hresult::kElementNotFound;
}

}  // namespace shimcore::hcs
