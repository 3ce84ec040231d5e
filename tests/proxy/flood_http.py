#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""HTTP floods against a running weft-proxy (or weft-node API), with a live
client measured throughout.

Attacks, one after another, each bounded in count and time: idle
connections, slowloris (a header byte every few seconds), a 1 MB header,
100 MB bodies with and without Content-Length, chunked abuse, 100k '['
JSON, 100k topics for one client. While each runs a live client asks
GET /api/v1/health every 20 ms on fresh connections; every answer must come
within LIVE_DEADLINE and the median stay under 100 ms. The proxy's RSS and
open descriptors are sampled; bounds are asserted at the end. One JSON line
per attack on stdout (attack, live p50/p99/max ms, failures, RSS, fds).

usage: flood_http.py HOST:PORT PID [--idle N] [--slow N] [--seconds S]
"""
import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time

LIVE_DEADLINE = 2.0  # seconds: a live request slower than this is a failure
# sanitized builds are several times slower
MEDIAN_BOUND_MS = 400.0 if os.environ.get("WEFT_TEST_SANITIZED") else 100.0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Live(threading.Thread):
    """GET /api/v1/health every 20 ms on a fresh connection, timed."""

    def __init__(self, host, port):
        super().__init__(daemon=True)
        self.host, self.port = host, port
        self.lat, self.failures, self.stop = [], 0, threading.Event()

    def one(self):
        t0 = time.monotonic()
        s = socket.create_connection((self.host, self.port), timeout=LIVE_DEADLINE)
        try:
            s.settimeout(LIVE_DEADLINE)
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: live\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                raise OSError("status: %r" % data[:40])
        finally:
            s.close()
        return time.monotonic() - t0

    def run(self):
        while not self.stop.is_set():
            try:
                dt = self.one()
                if dt > LIVE_DEADLINE:
                    self.failures += 1
                self.lat.append(dt * 1000.0)
            except OSError:
                self.failures += 1
            time.sleep(0.02)


def open_many(host, port, n, src_base):
    """n connections, spread over loopback source addresses 127.0.x.1."""
    socks = []
    for i in range(n):
        s = socket.socket()
        s.bind((f"127.0.{2 + (i // 2000) % 200}.1", 0))
        try:
            s.connect((host, port))
        except OSError:
            s.close()
            break
        s.setblocking(False)
        socks.append(s)
    return socks


def closed(s):
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def attack_idle(a, seconds):
    socks = open_many(a.host, a.port, a.idle, 2)
    time.sleep(seconds)
    kept = sum(not closed(s) for s in socks)
    for s in socks:
        s.close()
    return {"opened": len(socks), "still_open": kept}


def attack_slowloris(a, seconds):
    socks = open_many(a.host, a.port, a.slow, 2)
    req = b"GET /api/v1/health HTTP/1.1\r\nHost: slow\r\nX-Pad: " + b"a" * 10000
    end, i = time.monotonic() + seconds, 0
    while time.monotonic() < end and i < len(req):
        for s in socks:
            try:
                s.send(req[i:i + 1])
            except OSError:
                pass
        i += 1
        time.sleep(1.0)
    cut = sum(closed(s) for s in socks)
    for s in socks:
        s.close()
    return {"connections": len(socks), "closed_by_server": cut, "seconds": seconds}


def request(a, head, body=b"", chunks=None, timeout=10.0):
    s = socket.create_connection((a.host, a.port), timeout=timeout)
    try:
        s.sendall(head)
        sent = 0
        try:
            if chunks is not None:
                for c in chunks:
                    s.sendall(c)
                    sent += len(c)
            elif body:
                s.sendall(body)
                sent = len(body)
        except OSError:
            pass  # the server may close before all of it was sent
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                c = s.recv(4096)
                if not c:
                    break
                data += c
        except OSError:
            pass
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
        return status, sent
    finally:
        s.close()


def attack_big_header(a, seconds):
    st, _ = request(a, b"GET /api/v1/health HTTP/1.1\r\nHost: h\r\nX-Big: " + b"b" * (1 << 20) +
                    b"\r\n\r\n")
    return {"status": st}


def attack_big_body(a, seconds):
    body = b"x" * (100 << 20)
    st1, sent1 = request(a, b"POST /api/v1/publish HTTP/1.1\r\nHost: h\r\nContent-Type: "
                         b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body), body)
    chunk = b"%x\r\n" % (1 << 20) + b"y" * (1 << 20) + b"\r\n"
    st2, sent2 = request(a, b"POST /api/v1/publish HTTP/1.1\r\nHost: h\r\nContent-Type: "
                         b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                         chunks=(chunk for _ in range(100)))
    return {"content_length_status": st1, "chunked_status": st2,
            "sent_mb": round((sent1 + sent2) / 1e6, 1)}


def attack_chunked_abuse(a, seconds):
    out = {}
    for name, chunks in {
        "bad_size": [b"zz\r\nhello\r\n0\r\n\r\n"],
        "huge_size": [b"ffffffffffffffffff\r\nx\r\n"],
        "many_tiny": [b"1\r\nx\r\n"] * 20000 + [b"0\r\n\r\n"],
    }.items():
        st, _ = request(a, b"POST /api/v1/publish HTTP/1.1\r\nHost: h\r\nContent-Type: "
                        b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n", chunks=chunks)
        out[name] = st
    return out


def attack_json(a, seconds):
    body = b"[" * 100000
    st, _ = request(a, b"POST /api/v1/publish HTTP/1.1\r\nHost: h\r\nContent-Type: "
                    b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body), body)
    return {"status": st}


def attack_topics(a, seconds):
    """100k subscribe requests for one client on one keep-alive connection."""
    s = socket.create_connection((a.host, a.port), timeout=10)
    codes = {}
    buf = b""
    n = 0
    try:
        for i in range(a.topics):
            body = json.dumps({"client_id": "hog", "topic": f"t{i}"}).encode()
            s.sendall(b"POST /api/v1/subscribe HTTP/1.1\r\nHost: h\r\nContent-Type: "
                      b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            while True:
                k = buf.find(b"\r\n\r\n")
                if k >= 0:
                    head = buf[:k].decode("latin-1")
                    clen = 0
                    for line in head.split("\r\n"):
                        if line.lower().startswith("content-length:"):
                            clen = int(line.split(":", 1)[1])
                    if len(buf) >= k + 4 + clen:
                        code = int(head.split(" ", 2)[1])
                        codes[code] = codes.get(code, 0) + 1
                        buf = buf[k + 4 + clen:]
                        n += 1
                        break
                c = s.recv(65536)
                if not c:
                    raise OSError("closed after %d" % n)
                buf += c
    finally:
        s.close()
    return {"answers": {str(k): v for k, v in sorted(codes.items())}}


REPEAT = {"header_1mb", "body_100mb", "chunked_abuse", "json_100k_brackets"}
EXPECT = {
    "header_1mb": lambda r: r["status"] in (400, 413, 431),
    "body_100mb": lambda r: r["content_length_status"] == 413 and r["chunked_status"] == 413,
    "chunked_abuse": lambda r: all(r[k] in (400, 413) for k in ("bad_size", "huge_size", "many_tiny")),
    "json_100k_brackets": lambda r: r["status"] == 400,
    # a client holds at most 64 topics; every other subscribe is answered 429
    "topics_one_client": lambda r: r["answers"].get("200") == 64 and set(r["answers"]) <= {"200", "429"},
    # h2o closes a request whose headers have not arrived within 10 s
    "slowloris": lambda r: r["seconds"] < 12 or r["closed_by_server"] == r["connections"],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("pid", type=int)
    ap.add_argument("--idle", type=int, default=5000)
    ap.add_argument("--slow", type=int, default=500)
    ap.add_argument("--topics", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--slow-seconds", type=float, default=15.0)
    ap.add_argument("--rss-bound-mib", type=float, default=256.0)
    ap.add_argument("--fd-bound", type=int, default=0, help="default: idle + slow + 200")
    a = ap.parse_args()
    a.host, port = a.addr.rsplit(":", 1)
    a.port = int(port)
    fd_bound = a.fd_bound or a.idle + a.slow + 200
    failures = []
    attacks = [("idle", attack_idle), ("slowloris", attack_slowloris),
               ("header_1mb", attack_big_header), ("body_100mb", attack_big_body),
               ("chunked_abuse", attack_chunked_abuse), ("json_100k_brackets", attack_json),
               ("topics_one_client", attack_topics)]
    peak_rss = peak_fds = 0
    for name, fn in attacks:
        live = Live(a.host, a.port)
        live.start()
        t0 = time.monotonic()
        stats = {"peak_rss": 0, "peak_fds": 0}
        done = threading.Event()

        def sample():
            while not done.is_set():
                stats["peak_rss"] = max(stats["peak_rss"], rss_kib(a.pid))
                stats["peak_fds"] = max(stats["peak_fds"], nfds(a.pid))
                time.sleep(0.1)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            result = fn(a, a.slow_seconds if name == "slowloris" else a.seconds)
            # one-shot attacks again and again for the window (bounded), so
            # that the live client takes enough samples beside them
            rounds = 1
            while name in REPEAT and time.monotonic() - t0 < a.seconds and rounds < 50:
                again = fn(a, a.seconds)
                rounds += 1
                # a later round may lose the answer to a reset (the server
                # closes while the client still sends); it must never be 2xx
                if any(isinstance(v, int) and 200 <= v < 300 for v in again.values()):
                    result = {"error": f"round {rounds} answered {again}, round 1 {result}"}
                    break
            result["rounds"] = rounds
            want = EXPECT.get(name)
            if want and not want(result):
                failures.append(f"{name}: unexpected answer {result}")
        except Exception as e:  # the attack itself broke: report, go on
            result = {"error": str(e)}
        live.stop.set()
        live.join()
        done.set()
        sampler.join()
        lat = sorted(live.lat)
        line = {"attack": name, "seconds": round(time.monotonic() - t0, 1), "result": result,
                "live_requests": len(lat), "live_failures": live.failures,
                "live_p50_ms": round(statistics.median(lat), 2) if lat else None,
                "live_p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 2) if lat else None,
                "live_max_ms": round(lat[-1], 2) if lat else None,
                "peak_rss_mib": round(stats["peak_rss"] / 1024, 1), "peak_fds": stats["peak_fds"]}
        print(json.dumps(line), flush=True)
        peak_rss = max(peak_rss, stats["peak_rss"])
        peak_fds = max(peak_fds, stats["peak_fds"])
        if not lat or live.failures:
            failures.append(f"{name}: {live.failures} live requests failed")
        elif line["live_p50_ms"] > MEDIAN_BOUND_MS:
            failures.append(f"{name}: live median {line['live_p50_ms']} ms > {MEDIAN_BOUND_MS}")
        if "error" in result:
            failures.append(f"{name}: {result['error']}")
        try:
            os.kill(a.pid, 0)
        except OSError:
            failures.append(f"{name}: the server died")
            break
    # what each attack must have met
    if peak_rss / 1024 > a.rss_bound_mib:
        failures.append(f"peak RSS {peak_rss / 1024:.0f} MiB > {a.rss_bound_mib}")
    if peak_fds > fd_bound:
        failures.append(f"peak fds {peak_fds} > {fd_bound}")
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
