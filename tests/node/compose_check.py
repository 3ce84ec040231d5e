#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Check the docker packaging against the local devnet and the spec.

docker/docker-compose.yml, docker/docker-compose.proxy.yml and docker/Dockerfile
must describe the guides' reference deployment (spec/optimum-compat.md,
"Node: environment", "Proxy: environment", "Reference deployment") and agree
with ci/devnet.env, the local devnet's single source of truth: same host
ports in the same order, same shared node settings.

Prometheus and Grafana (compose_monitoring.py): the guides' network, every
node and proxy scraped, the guides' dashboard panels; with --live-node and
--live-proxy every metric the dashboard queries must be in the /metrics of
those running processes.

Usage: compose_check.py [--root DIR] [--self-test] [--live-node URL --live-proxy URL]
  --root DIR   repository root [the directory two levels above this file]
  --self-test  also check that the checker catches mutated copies of the files
  --live-node URL, --live-proxy URL  /metrics of a running weft-node and weft-proxy
Exit status: 0 when everything agrees, 1 with one line per mismatch, 2 on a
usage error. Standard library only: the YAML subset used by the compose files
is parsed here (block mappings and sequences, plain and quoted scalars, flow
sequences of scalars, comments); anything else is reported as unsupported.
"""

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compose_monitoring as mon  # noqa: E402  (beside this file)

COMPOSE = "docker/docker-compose.yml"
PROXY_COMPOSE = "docker/docker-compose.proxy.yml"
DOCKERFILE = "docker/Dockerfile"
DEVNET = "ci/devnet.env"

# spec/optimum-compat.md, "Node: environment"
SPEC_NODE_ENV = (
    "NODE_MODE", "CLUSTER_ID", "LOG_LEVEL", "SIDECAR_PORT", "API_PORT",
    "OPTIMUM_PORT", "GOSSIPSUB_PORT", "IDENTITY_DIR", "BOOTSTRAP_PEERS",
    "OPTIMUM_MAX_MSG_SIZE", "GOSSIPSUB_MAX_MSG_SIZE", "OPTIMUM_MESH_TARGET",
    "OPTIMUM_MESH_MIN", "OPTIMUM_MESH_MAX", "OPTIMUM_SHARD_FACTOR",
    "OPTIMUM_SHARD_MULT", "OPTIMUM_THRESHOLD",
)
# Settings that differ per node (in the devnet or in the compose file) and so
# are not part of the shared node environment of ci/devnet.env.
PER_NODE_ENV = (
    "CLUSTER_ID", "SIDECAR_PORT", "API_PORT", "OPTIMUM_PORT", "GOSSIPSUB_PORT",
    "IDENTITY_DIR", "BOOTSTRAP_PEERS",
)
# spec defaults (inside a container every node uses them)
SPEC_SIDECAR_PORT = 33212
SPEC_OPTIMUM_PORT = 7070
SPEC_GOSSIPSUB_PORT = 6060
SPEC_API_PORT = 9090
SPEC_IDENTITY_DIR = "/identity"
SPEC_NODE_ENV_DEFAULTS = {
    "SIDECAR_PORT": str(SPEC_SIDECAR_PORT), "API_PORT": str(SPEC_API_PORT),
    "OPTIMUM_PORT": str(SPEC_OPTIMUM_PORT), "GOSSIPSUB_PORT": str(SPEC_GOSSIPSUB_PORT),
    "IDENTITY_DIR": SPEC_IDENTITY_DIR,
}
# spec/optimum-compat.md, "Proxy: environment"
SPEC_PROXY_ENV = (
    "PROXY_PORT", "GATEWAY_PORT", "PROXY_GRPC_PORT", "CLUSTER_ID", "ENABLE_AUTH",
    "AUTH0_DOMAIN", "AUTH0_AUDIENCE", "P2P_NODES", "SUBSCRIBER_THRESHOLD", "LOG_LEVEL",
)
# spec/optimum-compat.md, "Reference deployment"
SPEC_SUBNET = "172.28.0.0/16"
SPEC_NODE_COUNT = 4
SPEC_NODE_IPS = ["172.28.0.12", "172.28.0.13", "172.28.0.14", "172.28.0.15"]
SPEC_PROXIES = {
    # name: (ip, {container port: host port})
    "proxy-1": ("172.28.0.10", {8080: 8081, 50051: 50051}),
    "proxy-2": ("172.28.0.11", {8080: 8082, 50051: 50052}),
}
SPEC_PROXY_REST_PORT = 8080
SPEC_PROXY_GRPC_PORT = 50051
SPEC_NODE_EXPOSE = {SPEC_SIDECAR_PORT, SPEC_OPTIMUM_PORT, SPEC_GOSSIPSUB_PORT, SPEC_API_PORT}
SPEC_ENTRYPOINT = ["weft-node"]
BOOTSTRAP_ID_PLACEHOLDER = "${BOOTSTRAP_PEER_ID}"


# ---------------------------------------------------------------------------
# A parser for the YAML subset of the compose files
# ---------------------------------------------------------------------------

class ParseError(Exception):
    pass


def _strip_comment(text):
    """Remove a '#' comment that starts the line or follows whitespace, outside quotes."""
    quote = None
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                if quote == "'" and i + 1 < len(text) and text[i + 1] == "'":
                    i += 1
                else:
                    quote = None
        elif c in "\"'" and (i == 0 or text[i - 1] in " \t[,:-"):
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
        i += 1
    if quote:
        raise ParseError("unterminated quoted string")
    return text.rstrip()


def _unquote(s, lineno):
    if s.startswith('"'):
        if len(s) < 2 or not s.endswith('"'):
            raise ParseError(f"line {lineno}: bad double-quoted scalar {s!r}")
        try:
            return json.loads(s)
        except ValueError:
            raise ParseError(f"line {lineno}: unsupported escape in {s!r}") from None
    if s.startswith("'"):
        if len(s) < 2 or not s.endswith("'"):
            raise ParseError(f"line {lineno}: bad single-quoted scalar {s!r}")
        return s[1:-1].replace("''", "'")
    return s


def _scalar(s, lineno):
    """A scalar value: kept as a string (compose compares text, not types)."""
    s = s.strip()
    if s == "" or s == "~" or s == "null":
        return None
    if s[0] in "&*!|>{%@`":
        raise ParseError(f"line {lineno}: unsupported YAML construct {s!r}")
    if s.startswith("["):
        if not s.endswith("]"):
            raise ParseError(f"line {lineno}: unterminated flow sequence {s!r}")
        inner = s[1:-1].strip()
        if not inner:
            return []
        items = []
        for part in re.findall(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'|[^,]+', inner):
            part = part.strip()
            if part.startswith("[") or part.startswith("{"):
                raise ParseError(f"line {lineno}: nested flow collections are unsupported")
            items.append(_unquote(part, lineno))
        return items
    return _unquote(s, lineno)


_KEY_RE = re.compile(r'^("(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'|[^\s"\'#:][^:#]*?)\s*:(?:\s+(.*)|$)')


def _split_key(content, lineno):
    m = _KEY_RE.match(content)
    if not m:
        return None
    return _unquote(m.group(1).strip(), lineno), (m.group(2) or "")


def parse_yaml(text):
    """Parse the block-style YAML subset; returns nested dicts, lists and strings."""
    lines = []
    for n, raw in enumerate(text.splitlines(), 1):
        if raw.strip() in ("---",):
            if lines:
                raise ParseError(f"line {n}: multiple documents are unsupported")
            continue
        body = raw.rstrip()
        stripped = body.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("\t") or "\t" in body[:len(body) - len(stripped)]:
            raise ParseError(f"line {n}: tab in indentation")
        try:
            content = _strip_comment(stripped)
        except ParseError as e:
            raise ParseError(f"line {n}: {e}") from None
        if content:
            lines.append((len(body) - len(stripped), content, n))
    if not lines:
        return None
    pos = [0]

    def block(indent):
        if lines[pos[0]][1].startswith("- ") or lines[pos[0]][1] == "-":
            return seq(indent)
        return mapping(indent)

    def nested(parent_indent, allow_same_indent_seq):
        """The block value after 'key:' or '-' with nothing after it."""
        if pos[0] >= len(lines):
            return None
        ind, content, _ = lines[pos[0]]
        if ind > parent_indent:
            return block(ind)
        if allow_same_indent_seq and ind == parent_indent and (
                content.startswith("- ") or content == "-"):
            return seq(ind)
        return None

    def mapping(indent):
        result = {}
        while pos[0] < len(lines):
            ind, content, n = lines[pos[0]]
            if ind < indent:
                break
            if ind > indent:
                raise ParseError(f"line {n}: unexpected indentation")
            if content.startswith("- ") or content == "-":
                break
            kv = _split_key(content, n)
            if kv is None:
                raise ParseError(f"line {n}: expected 'key: value', got {content!r}")
            key, rest = kv
            if key in result:
                raise ParseError(f"line {n}: duplicate key {key!r}")
            pos[0] += 1
            if rest.strip():
                result[key] = _scalar(rest, n)
            else:
                result[key] = nested(indent, True)
        return result

    def seq(indent):
        result = []
        while pos[0] < len(lines):
            ind, content, n = lines[pos[0]]
            if ind < indent:
                break
            if ind > indent:
                raise ParseError(f"line {n}: unexpected indentation")
            if not (content.startswith("- ") or content == "-"):
                break
            rest = content[1:].lstrip(" ")
            item_indent = ind + (len(content) - len(rest))
            if not rest:
                pos[0] += 1
                result.append(nested(indent, False))
            elif _split_key(rest, n) is not None and not rest.startswith(("'", '"', "[")):
                # "- key: value" starts a mapping whose keys sit at item_indent
                lines[pos[0]] = (item_indent, rest, n)
                result.append(mapping(item_indent))
            else:
                pos[0] += 1
                result.append(_scalar(rest, n))
        return result

    value = block(lines[0][0])
    if pos[0] != len(lines):
        raise ParseError(f"line {lines[pos[0]][2]}: unexpected content {lines[pos[0]][1]!r}")
    return value


# ---------------------------------------------------------------------------
# ci/devnet.env, the Dockerfile
# ---------------------------------------------------------------------------

_ASSIGN_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_EXPAND_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand_defaults(value, known=None):
    """Resolve ${X:-d} to d and ${X} / $X to known[X] (else left as is):
    the value a variable takes when the caller's environment does not set X."""
    known = known or {}

    def sub(m):
        name = m.group(1) or m.group(3)
        if m.group(2) is not None:
            return m.group(2)
        return known.get(name, m.group(0))
    return _EXPAND_RE.sub(sub, value)


