#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weft-node's Kademlia DHT (WEFT_KAD) with real processes: n1 (server),
# n2 (server) and n3 (client) bootstrapped from n1 only, n4 with the DHT off.
#  - identify advertises /ipfs/kad/1.0.0 for servers only;
#  - routing tables: servers hold each other, the client holds both servers
#    and no server holds the client; /api/v1/dht and /metrics report them;
#  - weft-p2p dht against the nodes: find-peer of n2 through n1, a /pk/
#    record put through n1 and got through n2.
# usage: dht_node.sh WEFT_NODE WEFT_P2P
set -uo pipefail
WEFT_NODE=$1 P2P=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

fails=0
check() { if [ "$2" -eq 0 ]; then echo "ok: $1"; else echo "FAIL: $1" >&2; fails=$((fails + 1)); fi; }
dht() { curl -fsS -m 3 "http://127.0.0.1:$1/api/v1/dht"; }
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

read -r p1 s1 a1 p2 s2 a2 p3 s3 a3 p4 s4 a4 < <(free_ports 12)
start_node n1 optimum "$p1" "$s1" "$a1" ""
wait_api "127.0.0.1:$a1" 10 || die "node 1 did not start"
id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/n1" "$WEFT_NODE" peer-id)
boot="/ip4/127.0.0.1/tcp/$p1/p2p/$id1"
start_node n2 optimum "$p2" "$s2" "$a2" "$boot"
start_node n3 optimum "$p3" "$s3" "$a3" "$boot" WEFT_KAD=client
start_node n4 optimum "$p4" "$s4" "$a4" "$boot" WEFT_KAD=off
for a in "$a2" "$a3" "$a4"; do wait_api "127.0.0.1:$a" 10 || die "a node did not start"; done
id2=$(IDENTITY_DIR="$WEFT_TEST_TMP/n2" "$WEFT_NODE" peer-id)
id3=$(IDENTITY_DIR="$WEFT_TEST_TMP/n3" "$WEFT_NODE" peer-id)

# ---- identify
for spec in "$p1:$id1:1" "$p3:$id3:0" "$p4:$(IDENTITY_DIR="$WEFT_TEST_TMP/n4" "$WEFT_NODE" peer-id):0"; do
    IFS=: read -r port id want <<<"$spec"
    got=$("$P2P" identify "/ip4/127.0.0.1/tcp/$port/p2p/$id" --timeout 10 |
        jget '1 if "/ipfs/kad/1.0.0" in d["protocols"] else 0')
    [ "$got" = "$want" ]
    check "identify of the node on port $port lists the kad protocol: $got (want $want)" $?
done

# ---- routing tables (bounded wait: the self lookups run once a peer is in)
ok=1
for _ in $(seq 1 60); do
    t1=$(dht "$a1" | jget '" ".join(p["peer_id"] for p in d["peers"])')
    t2=$(dht "$a2" | jget '" ".join(p["peer_id"] for p in d["peers"])')
    t3=$(dht "$a3" | jget '" ".join(p["peer_id"] for p in d["peers"])')
    case "$t1 | $t2 | $t3" in *"$id2"*"|"*"$id1"*"|"*) ;; *) sleep 0.5; continue ;; esac
    case "$t3" in *"$id1"*) case "$t3" in *"$id2"*) ok=0; break ;; esac ;; esac
    sleep 0.5
done
check "tables: n1 holds n2, n2 holds n1, the client n3 holds n1 and n2 ($t1 | $t2 | $t3)" $ok
case "$t1 $t2" in *"$id3"*) r=1 ;; *) r=0 ;; esac
check "no server holds the client n3" $r
mode=$(dht "$a3" | jget 'd["mode"]')
[ "$mode" = client ]
check "n3 reports mode client" $?
off=$(dht "$a4" | jget '"routing_table_size" in d')
[ "$(dht "$a4" | jget 'd["mode"]')" = off ] && [ "$off" = False ]
check "n4 reports the DHT off" $?
curl -fsS -m 3 "http://127.0.0.1:$a1/metrics" | grep '^weft_node_dht_routing_table_peers [1-9]' >/dev/null
check "/metrics of n1 has weft_node_dht_routing_table_peers >= 1" $?
curl -fsS -m 3 "http://127.0.0.1:$a3/metrics" | grep '^weft_node_dht_lookups_total{result="ok"} [1-9]' >/dev/null
check "/metrics of n3 counts its lookups" $?

# ---- weft-p2p dht against the nodes
out=$("$P2P" dht find-peer "$id2" --peer "$boot" --timeout 20)
echo "$out" | grep '"event":"find-peer"' | grep -q "\"found\":true.*/tcp/$p2"
check "weft-p2p dht find-peer n2 through n1 ($out)" $?
"$P2P" keygen --out "$WEFT_TEST_TMP/k" >/dev/null
kid=$("$P2P" id "$WEFT_TEST_TMP/k")
out=$("$P2P" dht put /pk/self self --key "$WEFT_TEST_TMP/k" --peer "$boot" --timeout 20)
echo "$out" | grep '"event":"put"' | grep -q '"ok":true'
check "weft-p2p dht put /pk/ through n1 ($out)" $?
out=$("$P2P" dht get "/pk/$kid" --peer "/ip4/127.0.0.1/tcp/$p2/p2p/$id2" --timeout 20)
echo "$out" | grep '"event":"get"' | grep -q '"found":true,"value_hex":"08011220'
check "weft-p2p dht get of that record through n2 ($out)" $?
recs=$(dht "$a2" | jget 'd["records"]')
[ "${recs:-0}" -ge 1 ]
check "n2 holds the record ($recs)" $?

[ $fails -eq 0 ] || { dump_logs; exit 1; }
echo "dht_node: all checks passed"
