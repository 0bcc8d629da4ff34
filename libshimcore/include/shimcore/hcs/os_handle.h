// An owned operating-system handle: a file descriptor on Linux, a HANDLE on Windows; closed when destroyed.
#pragma once

#include <cstdint>
#include <utility>

namespace shimcore::hcs {

class OsHandle {
 public:
#ifdef _WIN32
  using Native = void*;  // HANDLE
  static inline const Native kInvalid = reinterpret_cast<Native>(static_cast<std::intptr_t>(-1));
#else
  using Native = int;
  static constexpr Native kInvalid = -1;
#endif

  OsHandle() = default;
  explicit OsHandle(Native native) noexcept : native_(native) {}
  OsHandle(OsHandle&& other) noexcept : native_(std::exchange(other.native_, kInvalid)) {}
  OsHandle& operator=(OsHandle&& other) noexcept {
    if (this != &other) {
      reset();
      native_ = std::exchange(other.native_, kInvalid);
    }
    return *this;
  }
  OsHandle(const OsHandle&) = delete;
  OsHandle& operator=(const OsHandle&) = delete;
  ~OsHandle() { reset(); }

#ifdef _WIN32
  bool valid() const noexcept { return native_ != kInvalid && native_ != nullptr; }
#else
  bool valid() const noexcept { return native_ >= 0; }  // fd 0 is a real descriptor
#endif
  explicit operator bool() const noexcept { return valid(); }
  Native get() const noexcept { return native_; }
  // Gives up ownership without closing.
  Native release() noexcept { return std::exchange(native_, kInvalid); }
  void reset() noexcept;

 private:
  Native native_ = kInvalid;
};

}  // namespace shimcore::hcs