def parse_env_file(text):
    """NAME=value lines of a shell file; values resolved with their defaults."""
    result = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _ASSIGN_RE.match(line)
        if not m:
            raise ParseError(f"line {n}: not a NAME=value assignment: {line!r}")
        name, value = m.group(1), m.group(2)
        if value.startswith('"'):
            end = value.find('"', 1)
            if end < 0 or value[end + 1:].strip() not in ("",) and not value[end + 1:].strip().startswith("#"):
                raise ParseError(f"line {n}: bad double-quoted value {value!r}")
            value = expand_defaults(value[1:end], result)
        elif value.startswith("'"):
            end = value.find("'", 1)
            if end < 0 or value[end + 1:].strip() not in ("",) and not value[end + 1:].strip().startswith("#"):
                raise ParseError(f"line {n}: bad single-quoted value {value!r}")
            value = value[1:end]
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
            if re.search(r"\s|[;&|`]|\$\(", value):
                raise ParseError(f"line {n}: unquoted value with spaces or shell syntax: {value!r}")
            value = expand_defaults(value, result)
        if name in result:
            raise ParseError(f"line {n}: {name} assigned twice")
        result[name] = value
    return result


def parse_dockerfile(text):
    """Instructions of the final stage: list of (INSTRUCTION, arguments, line)."""
    stages = []
    joined, start = "", None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not joined and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if joined and line.lstrip().startswith("#"):
            continue
        if start is None:
            start = n
        if line.endswith("\\"):
            joined += line[:-1] + " "
            continue
        joined += line
        parts = joined.strip().split(None, 1)
        instr, args = parts[0].upper(), (parts[1] if len(parts) > 1 else "")
        if instr == "FROM":
            stages.append([])
        elif not stages:
            if instr != "ARG":
                raise ParseError(f"line {start}: {instr} before the first FROM")
        else:
            stages[-1].append((instr, args, start))
        joined, start = "", None
    if not stages:
        raise ParseError("no FROM instruction")
    return stages[-1]


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------

