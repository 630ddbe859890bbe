#!/usr/bin/python3
"""CLI tests of the budget of decoded bytes (issue 17, "bounds still
missed"): a small file that declares more decoded work than the default
budget (64 MiB + 64 x the file size) is refused by every reading command
with a message that says how to raise it; `--max-decode BYTES` and the
environment variable RAIIAF_MAX_DECODE raise it, and a legitimate file
that needs more -- a seed recipe of 72 MiB, which the format allows up to
1 GiB -- then reads, verifies and extracts bit for bit.

The hostile files are built by hand from docs/SPEC.md (tests/hostile.py,
tests/bounds_table.py's builders); the legitimate file by `raiiaf create
--noise-seed` from noise that `raiiaf noise` made, checked against numpy's
own reading of both .npy files.  Run by CTest with RAIIAF_CLI."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bounds_table  # noqa: E402  (the hostile builders)
import hostile  # noqa: E402
from clitest import CliCase, run  # noqa: E402

HINT = b"raise it with --max-decode BYTES or RAIIAF_MAX_DECODE"


class DecodeBudget(CliCase):
    PREFIX = "raiiaf-budget-"

    def write(self, name, data):
        path = self.p(name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_recipe_over_default_refused_with_hint(self):
        # one 32-byte recipe declaring 128 MiB: over 64 MiB + 64 x 0.7 KB
        f = self.write("recipe.raiiaf", bounds_table.recipe_file(1, 128 << 20))
        size = os.path.getsize(f)
        budget = (64 << 20) + 64 * size
        want = b"decoding %d more bytes would pass this reader's budget of %d decoded bytes" % (128 << 20, budget)
        r = run("verify", f)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(want, r.stderr)
        self.assertIn(HINT, r.stderr)
        r = run("extract", f, "--all", self.p("out"))
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(want, r.stderr)
        self.assertIn(HINT, r.stderr)
        # the path is said once, not "x: x: ..."
        self.assertNotIn((f + ": " + f + ":").encode(), r.stderr)
        # raised: the recipe is regenerated and its (wrong) digest found
        for how in (("--max-decode", "200M"), ("--max-decode=209715200",)):
            r = run("verify", *how, f)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(b"regenerated noise does not match the SHA-256 recorded", r.stderr)
            self.assertNotIn(b"would pass this reader's budget", r.stderr)
        r = run("verify", f, env={"RAIIAF_MAX_DECODE": "200M"})
        self.assertIn(b"regenerated noise does not match", r.stderr)
        # the option wins over the environment
        r = run("verify", "--max-decode", "1M", f, env={"RAIIAF_MAX_DECODE": "200M"})
        self.assertIn(b"would pass this reader's budget of 1048576 decoded bytes", r.stderr)

    def test_recover_budget(self):
        f = self.write("recipe.raiiaf", bounds_table.recipe_file(1, 128 << 20))
        out = self.p("rec.raiiaf")
        r = run("recover", f, "-o", out)
        self.assertEqual(r.returncode, 3, (r.stdout, r.stderr))
        self.assertIn(b"cannot be verified within recover's budget", r.stderr)
        self.assertIn(b"--max-decode BYTES", r.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual([n for n in os.listdir(self.dir) if n != "recipe.raiiaf"], [])

    def test_manifest_text_counted(self):
        # 3 versions of 8 MiB manifests (run-length coded) in a tiny file:
        # 3 x 8 MiB x 4 passes a budget of 64 MiB + 64 x its size
        f = self.write("versions.raiiaf", bounds_table.many_versions(3, 8 << 20))
        r = run("history", f)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(b"bytes of JSON text (counted 4 times: parsing costs more than decoding) would pass this reader's budget",
                      r.stderr)
        self.assertIn(HINT, r.stderr)
        r = run("history", "--max-decode", "256M", f)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count(b"version "), 3)
        r = run("info", "--max-decode", "1K", f)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(b"budget of 1024 decoded bytes", r.stderr)
        r = run("info", "--version", "1", "--max-decode", "256M", f)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_values(self):
        f = self.write("recipe.raiiaf", bounds_table.recipe_file(1, 1 << 20))
        for cmd in ("info", "verify", "history"):
            r = run(cmd, "--max-decode", "12Q", f)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(b"--max-decode: '12Q' is not a size in bytes", r.stderr)
        r = run("verify", f, env={"RAIIAF_MAX_DECODE": "-5"})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(b"RAIIAF_MAX_DECODE: '-5' is not a size in bytes", r.stderr)
        for cmd in ("info", "verify", "extract", "history", "recover", "export"):
            self.assertIn(b"--max-decode BYTES", run(cmd, "--help").stdout, cmd)

    def test_legitimate_large_recipe(self):
        """Noise of 72 MiB stored as a seed recipe: a file of a few hundred
        bytes that needs more than the default budget.  Refused by default,
        read exactly once the budget is raised."""
        import numpy as np
        noise = self.p("noise.npy")
        shape = (1, 4, 2304, 2048)  # 18.9 M float32 = 72 MiB
        self.ok("noise", "--seed", "7", "--shape", ",".join(map(str, shape)), "-o", noise)
        f = self.p("big.raiiaf")
        self.ok("create", "-o", f, "--latent", "noise=" + noise, "--noise-seed", "noise=7", "--no-env", "-q")
        self.assertLess(os.path.getsize(f), 4096)
        r = run("verify", f)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"would pass this reader's budget", r.stderr)
        self.assertIn(HINT, r.stderr)
        self.assertIn(b"OK", run("verify", "--max-decode", "100M", f).stdout)
        # extract checks every payload before it writes anything, then
        # decodes again to write: twice the tensor from one budget
        r = run("extract", f, "--max-decode", "100M", "--latent", "noise=" + self.p("back.npy"), "-q")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertFalse(os.path.exists(self.p("back.npy")))
        self.ok("extract", f, "--max-decode", "160M", "--latent", "noise=" + self.p("back.npy"), "-q")
        self.assertTrue(np.array_equal(np.load(noise), np.load(self.p("back.npy"))))
        self.assertEqual(np.load(noise).shape, shape)
        r = run("recover", f, "-o", self.p("rec.raiiaf"), "--max-decode", "400M")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"OK", run("verify", self.p("rec.raiiaf"), env={"RAIIAF_MAX_DECODE": "100M"}).stdout)

    def test_over_budget_helper_file(self):
        # hostile.over_budget_file(): declares exactly one byte over
        data, budget = hostile.over_budget_file()
        f = self.write("over.raiiaf", data)
        r = run("verify", f)
        self.assertIn(b"decoding %d more bytes would pass this reader's budget of %d" % (budget + 1, budget), r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
