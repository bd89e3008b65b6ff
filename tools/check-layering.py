#!/usr/bin/env python3
"""Derives the folder graph of core_shim/ from its #include lines and fails
on a cycle (issue 11: a host with no folder cycles).

    python3 tools/check-layering.py [--dot] [ROOT]

An edge A -> B means a file in core_shim/A includes "B/...". Includes of
the module API (opensips/...) and of the same folder are not edges. Prints
each cycle found (a strongly connected component of more than one folder,
with the includes that make it) and exits 1; prints the layers (bottom
first) and exits 0 when there is none. Ends with `N passed, N failed`.
"""
import os
import re
import sys

INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def graph(root):
    base = os.path.join(root, "core_shim")
    folders = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    edges = {f: {} for f in folders}
    for f in folders:
        for dirpath, _, files in os.walk(os.path.join(base, f)):
            for fn in files:
                if not fn.endswith((".cc", ".h")):
                    continue
                path = os.path.join(dirpath, fn)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for ln in fh:
                        m = INC.match(ln)
                        if not m:
                            continue
                        inc = m.group(1)
                        top = inc.split("/", 1)[0] if "/" in inc else None
                        if top in edges and top != f:
                            edges[f].setdefault(top, []).append(
                                "%s: %s" % (os.path.relpath(path, root), inc))
    return edges


def sccs(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in edges:
        if v not in index:
            visit(v)
    return out


def layers(edges):
    depth = {}

    def d(v):
        if v not in depth:
            depth[v] = 0
            depth[v] = 1 + max((d(w) for w in edges[v]), default=-1)
        return depth[v]

    for v in edges:
        d(v)
    by = {}
    for v, n in depth.items():
        by.setdefault(n, []).append(v)
    return [sorted(by[k]) for k in sorted(by)]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    edges = graph(root)
    if "--dot" in sys.argv:
        print("digraph core_shim {")
        for a, bs in sorted(edges.items()):
            for b in sorted(bs):
                print('  "%s" -> "%s";' % (a, b))
        print("}")
        return 0
    cycles = [sorted(c) for c in sccs(edges) if len(c) > 1]
    if cycles:
        for c in cycles:
            print("FAIL folder cycle: %s" % " <-> ".join(c))
            for a in c:
                for b in c:
                    for why in edges[a].get(b, [])[:3]:
                        print("    %s -> %s   (%s)" % (a, b, why))
        print("0 passed, 1 failed")
        return 1
    for i, layer in enumerate(layers(edges)):
        print("layer %d: %s" % (i, " ".join(layer)))
    print("ok   core_shim/ folder graph has no cycle")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
