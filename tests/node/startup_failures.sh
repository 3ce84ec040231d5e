#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every way start-up can fail, for weft-node and weft-proxy: each port
# already taken (node: sidecar, API, P2P; proxy: REST, gRPC), one port given
# for two of them, a corrupt or unreadable p2p.key, a missing or corrupt
# GeoIP database, a missing JWKS. Each must end with its one error line
# (naming what failed) and a non-zero status, never a signal or a sanitizer
# report. The API-port case runs with BOOTSTRAP_PEERS dialling a closed
# port: it used to crash (a dial completed on a freed host). Then SIGTERM at
# several moments of start-up (0, 5, 20, 50, 200 ms after the program's
# handler is in place; before that the kernel's default applies, which no
# program can change) must end in exit 0.
# usage: startup_failures.sh WEFT_NODE WEFT_PROXY
set -uo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
fails=0 checks=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

# A listener held on a port for the whole test (the python keeps it).
HOLD_PIDS=()
hold_port() {
    python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("held", flush=True); time.sleep(600)' "$1" >"$WEFT_TEST_TMP/hold.$1" 2>&1 &
    HOLD_PIDS+=("$!")
    WEFT_TEST_PIDS+=("$!")
    for _ in $(seq 50); do grep -q held "$WEFT_TEST_TMP/hold.$1" 2>/dev/null && return 0; sleep 0.1; done
    die "could not hold port $1"
}

# expect_fail WHAT PATTERN CMD...: exit status 1..125 (not a signal), the
# last stderr line matching "weft-...:" contains PATTERN, exactly one such
# line, and no sanitizer report. Bounded by timeout 30.
expect_fail() {
    local what=$1 pat=$2
    shift 2
    checks=$((checks + 1))
    local log="$WEFT_TEST_TMP/case.$checks.log" rc
    timeout -s KILL 30 "$@" >"$log.out" 2>"$log"
    rc=$?
    if [ $rc -eq 0 ] || [ $rc -ge 126 ]; then
        fail "$what: exit $rc, expected an error status (stderr: $(tail -n 3 "$log" | tr '\n' '|'))"
        return
    fi
    if grep -qE "AddressSanitizer|runtime error:|LeakSanitizer" "$log"; then
        fail "$what: sanitizer report: $(grep -m1 -E "Sanitizer|runtime error" "$log")"
        return
    fi
    local lines
    lines=$(grep -cE '^weft-(node|proxy): ' "$log")
    if [ "$lines" -ne 1 ]; then
        fail "$what: expected one error line, got $lines: $(grep -E '^weft-' "$log" | tr '\n' '|')"
        return
    fi
    if ! grep -E '^weft-(node|proxy): ' "$log" | grep -qF -- "$pat"; then
        fail "$what: the error line does not say '$pat': $(grep -E '^weft-' "$log")"
        return
    fi
    ok "$what: exit $rc: $(grep -E '^weft-' "$log")"
}

node_env() { # node_env SIDECAR API P2P IDDIR [VAR=VALUE...]
    local s=$1 a=$2 p=$3 id=$4
    shift 4
    echo env NODE_MODE=optimum CLUSTER_ID=boot LOG_LEVEL=info WEFT_LISTEN_IP=127.0.0.1 \
        IDENTITY_DIR="$id" SIDECAR_PORT="$s" API_PORT="$a" OPTIMUM_PORT="$p" "$@"
}

mkdir -p "$WEFT_TEST_TMP/peer" "$WEFT_TEST_TMP/id"
peer=$(IDENTITY_DIR="$WEFT_TEST_TMP/peer" "$WEFT_NODE" generate-key --output-peer-id) || die "generate-key"
IDENTITY_DIR="$WEFT_TEST_TMP/id" "$WEFT_NODE" generate-key >/dev/null 2>&1 || die "generate-key"

# ---- weft-node: ports ------------------------------------------------------------------------
read -r held s a p closed < <(free_ports 5)
hold_port "$held"
boot="/ip4/127.0.0.1/tcp/$closed/p2p/$peer"
for i in 1 2 3 4 5; do
    # shellcheck disable=SC2046
    expect_fail "node: API port taken, bootstrap dialling (try $i)" "API_PORT" \
        $(node_env "$s" "$held" "$p" "$WEFT_TEST_TMP/id" BOOTSTRAP_PEERS="$boot") "$WEFT_NODE"
