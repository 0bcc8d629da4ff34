// HCS result codes (HRESULTs), their classification into errdefs kinds, and the one HCS error type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shimcore/errdefs.h"

namespace shimcore::hcs {

// HRESULT values as unsigned 32-bit numbers. HCS_E_* are facility 0x37; the legacy vmcompute API and the GCS wire
// use the 0xC037xxxx form of the same codes, computecore the 0x8037xxxx form: compare with is_hcs_code().
namespace hresult {
inline constexpr std::uint32_t kOk = 0;
inline constexpr std::uint32_t kNotImplemented = 0x80004001;         // E_NOTIMPL
inline constexpr std::uint32_t kInvalidArgument = 0x80070057;        // E_INVALIDARG
inline constexpr std::uint32_t kAccessDenied = 0x80070005;           // HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED)
inline constexpr std::uint32_t kInvalidHandle = 0x80070006;          // HRESULT_FROM_WIN32(ERROR_INVALID_HANDLE)
inline constexpr std::uint32_t kFileNotFound = 0x80070002;           // HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)
inline constexpr std::uint32_t kElementNotFound = 0x80070490;        // HRESULT_FROM_WIN32(ERROR_NOT_FOUND)
inline constexpr std::uint32_t kNotSupported = 0x80070032;           // HRESULT_FROM_WIN32(ERROR_NOT_SUPPORTED)
inline constexpr std::uint32_t kProcNotFound = 0x8007007F;           // HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND)
inline constexpr std::uint32_t kTerminatedDuringStart = 0x80370100;  // HCS_E_TERMINATED_DURING_START
inline constexpr std::uint32_t kInvalidState = 0x80370105;           // HCS_E_INVALID_STATE
inline constexpr std::uint32_t kUnexpectedExit = 0x80370106;         // HCS_E_UNEXPECTED_EXIT
inline constexpr std::uint32_t kTerminated = 0x80370107;             // HCS_E_TERMINATED
inline constexpr std::uint32_t kConnectionClosed = 0x8037010A;       // HCS_E_CONNECTION_CLOSED
inline constexpr std::uint32_t kUnknownMessage = 0x8037010B;         // HCS_E_UNKNOWN_MESSAGE
inline constexpr std::uint32_t kInvalidJson = 0x8037010D;            // HCS_E_INVALID_JSON
inline constexpr std::uint32_t kSystemNotFound = 0x8037010E;         // HCS_E_SYSTEM_NOT_FOUND
inline constexpr std::uint32_t kSystemAlreadyExists = 0x8037010F;    // HCS_E_SYSTEM_ALREADY_EXISTS
inline constexpr std::uint32_t kSystemAlreadyStopped = 0x80370110;   // HCS_E_SYSTEM_ALREADY_STOPPED
inline constexpr std::uint32_t kServiceNotAvailable = 0x80370114;    // HCS_E_SERVICE_NOT_AVAILABLE
inline constexpr std::uint32_t kOperationNotStarted = 0x80370115;    // HCS_E_OPERATION_NOT_STARTED
inline constexpr std::uint32_t kOperationAlreadyStarted = 0x80370116;
inline constexpr std::uint32_t kOperationPending = 0x80370117;
inline constexpr std::uint32_t kOperationTimeout = 0x80370118;
inline constexpr std::uint32_t kCallbackAlreadySet = 0x80370119;  // HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET
inline constexpr std::uint32_t kHcsAccessDenied = 0x8037011B;     // HCS_E_ACCESS_DENIED
inline constexpr std::uint32_t kProcessInfoNotAvailable = 0x8037011D;
inline constexpr std::uint32_t kServiceDisconnect = 0x8037011E;      // HCS_E_SERVICE_DISCONNECT
inline constexpr std::uint32_t kProcessAlreadyStopped = 0x8037011F;  // HCS_E_PROCESS_ALREADY_STOPPED
}  // namespace hresult

constexpr bool failed(std::uint32_t hr) noexcept { return static_cast<std::int32_t>(hr) < 0; }

// True when `hr` is the HCS code `hcs_code` in either encoding (0x8037xxxx or 0xC037xxxx): facility 0x37 and the
// same low 16 bits.
constexpr bool is_hcs_code(std::uint32_t hr, std::uint32_t hcs_code) noexcept {
  return ((hr >> 16) & 0x1fff) == 0x37 && (hr & 0xffff) == (hcs_code & 0xffff);
}

// The errdefs kind a caller should see for an HCS result (see hcs-api-and-schema.md §A.6).
ErrorKind kind_of(std::uint32_t hr) noexcept;
// "HCS_E_INVALID_STATE (0x80370105)" or "0x80004005".
std::string describe(std::uint32_t hr);

// A failed HCS call: the HRESULT, the operation and the HCS result document (ResultError JSON, possibly empty).
class HcsError : public Error {
 public:
  HcsError(std::uint32_t hr, std::string_view operation, std::string result_document = {});

  std::uint32_t hresult() const noexcept { return hresult_; }
  const std::string& operation() const noexcept { return operation_; }
  const std::string& result_document() const noexcept { return result_document_; }

  // The system or process is gone or already stopped: callers that are tearing down treat this as success.
  bool already_stopped() const noexcept;
  bool not_found() const noexcept;

 private:
  std::uint32_t hresult_;
  std::string operation_;
  std::string result_document_;
};

}  // namespace shimcore::hcs
