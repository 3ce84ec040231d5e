# SPDX-License-Identifier: Apache-2.0
"""The monitoring part of the docker packaging, for compose_check.py.

docker/docker-compose.yml runs Prometheus and Grafana beside the nodes on the
guides' network (optimum-network); docker/prometheus/prometheus.yml must
scrape every node service on its API port and every proxy service on its REST
port; docker/grafana/dashboards/weft.json must have the guides' panels, each
querying the metric the guides name. With live /metrics texts (from a running
weft-node and weft-proxy), every metric a dashboard query names must exist in
them: a node or proxy renaming a metric breaks this check, not the dashboard
silently.
"""

import json
import re
import urllib.request

PROMETHEUS = "docker/prometheus/prometheus.yml"
DASHBOARD = "docker/grafana/dashboards/weft.json"
SPEC_NETWORK = "optimum-network"
MONITORING_SERVICES = {
    # service: mounts (container paths) it needs
    "prometheus": ["/etc/prometheus/prometheus.yml"],
    "grafana": ["/etc/grafana/provisioning", "/var/lib/grafana/dashboards"],
}
# The guides' dashboard panels and the metric (family) each one must query.
GUIDE_PANELS = {
    "Published messages by client": "published_messages_by_client_total",
    "Message sizes": "published_message_size_bytes",
    "Publish errors": "publish_error_total",
    "Node connections": "total_p2pnodes_connections",
    "Active WebSocket clients": "active_ws_clients",
    "Fallback deliveries": "message_fallback_deliveries_total",
    "Node received messages": "node_received_messages_total",
    "Process CPU": "process_cpu_seconds_total",
    "Process memory": "process_resident_memory_bytes",
}
# Families both programs must export (the CPU/memory panels cover both jobs).
BOTH = ("process_cpu_seconds_total", "process_resident_memory_bytes")

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
                "and", "or", "unless", "inf", "nan"}


def metric_names(expr):
    """Metric names a PromQL expression selects (functions, aggregation
    clauses, label matchers, ranges and string literals left out)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = []
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        tail = e[m.end():].lstrip()
        if tail.startswith("(") or m.group(0).lower() in PROMQL_WORDS:
            continue
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue  # 1e3, 0.95
        names.append(m.group(0))
    return names


def exposition_names(text):
    """Sample names of a /metrics text, plus the family name of histogram
    and summary samples."""
    names = set()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line)
        if m:
            names.add(m.group(0))
            names.add(re.sub(r"_(bucket|sum|count)$", "", m.group(0)))
    return names


def fetch_names(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return exposition_names(r.read().decode("utf-8", "replace"))


def family_of(name):
    return re.sub(r"_(bucket|sum|count)$", "", name)


def check_monitoring(ck, compose, prom, dash_text, node_api, proxy_rest, helpers, live=None):
    """ck: the Checker (ck.err(where, msg)); compose: the parsed compose file;
    prom: the parsed prometheus.yml; node_api: {node service: API port};
    proxy_rest: {proxy service: REST port}; helpers: compose_check's
    (COMPOSE path, ip_of, mounts_of); live: None or {"node": names,
    "proxy": names} from running processes."""
    COMPOSE, ip_of, mounts_of = helpers
    services = (compose or {}).get("services") or {}
    nets = (compose or {}).get("networks") or {}
    if list(nets) != [SPEC_NETWORK]:
        ck.err(COMPOSE, f"networks {', '.join(nets) or 'none'}, expected {SPEC_NETWORK} (the guides')")
    for name, mounts in MONITORING_SERVICES.items():
        svc = services.get(name)
        if not isinstance(svc, dict):
            ck.err(COMPOSE, f"no {name} service")
            continue
        have = [t for _, t in mounts_of(svc)]
        for t in mounts:
            if not any(h == t or h.startswith(t + "/") for h in have):
                ck.err(COMPOSE, f"{name}: nothing mounted at {t}")
        net, _ = ip_of(svc)
        if net != SPEC_NETWORK:
            ck.err(COMPOSE, f"{name}: on network {net}, expected {SPEC_NETWORK}")

    targets, paths = set(), set()
    for job in (prom or {}).get("scrape_configs") or []:
        if not isinstance(job, dict):
            continue
        paths.add(job.get("metrics_path") or "/metrics")
        for sc in job.get("static_configs") or []:
            for t in (sc or {}).get("targets") or []:
                targets.add(str(t))
    if paths - {"/metrics"}:
        ck.err(PROMETHEUS, f"metrics_path {sorted(paths - {'/metrics'})}, the programs serve /metrics")
    for name, port in list(node_api.items()) + list(proxy_rest.items()):
        if f"{name}:{port}" not in targets:
            ck.err(PROMETHEUS, f"{name}:{port} is not scraped")

    try:
        dash = json.loads(dash_text)
    except ValueError as e:
        ck.err(DASHBOARD, f"not JSON: {e}")
        return
    panels = {}
    for p in dash.get("panels") or []:
        exprs = [t.get("expr", "") for t in p.get("targets") or [] if isinstance(t, dict)]
        panels[p.get("title", "")] = exprs
    for title, family in GUIDE_PANELS.items():
        if title not in panels:
            ck.err(DASHBOARD, f"no panel \"{title}\" (a guide panel)")
        elif not any(family_of(n) == family for e in panels[title] for n in metric_names(e)):
            ck.err(DASHBOARD, f"panel \"{title}\" does not query {family}")
    if live is None:
        return
    every = live["node"] | live["proxy"]
    for title, exprs in panels.items():
        for e in exprs:
            for n in metric_names(e):
                if n not in every:
                    ck.err(DASHBOARD, f"panel \"{title}\": {n} is in no running node's or proxy's /metrics")
    for n in BOTH:
        for who in ("node", "proxy"):
            if n not in live[who]:
                ck.err(DASHBOARD, f"{n} (panel Process CPU/memory) missing from the running {who}")


# (description, file key, old text, new text, expected substring of an error)
MUTATIONS = [
    ("network not the guides'", "compose", "networks:\n  optimum-network:\n    driver",
     "networks:\n  testnet:\n    driver", "expected optimum-network"),
    ("a node not scraped", "prometheus", '"p2pnode-3:9090", ', "", "p2pnode-3:9090 is not scraped"),
    ("a proxy not scraped", "prometheus", ', "proxy-2:8080"', "", "proxy-2:8080 is not scraped"),
    ("a guide panel missing", "dashboard", '"title": "Fallback deliveries"', '"title": "Fallbacks"',
     'no panel "Fallback deliveries"'),
    ("a panel querying the wrong metric", "dashboard", "rate(publish_error_total[1m])",
     "rate(weft_proxy_published_total[1m])", 'panel "Publish errors" does not query publish_error_total'),
    ("grafana without its dashboards", "compose", "      - ./grafana/dashboards:/var/lib/grafana/dashboards:ro\n",
     "", "grafana: nothing mounted at /var/lib/grafana/dashboards"),
]
# Only with live /metrics: a dashboard query naming a metric nobody exports.
LIVE_MUTATION = ("a dashboard metric nobody exports", "dashboard", "sum by (instance) (active_ws_clients)",
                 "sum by (instance) (active_ws_clients_typo)", "active_ws_clients_typo is in no running")
