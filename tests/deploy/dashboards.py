# SPDX-License-Identifier: Apache-2.0
"""Check deploy/grafana/{node,proxy}.json against live /metrics.

Every metric name in every panel query of node.json must be exported by the
running weft-node, and of proxy.json by the running weft-proxy (histogram
series _bucket/_sum/_count count as their family). The dashboards must also
be well formed: unique uid and panel ids, each target with a refId and an
expression, the datasource the provisioning defines. --self-test renames one
metric in a copy and expects the check to fail.

Usage: dashboards.py ROOT NODE_METRICS_URL PROXY_METRICS_URL [--self-test]
"""

import copy
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node"))
import compose_monitoring as mon  # noqa: E402  (metric_names, fetch_names)


def datasource_uid(root):
    text = open(os.path.join(root, "docker/grafana/provisioning/datasources/prometheus.yml")).read()
    m = re.search(r"^\s*uid:\s*(\S+)", text, re.M)
    return m.group(1).strip("\"'") if m else None


def check(dash, live, ds_uid, what):
    errs = []
    if not dash.get("uid") or not dash.get("title"):
        errs.append(f"{what}: no uid or title")
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)) or not ids:
        errs.append(f"{what}: panel ids missing or repeated: {ids}")
    nq = 0
    for p in dash.get("panels", []):
        title = p.get("title", "?")
        if p.get("datasource", {}).get("uid") != ds_uid:
            errs.append(f"{what}: panel {title!r}: datasource is not {ds_uid}")
        targets = p.get("targets") or []
        if not targets:
            errs.append(f"{what}: panel {title!r}: no queries")
        for t in targets:
            expr = t.get("expr")
            if not expr or not t.get("refId"):
                errs.append(f"{what}: panel {title!r}: a target without expr or refId")
                continue
            names = mon.metric_names(expr)
            if not names:
                errs.append(f"{what}: panel {title!r}: {expr!r} names no metric")
            for n in names:
                nq += 1
                if n not in live and mon.family_of(n) not in live:
                    errs.append(f"{what}: panel {title!r}: {n} is not in the live /metrics")
    return errs, nq


def main():
    args = sys.argv[1:]
    self_test = "--self-test" in args
    args = [a for a in args if a != "--self-test"]
    root, node_url, proxy_url = args
    live = {"node": mon.fetch_names(node_url), "proxy": mon.fetch_names(proxy_url)}
    ds = datasource_uid(root)
    dashes = {}
    fails = []
    for who in ("node", "proxy"):
        dashes[who] = json.load(open(os.path.join(root, f"deploy/grafana/{who}.json")))
        errs, nq = check(dashes[who], live[who], ds, f"{who}.json")
        fails += errs
        print(f"{who}.json: {len(dashes[who]['panels'])} panels, {nq} metric references, "
              f"{len(errs)} problems")
    if self_test:
        d = copy.deepcopy(dashes["node"])
        t = d["panels"][0]["targets"][0]
        t["expr"] = t["expr"].replace("weft_node_connections", "weft_node_connection_count")
        if not check(d, live["node"], ds, "mutated")[0]:
            fails.append("self-test: a renamed metric was not caught")
        d = copy.deepcopy(dashes["proxy"])
        if not check(d, live["node"], ds, "mutated")[0]:
            fails.append("self-test: the proxy dashboard passed against the node's metrics")
    for f in fails:
        print("FAIL:", f)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
