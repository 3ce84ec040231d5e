#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The testbed's topology as `weft-bench mesh --topology` reads it.

usage: testbed/topology.py MATRIX.json STATE_1.json ... STATE_N.json > FILE
MATRIX.json is weft-netem --print-matrix; STATE_i.json is host i's /api/v1/node-state
(its peer id in pub_key, its connections in peers). An edge is a connection either end
lists; its latency is the matrix's one-way delay of the pair.
"""
import json
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    m = json.load(open(sys.argv[1]))["one_way_ms"]
    states = [json.load(open(p)) for p in sys.argv[2:]]
    if len(states) != len(m):
        print("topology: %d states for a %d-host matrix" % (len(states), len(m)), file=sys.stderr)
        return 2
    host = {s["pub_key"]: i for i, s in enumerate(states)}
    edges = set()
    for i, s in enumerate(states):
        for p in s.get("peers", []):
            j = host.get(p)
            if j is not None and j != i:
                edges.add((min(i, j), max(i, j)))
    print("# the testbed's connections and one-way delays (testbed/topology.py)")
    print("nodes %d" % len(states))
    for a, b in sorted(edges):
        print("edge %d %d %.3f" % (a + 1, b + 1, m[a][b]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
