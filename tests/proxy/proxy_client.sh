#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weft-proxy-client end to end: 2 weft-node and 1 weft-proxy on free
# loopback ports; one subscriber over the WebSocket and one over gRPC
# ProxyStream must each print the 5 published payloads (published alternately
# over REST and gRPC Publish); -count subscribers exit by themselves; Ctrl-C
# exits 0; usage errors exit 2; an unreachable proxy and a server error
# answer exit 1.
# usage: proxy_client.sh WEFT_NODE WEFT_PROXY WEFT_PROXY_CLIENT
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 PC=$3
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
T=$WEFT_TEST_TMP

# expect_rc RC CMD...: run CMD (at most 30 s) and check its exit status.
expect_rc() {
    local want=$1 rc=0
    shift
    timeout 30 "$@" >"$T/last.out" 2>"$T/last.err" || rc=$?
    [ "$rc" = "$want" ] || { cat "$T/last.out" "$T/last.err" >&2; die "exit $rc, want $want: $*"; }
}

# wait_for FILE REGEX SECONDS [COUNT]: until FILE has COUNT (1) lines matching.
wait_for() {
    local end=$((SECONDS + $3)) n
    while [ $SECONDS -lt $end ]; do
        n=$(grep -cE -- "$2" "$1" 2>/dev/null || true)
        [ "${n:-0}" -ge "${4:-1}" ] && return 0
        sleep 0.2
    done
    return 1
}

# ---- usage errors (exit 2) and help (exit 0)
expect_rc 0 "$PC" -h
grep -q "Usage: weft-proxy-client" "$T/last.out" || die "-h prints no usage"
expect_rc 0 "$PC" --help
expect_rc 2 "$PC" -mode subscribe -topic t -subscribeOnly
expect_rc 2 "$PC" -topic t -msg x
expect_rc 2 "$PC" -rest https://127.0.0.1:1
expect_rc 2 "$PC" -mode publish -topic t
expect_rc 2 "$PC" -mode bogus -topic t
expect_rc 2 "$PC" -mode subscribe
expect_rc 2 "$PC" -mode subscribe -topic t -msg x
expect_rc 2 "$PC" -mode subscribe -topic t -threshold 1.5
expect_rc 2 "$PC" -mode subscribe -topic t -threshold abc
expect_rc 2 "$PC" -mode subscribe -topic t -grpc 127.0.0.1:1 -ws
expect_rc 2 "$PC" -mode publish -topic t -msg x -rest nonsense
expect_rc 2 "$PC" -mode publish -topic t -msg x -count 0
expect_rc 2 "$PC" -mode publish -topic t -msg x -sleep 5parsecs
expect_rc 2 "$PC" -mode publish -topic t -msg x -rest 127.0.0.1:1 -grpc 127.0.0.1:2
expect_rc 2 "$PC" -mode publish -topic t -msg x -nosuchflag
expect_rc 2 "$PC" -mode publish -topic t -msg x extra
grep -q "weft-proxy-client: unexpected argument" "$T/last.err" || die "no usage message"

read -r -a P < <(free_ports 9)
dead=${P[8]} # bound once to learn it, nobody listens there

# ---- unreachable proxy (exit 1)
expect_rc 1 "$PC" -mode publish -topic t -msg x -rest "127.0.0.1:$dead"
grep -q "cannot connect" "$T/last.err" || die "unreachable proxy: unclear error"
expect_rc 1 "$PC" -mode subscribe -topic t -rest "127.0.0.1:$dead"
expect_rc 1 "$PC" -mode publish -topic t -msg x -grpc "127.0.0.1:$dead"

# ---- WebSocket checks against a scripted fake proxy (python3): fragments,
# 16/64-bit lengths, ping answered with a masked pong, the server's close;
# then protocol violations, each ending with exit 1 and a clear error.
fake=$dead
python3 - "$fake" "$T/pong" >"$T/fake.log" 2>&1 <<'PY' &
# A fake weft-proxy: POST /api/v1/subscribe answers "subscribed"; GET
# /api/v1/ws?client_id=SCENARIO plays a scripted, often broken, server.
import base64, hashlib, os, socket, struct, sys, threading

PORT, PONG_FILE = int(sys.argv[1]), sys.argv[2]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(op, payload, fin=True, rsv=0, mask=False):
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        h = bytes([b0, m | n])
    elif n < 65536:
        h = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask:
        key = b"\x01\x02\x03\x04"
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        h += key
    return h + payload


