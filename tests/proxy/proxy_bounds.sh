#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A node and two proxies: one with small bounds (WEFT_MAX_CLIENTS=2000,
# WEFT_CLIENT_IDLE_S=5, WEFT_METRICS_MAX_SERIES=50, idle series after 6 s)
# and no GeoIP database, one with a GeoLite2-format database written by the
# test. proxy_bounds.py checks /metrics stays bounded under 5,000 distinct
# publishers, idle clients expire with RSS flat, and the country.
# usage: proxy_bounds.sh WEFT_NODE WEFT_PROXY
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"

# Under ASan freed memory sits in its quarantine (256 MB by default), which
# would read as growth: a small quarantine and more slack keep the RSS check
# meaningful there.
slack=16384
if [ "${WEFT_TEST_SANITIZED:-0}" = 1 ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
    slack=49152
fi

read -r -a P < <(free_ports 7)
start_node n1 optimum "${P[0]}" "${P[1]}" "${P[2]}" ""
wait_api "127.0.0.1:${P[2]}" 10 || die "node did not start"
python3 "$(dirname "$0")/proxy_bounds.py" --write-mmdb "$WEFT_TEST_TMP/geo.mmdb"
env CLUSTER_ID=bounded PROXY_PORT=":${P[3]}" PROXY_GRPC_PORT=":${P[4]}" P2P_NODES="127.0.0.1:${P[1]}" \
    WEFT_LISTEN_IP=127.0.0.1 WEFT_MAX_CLIENTS=2000 WEFT_CLIENT_IDLE_S=5 WEFT_METRICS_MAX_SERIES=50 \
    WEFT_METRICS_SERIES_IDLE_S=6 "$WEFT_PROXY" >>"$WEFT_TEST_TMP/bounded.log" 2>&1 &
bpid=$!
WEFT_TEST_PIDS+=("$bpid")
env CLUSTER_ID=geo PROXY_PORT=":${P[5]}" PROXY_GRPC_PORT=":${P[6]}" P2P_NODES="127.0.0.1:${P[1]}" \
    WEFT_LISTEN_IP=127.0.0.1 WEFT_GEOIP_DB="$WEFT_TEST_TMP/geo.mmdb" \
    "$WEFT_PROXY" >>"$WEFT_TEST_TMP/geo.log" 2>&1 &
WEFT_TEST_PIDS+=("$!")
for port in "${P[3]}" "${P[5]}"; do
    end=$((SECONDS + 15))
    until curl -fsS -m 2 "http://127.0.0.1:$port/api/v1/health" 2>/dev/null | grep -q '"nodes_connected":1'; do
        [ $SECONDS -lt $end ] || die "proxy on $port did not connect to the node"
        sleep 0.2
    done
done
python3 "$(dirname "$0")/proxy_bounds.py" --bounded "127.0.0.1:${P[3]}" --bounded-pid "$bpid" \
    --bounded-log "$WEFT_TEST_TMP/bounded.log" --geo "127.0.0.1:${P[5]}" --geo-log "$WEFT_TEST_TMP/geo.log" \
    --max-clients 2000 --series 50 --rss-slack-kb "$slack" || die "bounds checks failed"
kill -0 "$bpid" || die "the bounded proxy died"
echo "proxy_bounds: ok"
