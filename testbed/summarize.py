#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""One testbed JSON line from the driver's result and the counter snapshots.

Figures (bench/README.md, "Testbed"):
  delivery_ratio     deliveries / (messages x nodes), the publisher's own node included
  tta_ms_p50/90/99   time to all: publish call to the last node's delivery, over the
                     messages every node got (a message some node missed has none)
  wire_bytes_per_delivered_byte
                     bytes every host's eth0 sent during the load (frames as the link
                     carries them: Ethernet, IP, TCP, Noise, yamux, RPC) divided by the
                     payload bytes delivered to nodes other than the publisher
  cpu_s_per_delivered_mib
                     user+system CPU seconds of all weft-node processes during the load
                     divided by the MiB delivered to nodes other than the publisher
  node_counters      every weft_node_*_total counter of /metrics that moved during the
                     load, summed over the nodes (shards new/duplicate/unhelpful/unnecessary,
                     shards sent, RPCs, drops by reason), and the event-loop lag histogram
"""
import argparse
import json
import os


def read_snap(path):
    rows = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 5:
                rows[int(p[0])] = [int(x) for x in p[1:]]
    return rows


def read_metrics(path):
    """Counters (name{labels} -> value) of one Prometheus text file."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("#") or " " not in line:
                    continue
                k, v = line.rsplit(" ", 1)
                if k.endswith("_total") or "_total{" in k or "lag_seconds" in k:
                    try:
                        out[k] = float(v)
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def counter_deltas(prefix, hosts):
    total = {}
    for i in hosts:
        b = read_metrics("%s.before.%d" % (prefix, i))
        e = read_metrics("%s.after.%d" % (prefix, i))
        for k, v in e.items():
            d = v - b.get(k, 0.0)
            if d:
                k = k.replace("weft_node_", "")
                total[k] = round(total.get(k, 0.0) + d, 3)
    return dict(sorted(total.items()))


def main():
    ap = argparse.ArgumentParser()
    for k in ("result", "before", "after", "matrix", "mode", "netem", "commit", "matrix-sha",
              "link", "topology", "label", "metrics"):
        ap.add_argument("--" + k, default="")
    a = ap.parse_args()
    r = json.loads(a.result)
    b, e = read_snap(a.before), read_snap(a.after)
    tick = os.sysconf("SC_CLK_TCK")
    tx = sum(e[i][0] - b[i][0] for i in b)
    cpu = sum(e[i][3] - b[i][3] for i in b) / tick
    delivered = r["remote_deliveries"] * r["size"]
    netem = {}
    try:
        with open(a.netem) as f:
            netem = json.loads(f.read())
    except (OSError, ValueError):
        pass
    mode = a.mode
    out = {
        "bench": "testbed",
        "mode": mode,
        "node_mode": "optimum" if mode == "optimum" else "gossipsub",
        "gossipsub_version": None if mode == "optimum" else mode.split("-")[1],
        "size": r["size"],
        "count": r["count"],
        "nodes": r["nodes"],
        "delivery_ratio": round(r["delivery_ratio"], 6),
        "tta_ms_p50": r["tta_ms_p50"],
        "tta_ms_p90": r["tta_ms_p90"],
        "tta_ms_p99": r["tta_ms_p99"],
        "tta_ms_max": r["tta_ms_max"],
        "node_ms_p50": r["node_ms_p50"],
        "node_ms_p99": r["node_ms_p99"],
        "wire_bytes": tx,
        "delivered_bytes": delivered,
        "wire_bytes_per_delivered_byte": round(tx / delivered, 4) if delivered else None,
        "cpu_s": round(cpu, 3),
        "cpu_s_per_delivered_mib": round(cpu / (delivered / 1048576.0), 4) if delivered else None,
        "all_delivered_messages": r["all_delivered_messages"],
        "missing_per_node": r["missing_per_node"],
        "duplicates": r["duplicates"],
        "corrupt": r["corrupt"],
        "publish_errors": r["publish_errors"],
        "gap_ms": r["gap_ms"],
        "timeout_ms": r["timeout_ms"],
        "load_seconds": r["load_seconds"],
        "topology": dict(json.loads(a.topology), matrix_sha256_16=a.matrix_sha),
        "link": json.loads(a.link),
        "node_counters": counter_deltas(a.metrics, sorted(b)) if a.metrics else {},
        "netem_so_far": {k: netem.get(k) for k in ("packets_in", "lost", "overflow", "queued_max_bytes")},
        "commit": a.commit,
        "label": a.label,
        "tta_ms": r["tta_ms"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
