#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Per-node counters of one (mode, size) of a testbed run, from the logs directory.

usage: testbed/diag.py LOGDIR MODE SIZE [PREVIOUS_SIZE]
Reads LOGDIR/MODE-SIZE-nI.metrics (each node's /metrics after that size) and, with
PREVIOUS_SIZE, subtracts LOGDIR/MODE-PREVIOUS_SIZE-nI.metrics (the counters are cumulative
over a mode's sizes). Prints per node: shards sent, new, duplicate, unhelpful, unnecessary,
the share of received shards that were wasted, bytes out, and event-loop lag.
"""
import os
import sys


def read(path):
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        if line.startswith("#") or " " not in line:
            continue
        k, v = line.rsplit(" ", 1)
        try:
            out[k.replace("weft_node_", "")] = float(v)
        except ValueError:
            pass
    return out


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    d, mode, size = sys.argv[1:4]
    prev = sys.argv[4] if len(sys.argv) == 5 else None
    keys = [("sent", "shards_sent_total"), ("new", 'shards_total{kind="new"}'),
            ("dup", 'shards_total{kind="duplicate"}'), ("unhelp", 'shards_total{kind="unhelpful"}'),
            ("unnec", 'shards_total{kind="unnecessary"}'), ("MB out", 'bytes_total{direction="out"}'),
            ("lag s", "event_loop_lag_seconds_sum"), ("decoded", "generations_decoded_total")]
    print("| node | " + " | ".join(k for k, _ in keys) + " | wasted |")
    print("|---" * (len(keys) + 2) + "|")
    i = 1
    tot = {k: 0.0 for k, _ in keys}
    while os.path.exists(os.path.join(d, "%s-%s-n%d.metrics" % (mode, size, i))):
        e = read(os.path.join(d, "%s-%s-n%d.metrics" % (mode, size, i)))
        b = read(os.path.join(d, "%s-%s-n%d.metrics" % (mode, prev, i))) if prev else {}
        v = {k: e.get(m, 0.0) - b.get(m, 0.0) for k, m in keys}
        for k in v:
            tot[k] += v[k]
        got = v["new"] + v["dup"] + v["unhelp"] + v["unnec"]
        waste = (got - v["new"]) / got if got else 0.0
        print("| %d | %s | %.0f%% |" % (i, " | ".join(
            ("%.1f" % (v[k] / 1e6)) if k == "MB out" else ("%.2f" % v[k]) if k == "lag s"
            else "%.0f" % v[k] for k, _ in keys), 100 * waste))
        i += 1
    got = tot["new"] + tot["dup"] + tot["unhelp"] + tot["unnec"]
    print("| all | %s | %.0f%% |" % (" | ".join(
        ("%.1f" % (tot[k] / 1e6)) if k == "MB out" else ("%.2f" % tot[k]) if k == "lag s"
        else "%.0f" % tot[k] for k, _ in keys), 100 * (got - tot["new"]) / got if got else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