def parse_ports(entries):
    """Compose port mappings -> list of (host port or None, container port, text)."""
    result = []
    for e in entries or []:
        if isinstance(e, dict):
            target = e.get("target")
            published = e.get("published")
            result.append((int(published) if published else None, int(target), str(e)))
            continue
        text = str(e)
        spec = text.split("/", 1)[0]
        parts = spec.split(":")
        if not all(re.fullmatch(r"\d+", p) for p in parts[-2:]) or len(parts) > 3:
            raise ValueError(f"unsupported port mapping {text!r}")
        if len(parts) == 1:
            result.append((None, int(parts[0]), text))
        else:
            result.append((int(parts[-2]), int(parts[-1]), text))
    return result


def env_of(service):
    """A service's environment (list or mapping form) -> ordered dict."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return {k: ("" if v is None else str(v)) for k, v in env.items()}
    result = {}
    for item in env:
        item = str(item)
        name, eq, value = item.partition("=")
        result[name] = value if eq else None
    return result


def mounts_of(service):
    """A service's volumes -> list of (source, target)."""
    result = []
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            result.append((v.get("source"), v.get("target")))
        else:
            parts = str(v).split(":")
            if len(parts) == 1:
                result.append((None, parts[0]))
            else:
                result.append((parts[0], parts[1]))
    return result


def ip_of(service):
    nets = service.get("networks")
    if not isinstance(nets, dict) or len(nets) != 1:
        return None, None
    (name, cfg), = nets.items()
    return name, (cfg or {}).get("ipv4_address")


