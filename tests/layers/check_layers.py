#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Check that weft's layers only point down.

Every C file (.c, .h) of the tree belongs to a layer by its path (LAYERS
below). Each `#include "..."` is resolved to the header it names: a header
beside the including file, else the header of the tree whose path ends in
the included name (an include/ dir, a src/ dir, a library folder), else a
generated protobuf-c header (NAME.pb-c.h from proto/NAME.proto, built into
the build tree only). The header's path gives its layer. Then:

  - a layer may include its own headers and the public headers of the
    layers it stands on (ALLOWED), nothing else: arrows point down, siblings
    never include each other;
  - another layer's private header (src/, or anything outside the folders
    listed as its public ones) is never included, even from above;
  - a C file outside every layer, a header name that several layers
    provide, and a table that is not a hierarchy are errors too.

The CMakeLists.txt files are checked against the same table: the weft
libraries named by weft_add_library(... DEPS ... PUBLIC ... PRIVATE ...),
weft_add_program(... LIBS ...) and target_link_libraries(weft_X ...).

bench/, fuzz/ and tests/ may use anything (they are the "*" layers).

Usage: check_layers.py [--root DIR] [--self-test] [--verbose]
  --root DIR   repository root [two levels above this file]
  --self-test  copy the tree into a temporary directory, plant violations
               and check that each one is reported (and nothing else)
  --verbose    also list the quoted includes that resolve to no header of
               the tree (external headers written with quotes)
Prints one line per violation, file:line: from -> to: rule. Exit status 0
when there is none, 1 when there is any, 2 on a usage error. Standard
library only.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile

# ---- the table -------------------------------------------------------------
# name: (rank, folders (the first match of a file's path wins, longest first),
#        public folders (headers the layers above may include; the others of
#        the layer are private), layers it may use)
# A layer's rank is above the rank of every layer it uses. "*" may use all.
LAYERS = {
    "base": (0, ["base"], ["base/include"], []),
    "codec": (1, ["codec"], ["codec/include"], ["base"]),
    "transport": (1, ["transport"], ["transport/include"], ["base"]),
    "proto": (0, ["proto"], ["proto"], []),
    "mesh": (2, ["mesh"], ["mesh/include"], ["base", "codec", "transport"]),
    "mesh_sim": (3, ["mesh/sim"], ["mesh/sim/include"], ["base", "codec", "transport", "mesh"]),
    "svc_config": (1, ["service/config"], ["service/config/include"], ["base"]),
    "svc_http": (1, ["service/http"], ["service/http/include"], ["base"]),
    "svc_httpc": (1, ["service/httpc"], ["service/httpc/include"], ["base"]),
    "svc_grpc": (1, ["service/grpc"], ["service/grpc/include"], ["base"]),
    "svc_metrics": (1, ["service/metrics"], ["service/metrics/include"], ["base"]),
    "svc_auth": (2, ["service/auth"], ["service/auth/include"], ["base", "svc_httpc"]),
    "svc_bridge": (2, ["service/bridge"], ["service/bridge/include"], ["base", "transport"]),
    "node": (4, ["node"], ["node/include"],
             ["base", "codec", "transport", "mesh", "svc_config", "svc_http", "svc_grpc",
              "svc_metrics", "svc_bridge", "proto"]),
    "proxy": (4, ["proxy"], ["proxy/include"],
              ["base", "svc_config", "svc_http", "svc_grpc", "svc_auth", "svc_metrics",
               "proto"]),
    "apps_common": (1, ["apps/common"], ["apps/common"], ["base"]),
    # the programs: thin mains over the libraries they link
    "app:weft-codec": (5, ["apps/weft-codec"], [], ["base", "codec"]),
    "app:weft-p2p": (5, ["apps/weft-p2p"], [], ["base", "codec", "transport", "mesh"]),
    "app:weft-node": (5, ["apps/weft-node"], [], ["base", "node"]),
    "app:weft-proxy": (5, ["apps/weft-proxy"], [], ["base", "proxy"]),
    "app:weft-client": (5, ["apps/weft-client"], [],
                        ["base", "apps_common", "transport", "svc_grpc", "svc_http", "proto"]),
    "app:weft-proxy-client": (5, ["apps/weft-proxy-client"], [],
                              ["base", "apps_common", "svc_grpc", "svc_http", "svc_httpc",
                               "proto"]),
    # the testbed's programs (weft-netem): base only
    "testbed": (5, ["testbed"], [], ["base"]),
    # anything goes
    "bench": (9, ["bench"], [], ["*"]),
    "fuzz": (9, ["fuzz"], [], ["*"]),
    "tests": (9, ["tests"], [], ["*"]),
}