done
# shellcheck disable=SC2046
expect_fail "node: sidecar port taken" "SIDECAR_PORT" \
    $(node_env "$held" "$a" "$p" "$WEFT_TEST_TMP/id" BOOTSTRAP_PEERS="$boot") "$WEFT_NODE"
# shellcheck disable=SC2046
expect_fail "node: P2P port taken" "OPTIMUM_PORT" \
    $(node_env "$s" "$a" "$held" "$WEFT_TEST_TMP/id" BOOTSTRAP_PEERS="$boot") "$WEFT_NODE"
# shellcheck disable=SC2046
expect_fail "node: gossipsub P2P port taken" "GOSSIPSUB_PORT" \
    $(node_env "$s" "$a" "$p" "$WEFT_TEST_TMP/id" NODE_MODE=gossipsub GOSSIPSUB_PORT="$held") "$WEFT_NODE"
for pair in "$s $s $p SIDECAR_PORT" "$s $a $a API_PORT" "$s $a $s OPTIMUM_PORT"; do
    read -r ps pa pp name <<<"$pair"
    for cmd in start check-config; do
        arg=""
        [ $cmd = check-config ] && arg=check-config
        # shellcheck disable=SC2046
        expect_fail "node $cmd: one port twice ($name)" "expected a different port for each" \
            $(node_env "$ps" "$pa" "$pp" "$WEFT_TEST_TMP/id") "$WEFT_NODE" $arg
    done
done

# ---- weft-node: identity and GeoIP -----------------------------------------------------------
mkdir -p "$WEFT_TEST_TMP/corrupt" "$WEFT_TEST_TMP/dirkey/p2p.key" "$WEFT_TEST_TMP/short"
cp "$WEFT_TEST_TMP/id/p2p.key" "$WEFT_TEST_TMP/corrupt/p2p.key"
printf 'garbage' | dd of="$WEFT_TEST_TMP/corrupt/p2p.key" bs=1 seek=40 conv=notrunc 2>/dev/null
head -c 7 "$WEFT_TEST_TMP/id/p2p.key" >"$WEFT_TEST_TMP/short/p2p.key"
echo not-a-directory >"$WEFT_TEST_TMP/plain"
for cmd in start check-config; do
    arg=""
    [ $cmd = check-config ] && arg=check-config
    for d in corrupt short dirkey; do
        # shellcheck disable=SC2046
        expect_fail "node $cmd: $d p2p.key" "identity $WEFT_TEST_TMP/$d/p2p.key" \
            $(node_env "$s" "$a" "$p" "$WEFT_TEST_TMP/$d") "$WEFT_NODE" $arg
    done
    # shellcheck disable=SC2046
    expect_fail "node $cmd: IDENTITY_DIR under a regular file" "$WEFT_TEST_TMP/plain/sub" \
        $(node_env "$s" "$a" "$p" "$WEFT_TEST_TMP/plain/sub") "$WEFT_NODE" $arg
    # shellcheck disable=SC2046
    expect_fail "node $cmd: missing GeoIP database" "WEFT_GEOIP_DB" \
        $(node_env "$s" "$a" "$p" "$WEFT_TEST_TMP/id" WEFT_GEOIP_DB="$WEFT_TEST_TMP/none.mmdb") \
        "$WEFT_NODE" $arg
    head -c 4096 /dev/urandom >"$WEFT_TEST_TMP/bad.mmdb"
    # shellcheck disable=SC2046
    expect_fail "node $cmd: corrupt GeoIP database" "WEFT_GEOIP_DB" \
        $(node_env "$s" "$a" "$p" "$WEFT_TEST_TMP/id" WEFT_GEOIP_DB="$WEFT_TEST_TMP/bad.mmdb") \
        "$WEFT_NODE" $arg
    # shellcheck disable=SC2046
    expect_fail "node $cmd: WEFT_TRANSPORT=garbage" "WEFT_TRANSPORT" \
        $(node_env "$s" "$a" "$p" "$WEFT_TEST_TMP/id" WEFT_TRANSPORT=garbage) "$WEFT_NODE" $arg
done