class Checker:
    def __init__(self, live=None):
        self.errors = []
        self.live = live

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def run(self, texts, root=None):
        """texts: {'compose', 'proxy', 'devnet', 'dockerfile'} -> list of errors."""
        docs = {}
        for key, path, parser in (("compose", COMPOSE, parse_yaml),
                                  ("proxy", PROXY_COMPOSE, parse_yaml),
                                  ("devnet", DEVNET, parse_env_file),
                                  ("dockerfile", DOCKERFILE, parse_dockerfile),
                                  ("prometheus", mon.PROMETHEUS, parse_yaml)):
            try:
                docs[key] = parser(texts[key])
            except ParseError as e:
                self.err(path, f"cannot parse: {e}")
        if self.errors:
            return self.errors
        devnet = self.check_devnet(docs["devnet"])
        nodes = self.check_nodes(docs["compose"], devnet, root)
        if nodes is not None:
            self.check_proxies(docs["proxy"], docs["compose"], nodes, root)
            node_api = {n: nodes[n]["env"].get("API_PORT") or str(SPEC_API_PORT) for n in nodes}
            proxy_rest = {n: str(SPEC_PROXY_REST_PORT) for n in SPEC_PROXIES}
            mon.check_monitoring(self, docs["compose"], docs["prometheus"], texts["dashboard"],
                                 node_api, proxy_rest, (COMPOSE, ip_of, mounts_of), self.live)
        self.check_dockerfile(docs["dockerfile"])
        return self.errors

    # -- ci/devnet.env --------------------------------------------------------
    def check_devnet(self, env):
        w = DEVNET
        d = {"env": env, "shared": {}}
        for name in ("DEVNET_NODES", "DEVNET_SIDECAR_PORTS", "DEVNET_P2P_PORTS",
                     "DEVNET_API_PORTS", "DEVNET_BOOTSTRAP", "DEVNET_NODE_ENV"):
            if name not in env:
                self.err(w, f"{name} is not set")
        try:
            count = int(env.get("DEVNET_NODES", ""))
        except ValueError:
            self.err(w, f"DEVNET_NODES={env.get('DEVNET_NODES')!r} is not a number")
            count = SPEC_NODE_COUNT
        if count != SPEC_NODE_COUNT:
            self.err(w, f"DEVNET_NODES={count}, the reference deployment has {SPEC_NODE_COUNT} nodes")
        d["count"] = count
        for key, name in (("sidecar", "DEVNET_SIDECAR_PORTS"), ("p2p", "DEVNET_P2P_PORTS"),
                          ("api", "DEVNET_API_PORTS")):
            words = env.get(name, "").split()
            ports = []
            for word in words:
                if not word.isdigit() or not 0 < int(word) < 65536:
                    self.err(w, f"{name}: {word!r} is not a port number")
                else:
                    ports.append(int(word))
            if len(words) != count:
                self.err(w, f"{name} has {len(words)} ports, DEVNET_NODES is {count}")
            d[key] = ports
        all_ports = d["sidecar"] + d["p2p"] + d["api"]
        dups = sorted({p for p in all_ports if all_ports.count(p) > 1})
        if dups:
            self.err(w, f"host ports used twice: {' '.join(map(str, dups))}")
        try:
            d["bootstrap"] = int(env.get("DEVNET_BOOTSTRAP", "1"))
        except ValueError:
            self.err(w, f"DEVNET_BOOTSTRAP={env.get('DEVNET_BOOTSTRAP')!r} is not a number")
            d["bootstrap"] = 1
        if not 1 <= d["bootstrap"] <= count:
            self.err(w, f"DEVNET_BOOTSTRAP={d['bootstrap']} is not a node index 1..{count}")
        d["prefix"] = env.get("DEVNET_CLUSTER_PREFIX", "p2pnode-")
        for name in env.get("DEVNET_NODE_ENV", "").split():
            if name not in SPEC_NODE_ENV:
                self.err(w, f"DEVNET_NODE_ENV lists {name}, which is not a node variable of the spec")
            elif name in PER_NODE_ENV:
                self.err(w, f"DEVNET_NODE_ENV lists {name}, which differs per node")
            if name not in env:
                self.err(w, f"DEVNET_NODE_ENV lists {name}, which is not assigned")
            else:
                d["shared"][name] = env[name]
        for name in env:
            if name in SPEC_NODE_ENV and name not in d["shared"]:
                self.err(w, f"{name} is assigned but not listed in DEVNET_NODE_ENV")
        self.check_node_values(w, d["shared"])
        return d

    def check_node_values(self, w, s):
        """The spec's ranges, for the shared settings."""
        def num(name, conv):
            try:
                return conv(s[name]) if name in s else None
            except ValueError:
                self.err(w, f"{name}={s[name]!r} is not a number")
                return None
        if "NODE_MODE" in s and s["NODE_MODE"] not in ("optimum", "gossipsub"):
            self.err(w, f"NODE_MODE={s['NODE_MODE']!r}: not optimum|gossipsub")
        if "LOG_LEVEL" in s and s["LOG_LEVEL"] not in ("debug", "info", "warn", "error"):
            self.err(w, f"LOG_LEVEL={s['LOG_LEVEL']!r}: not debug|info|warn|error")
        lo, tgt, hi = (num(n, int) for n in ("OPTIMUM_MESH_MIN", "OPTIMUM_MESH_TARGET", "OPTIMUM_MESH_MAX"))
        if None not in (lo, tgt, hi) and not lo < tgt < hi:
            self.err(w, f"OPTIMUM_MESH_MIN < OPTIMUM_MESH_TARGET < OPTIMUM_MESH_MAX fails: {lo}, {tgt}, {hi}")
        k = num("OPTIMUM_SHARD_FACTOR", int)
        if k is not None and k <= 0:
            self.err(w, f"OPTIMUM_SHARD_FACTOR={k}: must be > 0")
        mult = num("OPTIMUM_SHARD_MULT", float)
        if mult is not None and mult < 1:
            self.err(w, f"OPTIMUM_SHARD_MULT={mult}: must be >= 1")
        t = num("OPTIMUM_THRESHOLD", float)
        if t is not None and not 0 < t <= 1:
            self.err(w, f"OPTIMUM_THRESHOLD={t}: must be in (0, 1]")
        for name in ("OPTIMUM_MAX_MSG_SIZE", "GOSSIPSUB_MAX_MSG_SIZE"):
            size = num(name, int)
            if size is not None and size <= 0:
                self.err(w, f"{name}={size}: must be > 0")

    # -- docker-compose.yml -----------------------------------------------------
    def check_build(self, w, svc, root):
        build = svc.get("build")
        if root is None or build is None:
            return
        if isinstance(build, str):
            context, dockerfile = build, "Dockerfile"
        else:
            context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
        path = os.path.normpath(os.path.join(root, "docker", context, dockerfile))
        if not os.path.isfile(path):
            self.err(w, f"build: {dockerfile} in context {context} is not a file ({path})")

    def check_nodes(self, doc, dv, root):
        w = COMPOSE
        if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
            self.err(w, "no services mapping")
            return None
        services = doc["services"]
        node_names = [n for n, s in services.items()
                      if re.fullmatch(re.escape(dv["prefix"]) + r"\d+", n)
                      or str((s or {}).get("image", "")).startswith("weft/weft-node")]
        expected = [f"{dv['prefix']}{i}" for i in range(1, dv["count"] + 1)]
        if len(node_names) != SPEC_NODE_COUNT:
            self.err(w, f"{len(node_names)} node services ({', '.join(node_names) or 'none'}), "
                        f"expected {SPEC_NODE_COUNT}")
        for name in node_names:
            if name not in expected:
                self.err(w, f"node service {name} is not one of {', '.join(expected)}")
        for name in expected:
            if name not in services:
                self.err(w, f"node service {name} is missing")
        networks = doc.get("networks") or {}
        subnet = None
        for netname, net in networks.items():
            net = net or {}
            cfgs = ((net.get("ipam") or {}).get("config")) or []
            subnets = [c.get("subnet") for c in cfgs if isinstance(c, dict)]
            if net.get("driver", "bridge") != "bridge":
                self.err(w, f"network {netname}: driver {net.get('driver')}, expected bridge")
            if subnets != [SPEC_SUBNET]:
                self.err(w, f"network {netname}: subnet {subnets}, expected [{SPEC_SUBNET}]")
            else:
                subnet = ipaddress.ip_network(SPEC_SUBNET)
        if not networks:
            self.err(w, f"no networks: expected a bridge network {SPEC_SUBNET}")

        nodes = {}
        for i, name in enumerate(expected, 1):
            svc = services.get(name)
            if not isinstance(svc, dict):
                continue
            sw = f"{w}: {name}"
            self.check_build(sw, svc, root)
            env = env_of(svc)
            nodes[name] = {"svc": svc, "env": env, "index": i}
            # ports: container ports are the spec defaults, host ports the devnet's
            try:
                ports = parse_ports(svc.get("ports"))
            except ValueError as e:
                self.err(sw, str(e))
                ports = []
            by_container = {}
            for host, cont, text in ports:
                if cont in by_container:
                    self.err(sw, f"container port {cont} mapped twice")
                by_container[cont] = host
            for label, cport, key, var in (("sidecar", SPEC_SIDECAR_PORT, "sidecar", "DEVNET_SIDECAR_PORTS"),
                                           ("p2p", SPEC_OPTIMUM_PORT, "p2p", "DEVNET_P2P_PORTS"),
                                           ("API", SPEC_API_PORT, "api", "DEVNET_API_PORTS")):
                want = dv[key][i - 1] if i - 1 < len(dv[key]) else None
                if cport not in by_container:
                    self.err(sw, f"no mapping to container port {cport} ({label}; spec default)"
                                 + (f", expected \"{want}:{cport}\"" if want else ""))
                    continue
                host = by_container[cport]
                if want is not None and host != want:
                    self.err(sw, f"{label} host port is {host}, {DEVNET} {var} gives node {i} port {want} "
                                 f"(expected \"{want}:{cport}\")")
            for cont in by_container:
                if cont not in (SPEC_SIDECAR_PORT, SPEC_OPTIMUM_PORT, SPEC_API_PORT):
                    self.err(sw, f"container port {cont} is not a spec default "
                                 f"({SPEC_SIDECAR_PORT}, {SPEC_OPTIMUM_PORT}, {SPEC_API_PORT})")
            # environment
            for var, value in env.items():
                if var not in SPEC_NODE_ENV:
                    self.err(sw, f"unknown environment variable {var} (not a node variable of the spec)")
                elif value is None:
                    self.err(sw, f"environment variable {var} has no value (taken from the host)")
            if env.get("CLUSTER_ID") != name:
                self.err(sw, f"CLUSTER_ID={env.get('CLUSTER_ID')}, expected {name}")
            for var, want in SPEC_NODE_ENV_DEFAULTS.items():
                if var in env and env[var] != want:
                    self.err(sw, f"{var}={env[var]}, the container side uses the spec default {want}")
            # the guides' file sets only OPTIMUM_PORT, so NODE_MODE=gossipsub listens
            # there too and the same mappings and BOOTSTRAP_PEERS work in both modes
            if "GOSSIPSUB_PORT" in env:
                self.err(sw, f"GOSSIPSUB_PORT={env['GOSSIPSUB_PORT']} is set: in gossipsub mode the node "
                             f"would not listen on OPTIMUM_PORT, which BOOTSTRAP_PEERS and the port "
                             f"mappings name (leave it unset, as the guides do)")
            for var, want in dv["shared"].items():
                if var not in env:
                    self.err(sw, f"{var} is not set; {DEVNET} sets {var}={want}")
                elif env[var] is not None and expand_defaults(env[var]) != want:
                    self.err(sw, f"{var}={env[var]} differs from {DEVNET}'s {var}={want}")
            for var in env:
                if var in SPEC_NODE_ENV and var not in PER_NODE_ENV and var not in dv["shared"]:
                    self.err(sw, f"{var} is set here but not in {DEVNET}'s DEVNET_NODE_ENV")
            # network address
            netname, ip = ip_of(svc)
            if netname is None:
                self.err(sw, "expected exactly one network with an ipv4_address")
            else:
                if netname not in networks:
                    self.err(sw, f"network {netname} is not defined")
                want_ip = SPEC_NODE_IPS[i - 1] if i - 1 < len(SPEC_NODE_IPS) else None
                if ip != want_ip:
                    self.err(sw, f"ipv4_address {ip}, the reference deployment has {want_ip}")
                elif subnet is not None and ipaddress.ip_address(ip) not in subnet:
                    self.err(sw, f"ipv4_address {ip} is outside {subnet}")
            nodes[name]["ip"] = ip

        # identity and bootstrap
        boot_name = f"{dv['prefix']}{dv['bootstrap']}"
        boot = nodes.get(boot_name)
        for name, node in nodes.items():
            sw = f"{w}: {name}"
            identity_dir = node["env"].get("IDENTITY_DIR") or SPEC_IDENTITY_DIR
            id_mounts = [m for m in mounts_of(node["svc"]) if m[1] == identity_dir]
            peers = node["env"].get("BOOTSTRAP_PEERS")
            if name == boot_name:
                if not id_mounts:
                    self.err(sw, f"the bootstrap node does not mount its identity ({identity_dir})")
                elif id_mounts[0][0] != "./identity":
                    self.err(sw, f"identity mounted from {id_mounts[0][0]}, expected ./identity "
                                 "(docker/generate-identity.sh writes it)")
                if peers is not None:
                    self.err(sw, f"the bootstrap node has BOOTSTRAP_PEERS={peers}")
                continue
            if id_mounts:
                self.err(sw, f"mounts {id_mounts[0][0]}:{identity_dir}; only {boot_name} mounts the identity")
            if peers is None:
                self.err(sw, f"no BOOTSTRAP_PEERS (expected {boot_name})")
                continue
            if boot is None:
                continue
            boot_port = boot["env"].get("OPTIMUM_PORT") or str(SPEC_OPTIMUM_PORT)
            want = f"/ip4/{boot.get('ip')}/tcp/{boot_port}/p2p/{BOOTSTRAP_ID_PLACEHOLDER}"
            addrs = [a for a in peers.split(",") if a]
            if addrs != [want]:
                self.err(sw, f"BOOTSTRAP_PEERS={peers}, expected {want} ({boot_name})")
        return nodes

    # -- docker-compose.proxy.yml ---------------------------------------------
    def check_proxies(self, doc, base, nodes, root):
        w = PROXY_COMPOSE
        if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
            self.err(w, "no services mapping")
            return
        services = doc["services"]
        base_nets = (base.get("networks") or {}) if isinstance(base, dict) else {}
        want_nodes = [f"{n}:{nodes[n]['env'].get('SIDECAR_PORT') or SPEC_SIDECAR_PORT}" for n in nodes]
        for name in services:
            if name not in SPEC_PROXIES:
                self.err(w, f"service {name} is not one of {', '.join(SPEC_PROXIES)}")
        for name, (want_ip, want_ports) in SPEC_PROXIES.items():
            svc = services.get(name)
            sw = f"{w}: {name}"
            if not isinstance(svc, dict):
                self.err(w, f"proxy service {name} is missing")
                continue
            self.check_build(sw, svc, root)
            env = env_of(svc)
            for var, value in env.items():
                if var not in SPEC_PROXY_ENV:
                    self.err(sw, f"unknown environment variable {var} (not a proxy variable of the spec)")
                elif value is None:
                    self.err(sw, f"environment variable {var} has no value (taken from the host)")
            if env.get("CLUSTER_ID") != name:
                self.err(sw, f"CLUSTER_ID={env.get('CLUSTER_ID')}, expected {name}")
            listed = [a.strip() for a in (env.get("P2P_NODES") or "").split(",") if a.strip()]
            missing = [a for a in want_nodes if a not in listed]
            extra = [a for a in listed if a not in want_nodes]
            if missing:
                self.err(sw, f"P2P_NODES lacks {', '.join(missing)}")
            if extra:
                self.err(sw, f"P2P_NODES lists {', '.join(extra)}, which is not a node sidecar")
            for var, cport in (("PROXY_PORT", SPEC_PROXY_REST_PORT), ("PROXY_GRPC_PORT", SPEC_PROXY_GRPC_PORT)):
                if var in env and env[var] != f":{cport}":
                    self.err(sw, f"{var}={env[var]}, the ports mapping expects :{cport}")
            try:
                ports = {c: h for h, c, _ in parse_ports(svc.get("ports"))}
            except ValueError as e:
                self.err(sw, str(e))
                ports = {}
            if ports != want_ports:
                self.err(sw, "ports " + ", ".join(f"{h}:{c}" for c, h in ports.items())
                         + ", expected " + ", ".join(f"{h}:{c}" for c, h in want_ports.items()))
            netname, ip = ip_of(svc)
            if netname is None:
                self.err(sw, "expected exactly one network with an ipv4_address")
            else:
                if netname not in base_nets and netname not in (doc.get("networks") or {}):
                    self.err(sw, f"network {netname} is not defined in {COMPOSE}")
                if ip != want_ip:
                    self.err(sw, f"ipv4_address {ip}, the reference deployment has {want_ip}")

    # -- Dockerfile ---------------------------------------------------------------
    def check_dockerfile(self, instrs):
        w = DOCKERFILE
        exposed = set()
        entry = None
        for instr, args, n in instrs:
            if instr == "EXPOSE":
                for word in args.split():
                    port = word.split("/", 1)[0]
                    if port.isdigit():
                        exposed.add(int(port))
                    else:
                        self.err(w, f"line {n}: EXPOSE {word}: not a port number")
            elif instr == "ENTRYPOINT":
                a = args.strip()
                if a.startswith("["):
                    try:
                        entry = json.loads(a)
                    except ValueError:
                        self.err(w, f"line {n}: ENTRYPOINT {a}: not a JSON array")
                        entry = []
                else:
                    entry = a.split()
        missing = sorted(SPEC_NODE_EXPOSE - exposed)
        if missing:
            self.err(w, f"final stage does not EXPOSE {' '.join(map(str, missing))} "
                        f"(spec ports {' '.join(map(str, sorted(SPEC_NODE_EXPOSE)))})")
        if entry != SPEC_ENTRYPOINT:
            self.err(w, f"final stage ENTRYPOINT is {json.dumps(entry)}, expected {json.dumps(SPEC_ENTRYPOINT)}")