# Library target names (weft_X, weft::X, weft_X_shared, ...) that are layers.
# Build settings and test frameworks, which are not layers:
NOT_LAYERS = {"options", "criterion"}

SKIP_DIRS = {".git", "node_modules", "__pycache__"}
C_EXT = (".c", ".h")
INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"')


def fail_table(msg):
    print(f"check_layers: table: {msg}", file=sys.stderr)
    sys.exit(2)


def check_table():
    """The table itself: every name known, arrows only to lower ranks."""
    for name, (rank, folders, public, uses) in LAYERS.items():
        for u in uses:
            if u == "*":
                continue
            if u not in LAYERS:
                fail_table(f"{name} uses unknown layer {u}")
            if LAYERS[u][0] >= rank:
                fail_table(f"{name} (rank {rank}) uses {u} (rank {LAYERS[u][0]}): "
                           "an arrow that does not point down")
        for p in public:
            if not any(p == f or p.startswith(f + "/") for f in folders):
                fail_table(f"{name}: public folder {p} outside its folders")


FOLDERS = sorted(((f, name) for name, v in LAYERS.items() for f in v[1]),
                 key=lambda x: -len(x[0]))


def layer_of(rel):
    """The layer of a path relative to the root, or None."""
    for folder, name in FOLDERS:
        if rel == folder or rel.startswith(folder + "/"):
            return name
    return None


def is_public(rel, layer):
    return any(rel.startswith(p + "/") for p in LAYERS[layer][2])


def may_use(frm, to):
    if frm == to:
        return True
    uses = LAYERS[frm][3]
    return "*" in uses or to in uses


def is_build_dir(path, name):
    return (name in SKIP_DIRS or name.startswith("build")
            or os.path.exists(os.path.join(path, "CMakeCache.txt")))


def walk(root):
    """Relative paths of the C files and CMakeLists.txt of the tree."""
    c_files, cmake_files = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if not is_build_dir(os.path.join(dirpath, d), d))
        for f in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
            if f.endswith(C_EXT):
                c_files.append(rel)
            elif f == "CMakeLists.txt":
                cmake_files.append(rel)
    return c_files, cmake_files


def strip_block_comments(text):
    """Blank out /* ... */ comments, keeping the line structure."""
    return re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text,
                  flags=re.S)


