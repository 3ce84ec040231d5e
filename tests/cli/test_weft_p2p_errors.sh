#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weft-p2p names the cause of a failed dial in its own words: a name that
# does not resolve is "host name resolution failed" (once it said "protocol
# not supported by the peer"), a closed port "Connection refused"; both exit 1.
# Names under .invalid never resolve (RFC 6761); nothing leaves 127.0.0.1.
# usage: test_weft_p2p_errors.sh WEFT_P2P
set -uo pipefail
P2P=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

check() { # NAME WANT-RC WANT-TEXT -- COMMAND...
    local name=$1 want_rc=$2 want=$3
    shift 4
    timeout 20 "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -eq "$want_rc" ] && grep -q -- "$want" "$T/err" &&
        ! grep -q "not supported" "$T/err"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $name: exit $rc (want $want_rc), stderr:" >&2
        sed 's/^/  /' "$T/err" >&2
    fi
}

check "ping a name that does not resolve" 1 "/dns4/no-such-host.invalid/tcp/4001: host name resolution failed" -- \
    "$P2P" ping /dns4/no-such-host.invalid/tcp/4001 --timeout 5
check "identify a name that does not resolve" 1 "host name resolution failed" -- \
    "$P2P" identify /dns6/no-such-host.invalid/tcp/4001 --timeout 5

# a port that was just closed: bind, read the number, close
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
check "ping a closed port" 1 "/ip4/127.0.0.1/tcp/$port: Connection refused" -- \
    "$P2P" ping "/ip4/127.0.0.1/tcp/$port" --timeout 5

echo "weft-p2p dial errors: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
