# SPDX-License-Identifier: Apache-2.0
# Cross-compile for AArch64 with Debian's gcc-aarch64-linux-gnu; ctest runs
# the test executables under qemu-aarch64-static through binfmt_misc. The
# test framework's AArch64 runtime and the C library qemu loads come from a
# sysroot that
#   ci/install-deps.sh --arm64-sysroot [DIR]    (default /opt/weft/arm64-sysroot)
# unpacks; the same call registers qemu with binfmt_misc (Criterion execs
# its test children, which must run under qemu too).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
if(NOT WEFT_ARM64_SYSROOT)
    set(WEFT_ARM64_SYSROOT /opt/weft/arm64-sysroot)
endif()
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu ${WEFT_ARM64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR env;QEMU_LD_PREFIX=${WEFT_ARM64_SYSROOT})
set(ENV{PKG_CONFIG_LIBDIR} ${WEFT_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${WEFT_ARM64_SYSROOT})
set(ENV{PKG_CONFIG_PATH} "")
# Criterion's own dependencies resolve inside the sysroot at link time.
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${WEFT_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu:${WEFT_ARM64_SYSROOT}/lib/aarch64-linux-gnu")