def read_texts(root):
    texts = {}
    for key, rel in (("compose", COMPOSE), ("proxy", PROXY_COMPOSE),
                     ("devnet", DEVNET), ("dockerfile", DOCKERFILE),
                     ("prometheus", mon.PROMETHEUS), ("dashboard", mon.DASHBOARD)):
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            texts[key] = f.read()
    return texts


def check(texts, root=None, live=None):
    return Checker(live).run(texts, root)


# ---------------------------------------------------------------------------
# Self-test: the parser on known inputs; the checker on mutated copies
# ---------------------------------------------------------------------------

PARSER_CASES = [
    ("a: 1\nb:\n  c: 'x y'\n  d: \"q\\\"\"\n", {"a": "1", "b": {"c": "x y", "d": 'q"'}}),
    ("k:\n  - one   # comment\n  - \"two: 2\"\n  - [a, \"b\", 'c']\n",
     {"k": ["one", "two: 2", ["a", "b", "c"]]}),
    ("k:\n- a\n- b\nz: ~\n", {"k": ["a", "b"], "z": None}),
    ("l:\n  - x: 1\n    y: 2\n  - x: 3\n", {"l": [{"x": "1", "y": "2"}, {"x": "3"}]}),
    ("e:\n  - A=${B:-c}#notacomment\n  - URL=http://h:1/p # c\n",
     {"e": ["A=${B:-c}#notacomment", "URL=http://h:1/p"]}),
    ("n:\n  net:\n    ipv4_address: 172.28.0.12\n", {"n": {"net": {"ipv4_address": "172.28.0.12"}}}),
]
PARSER_ERRORS = [
    ("a: 1\na: 2\n", "duplicate key"),
    ("a: &x 1\n", "unsupported"),
    ("a: |\n  text\n", "unsupported"),
    ("a:\n  b: 1\n   c: 2\n", "indentation"),
    ("a: 1\n\tb: 2\n", "tab"),
    ("just text\n", "expected 'key: value'"),
]

