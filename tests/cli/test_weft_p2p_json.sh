#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# weft-p2p pubsub writes topics as JSON strings of their UTF-8 text (not
# byte by byte as Latin-1), and keeps its lines valid JSON for a topic that
# is not UTF-8. usage: test_weft_p2p_json.sh WEFT_P2P
set -euo pipefail
P2P=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

listen_line() { # TOPIC -> the first line weft-p2p prints
    timeout 10 "$P2P" pubsub --mode rlnc --topic "$1" --listen /ip4/127.0.0.1/tcp/0 \
        --expect 1 --timeout 1 >"$T/out" 2>"$T/err" || true
    head -n 1 "$T/out"
}

topic=$'t\xc3\xb6pic/\xe6\x97\xa5\xe6\x9c\xac'   # "töpic/日本"
line=$(listen_line "$topic")
printf '%s\n' "$line" | python3 -c '
import json, sys
raw = sys.stdin.buffer.read()
ev = json.loads(raw)
want = "t\u00f6pic/\u65e5\u672c"
assert ev["event"] == "listening", ev
assert ev["topic"] == want, "topic %r, want %r" % (ev["topic"], want)
assert want.encode() in raw, "topic not written as UTF-8 text: %r" % raw
' || { echo "FAIL: UTF-8 topic: $line" >&2; exit 1; }

bad=$'bad\xff\xfe'
line=$(listen_line "$bad")
printf '%s\n' "$line" | python3 -c '
import json, sys
ev = json.loads(sys.stdin.buffer.read().decode("ascii"))
assert ev["topic"] == "bad\u00ff\u00fe", ev
' || { echo "FAIL: non-UTF-8 topic: $line" >&2; exit 1; }
echo "weft-p2p JSON topics: 2 passed, 0 failed"
