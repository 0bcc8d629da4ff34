// Closing an OsHandle, per platform.
#include "shimcore/hcs/os_handle.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <unistd.h>
#endif

namespace shimcore::hcs {

void OsHandle::reset() noexcept {
#ifdef _WIN32
  if (valid()) ::CloseHandle(native_);
#else
  // fd 0 is a valid descriptor on Linux, so only -1 means "none" here.
  if (native_ >= 0) ::close(native_);
#endif
  native_ = kInvalid;
}

}  // namespace shimcore::hcs
