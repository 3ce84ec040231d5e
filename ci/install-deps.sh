#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The single list of Debian packages weft needs to build, test, fuzz and
# benchmark. Idempotent and quiet: installs only what is missing.
# Usage: ci/install-deps.sh            (as root, or with sudo available)
#        ci/install-deps.sh --arm64-sysroot [DIR]
#            also unpack the AArch64 runtime of the test framework into DIR
#            (default /opt/weft/arm64-sysroot) for cross-built tests under
#            qemu. Unpacked, not installed: Criterion's amd64 and arm64
#            packages cannot be installed side by side (their libnanomsg
#            builds differ in version).
set -euo pipefail

PKGS=(
    # toolchain
    build-essential cmake ninja-build pkg-config git openssl
    # style and static analysis gates of .ci/run
    clang-format cppcheck
    clang libclang-rt-14-dev
    # codec oracles and the ISA-L comparison backend
    libisal-dev libgf-complete-dev
    # transport: crypto (Noise, Ed25519), io_uring
    libsodium-dev liburing-dev
    # node and proxy: gRPC C core, protobuf-c, h2o (evloop) with wslay, cJSON,
    # cjose (JWT), MaxMind country lookup
    libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libh2o-evloop-dev libwslay-dev
    libcjson-dev libcjose-dev libjansson-dev libmaxminddb-dev libssl-dev
    # node: the role file (weft-node --config FILE.yaml)
    libyaml-dev
    # proxy: the JWKS fetch over HTTPS (AUTH0_DOMAIN, WEFT_JWKS=https://...)
    libcurl4-openssl-dev
    # tests (python3: the source checks, tests/layers and tests/node)
    libcriterion-dev wrk python3
    # benchmarks: plots
    gnuplot-nox
    # the multi-host testbed (testbed/): ip netns, veth, tc tbf; curl for the nodes' APIs
    iproute2 curl
    # AArch64: NEON kernels cross-built and tested under qemu
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
)

# AArch64 runtime for the cross-built test suite (unpacked into a sysroot).
ARM64_SYSROOT_PKGS=(
    libc6 libgcc-s1 gcc-12-base libcriterion3 libcriterion-dev libffi8 libgit2-1.5
    libnanomsg5 libhttp-parser2.9 libssh2-1 libssl3 zlib1g libpcre2-8-0 libmbedtls14
    libmbedx509-1 libmbedcrypto7 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0
    libcom-err2 libkeyutils1
)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages of the js-libp2p interop peer (beside the repository, in
# ../shared/interop/js-libp2p), pinned by its package-lock.json.
here=$(cd "$(dirname "$0")/.." && pwd)
interop="$here/../shared/interop/js-libp2p"
if [ -f "$interop/package-lock.json" ] && [ ! -d "$interop/node_modules" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "install-deps: npm ci in $interop" >&2
        (cd "$interop" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    else
        echo "install-deps: node/npm not found; the js-libp2p interop tests will fail" >&2
    fi
fi

# npm packages of our own Node.js test clients (@grpc/grpc-js, ws), pinned by
# tests/node/js/package-lock.json.
jsdir="$here/tests/node/js"
if [ -f "$jsdir/package-lock.json" ] && [ ! -d "$jsdir/node_modules" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "install-deps: npm ci in $jsdir" >&2
        (cd "$jsdir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    else
        echo "install-deps: node/npm not found; the gRPC client tests will fail" >&2
    fi
fi

# npm packages of the Kademlia interop peers (@libp2p/kad-dht beside libp2p
# 2.9.0), pinned by tests/interop/js-kad/package-lock.json.
kaddir="$here/tests/interop/js-kad"
if [ -f "$kaddir/package-lock.json" ] && [ ! -d "$kaddir/node_modules" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "install-deps: npm ci in $kaddir" >&2
        (cd "$kaddir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    else
        echo "install-deps: node/npm not found; the kad interop test will fail" >&2
    fi
fi

# npm packages of the manifest checks (kubernetes-models, yaml), pinned by
# tests/deploy/package-lock.json.
deploydir="$here/tests/deploy"
if [ -f "$deploydir/package-lock.json" ] && [ ! -d "$deploydir/node_modules" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "install-deps: npm ci in $deploydir" >&2
        (cd "$deploydir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    else
        echo "install-deps: node/npm not found; the deploy manifest test will fail" >&2
    fi
fi

if [ "${1:-}" = "--arm64-sysroot" ]; then
    dest=${2:-/opt/weft/arm64-sysroot}
    stamp="$dest/.weft-sysroot-$(printf '%s ' "${ARM64_SYSROOT_PKGS[@]}" | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "install-deps: unpacking the AArch64 test runtime into $dest" >&2
        if ! dpkg --print-foreign-architectures | grep -qx arm64; then
            $SUDO dpkg --add-architecture arm64
            $SUDO apt-get update -qq
        fi
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        (cd "$work" && apt-get download -qq "${ARM64_SYSROOT_PKGS[@]/%/:arm64}" >/dev/null 2>&1) ||
            { $SUDO apt-get update -qq && (cd "$work" && apt-get download -qq "${ARM64_SYSROOT_PKGS[@]/%/:arm64}" >/dev/null); }
        $SUDO mkdir -p "$dest"
        for deb in "$work"/*.deb; do
            $SUDO dpkg-deb -x "$deb" "$dest"
        done
        $SUDO touch "$stamp"
    fi
    # Criterion runs each test in a child it spawns by exec; under qemu-user
    # that child must be an AArch64 exec too, so let the kernel hand AArch64
    # ELF files to qemu (binfmt_misc, with the F flag: interpreter opened now).
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
            $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
        fi
        printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' |
            $SUDO tee /proc/sys/fs/binfmt_misc/register >/dev/null
    fi
fi
