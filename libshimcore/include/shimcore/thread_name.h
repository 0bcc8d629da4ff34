// Names the calling thread (Linux: /proc/<pid>/task/<tid>/comm, 15 characters at most), so that a shim's threads can
// be told apart in ps, top, perf and gdb; a no-op elsewhere.
#pragma once

#if defined(__linux__)
#include <pthread.h>
#endif

namespace shimcore {

inline void set_thread_name([[maybe_unused]] const char* name) noexcept {
#if defined(__linux__)
  ::pthread_setname_np(::pthread_self(), name);
#endif
}

}  // namespace shimcore
