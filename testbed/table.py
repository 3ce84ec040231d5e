#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Markdown tables of a testbed run (and of the simulator beside it).

usage: testbed/table.py RESULTS.jsonl [SIM.jsonl]
Per size: each mode's delivery ratio, time-to-all p50/p90/p99, wire bytes per delivered byte,
CPU s per delivered MiB, and optimum's p99 and wire ratios against gossipsub-1.2; with SIM, the
simulator's p99 in both bandwidth models and its ratio to the testbed's.
"""
import json
import sys


def fmt(x, p=1):
    return "-" if x is None else ("%.*f" % (p, x))


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    sim = {}
    if len(sys.argv) == 3:
        for l in open(sys.argv[2]):
            if l.strip():
                s = json.loads(l)
                sim[(s["testbed_mode"], s["msg"], s["bandwidth_model"])] = s
    for size in sorted({r["size"] for r in rows}):
        rs = [r for r in rows if r["size"] == size]
        base = next((r for r in rs if r["mode"] == "gossipsub-1.2"), None)
        print("\n%d B (%d messages, %d nodes)\n" % (size, rs[0]["count"], rs[0]["nodes"]))
        print("| mode | delivery | tta p50 ms | p90 | p99 | p99 / gs-1.2 | wire B per B | "
              "wire / gs-1.2 | CPU s per MiB | sim p99 per-conn | sim p99 per-host | "
              "sim/testbed (per-host) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rs:
            pr = r["tta_ms_p99"] / base["tta_ms_p99"] if base and base["tta_ms_p99"] else None
            wr = (r["wire_bytes_per_delivered_byte"] / base["wire_bytes_per_delivered_byte"]
                  if base else None)
            sc = sim.get((r["mode"], size, "per-connection"), {}).get("p99_ms")
            sh = sim.get((r["mode"], size, "per-host"), {})
            print("| %s | %.4f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["mode"], r["delivery_ratio"], fmt(r["tta_ms_p50"]), fmt(r["tta_ms_p90"]),
                fmt(r["tta_ms_p99"]), fmt(pr, 2), fmt(r["wire_bytes_per_delivered_byte"], 2),
                fmt(wr, 2), fmt(r["cpu_s_per_delivered_mib"], 3), fmt(sc),
                fmt(sh.get("p99_ms")), fmt(sh.get("p99_ratio_sim_over_testbed"), 2)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
