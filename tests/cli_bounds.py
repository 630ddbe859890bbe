#!/usr/bin/python3
"""CLI tests for issue 17, bounded work on hostile files: each hostile file
is built here (tests/hostile.py) and each command must refuse it with the
library's limit, or finish, within a bounded peak memory (the children's
maxrss, generous: 512 MiB) -- assertions are on the refusal, not on time.

Run by CTest with RAIIAF_CLI and RAIIAF_SANITIZED ("1" in ASan builds,
where RSS includes the sanitizer's shadow memory and is not checked)."""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hostile  # noqa: E402

CLI = os.environ.get("RAIIAF_CLI") or os.path.join(HERE, "..", "build", "raiiaf")
SANITIZED = os.environ.get("RAIIAF_SANITIZED", "0") in ("1", "ON", "TRUE", "true")
RSS_BOUND_KIB = 512 * 1024


def run(*args, timeout=60):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, timeout=timeout)


class Bounds(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="raiiaf-bounds-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        with open(self.p(name), "wb") as f:
            f.write(data)
        return self.p(name)

    def check_rss(self):
        # maxrss of the largest child waited for so far (KiB on Linux).
        if not SANITIZED:
            self.assertLess(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, RSS_BOUND_KIB)

    # ---- item 9: JSON that parses into too many values / too much memory --

    def test_manifest_of_empty_objects(self):
        # 1.2 million {} (3.6 MB of text): ~300 MB of jansson objects.
        f = self.write("objects.raiiaf", hostile.one_manifest_file(hostile.empty_objects(1_200_000)))
        for cmd, code in (("info", 3), ("verify", 1)):
            r = run(cmd, f)
            self.assertEqual(r.returncode, code, (cmd, r.stdout, r.stderr))
            self.assertIn(b"manifest at offset 64: JSON text would need more than 256 MiB once parsed (limit", r.stderr)
            self.assertNotIn(b"OK", r.stdout)
        self.check_rss()

    def test_manifest_of_many_values(self):
        # 2.2 million zeros: few bytes each once parsed, but more values than the limit.
        f = self.write("zeros.raiiaf", hostile.one_manifest_file([("raw", b"[" + b"0," * 2_200_000 + b"0]")]))
        r = run("info", f)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(b"JSON text holds more than 2097152 values (limit", r.stderr)
        # [[[[... from 80 bytes of zstd RLE: refused before jansson's depth check
        f = self.write("brackets.raiiaf", hostile.one_manifest_file(hostile.open_brackets(2_200_000)))
        self.assertLess(os.path.getsize(f), 4096)
        r = run("info", f)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(b"JSON text would need more than 256 MiB once parsed (limit", r.stderr)
        self.check_rss()

    def test_recover_holds_one_manifest_at_a_time(self):
        # Three manifests of 700 000 {} each: within the JSON limits, about
        # 170 MB each once parsed; recover held them all at once (640 MB).
        # (Under ASan, where RSS is not checked, a smaller file keeps it fast.)
        mani = hostile.manifest_chunk(hostile.empty_objects(100_000 if SANITIZED else 700_000))
        f = self.write("manis.raiiaf", hostile.header() + mani * 3)
        r = run("recover", f, "-o", self.p("out.raiiaf"), timeout=120)
        self.assertIn(b"found 0 intact payload chunks and 3 manifest chunks", r.stdout)
        self.assertIn(b"3 of 3 manifest chunks readable", r.stdout)
        self.check_rss()

    # ---- item 2: the search back for a complete version is bounded --------

    def test_fallback_footer_budget(self):
        # 40 decoy versions, each 64 KiB of text that is not JSON: the good
        # version 1 lies behind all of them, beyond the 16 footers tried.
        f = self.write("decoys.raiiaf", hostile.decoy_file(40, [("rle", ord("}"), 64 << 10)]))
        for cmd, code in (("info", 3), ("verify", 1)):
            r = run(cmd, f)
            self.assertEqual(r.returncode, code, (cmd, r.stdout, r.stderr))
            self.assertIn(b"no footer at offset", r.stderr)
            self.assertIn(b"the search back for an earlier complete version gave up after 16 footers", r.stderr)
        # a few decoys: version 1 is found, as before
        f = self.write("few.raiiaf", hostile.decoy_file(3, [("rle", ord("}"), 64 << 10)]))
        r = run("info", f)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_rss()

    def test_fallback_byte_budget(self):
        # Each decoy inflates 2 KB to 60 MiB: the second would pass 96 MiB,
        # and no version is complete.
        f = self.write("bombs.raiiaf", hostile.decoy_file(3, [("rle", ord("}"), 60 << 20)], good=False))
        self.assertLess(os.path.getsize(f), 16 * 1024)
        r = run("info", f)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(b"gave up after 3 footers and 60 MiB of manifests (limits 16 footers, 96 MiB)", r.stderr)
        # with a good version 1 behind them: smaller manifests are still
        # tried once the bytes are spent, and it opens
        f = self.write("bombs1.raiiaf", hostile.decoy_file(3, [("rle", ord("}"), 60 << 20)]))
        r = run("info", f)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"trailing bytes after the last complete version (interrupted edit?); showing version 1", r.stderr)
        self.check_rss()
    # ---- issue item 4: the reader's budget of decoded bytes ---------------

    def test_decode_budget(self):
        data, budget = hostile.over_budget_file()
        f = self.write("big.raiiaf", data)
        want = b"decoding %d more bytes would pass this reader's budget of %d decoded bytes" % (budget + 1, budget)
        r = run("verify", f)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(want, r.stderr)
        r = run("extract", f, "--latent", "big=" + self.p("big.npy"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(want, r.stderr)
        self.check_rss()


if __name__ == "__main__":
    unittest.main(verbosity=2)
