#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The guides' proxy client wrapper, for weft: the same usage and the same
# flags handed to weft-proxy-client (in place of their Go proxy-client), so
# the guides' commands run as written:
#   script/proxy_client.sh subscribe <topic> <threshold> [flags...]
#   script/proxy_client.sh publish <topic> <threshold> <message-count> [flags...]
# Extra flags go to the client (-proxy host:port for gRPC, -rest URL for REST,
# -delay 2s, ...). PROXY_CLIENT names the binary; by default the one built in
# build/bin, else weft-proxy-client on PATH.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
client=${PROXY_CLIENT:-}
if [ -z "$client" ]; then
    if [ -x "$here/../${BUILD:-build}/bin/weft-proxy-client" ]; then
        client=$here/../${BUILD:-build}/bin/weft-proxy-client
    elif command -v weft-proxy-client >/dev/null 2>&1; then
        client=weft-proxy-client
    else
        echo "$0: weft-proxy-client not found: build it (make build) or set PROXY_CLIENT" >&2
        exit 1
    fi
fi

usage() {
    echo "Usage: $0 (subscribe <topic> <threshold>)|(publish <topic> <threshold> <message-count>)" >&2
    echo "" >&2
    echo "Examples:" >&2
    echo "  $0 subscribe demo 0.6" >&2
    echo "  $0 publish demo 0.5 10" >&2
}

if [ $# -lt 1 ]; then
    usage
    exit 1
fi
mode=$1
shift
case "$mode" in
subscribe)
    if [ $# -lt 2 ] || [ -z "$1" ] || [ -z "$2" ]; then
        echo "Usage: $0 subscribe <topic> <threshold>" >&2
        exit 1
    fi
    topic=$1 threshold=$2
    shift 2
    exec "$client" -topic="$topic" -threshold="$threshold" -subscribeOnly "$@"
    ;;
publish)
    if [ $# -lt 3 ] || [ -z "$1" ] || [ -z "$2" ] || [ -z "$3" ]; then
        echo "Usage: $0 publish <topic> <threshold> <message-count>" >&2
        exit 1
    fi
    topic=$1 threshold=$2 count=$3
    shift 3
    exec "$client" -topic="$topic" -threshold="$threshold" -count="$count" "$@"
    ;;
*)
    echo "Invalid mode: $mode" >&2
    usage
    exit 1
    ;;
esac
