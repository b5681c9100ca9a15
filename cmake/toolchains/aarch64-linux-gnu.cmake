# Cross-compiling for 64-bit Arm Linux on a Debian x86-64 host (preset aarch64, README "Arm"):
#   apt-get install g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# The test programs run under qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR), which ctest uses for
# doctest's test discovery and for every run.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(SOFTXENT_CROSS_TRIPLE aarch64-linux-gnu)
set(SOFTXENT_CROSS_ROOT /usr/${SOFTXENT_CROSS_TRIPLE})  # libc6-dev-arm64-cross: headers and libraries
set(CMAKE_C_COMPILER ${SOFTXENT_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SOFTXENT_CROSS_TRIPLE}-g++)

# Libraries and headers from the target's root only; programs (qemu, pkg-config, nm) from the host.
set(CMAKE_FIND_ROOT_PATH ${SOFTXENT_CROSS_ROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The header-only packages are installed for the host only: they serve as they are, through the host's
# config folders (the root path above hides them from find_package).
set(xsimd_DIR /usr/lib/x86_64-linux-gnu/cmake/xsimd CACHE PATH "xsimd's CMake package (header-only: the host's)")
set(doctest_DIR /usr/lib/cmake/doctest CACHE PATH "doctest's CMake package (header-only: the host's)")
# Their targets name the host's /usr/include, which Debian's cross compiler searches last, after
# the target's own headers: it serves xsimd and doctest without the host's C library coming first.

find_program(SOFTXENT_QEMU_AARCH64 qemu-aarch64)
if(SOFTXENT_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SOFTXENT_QEMU_AARCH64} -L ${SOFTXENT_CROSS_ROOT})
endif()
