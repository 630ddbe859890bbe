"""Reads the public prototypes of include/raiiaf.h (for test_bindings.py).

Each ``RAIIAF_API <return type> <name>(<parameters>);`` becomes
``name -> (return type, [parameter types])`` with types normalised to C
spellings without names or extra spaces, e.g. ``const char *``.
"""

import re

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_DECL = re.compile(r"RAIIAF_API\s+([^;]*?)\b(raiiaf_\w+)\s*\(([^;]*?)\)\s*;", re.S)


def _norm(t):
    t = re.sub(r"\s+", " ", t.strip())
    t = re.sub(r"\s*\*\s*", " *", t)
    return t.replace("* *", "**").strip()


def _param_type(p):
    p = p.strip()
    arr = re.match(r"^(.*?)\w+\s*\[\s*\d*\s*\]$", p)  # const char type[4]: a pointer
    if arr:
        return _norm(arr.group(1) + "*")
    m = re.match(r"^(.*?)(\w+)$", p)
    if m and m.group(1).strip() and not m.group(1).strip().endswith(("struct", "enum")):
        p = m.group(1)  # drop the parameter's name
    return _norm(p)


def parse(path):
    text = _COMMENT.sub(" ", open(path, encoding="utf-8").read())
    out = {}
    for ret, name, params in _DECL.findall(text):
        params = params.strip()
        args = [] if params in ("", "void") else [_param_type(p) for p in params.split(",")]
        out[name] = (_norm(ret), args)
    return out
