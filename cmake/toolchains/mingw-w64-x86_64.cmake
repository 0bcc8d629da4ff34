# Cross-compiling for 64-bit Windows on Debian with g++-mingw-w64-x86-64 (the `mingw` preset). The POSIX-threads
# variant of the compilers is used because the code relies on std::thread, std::mutex and std::condition_variable,
# which the win32-threads variant of Debian's GCC 12 does not provide.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(SHIMCORE_MINGW_TRIPLET x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${SHIMCORE_MINGW_TRIPLET}-gcc-posix)
set(CMAKE_CXX_COMPILER ${SHIMCORE_MINGW_TRIPLET}-g++-posix)
set(CMAKE_RC_COMPILER ${SHIMCORE_MINGW_TRIPLET}-windres)

# Look for libraries, headers and packages only in the mingw sysroot, and for programs only on the build machine:
# nothing from the Linux system may end up in a Windows binary. (The few header-only host libraries the build needs
# are staged explicitly; see the SHIMCORE_HCS_ONLY branch of the top-level CMakeLists.txt.)
set(CMAKE_FIND_ROOT_PATH /usr/${SHIMCORE_MINGW_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Fully static executables (libstdc++, libgcc, winpthread): they run on a Windows host without any mingw DLL.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
