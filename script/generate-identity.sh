#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The bootstrap identity of the guides' setup, made by weft-node: the key in
# ./identity/p2p.key (IDENTITY_DIR overrides), its peer id printed and given
# as the line to export, with the guides' [INFO]/[SUCCESS] lines. An
# existing key is kept in CI (CI=true or GITHUB_ACTIONS=true) or when the
# answer to the question is not y; colours only on a terminal.
# WEFT_NODE names the binary (default: build/bin/weft-node, else PATH).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
node=${WEFT_NODE:-}
if [ -z "$node" ]; then
    if [ -x "$here/../${BUILD:-build}/bin/weft-node" ]; then
        node=$here/../${BUILD:-build}/bin/weft-node
    elif command -v weft-node >/dev/null 2>&1; then
        node=weft-node
    else
        echo "[ERROR] weft-node not found: build it (make build) or set WEFT_NODE" >&2
        exit 1
    fi
fi

if [ -t 1 ]; then
    c_info=$'\033[0;34m' c_ok=$'\033[0;32m' c_warn=$'\033[1;33m' c_err=$'\033[0;31m' c_end=$'\033[0m'
else
    c_info='' c_ok='' c_warn='' c_err='' c_end=''
fi
info() { printf '%s[INFO] %s%s\n' "$c_info" "$1" "$c_end"; }
ok() { printf '%s[SUCCESS] %s%s\n' "$c_ok" "$1" "$c_end"; }
warn() { printf '%s[WARNING] %s%s\n' "$c_warn" "$1" "$c_end"; }
fail() { printf '%s[ERROR] %s%s\n' "$c_err" "$1" "$c_end" >&2; exit 1; }

dir=${IDENTITY_DIR:-./identity}
key=$dir/p2p.key

info "Generating P2P Bootstrap Identity..."
if [ -f "$key" ]; then
    warn "P2P identity already exists at $key"
    keep=1
    if [ "${CI:-}" = true ] || [ "${GITHUB_ACTIONS:-}" = true ]; then
        info "CI environment detected - using existing identity"
    elif [ -t 0 ]; then
        read -r -p "Delete existing identity and generate new one? (y/N): " -n 1 reply || reply=
        echo
        if [ "$reply" = y ] || [ "$reply" = Y ]; then
            rm -f "$key"
            info "Deleted existing identity"
            keep=0
        fi
    fi
    if [ $keep = 1 ]; then
        [ -t 0 ] && info "Using existing identity"
        id=$(IDENTITY_DIR="$dir" "$node" peer-id) || fail "cannot read $key"
        ok "BOOTSTRAP_PEER_ID=$id"
        echo "export BOOTSTRAP_PEER_ID=$id"
        exit 0
    fi
fi

info "Creating identity directory..."
mkdir -p "$dir"
info "Generating P2P keypair..."
id=$(IDENTITY_DIR="$dir" "$node" generate-key --output-peer-id 2>/dev/null | grep -Eo '12D3KooW[1-9A-HJ-NP-Za-km-z]+' | tail -n 1) ||
    true
[ -n "$id" ] || fail "weft-node generate-key gave no peer id"
ok "Generated P2P identity successfully!"
ok "Identity saved to: $key"
ok "Peer ID: $id"
echo
info "To use in docker-compose:"
echo "export BOOTSTRAP_PEER_ID=$id"
echo
ok "Done! Your OptimumP2P peer ID: $id"
