#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""CDF of time-to-all per mode, one panel per message size, from testbed JSON lines.

usage: testbed/plot.py RESULTS.jsonl OUT.png [--sim SIM.jsonl]
Draws with gnuplot (pngcairo; Debian gnuplot-nox, in ci/install-deps.sh). With --sim, the
simulator's time-to-all of the same topology (weft-bench mesh --matrix, its "tta_ms" lists)
is drawn dashed beside each mode.
"""
import json
import os
import subprocess
import sys
import tempfile

COLORS = {"optimum": "#1b9e77", "gossipsub-1.2": "#d95f02", "gossipsub-1.1": "#7570b3"}


def cdf_rows(values):
    v = sorted(values)
    n = len(v)
    return [(x, (i + 1) / n) for i, x in enumerate(v)]


def human(size):
    if size >= 1048576:
        return "%g MiB" % (size / 1048576)
    if size >= 1024:
        return "%g KiB" % (size / 1024)
    return "%d B" % size


def main():
    args = sys.argv[1:]
    sim = None
    if "--sim" in args:
        i = args.index("--sim")
        sim = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows = [json.loads(l) for l in open(args[0]) if l.strip()]
    rows = [r for r in rows if r.get("bench") == "testbed"]
    simrows = []
    if sim:
        simrows = [json.loads(l) for l in open(sim) if l.strip()]
    sizes = sorted({r["size"] for r in rows})
    if not sizes:
        print("plot: no testbed lines in %s" % args[0], file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="weft-plot-")
    r0 = rows[0]
    title = "testbed: %d nodes, %s Mbit/s, %s-%s ms one-way, loss %s, commit %s" % (
        r0["nodes"], r0["link"]["bw_mbit"], r0["link"]["delay_ms"][0], r0["link"]["delay_ms"][1],
        r0["link"]["loss"], r0["commit"])
    script = ["set terminal pngcairo size %d,420 font ',9'" % (380 * len(sizes)),
              "set output '%s'" % args[1],
              "set multiplot layout 1,%d title \"%s\"" % (len(sizes), title),
              "set key bottom right", "set grid", "set yrange [0:1]",
              "set ylabel 'fraction of messages'", "set xlabel 'time to all nodes (ms)'"]
    for size in sizes:
        plots = []
        for r in rows:
            if r["size"] != size or not r["tta_ms"]:
                continue
            f = os.path.join(tmp, "%s-%d.dat" % (r["mode"], size))
            with open(f, "w") as out:
                for x, y in cdf_rows(r["tta_ms"]):
                    out.write("%g %g\n" % (x, y))
            plots.append("'%s' using 1:2 with steps lw 2 lc rgb '%s' title '%s (delivery %.3f)'" % (
                f, COLORS.get(r["mode"], "black"), r["mode"], r["delivery_ratio"]))
        for s in simrows:
            if s.get("msg") != size or not s.get("tta_ms"):
                continue
            mode = s.get("testbed_mode", s.get("mode"))
            model = s.get("bandwidth_model", "")
            f = os.path.join(tmp, "sim-%s-%s-%d.dat" % (mode, model, size))
            with open(f, "w") as out:
                for x, y in cdf_rows(s["tta_ms"]):
                    out.write("%g %g\n" % (x, y))
            plots.append("'%s' using 1:2 with steps dt %d lc rgb '%s' title 'sim %s, %s'" % (
                f, 3 if model == "per-connection" else 2, COLORS.get(mode, "black"), mode, model))
        script.append("set title '%s'" % human(size))
        script.append("plot " + ", ".join(plots) if plots else "plot 0 notitle")
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)
    print("plot: wrote %s" % args[1], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
