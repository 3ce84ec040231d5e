#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Bounds of a running weft-proxy (issue 20 items 3 and 6; issue 19 country).

usage: proxy_bounds.py --bounded HOST:PORT --bounded-pid PID --bounded-log FILE
                       --geo HOST:PORT --geo-log FILE --max-clients N --series N
                       [--rss-slack-kb KB]

Against the "bounded" proxy (WEFT_MAX_CLIENTS, WEFT_CLIENT_IDLE_S=5,
WEFT_METRICS_MAX_SERIES, WEFT_METRICS_SERIES_IDLE_S=6, no GeoIP database):
  - 5,000 distinct publishers grow /metrics by a bounded amount: the
    per-client family has cap + 1 series and its sum is every publish;
    idle series fold into "other" without losing counts;
  - WEFT_MAX_CLIENTS distinct REST subscribers fill the table (the next is
    429; filling must take less than the idle time, 5 s); after the idle
    time new clients are accepted again, while a client holding a WebSocket
    is kept; four rounds of new clients leave RSS flat;
  - the missing GeoIP database is said once in the log, country "unknown".
Against the "geo" proxy (a MaxMind DB this script writes, 127.0.0.0/8 is
New Zealand): health reports the country.
Every wait is bounded; prints one line per check and figures; exit 1 on a
failure.
"""
import http.client
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pwait import until  # noqa: E402

failed = 0


def check(ok, what, detail=""):
    global failed
    print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else f": {detail}"))
    if not ok:
        failed += 1


class Client:
    """One keep-alive HTTP connection (reopened when the server closes it)."""

    def __init__(self, hp):
        self.host, self.port = hp.rsplit(":", 1)
        self.c = None

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(3):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(self.host, int(self.port), timeout=10)
                self.c.request(method, path, body=data,
                               headers={"content-type": "application/json"} if data else {})
                r = self.c.getresponse()
                text = r.read().decode("utf-8", "replace")
                if r.getheader("connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, text
            except (OSError, http.client.HTTPException):
                if self.c:
                    self.c.close()
                self.c = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def series(text, name):
    """{labels: value} of a family's samples."""
    out = {}
    for m in re.finditer(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)$", text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


