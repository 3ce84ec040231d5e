#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The single list of Debian packages weft needs to build, test, fuzz and
# benchmark. Idempotent and quiet: installs only what is missing.
# Usage: ci/install-deps.sh            (as root, or with sudo available)
set -euo pipefail

PKGS=(
    # toolchain
    build-essential cmake ninja-build pkg-config git openssl
    clang libclang-rt-14-dev
    # codec oracles and the ISA-L comparison backend
    libisal-dev libgf-complete-dev
    # tests
    libcriterion-dev
    # benchmarks: plots
    gnuplot-nox
    # AArch64: NEON kernels cross-built and tested under qemu
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