def delivery(text):
    body = '{"message_id":"x","topic":"t","message":"%s"}' % base64.b64encode(text.encode()).decode()
    return body.encode()


def read_frame(s):
    h = s.recv(2, socket.MSG_WAITALL)
    if len(h) < 2:
        return None, None
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", s.recv(2, socket.MSG_WAITALL))[0]
    elif n == 127:
        n = struct.unpack(">Q", s.recv(8, socket.MSG_WAITALL))[0]
    key = s.recv(4, socket.MSG_WAITALL) if h[1] & 0x80 else None
    p = s.recv(n, socket.MSG_WAITALL) if n else b""
    if key is None:
        return h[0] & 0x0F, b"UNMASKED"
    return h[0] & 0x0F, bytes(c ^ key[i % 4] for i, c in enumerate(p))


def scenario(s, name):
    if name == "good":
        big = "B" * 70000
        s.sendall(frame(9, b"ping-data"))
        op, p = read_frame(s)
        with open(PONG_FILE, "a") as f:
            f.write("%d %s\n" % (op, p.decode(errors="replace")))
        d = delivery("frag-one-two")
        s.sendall(frame(1, d[:10], fin=False) + frame(9, b"") + frame(0, d[10:20], fin=False) +
                  frame(0, d[20:]))
        s.sendall(frame(1, delivery("M" * 200)))  # 16-bit length
        s.sendall(frame(1, delivery(big)))        # 64-bit length
        s.sendall(frame(8, struct.pack(">H", 1001) + b"going away"))
        read_frame(s)  # the client's close answer
        return
    bad = {
        "masked": frame(1, delivery("x"), mask=True),
        "rsv": frame(1, delivery("x"), rsv=0x40),
        "nonmin": bytes([0x81, 126]) + struct.pack(">H", 5) + b"hello",
        "huge": bytes([0x81, 127]) + struct.pack(">Q", 1 << 40),
        "badutf8": frame(1, b"\xff\xfe"),
        "cont": frame(0, b"stray"),
        "ctlfrag": frame(9, b"p", fin=False),
        "opcode": frame(3, b"x"),
        "close1": frame(8, b"\x03"),
        "eof": b"",
    }[name]
    s.sendall(bad)
    if name == "eof":
        return  # hang up at once, without a close frame
    try:
        op, p = read_frame(s)  # the client's close: record its status code
        with open(PONG_FILE, "a") as f:
            f.write("%s %s %s\n" % (name, op, struct.unpack(">H", p[:2])[0] if op == 8 else "-"))
    except (OSError, TypeError, struct.error):
        pass


def handle(s):
    try:
        buf = b""
        while b"\r\n\r\n" not in buf:
            c = s.recv(4096)
            if not c:
                return
            buf += c
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        method, path, _ = lines[0].split(" ")
        hdr = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        if method == "POST":
            n = int(hdr.get("content-length", "0"))
            while len(rest) < n:
                rest += s.recv(4096)
            body = b'{"status":"subscribed","client":"c","threshold":0.25}'
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body)
            return
        name = path.split("client_id=", 1)[1]
        if name == "refuse":
            body = b'{"error":"missing client ID"}'
            s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            return
        acc = base64.b64encode(hashlib.sha1(hdr["sec-websocket-key"].encode() + GUID).digest())
        if name == "badaccept":
            acc = base64.b64encode(b"0" * 20)
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Accept: " + acc + b"\r\n\r\n")
        scenario(s, name)
    finally:
        s.close()


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", PORT))
srv.listen(16)
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
PY
WEFT_TEST_PIDS+=("$!")
end=$((SECONDS + 10))
until curl -s -m 1 -o /dev/null -X POST -d '{}' "http://127.0.0.1:$fake/api/v1/subscribe"; do
    [ $SECONDS -lt $end ] || die "the fake proxy did not start"
    sleep 0.1
