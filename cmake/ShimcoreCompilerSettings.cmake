# Compiler settings shared by every target of the project: ccache, sanitizers, and the strict-warnings helper.

find_program(SHIMCORE_CCACHE ccache)
if(SHIMCORE_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${SHIMCORE_CCACHE}")
endif()

if(SHIMCORE_SANITIZERS)
  if(MSVC)
    message(FATAL_ERROR "SHIMCORE_SANITIZERS is supported with GCC and Clang only")
  endif()
  # Applied to everything built here, generated protobuf code included, so that instrumentation is consistent.
  add_compile_options(-fsanitize=${SHIMCORE_SANITIZERS} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${SHIMCORE_SANITIZERS})
endif()

# Warnings as errors for code written in this project. Generated code (proto/) does not get this.
function(shimcore_strict_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /WX /permissive-)
  else()
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
    # GCC 12 at -O3 reports -Wrestrict inside libstdc++'s std::string copies that cannot overlap (GCC bug 105651,
    # fixed in GCC 13); Debian 12's release builds of the tests hit it.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
      target_compile_options(${target} PRIVATE -Wno-restrict)
    endif()
  endif()
endfunction()