# (description, file key, old text, new text, expected substring of an error)
MUTATIONS = [
    ("wrong host port", "compose", '"33222:33212"', '"33299:33212"',
     "p2pnode-2: sidecar host port is 33299"),
    ("host ports swapped between nodes", "compose", '"9094:9090"', '"9093:9090"',
     "p2pnode-4: API host port is 9093"),
    ("wrong container port", "compose", '"7073:7070"', '"7073:7071"',
     "p2pnode-3: no mapping to container port 7070"),
    ("unknown env var", "compose", "- CLUSTER_ID=p2pnode-3\n",
     "- CLUSTER_ID=p2pnode-3\n      - OPTIMUM_FOO=1\n",
     "p2pnode-3: unknown environment variable OPTIMUM_FOO"),
    ("missing identity mount", "compose", "    volumes:\n      - ./identity:/identity\n", "",
     "p2pnode-1: the bootstrap node does not mount its identity"),
    ("identity mounted on node 2", "compose", "    depends_on:\n      - p2pnode-1\n    environment:\n      - NODE_MODE=${NODE_MODE:-optimum}\n      - CLUSTER_ID=p2pnode-2\n",
     "    depends_on:\n      - p2pnode-1\n    volumes:\n      - ./identity:/identity\n    environment:\n      - NODE_MODE=${NODE_MODE:-optimum}\n      - CLUSTER_ID=p2pnode-2\n",
     "p2pnode-2: mounts ./identity:/identity; only p2pnode-1"),
    ("spec variable not in the devnet's shared set", "compose", "- CLUSTER_ID=p2pnode-4\n",
     "- CLUSTER_ID=p2pnode-4\n      - GOSSIPSUB_MAX_MSG_SIZE=1048576\n",
     "p2pnode-4: GOSSIPSUB_MAX_MSG_SIZE is set here but not in ci/devnet.env's DEVNET_NODE_ENV"),
    ("GOSSIPSUB_PORT set on a node", "compose", "- CLUSTER_ID=p2pnode-3\n",
     "- CLUSTER_ID=p2pnode-3\n      - GOSSIPSUB_PORT=6060\n",
     "p2pnode-3: GOSSIPSUB_PORT=6060 is set: in gossipsub mode"),
    ("wrong node IP", "compose", "ipv4_address: 172.28.0.13", "ipv4_address: 172.28.0.33",
     "p2pnode-2: ipv4_address 172.28.0.33"),
    ("a node missing", "compose", "  p2pnode-4:\n", "  p2pnode-9:\n", "node service p2pnode-4 is missing"),
    ("proxy lacks a node", "proxy", "p2pnode-3:33212,p2pnode-4:33212\n      - SUBSCRIBER_THRESHOLD=0.1\n      - LOG_LEVEL=info\n    ports:\n      - \"8082",
     "p2pnode-3:33212\n      - SUBSCRIBER_THRESHOLD=0.1\n      - LOG_LEVEL=info\n    ports:\n      - \"8082",
     "proxy-2: P2P_NODES lacks p2pnode-4:33212"),
    ("Dockerfile exposes no gossipsub port", "dockerfile", "EXPOSE 33212 7070 6060 9090", "EXPOSE 33212 7070 9090",
     "does not EXPOSE 6060"),
    ("Dockerfile entrypoint", "dockerfile", 'ENTRYPOINT ["weft-node"]', 'ENTRYPOINT ["sh"]',
     "ENTRYPOINT is [\"sh\"]"),
    ("devnet ports changed", "devnet", 'DEVNET_P2P_PORTS="7071 7072 7073 7074"',
     'DEVNET_P2P_PORTS="7071 7072 7073 7075"', "p2pnode-4: p2p host port is 7074"),
    ("devnet shared value changed", "devnet", "OPTIMUM_SHARD_MULT=1.5", "OPTIMUM_SHARD_MULT=2",
     "OPTIMUM_SHARD_MULT=1.5 differs from ci/devnet.env's OPTIMUM_SHARD_MULT=2"),
]
# Value edits done with a regex inside one service's block: (description,
# service, regex, replacement, expected substring)
SERVICE_EDITS = [
    ("shared value differs on one node", "p2pnode-4", r"OPTIMUM_THRESHOLD=0\.75", "OPTIMUM_THRESHOLD=0.5",
     "p2pnode-4: OPTIMUM_THRESHOLD=0.5 differs from ci/devnet.env's OPTIMUM_THRESHOLD=0.75"),
    ("bootstrap to the wrong IP", "p2pnode-3", r"/ip4/172\.28\.0\.12/", "/ip4/172.28.0.13/",
     "p2pnode-3: BOOTSTRAP_PEERS=/ip4/172.28.0.13/tcp/7070"),
    ("no bootstrap peers on node 2", "p2pnode-2", r"\n *- BOOTSTRAP_PEERS=[^\n]*", "",
     "p2pnode-2: no BOOTSTRAP_PEERS"),
    ("bootstrap peers on node 1", "p2pnode-1", r"(- CLUSTER_ID=p2pnode-1\n)",
     r"\1      - BOOTSTRAP_PEERS=/ip4/172.28.0.12/tcp/7070/p2p/${BOOTSTRAP_PEER_ID}\n",
     "p2pnode-1: the bootstrap node has BOOTSTRAP_PEERS"),
]


