#!/usr/bin/env python3
"""Lists pairs of C files under a folder that call each other both ways.

A function belongs to the file that defines it (a definition starts at the
beginning of a line and is followed by a line holding only "{"); a file
calls it when the name appears followed by "(" outside comments and
strings.  Static functions count only inside their file.  Usage:

    scripts/circles.py [src]        # prints "a.c <-> b.c: f, g / h" lines

Exit status 1 when there is a circle, so it can guard a layout.
"""

import os
import re
import sys
from collections import defaultdict

DEF = re.compile(r"^(?!static\b)[A-Za-z_][\w \*]*?\b([a-z_]\w*)\s*\([^;]*\)\s*$")
CALL = re.compile(r"\b([a-z_]\w*)\s*\(")
STRIP = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'", re.S)


def defined(path):
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    return {m.group(1) for i, l in enumerate(lines[:-1]) if (m := DEF.match(l)) and lines[i + 1].strip() == "{"}


def main(root):
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".c")]
    owner = {}
    for f in files:
        for name in defined(f):
            owner[name] = f
    calls = defaultdict(lambda: defaultdict(set))  # caller file -> callee file -> names
    for f in files:
        for name in set(CALL.findall(STRIP.sub(" ", open(f, encoding="utf-8", errors="replace").read()))):
            g = owner.get(name)
            if g and g != f:
                calls[f][g].add(name)
    found = 0
    for a in sorted(calls):
        for b in sorted(calls[a]):
            if a < b and a in calls[b]:
                found += 1
                print("%s <-> %s: %s / %s" % (os.path.relpath(a, root), os.path.relpath(b, root),
                                              ", ".join(sorted(calls[a][b])), ", ".join(sorted(calls[b][a]))))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "src"))