# ---- weft-proxy: ports, JWKS -------------------------------------------------------------------
read -r r g sc < <(free_ports 3)
px() { echo env CLUSTER_ID=boot-proxy WEFT_LISTEN_IP=127.0.0.1 P2P_NODES="127.0.0.1:$sc" "$@"; }
# shellcheck disable=SC2046
expect_fail "proxy: REST port taken" "PROXY_PORT" $(px PROXY_PORT="$held" PROXY_GRPC_PORT="$g") "$WEFT_PROXY"
# shellcheck disable=SC2046
expect_fail "proxy: gRPC port taken" "PROXY_GRPC_PORT" $(px PROXY_PORT="$r" PROXY_GRPC_PORT="$held") "$WEFT_PROXY"
for cmd in start check-config; do
    arg=""
    [ $cmd = check-config ] && arg=check-config
    # shellcheck disable=SC2046
    expect_fail "proxy $cmd: one port twice" "expected a different port for each" \
        $(px PROXY_PORT="$r" PROXY_GRPC_PORT="$r") "$WEFT_PROXY" $arg
    # shellcheck disable=SC2046
    expect_fail "proxy $cmd: missing JWKS file" "WEFT_JWKS" \
        $(px PROXY_PORT="$r" PROXY_GRPC_PORT="$g" ENABLE_AUTH=true WEFT_JWKS="$WEFT_TEST_TMP/none.json") \
        "$WEFT_PROXY" $arg
    # shellcheck disable=SC2046
    expect_fail "proxy $cmd: JWKS URL nobody answers" "WEFT_JWKS" \
        $(px PROXY_PORT="$r" PROXY_GRPC_PORT="$g" ENABLE_AUTH=true WEFT_JWKS="https://127.0.0.1:$closed/jwks.json") \
        "$WEFT_PROXY" $arg
done

# ---- SIGTERM during start-up --------------------------------------------------------------------
# sigterm_at LABEL DELAY_MS CMD...: start CMD, wait until its SIGTERM handler
# (or block: /proc/PID/status SigCgt or SigBlk bit 15) is in place, wait
# DELAY_MS more, send SIGTERM; expect exit 0 within 15 s.
sigterm_at() {
    local label=$1 delay=$2
    shift 2
    checks=$((checks + 1))
    local log="$WEFT_TEST_TMP/term.$checks.log"
    python3 - "$delay" "$log" "$@" <<'PY'
import os, signal, subprocess, sys, time
delay, log, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
env = dict(os.environ)
while cmd and "=" in cmd[0] and not cmd[0].startswith("/"):
    k, v = cmd.pop(0).split("=", 1)
    env[k] = v
with open(log, "w") as err:
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
def ready():
    try:
        with open(f"/proc/{p.pid}/status") as f:
            st = dict(l.split(":", 1) for l in f if ":" in l)
    except OSError:
        return True
    bit = 1 << (signal.SIGTERM - 1)
    return bool(int(st["SigCgt"], 16) & bit or int(st["SigBlk"], 16) & bit)
end = time.monotonic() + 10
while not ready() and time.monotonic() < end and p.poll() is None:
    time.sleep(0.0005)
time.sleep(delay / 1000)
if p.poll() is None:
    p.send_signal(signal.SIGTERM)
try:
    rc = p.wait(15)
except subprocess.TimeoutExpired:
    p.kill(); p.wait()
    print("hung after SIGTERM"); sys.exit(1)
if rc != 0:
    print(f"exit {rc}" + (" (signal)" if rc < 0 else "")); sys.exit(1)
PY
    local rc=$?
    if [ $rc -ne 0 ]; then fail "$label: SIGTERM at +${delay} ms: $(tail -n 3 "$log" | tr '\n' '|')"; return; fi
    if grep -qE "AddressSanitizer|runtime error:|LeakSanitizer" "$log"; then
        fail "$label: SIGTERM at +${delay} ms: sanitizer report"
        return
    fi
    ok "$label: SIGTERM at +${delay} ms: exit 0"
}

read -r s a p r g < <(free_ports 5)
for d in 0 5 20 50 200; do
    # shellcheck disable=SC2046
    sigterm_at "node" "$d" NODE_MODE=optimum WEFT_LISTEN_IP=127.0.0.1 IDENTITY_DIR="$WEFT_TEST_TMP/id" \
        SIDECAR_PORT="$s" API_PORT="$a" OPTIMUM_PORT="$p" BOOTSTRAP_PEERS="$boot" "$WEFT_NODE"
    sigterm_at "proxy" "$d" CLUSTER_ID=boot-proxy WEFT_LISTEN_IP=127.0.0.1 P2P_NODES="127.0.0.1:$sc" \
        PROXY_PORT="$r" PROXY_GRPC_PORT="$g" "$WEFT_PROXY"
done

echo "startup_failures: $checks checks, $fails failed"
[ $fails -eq 0 ]