def edit_service(text, service, regex, repl):
    m = re.search(r"(?ms)^  " + re.escape(service) + r":\n.*?(?=^  \S|^\S|\Z)", text)
    if not m:
        return text
    block = re.sub(regex, repl, m.group(0), count=1)
    return text[:m.start()] + block + text[m.end():]


def self_test(root, live=None):
    failures = []
    for text, want in PARSER_CASES:
        try:
            got = parse_yaml(text)
        except ParseError as e:
            got = f"ParseError: {e}"
        if got != want:
            failures.append(f"parser: {text!r} -> {got!r}, expected {want!r}")
    for text, want in PARSER_ERRORS:
        try:
            got = parse_yaml(text)
            failures.append(f"parser: {text!r} parsed as {got!r}, expected an error with {want!r}")
        except ParseError as e:
            if want not in str(e):
                failures.append(f"parser: {text!r}: error {e!r} lacks {want!r}")
    env = parse_env_file('A=1\nB="x y" # c\nC=${NODE_MODE:-optimum}\nD="$A-${B}"\n')
    if env != {"A": "1", "B": "x y", "C": "optimum", "D": "1-x y"}:
        failures.append(f"env parser: got {env!r}")

    texts = read_texts(root)
    base = check(texts, root, live)
    if base:
        failures.append("the unmodified files do not pass, so mutations prove nothing:")
        failures.extend("  " + e for e in base)
        return failures

    muts = MUTATIONS + mon.MUTATIONS + ([mon.LIVE_MUTATION] if live else [])
    cases = [(d, key, lambda t, o=old, n=new: t.replace(o, n, 1), want)
             for d, key, old, new, want in muts]
    cases += [(d, "compose", lambda t, s=svc, r=rx, p=rep: edit_service(t, s, r, p), want)
              for d, svc, rx, rep, want in SERVICE_EDITS]
    for desc, key, mutate, want in cases:
        mutated = dict(texts)
        mutated[key] = mutate(texts[key])
        if mutated[key] == texts[key]:
            failures.append(f"mutation '{desc}': did not apply to {key} (the files changed?)")
            continue
        errors = check(mutated, root, live)
        if not any(want in e for e in errors):
            failures.append(f"mutation '{desc}': no error containing {want!r}; got: "
                            + ("; ".join(errors) if errors else "no errors"))
        else:
            print(f"compose_check: self-test: caught '{desc}': "
                  + next(e for e in errors if want in e))

    # End to end: the script itself exits 0 on a copy of the files and
    # non-zero, naming the mismatch, on a mutated copy.
    with tempfile.TemporaryDirectory() as tmp:
        for rel in (COMPOSE, PROXY_COMPOSE, DOCKERFILE, DEVNET, mon.PROMETHEUS, mon.DASHBOARD):
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            shutil.copyfile(os.path.join(root, rel), os.path.join(tmp, rel))

        def run():
            return subprocess.run([sys.executable, os.path.abspath(__file__), "--root", tmp],
                                  capture_output=True, text=True)
        r = run()
        if r.returncode != 0:
            failures.append(f"end to end: copy of the files: exit {r.returncode}: {r.stderr.strip()}")
        with open(os.path.join(tmp, COMPOSE), "w", encoding="utf-8") as f:
            f.write(texts["compose"].replace('"33223:33212"', '"33200:33212"', 1))
        r = run()
        if r.returncode != 1 or "p2pnode-3: sidecar host port is 33200" not in r.stderr:
            failures.append(f"end to end: mutated copy: exit {r.returncode}, stderr {r.stderr.strip()!r}")
        else:
            print("compose_check: self-test: end to end: mutated copy exits 1: "
                  + r.stderr.strip().splitlines()[0])
    return failures