class Checker:
    def __init__(self, root, verbose=False):
        self.root = root
        self.verbose = verbose
        self.violations = []  # (file, line, from, to, rule)
        self.unresolved = []
        self.c_files, self.cmake_files = walk(root)
        self.headers = [f for f in self.c_files if f.endswith(".h")]
        self.header_set = set(self.headers)
        protos = os.path.join(root, "proto")
        self.protos = set()
        if os.path.isdir(protos):
            self.protos = {f[:-len(".proto")] for f in os.listdir(protos)
                           if f.endswith(".proto")}

    def add(self, rel, line, frm, to, rule):
        self.violations.append((rel, line, frm, to, rule))

    # -- includes --------------------------------------------------------------
    def resolve(self, includer, name):
        """(header path or None, layer) for an #include "name", or None."""
        here = os.path.dirname(includer)
        beside = os.path.normpath(os.path.join(here, name)).replace(os.sep, "/")
        if beside in self.header_set:
            return [beside]
        cands = [h for h in self.headers if h == name or h.endswith("/" + name)]
        if cands:
            return cands
        m = re.fullmatch(r"(?:.*/)?([A-Za-z0-9_]+)\.pb-c\.h", name)
        if m and m.group(1) in self.protos:
            return [f"proto/{m.group(1)}.proto (generated {name})"]
        return None

    def check_includes(self):
        for rel in self.c_files:
            frm = layer_of(rel)
            if frm is None:
                self.add(rel, 1, "?", "-", "C file in no layer: add its folder to LAYERS")
                continue
            try:
                with open(os.path.join(self.root, rel), encoding="utf-8",
                          errors="replace") as f:
                    text = strip_block_comments(f.read())
            except OSError as e:
                self.add(rel, 1, frm, "-", f"unreadable: {e}")
                continue
            for n, line in enumerate(text.split("\n"), 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                name = m.group(1)
                cands = self.resolve(rel, name)
                if cands is None:
                    self.unresolved.append((rel, n, name))
                    continue
                own = [c for c in cands if layer_of(c) == frm]
                if own:
                    continue  # the layer's own header
                layers = sorted({layer_of(c) or "?" for c in cands})
                if len(layers) > 1:
                    self.add(rel, n, frm, "/".join(layers),
                             f'"{name}" is provided by several layers ({", ".join(cands)})')
                    continue
                to = layers[0]
                hdr = cands[0]
                if to == "?":
                    self.add(rel, n, frm, "?", f'"{name}" resolves to {hdr}, in no layer')
                elif not may_use(frm, to):
                    self.add(rel, n, frm, to, self.rule(frm, to, f'includes "{name}"'))
                elif ("*" not in LAYERS[frm][3] and not hdr.startswith("proto/")
                      and not is_public(hdr, to)):
                    self.add(rel, n, frm, to,
                             f'includes "{name}", a private header of {to} ({hdr})')

    @staticmethod
    def rule(frm, to, what):
        fr, tr = LAYERS[frm][0], LAYERS[to][0]
        if tr > fr:
            kind = "points up"
        elif tr == fr:
            kind = "between siblings"
        else:
            kind = "not in the table"
        allowed = ", ".join(LAYERS[frm][3]) or "nothing"
        return f"{what}: {frm} -> {to} {kind} ({frm} may use {allowed})"

    # -- CMake -----------------------------------------------------------------
    @staticmethod
    def target_layer(tok):
        """The layer a weft target names (weft::X, weft_X[_obj|_shared|...]), or None."""
        m = re.fullmatch(r"weft(?:::|_)([A-Za-z0-9_]+)", tok)
        if not m:
            return None
        name = m.group(1)
        for suffix in ("_obj", "_shared", "_static", "_testing"):
            if name.endswith(suffix) and name[:-len(suffix)] in LAYERS:
                name = name[:-len(suffix)]
                break
        if name in NOT_LAYERS:
            return None
        return name if name in LAYERS else "?" + name

    def cmake_calls(self, rel):
        """(command, args, line) of each command invocation of a CMake file."""
        with open(os.path.join(self.root, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        # comments: '#' to the end of the line, outside quotes (good enough here)
        text = re.sub(r'#[^\n"]*(?=\n|$)', "", text)
        for m in re.finditer(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", text):
            depth, i = 1, m.end()
            while i < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            args = text[m.end():i - 1].split()
            yield m.group(1).lower(), args, text.count("\n", 0, m.start()) + 1

    def check_cmake(self):
        for rel in self.cmake_files:
            home = layer_of(rel)
            if home is None or "*" in LAYERS[home][3]:
                continue  # top level, cmake/, and the anything-goes layers
            for cmd, args, line in self.cmake_calls(rel):
                if cmd == "weft_add_library" and args:
                    frm = args[0] if args[0] in LAYERS else "?" + args[0]
                    if frm != home:
                        self.add(rel, line, home, frm,
                                 f"weft_add_library({args[0]}) declared in {home}'s folder")
                        continue
                    deps = []
                    mode = None
                    for a in args[1:]:
                        if a in ("DEPS", "PUBLIC", "PRIVATE", "SOURCES", "DESCRIPTION",
                                 "PC_REQUIRES", "PC_REQUIRES_PRIVATE", "PC_LIBS_PRIVATE",
                                 "INSTALL"):
                            mode = a
                        elif mode == "DEPS":
                            deps.append(a if a in LAYERS else "?" + a)
                        elif mode in ("PUBLIC", "PRIVATE"):
                            t = self.target_layer(a)
                            if t:
                                deps.append(t)
                    self.check_links(rel, line, frm, deps, f"weft_add_library({args[0]})")
                elif cmd == "weft_add_program" and args:
                    libs = args[args.index("LIBS") + 1:] if "LIBS" in args else []
                    deps = [t for t in map(self.target_layer, libs) if t]
                    self.check_links(rel, line, home, deps, f"weft_add_program({args[0]})")
                elif cmd == "target_link_libraries" and args:
                    frm = self.target_layer(args[0])
                    if frm is None or "${" in args[0]:
                        continue
                    deps = [t for t in map(self.target_layer, args[1:]) if t]
                    self.check_links(rel, line, frm, deps, f"target_link_libraries({args[0]})")

    def check_links(self, rel, line, frm, deps, what):
        if frm.startswith("?"):
            self.add(rel, line, frm[1:], "-", f"{what}: {frm[1:]} is no layer of the table")
            return
        for to in deps:
            if to.startswith("?"):
                self.add(rel, line, frm, to[1:], f"{what}: links {to[1:]}, no layer of the table")
            elif not may_use(frm, to):
                self.add(rel, line, frm, to, self.rule(frm, to, f"{what} links weft_{to}"))

    def run(self):
        self.check_includes()
        self.check_cmake()
        return self.violations


def report(violations):
    for rel, line, frm, to, rule in violations:
        print(f"{rel}:{line}: {frm} -> {to}: {rule}")


# ---- self-test ---------------------------------------------------------------
# (file, text to insert after the first #include line or, for CMake, a
# replacement (old, new)), and (from, to) expected in the report.
PLANTS_C = [
    ("codec/src/shard.c", '#include "weft/host.h"', "codec", "transport"),
    ("base/src/clock.c", '#  include "weft/codec.h"', "base", "codec"),
    ("service/http/src/http.c", '#include "weft/svc_grpc.h"', "svc_http", "svc_grpc"),
    ("apps/weft-proxy/main.c", '#include "weft/svc_http.h"', "app:weft-proxy", "svc_http"),
    ("mesh/src/ps_core.c", '#include "weft/ps_sim.h"', "mesh", "mesh_sim"),
    ("transport/src/loop.c", '#include "p2p_stream.pb-c.h"', "transport", "proto"),
    ("node/src/node.c", '#include "host_internal.h"', "node", "transport"),
    ("base/src/log.c", '#include "../../tests/codec/testutil.h"', "base", "tests"),
]
PLANTS_CMAKE = [
    ("codec/CMakeLists.txt", "DEPS base", "DEPS base transport", "codec", "transport"),
    ("apps/weft-proxy/CMakeLists.txt", "LIBS weft::proxy", "LIBS weft::proxy weft::node",
     "app:weft-proxy", "node"),
]


def self_test(root):
    base = Checker(root).run()
    before = {(v[0], v[2], v[3]) for v in base}
    problems = []
    with tempfile.TemporaryDirectory(prefix="weft-layers-") as tmp:
        copy = os.path.join(tmp, "tree")
        shutil.copytree(root, copy, ignore=lambda d, names: [
            n for n in names if is_build_dir(os.path.join(d, n), n)])
        expect = set()
        for rel, text, frm, to in PLANTS_C:
            path = os.path.join(copy, rel)
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            at = next(i for i, l in enumerate(lines) if INCLUDE_RE.match(l))
            lines.insert(at + 1, text)
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines))
            expect.add((rel, at + 2, frm, to))
        for rel, old, new, frm, to in PLANTS_CMAKE:
            path = os.path.join(copy, rel)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if old not in text:
                problems.append(f"self-test: cannot plant in {rel}: '{old}' not found")
                continue
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(old, new, 1))
            expect.add((rel, None, frm, to))
        # a C file in a folder of no layer
        os.makedirs(os.path.join(copy, "extras"), exist_ok=True)
        with open(os.path.join(copy, "extras", "stray.c"), "w", encoding="utf-8") as f:
            f.write('#include "weft/common.h"\n')
        expect.add(("extras/stray.c", 1, "?", "-"))

        got = Checker(copy).run()
        for rel, line, frm, to in sorted(expect, key=str):
            hit = [v for v in got if v[0] == rel and v[2] == frm and v[3] == to
                   and (line is None or v[1] == line)]
            if hit:
                print(f"self-test: caught {rel}:{hit[0][1]}: {frm} -> {to}: {hit[0][4]}")
            else:
                problems.append(f"self-test: missed planted {rel}:{line or '?'}: {frm} -> {to}")
        for v in got:
            planted = any(v[0] == e[0] and v[2] == e[2] and v[3] == e[3] for e in expect)
            if not planted and (v[0], v[2], v[3]) not in before:
                problems.append(f"self-test: unexpected report {v[0]}:{v[1]}: {v[4]}")
    for p in problems:
        print(p)
    print(f"self-test: {len(expect) - sum('missed' in p for p in problems)} of {len(expect)} "
          "planted violations caught")
    return not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.normpath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if not os.path.isdir(a.root):
        print(f"check_layers: no such directory {a.root}", file=sys.stderr)
        return 2
    check_table()
    if a.self_test:
        return 0 if self_test(a.root) else 1
    c = Checker(a.root, a.verbose)
    violations = c.run()
    report(violations)
    if a.verbose:
        for rel, line, name in c.unresolved:
            print(f'{rel}:{line}: "{name}" is no header of the tree (external)')
    print(f"layers: {len(c.c_files)} C files, {len(c.cmake_files)} CMakeLists.txt, "
          f"{len(violations)} violation(s)")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