def value(text, line):
    m = re.search(r"^" + re.escape(line) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def ws_open(hp, client):
    """A WebSocket handshake on a raw socket, kept open (never read from)."""
    host, port = hp.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall((f"GET /api/v1/ws?client_id={client} HTTP/1.1\r\nHost: {hp}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = s.recv(4096).decode("latin-1")
    return s, head.split("\r\n", 1)[0]


def metrics_and_publishers(a, series_cap):
    c = Client(a.bounded)
    st, base = c.req("GET", "/metrics")
    check(st == 200, "GET /metrics")
    # series_cap "heavy" publishers take the slots first and keep publishing
    # (one publish in 20), so their series stay active however slow this
    # machine is; 5,000 more publish once each, all of them distinct
    heavy = [f"heavy-{k:03d}" for k in range(series_cap)]
    n, ok, ok_distinct = 5000, 0, 0
    t0 = time.monotonic()

    def pub(cid, topic):
        st, text = c.req("POST", "/api/v1/publish", {"client_id": cid, "topic": topic, "message": "m"})
        return st == 200 and '"published"' in text
    # one subscriber per topic: a publish to a topic nobody holds is 404
    # "topic not assigned" (the guides' rule)
    for topic in ["bounds-heavy"] + [f"bounds-{k}" for k in range(7)]:
        st, text = c.req("POST", "/api/v1/subscribe", {"client_id": "bounds-sub", "topic": topic})
        check(st == 200, f"subscribe {topic}", text)
    for h in heavy:
        ok += pub(h, "bounds-heavy")
    for i in range(n):
        r = pub(f"publisher-{i:05d}-{'x' * 40}", f"bounds-{i % 7}")
        ok += r
        ok_distinct += r
        if i % 20 == 0:
            ok += pub(heavy[(i // 20) % series_cap], "bounds-heavy")
    dt = time.monotonic() - t0
    check(ok_distinct == n, f"{n} distinct publishers answered published", f"{ok_distinct}")
    st, after = c.req("GET", "/metrics")
    fam = series(after, "published_messages_by_client_total")
    growth = len(after) - len(base)
    print(f"figure: /metrics {len(base)} B before, {len(after)} B after {n} distinct publishers "
          f"(+{growth} B), {len(fam)} series in the per-client family, {n / dt:.0f} publishes/s")
    check(len(fam) == series_cap + 1, f"per-client family has cap {series_cap} + 1 (other) series",
          f"{len(fam)}")
    bound = 200 * (series_cap + 1) + 8192
    check(growth < bound, f"/metrics grew by less than {bound} B", f"+{growth} B")
    check(sum(fam.values()) == ok, "the family's sum is every publish", f"{sum(fam.values())} vs {ok}")
    other = fam.get('{client_id="other",topic="other"}')
    check(other == ok_distinct, "the overflow is counted under other", f"{other} vs {ok_distinct}")
    check(all(f'{{client_id="{h}",topic="bounds-heavy"}}' in fam for h in heavy),
          "the active publishers keep their own series")
    check(all(re.fullmatch(r'\{client_id="[^"]*",topic="[^"]*"\}', k) for k in fam),
          "series carry client_id and topic labels")
    # idle series (WEFT_METRICS_SERIES_IDLE_S=6) fold into other, nothing lost
    folded = until(lambda: len(series(c.req("GET", "/metrics")[1],
                                      "published_messages_by_client_total")) == 1, 20)
    fam2 = series(c.req("GET", "/metrics")[1], "published_messages_by_client_total")
    check(folded and fam2.get('{client_id="other",topic="other"}') == ok,
          "idle series fold into other without losing counts", f"{fam2}")
    perr = series(after, "publish_error_total")
    check(len(perr) >= 5 and all(k.startswith('{type="') for k in perr),
          "publish_error_total has a series per type", f"{list(perr)}")
    for fam_name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_start_time_seconds", "process_open_fds", "process_max_fds",
                     "process_virtual_memory_bytes"):
        check(value(after, fam_name) is not None, f"proxy exports {fam_name}")


def clients(a, max_clients):
    c = Client(a.bounded)
    tag = os.urandom(3).hex()
    keeper = f"keeper-{tag}"
    st, _ = c.req("POST", "/api/v1/subscribe", {"client_id": keeper, "topic": "keep"})
    ws, line = ws_open(a.bounded, keeper)
    check(" 101 " in line, "the keeper's WebSocket is open", line)

    def fill(round_no):
        ok = refused = 0
        for i in range(max_clients - 1):
            st, _ = c.req("POST", "/api/v1/subscribe",
                          {"client_id": f"c{round_no}-{i}-{tag}", "topic": f"t{i % 13}"})
            ok += st == 200
            refused += st == 429
        return ok, refused

    ok, refused = fill(0)
    check(ok == max_clients - 1, f"{max_clients - 1} distinct clients subscribed (plus the keeper)",
          f"{ok} ok, {refused} refused")
    st, text = c.req("POST", "/api/v1/subscribe", {"client_id": f"one-more-{tag}", "topic": "t"})
    check(st == 429, "the client after WEFT_MAX_CLIENTS is refused with 429", f"{st} {text}")
    held = value(c.req("GET", "/metrics")[1], "weft_proxy_clients")
    check(held == max_clients, "weft_proxy_clients counts the table", f"{held}")
    t0 = time.monotonic()
    accepted = until(lambda: c.req("POST", "/api/v1/subscribe",
                                   {"client_id": f"after-{tag}", "topic": "t"})[0] == 200, 20, 0.5)
    check(accepted, "after WEFT_CLIENT_IDLE_S a new client is accepted",
          f"{time.monotonic() - t0:.1f} s")
    print(f"figure: new clients accepted again {time.monotonic() - t0:.1f} s after the table filled")
    # the keeper (a WebSocket attached) outlives the idle time
    until(lambda: value(c.req("GET", "/metrics")[1], "weft_proxy_clients") <= 1, 20, 0.5)
    held = value(c.req("GET", "/metrics")[1], "weft_proxy_clients")
    check(held == 1, "only the client with a WebSocket is left after the idle time", f"{held}")
    m = c.req("GET", "/metrics")[1]
    check(value(m, "weft_proxy_clients_expired_total") >= max_clients - 1,
          "the idle clients were expired and counted", f"{value(m, 'weft_proxy_clients_expired_total')}")

    rss = []
    for r in range(1, 5):
        ok, refused = fill(r)
        rss.append(rss_kb(a.bounded_pid))
        check(ok == max_clients - 1, f"round {r}: {max_clients - 1} new clients accepted",
              f"{ok} ok, {refused} refused")
        until(lambda: value(c.req("GET", "/metrics")[1], "weft_proxy_clients") <= 1, 20, 0.5)
    print(f"figure: RSS after each round of {max_clients - 1} clients (KB): {rss}")
    check(rss[-1] - rss[0] < a.rss_slack, f"RSS stays flat over 4 rounds (< {a.rss_slack} KB growth)",
          f"{rss[0]} -> {rss[-1]} KB")
    ws.close()
    gone = until(lambda: value(c.req("GET", "/metrics")[1], "weft_proxy_clients") == 0, 20, 0.5)
    check(gone, "once its WebSocket closed, the keeper expires too")


def write_mmdb(path):
    """A MaxMind DB (format: maxmind.github.io/MaxMind-DB) with one network,
    127.0.0.0/8 -> New Zealand / NZ."""
    b = bytearray()
    nodes, prefix = 8, 127

    def s(x):
        x = x.encode()
        b.append(2 << 5 | len(x))
        b.extend(x)

    def mp(n):
        b.append(7 << 5 | n)

    def uint(t, v, size):
        if t >= 8:
            b.extend((size, t - 7))
        else:
            b.append(t << 5 | size)
        b.extend(v.to_bytes(size, "big") if size else b"")

    for i in range(nodes):
        bit = (prefix >> (7 - i)) & 1
        on = i + 1 if i + 1 < nodes else nodes + 16
        left, right = (nodes, on) if bit else (on, nodes)
        b.extend(left.to_bytes(3, "big") + right.to_bytes(3, "big"))
    b.extend(bytes(16))
    mp(1); s("country"); mp(2); s("iso_code"); s("NZ"); s("names"); mp(1); s("en"); s("New Zealand")
    b.extend(b"\xab\xcd\xefMaxMind.com")
    mp(9)
    s("binary_format_major_version"); uint(5, 2, 1)
    s("binary_format_minor_version"); uint(5, 0, 0)
    s("build_epoch"); uint(9, 1700000000, 4)
    s("database_type"); s("Weft-Test-Country")
    s("description"); mp(1); s("en"); s("weft test")
    s("ip_version"); uint(5, 4, 1)
    s("languages"); b.extend((1, 11 - 7)); s("en")
    s("node_count"); uint(6, nodes, 1)
    s("record_size"); uint(5, 24, 1)
    with open(path, "wb") as f:
        f.write(b)


def geo(a):
    c = Client(a.bounded)
    for _ in range(3):
        st, text = c.req("GET", "/api/v1/health")
    h = json.loads(text)
    check(h.get("country") == "unknown" and h.get("country_iso") == "",
          "without a database the country is unknown", text)
    with open(a.bounded_log) as f:
        said = sum("no GeoIP database" in line for line in f)
    check(said == 1, "the missing database is said once in the log", f"{said} times")
    st, text = Client(a.geo).req("GET", "/api/v1/health")
    h = json.loads(text)
    check(h.get("country") == "New Zealand" and h.get("country_iso") == "NZ",
          "with WEFT_GEOIP_DB the proxy reports its country", text)
    with open(a.geo_log) as f:
        log = f.read()
    check("GeoIP database open" in log and "no GeoIP database" not in log,
          "the proxy with a database logs it open")


def main(argv):
    if len(argv) >= 2 and argv[0] == "--write-mmdb":
        write_mmdb(argv[1])
        return 0
    opts = dict(zip(argv[0::2], argv[1::2]))

    class A:
        pass
    a = A()
    a.bounded, a.bounded_pid, a.bounded_log = opts["--bounded"], opts["--bounded-pid"], opts["--bounded-log"]
    a.geo, a.geo_log = opts["--geo"], opts["--geo-log"]
    a.rss_slack = int(opts.get("--rss-slack-kb", 16384))
    geo(a)
    metrics_and_publishers(a, int(opts["--series"]))
    clients(a, int(opts["--max-clients"]))
    print(f"proxy_bounds: {'FAILED' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
