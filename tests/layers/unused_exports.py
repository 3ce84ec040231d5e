#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Functions the libraries export that nothing links.

Every function with external linkage in the libraries (base, codec,
transport, mesh, service/*, node, proxy; WEFT_API or plain non-static) must
be referenced from some object other than the one defining it: another
file of its library, a library above, a program, a benchmark, a fuzz
target or a test. A function nothing else references is dead (remove it),
used only in its own file (make it static), or real API without a test
(add one). Real API kept on purpose without any of that goes into the
allow-list, tests/layers/unused_exports.allow, one `symbol reason` a line.

The objects are the ones the build's compile_commands.json names (so stale
objects of removed sources do not count), read with nm: defined text
symbols of the library objects against the undefined symbols of every
object. The build must be a full one (network, service, tests and
benchmarks on), or callers would be missing.

Usage: tests/layers/unused_exports.py BUILD_DIR [--allow FILE]
Exit: 0 clean, 1 unreferenced functions or a bad allow-list, 2 cannot check.
"""
import argparse
import collections
import json
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB_OBJ_DIR = re.compile(r"/CMakeFiles/weft_(base|codec|transport|mesh|svc_\w+?|node|proxy)_obj\.dir/")
NEEDED_OPTIONS = ("WEFT_BUILD_NETWORK", "WEFT_BUILD_SERVICE", "WEFT_BUILD_TESTS", "WEFT_BUILD_BENCH")


def fail_setup(msg):
    print(f"unused_exports: {msg}", file=sys.stderr)
    sys.exit(2)


def cache_options(build):
    opts = {}
    try:
        with open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8") as f:
            for line in f:
                m = re.match(r"(WEFT_\w+):BOOL=(\w+)", line)
                if m:
                    opts[m.group(1)] = m.group(2).upper() in ("ON", "TRUE", "1", "YES")
    except OSError as e:
        fail_setup(f"no CMakeCache.txt in {build}: {e.strerror}")
    return opts


def objects(build):
    """(object path, source path) of every compile in the build."""
    path = os.path.join(build, "compile_commands.json")
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except OSError as e:
        fail_setup(f"{path}: {e.strerror} (configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON)")
    out = []
    for e in entries:
        args = e.get("arguments") or shlex.split(e["command"])
        obj = e.get("output")
        if obj is None and "-o" in args:
            obj = args[args.index("-o") + 1]
        if obj is None:
            continue
        obj = os.path.normpath(os.path.join(e["directory"], obj))
        if not os.path.exists(obj):
            fail_setup(f"{obj} is not built (build {build} first)")
        out.append((obj, os.path.normpath(e["file"])))
    return out


def nm(paths):
    """{object: [(symbol, type)]} for the global symbols of paths."""
    syms = collections.defaultdict(list)
    for i in range(0, len(paths), 200):
        res = subprocess.run(["nm", "-A", "-P", "-g", *paths[i:i + 200]],
                             capture_output=True, text=True, check=True)
        for line in res.stdout.splitlines():
            obj, _, rest = line.rpartition(": ")
            fields = rest.split()
            if len(fields) >= 2:
                syms[obj].append((fields[0], fields[1]))
    return syms


def read_allow(path):
    """{symbol: reason}, and the problems of the file."""
    allow, problems = {}, []
    if not os.path.exists(path):
        return allow, problems
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            sym, _, reason = line.partition(" ")
            if not reason.strip():
                problems.append(f"{path}:{n}: {sym} has no reason")
            allow[sym] = reason.strip()
    return allow, problems


def uses_in(sym, path):
    """Occurrences of sym in path other than its definition or a prototype:
    with comments removed, an occurrence counts unless it starts a line or
    follows a file-scope type at column 0 (no '=' before it), followed by '('."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return 0
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    n = 0
    for line in text.splitlines():
        for m in re.finditer(rf"\b{re.escape(sym)}\b", line):
            before, after = line[:m.start()], line[m.end():]
            decl = (not line[:1].isspace() and "=" not in before and
                    after.lstrip().startswith("("))
            n += not decl
    return n


def hint(sym, src):
    """What the sources say about an unreferenced function."""
    rel = os.path.relpath(src, ROOT)
    own = uses_in(sym, src)
    res = subprocess.run(["git", "-C", ROOT, "grep", "-lw", sym, "--", "*.c", "*.h"],
                         capture_output=True, text=True)
    others = [p for p in res.stdout.split() if p != rel]
    if own:
        what = "used only in its own file: make it static"
    else:
        what = "not used: remove it, or test it if it is real API"
    named = f"; also named in {', '.join(others)}" if others else ""
    return f"{rel}: {what}{named}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("--allow", default=os.path.join(ROOT, "tests", "layers", "unused_exports.allow"))
    a = ap.parse_args()
    build = os.path.abspath(a.build)

    opts = cache_options(build)
    off = [o for o in NEEDED_OPTIONS if not opts.get(o, False)]
    if off:
        fail_setup(f"{build} is not a full build ({', '.join(off)} off): callers would be missing")

    objs = objects(build)
    syms = nm([o for o, _ in objs])
    source = dict(objs)

    defined = {}  # function -> (library, object)
    referenced = collections.defaultdict(set)  # symbol -> objects that need it
    for obj, entries in syms.items():
        m = LIB_OBJ_DIR.search(obj)
        for sym, kind in entries:
            if kind == "U":
                referenced[sym].add(obj)
            elif m and kind in ("T", "W"):
                defined[sym] = (m.group(1), obj)

    allow, problems = read_allow(a.allow)
    unused = []
    for sym, (lib, obj) in sorted(defined.items(), key=lambda x: (x[1][0], x[0])):
        if referenced.get(sym, set()) - {obj}:
            if sym in allow:
                problems.append(f"{sym} is allow-listed but now linked: drop its entry")
            continue
        if sym not in allow:
            unused.append((lib, sym, obj))
    for sym in sorted(set(allow) - set(defined)):
        problems.append(f"{sym} is allow-listed but no library defines it: drop its entry")

    for lib, sym, obj in unused:
        print(f"unused_exports: {lib}: {sym}  ({hint(sym, source[obj])})")
    for p in problems:
        print(f"unused_exports: {p}")
    print(f"unused_exports: {len(defined)} exported functions, {len(unused)} unreferenced, "
          f"{len(allow)} allow-listed", file=sys.stderr)
    return 1 if unused or problems else 0


if __name__ == "__main__":
    sys.exit(main())
