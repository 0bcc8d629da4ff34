// RAII owners for computecore handles and HCS-allocated strings, and UTF-8 <-> UTF-16 for the API (Windows only).
#pragma once

#ifdef _WIN32

#include <windows.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "api.h"
#include "shimcore/hcs/computecore_logic.h"

namespace shimcore::hcs::computecore {

// HRESULT_FROM_WIN32 as a function (the macro form is not constexpr-friendly and trips -Wold-style-cast).
inline std::uint32_t win32_hresult(DWORD error) noexcept {
  if (error == 0) return 0x80004005;  // E_FAIL: a failure without an error code is still a failure
  return error > 0xFFFF ? static_cast<std::uint32_t>(error) : (0x80070000u | (error & 0xFFFFu));
}

// UTF-8 -> UTF-16 for PCWSTR arguments (strict: see utf8_to_utf16) and back for PWSTR results. wchar_t is 16 bits on
// Windows, so the portable char16_t code does the work and the tested code is the code that runs.
inline std::wstring widen(std::string_view utf8) {
  const std::u16string wide = utf8_to_utf16(utf8);
  return std::wstring(wide.begin(), wide.end());
}
inline std::string narrow(const wchar_t* utf16) {
  if (utf16 == nullptr) return {};
  const std::wstring_view view(utf16);
  return utf16_to_utf8(std::u16string(view.begin(), view.end()));
}

// An out-string HCS allocated (resultDocument, result): freed with LocalFree, the pairing MSDocs documents
// (hcsshim uses CoTaskMemFree instead; we follow the documentation).
class HcsString {
 public:
  HcsString() = default;
  HcsString(const HcsString&) = delete;
  HcsString& operator=(const HcsString&) = delete;
  ~HcsString() { reset(); }

  // For the PWSTR* out-parameter; frees what it held first.
  PWSTR* out() noexcept {
    reset();
    return &text_;
  }
  std::string utf8() const { return narrow(text_); }
  void reset() noexcept {
    if (text_ != nullptr) ::LocalFree(text_);
    text_ = nullptr;
  }

 private:
  PWSTR text_ = nullptr;
};

// One owner shape for the three HCS handle kinds; Traits::close names the Api function that releases it.
template <typename Traits>
class HcsHandle {
 public:
  using Native = typename Traits::Native;

  HcsHandle() = default;
  explicit HcsHandle(Native native) noexcept : native_(native) {}
  HcsHandle(HcsHandle&& other) noexcept : native_(std::exchange(other.native_, nullptr)) {}
  HcsHandle& operator=(HcsHandle&& other) noexcept {
    if (this != &other) {
      reset();
      native_ = std::exchange(other.native_, nullptr);
    }
    return *this;
  }
  HcsHandle(const HcsHandle&) = delete;
  HcsHandle& operator=(const HcsHandle&) = delete;
  ~HcsHandle() { reset(); }

  Native get() const noexcept { return native_; }
  explicit operator bool() const noexcept { return native_ != nullptr; }
  // For the out-parameter of a Create/Open call; closes what it held first.
  Native* out() noexcept {
    reset();
    return &native_;
  }
  void reset() noexcept {
    // A handle exists only if computecore.dll loaded, so api() cannot throw here; a missing close export (never seen)
    // leaks rather than crashes.
    if (native_ != nullptr) {
      if (const auto close = (api().*Traits::close).fn; close != nullptr) close(native_);
    }
    native_ = nullptr;
  }

 private:
  Native native_ = nullptr;
};

struct OperationTraits {
  using Native = HCS_OPERATION;
  static constexpr auto close = &Api::HcsCloseOperation;
};
struct SystemTraits {
  using Native = HCS_SYSTEM;
  static constexpr auto close = &Api::HcsCloseComputeSystem;
};
struct ProcessTraits {
  using Native = HCS_PROCESS;
  static constexpr auto close = &Api::HcsCloseProcess;
};

// Closing an operation that is still in flight is allowed: HCS finishes the request and discards the result.
using OperationHandle = HcsHandle<OperationTraits>;
// Closing unregisters the event callback and waits for callbacks in flight; no further event is delivered.
using SystemHandle = HcsHandle<SystemTraits>;
using ProcessHandle = HcsHandle<ProcessTraits>;

}  // namespace shimcore::hcs::computecore

#endif  // _WIN32
