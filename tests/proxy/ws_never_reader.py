#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A WebSocket subscriber that never reads, during N publishes (issue 20,
"WebSocket: a never-reading client during 50k publishes: closed with the
right code, proxy RSS bounded"), against a running weft-proxy.

Two WebSocket subscribers hold the same topic: "sloth" (a raw socket with a
4 KiB receive buffer that is never read) and "reader" (read all the time,
frames parsed here). One REST client publishes N messages of SIZE bytes on
one keep-alive connection. Checks, each bounded in time:
  - every publish is answered 200 "published";
  - the proxy closes sloth: weft_proxy_dropped_total{reason="slow_consumer"}
    goes to 1 (the proxy counts it only for a close with 1008) and the
    socket sees EOF or a reset;
  - reader receives every published message, in spite of sloth;
  - the proxy's peak RSS grows by less than --rss-bound-mib over the start
    (N * SIZE bytes would be queued for sloth without the bound);
  - active_ws_clients is back to 1 (reader) after sloth was cut.
Prints one "figure:" line; exit 1 on a failure.

usage: ws_never_reader.py HOST:PORT PID [--publishes N] [--size BYTES] [--rss-bound-mib M]
"""
import argparse
import base64
import http.client
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pwait import until  # noqa: E402

failed = 0


def check(ok, what, detail=""):
    global failed
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail != "" else ""), flush=True)
    if not ok:
        failed += 1


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def ws_connect(host, port, client, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /api/v1/ws?client_id={client} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)  # byte by byte: nothing past the head is taken
        if not c:
            raise OSError("closed during the handshake")
        head += c
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise OSError("handshake: %r" % head[:80])
    return s


class Reader(threading.Thread):
    """Reads server frames (unmasked) and keeps the text of each message."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.s, self.texts, self.closed, self.error = sock, set(), None, None
        self.s.settimeout(1.0)
        self.stop = threading.Event()

    def run(self):
        buf = b""
        while not self.stop.is_set():
            try:
                c = self.s.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError as e:
                self.error = str(e)
                return
            if not c:
                return
            buf += c
            while len(buf) >= 2:
                op, n, off = buf[0] & 0x0F, buf[1] & 0x7F, 2
                if n == 126:
                    if len(buf) < 4:
                        break
                    n, off = int.from_bytes(buf[2:4], "big"), 4
                elif n == 127:
                    if len(buf) < 10:
                        break
                    n, off = int.from_bytes(buf[2:10], "big"), 10
                if len(buf) < off + n:
                    break
                payload, buf = buf[off:off + n], buf[off + n:]
                if op == 1:
                    try:
                        m = json.loads(payload)
                        if "message" in m:
                            self.texts.add(base64.b64decode(m["message"]).decode())
                    except ValueError:
                        pass
                elif op == 8:
                    self.closed = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    return


def metric(host, port, name):
    c = http.client.HTTPConnection(host, port, timeout=5)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("pid", type=int)
    ap.add_argument("--publishes", type=int, default=50000)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--rss-bound-mib", type=float, default=64.0)
    a = ap.parse_args()
    host, port = a.addr.rsplit(":", 1)
    port = int(port)
    topic = "slow-" + os.urandom(3).hex()
    dropped = 'weft_proxy_dropped_total{reason="slow_consumer"}'

    rest = http.client.HTTPConnection(host, port, timeout=10)

    def post(path, body):
        rest.request("POST", path, body=json.dumps(body), headers={"content-type": "application/json"})
        r = rest.getresponse()
        return r.status, r.read().decode()

    for cid in ("sloth", "reader"):
        st, text = post("/api/v1/subscribe", {"client_id": cid, "topic": topic})
        check(st == 200, f"subscribe {cid}", "" if st == 200 else f"{st} {text}")
    sloth = ws_connect(host, port, "sloth", rcvbuf=4096)
    reader = Reader(ws_connect(host, port, "reader"))
    reader.start()
    check(until(lambda: metric(host, port, "active_ws_clients") == 2, 5), "both WebSockets are open")
    base_drop = metric(host, port, dropped) or 0
    rss0 = rss_kib(a.pid)
    peak = [rss0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(a.pid))
            time.sleep(0.05)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    pad = "x" * max(0, a.size - 16)
    sent, ok, cut_at = [], 0, None
    t0 = time.monotonic()
    for i in range(a.publishes):
        text = f"m{i:08d}-{pad}"
        st, body = post("/api/v1/publish", {"client_id": "pub", "topic": topic, "message": text})
        if st == 200 and '"published"' in body:
            ok += 1
            sent.append(text)
        if cut_at is None and i % 500 == 0 and (metric(host, port, dropped) or 0) > base_drop:
            cut_at = i
        if time.monotonic() - t0 > 150:
            break
    dt = time.monotonic() - t0
    check(ok == a.publishes, f"{a.publishes} publishes answered published", f"{ok} in {dt:.1f} s")
    cut = until(lambda: (metric(host, port, dropped) or 0) - base_drop == 1, 10)
    check(cut, "the never-reading client was closed with 1008 and counted as a slow consumer",
          f"{metric(host, port, dropped)}")
    # the socket is gone on the proxy's side: EOF or a reset once drained
    sloth.settimeout(0.5)
    end, gone, drained = time.monotonic() + 15, False, 0
    while time.monotonic() < end and not gone:
        try:
            c = sloth.recv(1 << 16)
            drained += len(c)
            gone = not c
        except socket.timeout:
            pass
        except OSError:
            gone = True
    check(gone, "the never-reading client's socket was closed by the proxy",
          f"{drained} bytes drained first")
    got = until(lambda: len(reader.texts) >= len(sent), 20)
    missing = sum(t not in reader.texts for t in sent)
    check(got and missing == 0, "the reading subscriber received every publish",
          f"{missing} of {len(sent)} missing, reader error {reader.error}")
    check(until(lambda: metric(host, port, "active_ws_clients") == 1, 5),
          "only the reader is left connected", f"{metric(host, port, 'active_ws_clients')}")
    done.set()
    sampler.join()
    grown = (peak[0] - rss0) / 1024
    check(grown < a.rss_bound_mib, f"proxy RSS grew by less than {a.rss_bound_mib} MiB",
          f"+{grown:.1f} MiB")
    print(f"figure: {ok} publishes of {a.size} B in {dt:.1f} s ({ok / dt:.0f}/s); the non-reader "
          f"was cut by publish {cut_at if cut_at is not None else '?'} (checked every 500); "
          f"proxy RSS {rss0 / 1024:.1f} MiB -> peak {peak[0] / 1024:.1f} MiB (+{grown:.1f}); "
          f"without the bound ~{a.publishes * a.size * 4 / 3 / 2**20:.0f} MiB would have queued",
          flush=True)
    reader.stop.set()
    sloth.close()
    rest.close()
    print(f"ws_never_reader: {'FAILED' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
