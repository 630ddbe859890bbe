#!/usr/bin/python3
"""The JSON schemas (schema/*.json) mean the same to other validators as to
the library's own (src/schema.c, POSIX regcomp): their patterns are
ECMA-262 regular expressions without POSIX classes such as [:cntrl:], which
ECMA-262 and Python read as a list of characters (so that other validators
refused the tool's own environment records).

Run by CTest (tests/cli_*.py) with RAIIAF_CLI.  With Python's jsonschema
installed, the tool's own environment record and manifest are validated
with it; without it, each pattern is checked with Python's re, which reads
these patterns as ECMA-262 does, but for one thing: Python's `$` also
matches before a final newline, ECMA-262's (and POSIX's) does not, so the
check reads a final `$` as `\Z`.  (python-jsonschema itself uses re.search
and so accepts a canonical string ending in one newline; the library and
ECMA-262 validators refuse it.)
"""

import hashlib
import json
import os
import re
import subprocess
import tempfile
import shutil
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("RAIIAF_CLI") or os.path.join(HERE, "..", "build", "raiiaf")
SCHEMAS = os.path.join(HERE, "..", "schema")

try:
    import jsonschema
except ImportError:  # pragma: no cover
    jsonschema = None


def load(name):
    with open(os.path.join(SCHEMAS, name), encoding="utf-8") as f:
        return json.load(f)


def patterns(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "pattern" and isinstance(v, str):
                yield path, v
            else:
                yield from patterns(v, path + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from patterns(v, "%s/%d" % (path, i))


def ecma(pat):
    """The pattern as ECMA-262 reads it, in Python syntax."""
    return re.sub(r"(?<!\\)\$$", r"\\Z", pat)


def cli(*args, cwd=None):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd,
                       env=dict(os.environ, RAIIAF_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1"))
    if p.returncode:
        raise AssertionError("raiiaf %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p.stdout


ENV = load("raiiaf-env.schema.json")
CANONICAL = ecma(ENV["properties"]["components"]["items"]["properties"]["canonical"]["pattern"])
ID = ecma(ENV["properties"]["components"]["items"]["properties"]["id"]["pattern"])

# The same lists as tests/test_schema.c (test_env_canonical_pattern), which
# checks that the library accepts and refuses exactly these.
GOOD = ["name=os;version=Linux 6.1.0", "a=", "a=b;c=d", "k=\u00e9\u0085", "a=[:cntrl:]", "a=:", "a=b c", "a=~!",
        "name=cpu;model=AMD EPYC 9654 96-Core Processor;cores=16"]
BAD = ["a=b\tc", "a=b\x7f", "a=b;c", "=b", "a=b=c", "a=b;", "A=b", "a=\x1f", "a=\x01", "a=b\n", "", "a", "a=b\x00c"]


class PortablePatterns(unittest.TestCase):
    def test_no_posix_classes(self):
        for name in sorted(os.listdir(SCHEMAS)):
            if not name.endswith(".json"):
                continue
            for path, pat in patterns(load(name)):
                self.assertNotRegex(pat, r"\[:[a-z]+:\]", "%s%s: POSIX class in %r" % (name, path, pat))
                re.compile(pat)

    def test_canonical_pattern_in_python(self):
        for s in GOOD:
            self.assertTrue(re.search(CANONICAL, s), "refused: %r" % s)
        for s in BAD:
            self.assertFalse(re.search(CANONICAL, s), "accepted: %r" % s)

    def test_tools_own_records(self):
        tmp = tempfile.mkdtemp(prefix="raiiaf-schema-")
        try:
            record = json.loads(cli("env", "--json"))
            data = os.environ.get("RAIIAF_TEST_DATA") or os.path.join(HERE, "data")
            shutil.copy(os.path.join(data, "npy", "f32_1x4x8x8_v1.npy"), tmp)
            cli("create", "-o", "f.raiiaf", "--latent", "x=f32_1x4x8x8_v1.npy", "--model", "m", "--cfg-scale", "7.1",
                "-q", cwd=tmp)
            manifest = json.loads(cli("info", "--json", "f.raiiaf", cwd=tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertTrue(record["components"])
        for c in record["components"]:
            self.assertTrue(re.search(ID, c["id"]), c)
            self.assertTrue(re.search(CANONICAL, c["canonical"]), c)
            self.assertEqual(hashlib.sha256(c["canonical"].encode()).hexdigest(), c["sha256"])
        if jsonschema is not None:
            jsonschema.Draft202012Validator(ENV).validate(record)
            jsonschema.Draft202012Validator(load("raiiaf-metadata.schema.json")).validate(manifest)
        # Reals in their shortest form (SPEC 8.1): 7.1, not 7.0999999999999996.
        self.assertEqual(manifest["raiiaf_metadata"]["model_info"]["generation_settings"]["cfg_scale"], 7.1)


if __name__ == "__main__":
    unittest.main()
