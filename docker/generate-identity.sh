#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bootstrap identity for docker-compose.yml, as the guides' script does:
# generate p2pnode-1's key into docker/identity/p2p.key (mounted at
# /identity) and write its peer id as BOOTSTRAP_PEER_ID into docker/.env,
# which docker compose reads for the other nodes' BOOTSTRAP_PEERS.
# Usage: docker/generate-identity.sh [--force]   (--force: replace the key)
# WEFT_NODE_IMAGE overrides the image [weft/weft-node:latest].
set -euo pipefail

cd "$(dirname "$0")"
image=${WEFT_NODE_IMAGE:-weft/weft-node:latest}
force=0
case "${1:-}" in
    --force) force=1 ;;
    "") ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

mkdir -p identity
# Run as the calling user so that the key on the host belongs to them.
run() { docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/identity:/identity" \
            -e IDENTITY_DIR=/identity "$image" "$@"; }
peer_id_of() { grep -Eo '12D3KooW[1-9A-HJ-NP-Za-km-z]+' | tail -n 1; }

if [ -f identity/p2p.key ] && [ "$force" -eq 0 ]; then
    echo "generate-identity: identity/p2p.key exists; reusing it (--force replaces it)" >&2
    id=$(run peer-id | peer_id_of)
else
    rm -f identity/p2p.key
    id=$(run generate-key --output-peer-id | peer_id_of)
    [ -n "$id" ] || id=$(run peer-id | peer_id_of)
fi
if [ -z "$id" ]; then
    echo "generate-identity: no peer id from $image" >&2
    exit 1
fi

# Replace BOOTSTRAP_PEER_ID in .env, keeping any other settings there.
touch .env
{ grep -v '^BOOTSTRAP_PEER_ID=' .env || true; echo "BOOTSTRAP_PEER_ID=$id"; } > .env.tmp
mv .env.tmp .env
echo "generate-identity: BOOTSTRAP_PEER_ID=$id (docker/.env)"