def main(argv):
    root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    selftest = False
    live_urls = {}
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--root" and args:
            root = os.path.abspath(args.pop(0))
        elif a.startswith("--root="):
            root = os.path.abspath(a.split("=", 1)[1])
        elif a == "--self-test":
            selftest = True
        elif a in ("--live-node", "--live-proxy") and args:
            live_urls[a[7:]] = args.pop(0)
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        else:
            print(f"compose_check: unknown argument {a!r} (try --help)", file=sys.stderr)
            return 2
    live = None
    if live_urls:
        if set(live_urls) != {"node", "proxy"}:
            print("compose_check: --live-node and --live-proxy go together", file=sys.stderr)
            return 2
        try:
            live = {k: mon.fetch_names(u) for k, u in live_urls.items()}
        except OSError as e:
            print(f"compose_check: cannot read live /metrics: {e}", file=sys.stderr)
            return 1
    if selftest:
        failures = self_test(root, live)
        for f in failures:
            print(f"compose_check: self-test: FAIL: {f}", file=sys.stderr)
        if failures:
            return 1
        nmut = len(MUTATIONS) + len(mon.MUTATIONS) + len(SERVICE_EDITS) + (1 if live else 0)
        print(f"compose_check: self-test: OK ({len(PARSER_CASES) + len(PARSER_ERRORS)} parser cases, "
              f"{nmut} mutations caught, end to end exit 1)")
        return 0
    try:
        texts = read_texts(root)
    except OSError as e:
        print(f"compose_check: {e}", file=sys.stderr)
        return 1
    errors = check(texts, root, live)
    for e in errors:
        print(f"compose_check: {e}", file=sys.stderr)
    if errors:
        print(f"compose_check: {len(errors)} mismatch(es)", file=sys.stderr)
        return 1
    print(f"compose_check: OK: {SPEC_NODE_COUNT} nodes and {len(SPEC_PROXIES)} proxies agree with "
          f"{DEVNET} and the spec; {DOCKERFILE} exposes "
          f"{' '.join(map(str, sorted(SPEC_NODE_EXPOSE)))}, entrypoint weft-node; Prometheus scrapes "
          f"them all, the dashboard has the guides' {len(mon.GUIDE_PANELS)} panels"
          + (f"; every dashboard metric is in the live /metrics" if live else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