done
expect_rc 1 "$PC" -mode subscribe -topic t -rest "127.0.0.1:$fake" -client-id good
grep -q '^Subscribed to topic "t" (threshold 0.25) via websocket' "$T/last.out" || die "fake: no Subscribed line"
grep -q '^Recv message: \[1\] \[[0-9]* 12\] frag-one-two$' "$T/last.out" || die "fake: fragments not joined"
grep -qE '^Recv message: \[2\] \[[0-9]+ 200\] M{200}$' "$T/last.out" || die "fake: 16-bit length"
line=$(grep -E '^Recv message: \[3\] \[[0-9]+ 70000\] ' "$T/last.out" || true)
big=${line#*70000\] }
[ ${#big} = 70000 ] && [ -z "${big//B/}" ] || die "fake: 64-bit length"
grep -q 'closed the WebSocket (code 1001: going away)' "$T/last.err" || die "fake: close not reported"
[ "$(cat "$T/pong")" = "10 ping-data" ] || die "fake: ping not answered with a masked pong: $(cat "$T/pong")"
expect_rc 0 "$PC" -mode subscribe -topic t -rest "127.0.0.1:$fake" -client-id good -count 2
[ "$(grep -c '^Recv message' "$T/last.out")" = 2 ] || die "fake: -count 2 printed other than 2"
for s in masked:masked rsv:reserved nonmin:16-bit huge:size badutf8:UTF-8 cont:continuation \
    ctlfrag:control opcode:opcode close1:1-byte eof:without badaccept:Accept refuse:'HTTP 400: {"error":"missing client ID"}'; do
    expect_rc 1 "$PC" -mode subscribe -topic t -rest "127.0.0.1:$fake" -client-id "${s%%:*}"
    grep -qF -- "${s#*:}" "$T/last.err" || die "fake ${s%%:*}: unclear error: $(cat "$T/last.err")"
done
for s in "masked 8 1002" "rsv 8 1002" "huge 8 1009" "badutf8 8 1007" "cont 8 1002" "close1 8 1002"; do
    grep -qx "$s" "$T/pong" || die "fake: the client's close frame is not \"$s\": $(cat "$T/pong")"
done

# ---- 2 nodes and a proxy
start_node n1 optimum "${P[0]}" "${P[1]}" "${P[2]}" ""
wait_api "127.0.0.1:${P[2]}" 10 || die "node 1 did not start"
id1=$(IDENTITY_DIR="$T/n1" "$WEFT_NODE" peer-id)
start_node n2 optimum "${P[3]}" "${P[4]}" "${P[5]}" "/ip4/127.0.0.1/tcp/${P[0]}/p2p/$id1"
wait_peers "127.0.0.1:${P[5]}" 1 20 || die "node 2 did not mesh"
REST=127.0.0.1:${P[6]} GRPC=127.0.0.1:${P[7]}
env CLUSTER_ID=proxy-client PROXY_PORT=":${P[6]}" PROXY_GRPC_PORT=":${P[7]}" \
    P2P_NODES="127.0.0.1:${P[1]},127.0.0.1:${P[4]}" WEFT_LISTEN_IP=127.0.0.1 \
    WEFT_FALLBACK_MS=1500 "$WEFT_PROXY" >>"$T/proxy.log" 2>&1 &
WEFT_TEST_PIDS+=("$!")
end=$((SECONDS + 15))
until curl -fsS -m 2 "http://$REST/api/v1/health" 2>/dev/null | grep -q '"nodes_connected":2'; do
    [ $SECONDS -lt $end ] || die "the proxy did not connect to the 2 nodes"
    sleep 0.2
done

# ---- a server error answer is printed and exits 1
long=$(printf 'x%.0s' $(seq 300))
expect_rc 1 "$PC" -mode publish -topic "$long" -msg x -rest "$REST"
grep -q 'HTTP 400: {"error":' "$T/last.err" || die "server error not printed: $(cat "$T/last.err")"

# ---- two subscribers
TOPIC=pc-topic
"$PC" -mode subscribe -topic "$TOPIC" -rest "$REST" -client-id sub-ws -threshold 0.5 \
    >"$T/ws.out" 2>"$T/ws.log" &
ws_pid=$!
WEFT_TEST_PIDS+=("$ws_pid")
"$PC" --mode=subscribe -topic="$TOPIC" -rest "$REST" -grpc "$GRPC" -client-id sub-grpc \
    >"$T/grpc.out" 2>"$T/grpc.log" &
grpc_pid=$!
WEFT_TEST_PIDS+=("$grpc_pid")
wait_for "$T/ws.out" "^Subscribed to topic \"$TOPIC\" \(threshold 0\.5\) via websocket, waiting for messages\.\.\.$" 15 ||
    die "ws subscriber: no Subscribed line: $(cat "$T/ws.out" "$T/ws.log")"
wait_for "$T/grpc.out" "^Subscribed to topic \"$TOPIC\" \(threshold [0-9.]+\) via grpc, waiting for messages\.\.\.$" 15 ||
    die "grpc subscriber: no Subscribed line: $(cat "$T/grpc.out" "$T/grpc.log")"

# ---- publish until the subscription has spread, then 5 messages
warm=0
for i in $(seq 60); do
    expect_rc 0 "$PC" -mode publish -topic "$TOPIC" -msg "warm $i" -rest "$REST" -client-id pub
    if wait_for "$T/ws.out" "^Recv message: " 1 && wait_for "$T/grpc.out" "^Recv message: " 1; then
        warm=1
        break
    fi
done
[ $warm = 1 ] || die "no warm-up message reached both subscribers"
sleep 2 # let late warm-up deliveries (threshold fallback) arrive first
for i in 1 2 3 4 5; do
    if [ $((i % 2)) = 1 ]; then via=(-rest "$REST"); else via=(-grpc "$GRPC"); fi
    expect_rc 0 "$PC" -mode publish -topic "$TOPIC" -msg "payload $i" "${via[@]}" -client-id pub
    grep -qE "^Published \"payload $i\" to \"$TOPIC\" \(status published, message_id [0-9a-f]{64}, took [0-9.]+(ns|µs|ms|s)\)$" \
        "$T/last.out" || die "publish $i: unexpected output: $(cat "$T/last.out")"
done
# -count with -sleep in one run (REST)
expect_rc 0 "$PC" -mode publish -topic "$TOPIC" -msg "burst" -count 3 -sleep 10ms -rest "$REST" -client-id pub
[ "$(grep -c '^Published "burst"' "$T/last.out")" = 3 ] || die "-count 3 did not print 3 lines"

for f in ws grpc; do
    for i in 1 2 3 4 5; do
        wait_for "$T/$f.out" "^Recv message: \[[0-9]+\] \[[0-9]{19} 9\] payload $i$" 15 ||
            die "$f subscriber did not print payload $i: $(cat "$T/$f.out" "$T/$f.log")"
    done
    n=$(grep -cE '^Recv message: \[[0-9]+\] \[[0-9]{19} 9\] payload [1-5]$' "$T/$f.out")
    [ "$n" = 5 ] || die "$f subscriber printed $n payload lines, want 5"
done

# ---- -count subscribers exit by themselves
"$PC" -mode subscribe -topic "$TOPIC" -rest "$REST" -client-id sub-ws2 -count 2 -ws \
    >"$T/ws2.out" 2>"$T/ws2.log" &
ws2=$!
"$PC" -mode subscribe -topic "$TOPIC" -rest "$REST" -grpc "$GRPC" -client-id sub-grpc2 -count 2 \
    >"$T/grpc2.out" 2>"$T/grpc2.log" &
grpc2=$!
WEFT_TEST_PIDS+=("$ws2" "$grpc2")
wait_for "$T/ws2.out" "^Subscribed" 15 && wait_for "$T/grpc2.out" "^Subscribed" 15 ||
    die "-count subscribers did not subscribe"
sleep 0.5
for i in 1 2 3 4 5 6; do
    expect_rc 0 "$PC" -mode publish -topic "$TOPIC" -msg "more $i" -rest "$REST" -client-id pub
    kill -0 "$ws2" 2>/dev/null || kill -0 "$grpc2" 2>/dev/null || break
    sleep 0.5
done
for pid in "$ws2" "$grpc2"; do
    end=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $end ] || die "a -count 2 subscriber did not exit"
        sleep 0.2
    done
    rc=0
    wait "$pid" || rc=$?
    [ $rc = 0 ] || die "a -count 2 subscriber exited $rc: $(cat "$T"/ws2.* "$T"/grpc2.*)"
done
[ "$(grep -c '^Recv message: ' "$T/ws2.out")" = 2 ] || die "ws -count 2: wrong number of lines"
[ "$(grep -c '^Recv message: ' "$T/grpc2.out")" = 2 ] || die "grpc -count 2: wrong number of lines"

# ---- Ctrl-C ends the first two with status 0
for pid in "$ws_pid" "$grpc_pid"; do
    kill -INT "$pid"
    rc=0
    wait "$pid" || rc=$?
    [ $rc = 0 ] || die "subscriber exited $rc after SIGINT"
done
echo "proxy_client: ok"
