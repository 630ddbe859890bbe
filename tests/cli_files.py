#!/usr/bin/python3
"""CLI tests for issue 17: what writers do to the files around them.

* a file replaced (create -o, convert -o, compact, recover -o, extract)
  keeps its mode: a 0600 file stays 0600 (item 10);

Run by CTest with RAIIAF_CLI, RAIIAF_TEST_DATA, RAIIAF_KILL_SHIM,
RAIIAF_IO_SHIM and RAIIAF_SANITIZED (see cli_trust.py)."""

import os
import shutil
import stat
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("RAIIAF_CLI") or os.path.join(HERE, "..", "build", "raiiaf")
DATA = os.environ.get("RAIIAF_TEST_DATA") or os.path.join(HERE, "data")
SHIM = os.environ.get("RAIIAF_KILL_SHIM", "")
IO_SHIM = os.environ.get("RAIIAF_IO_SHIM", "")
SANITIZED = os.environ.get("RAIIAF_SANITIZED", "0") in ("1", "ON", "TRUE", "true")
IMAGE = os.path.join(DATA, "sd-webui.webp")
LATENT = os.path.join(DATA, "npy", "f32_1x4x8x8_v1.npy")


def run(*args, env=None, timeout=120):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([CLI, *map(str, args)], capture_output=True, timeout=timeout, env=e)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class Files(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="raiiaf-files-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.dir, name)

    def ok(self, *args, env=None):
        r = run(*args, env=env)
        self.assertEqual(r.returncode, 0, (args, r.stdout, r.stderr))
        return r.stdout.decode()

    def create(self, name="a.raiiaf", *extra):
        out = self.p(name)
        self.ok("create", "-o", out, "--image", IMAGE, "--latent", "lat=" + LATENT, "--prompt", "p", "--no-env", "-q", *extra)
        return out

    # ---- item 10: a replaced file keeps its mode ----------------------------

    def test_replace_keeps_mode(self):
        src = self.create("src.raiiaf", "--model", "m", "--model-version", "1")  # format 1 needs them
        self.ok("edit", src, "--add-tag", "x")
        dst = self.p("dst.raiiaf")
        cmds = {
            "create": ["create", "-o", dst, "--image", IMAGE, "--prompt", "q", "--no-env", "-q"],
            "convert": ["convert", src, "-o", dst, "-q"],
            "convert1": ["convert", src, "-o", dst, "--format", "1", "-q"],
            "compact": ["compact", dst],
            "compact-o": ["compact", src, "-o", dst],
            "recover": ["recover", src, "-o", dst],
            "extract": ["extract", src, "--meta", dst],
        }
        for name, args in cmds.items():
            for m in (0o600, 0o640, 0o604):
                self.create("dst.raiiaf")
                os.chmod(dst, m)
                self.ok(*args)
                self.assertEqual(mode(dst), m, name)
        # a new file still gets the usual permissions (umask)
        old = os.umask(0o027)
        try:
            os.unlink(dst)
            self.ok("compact", src, "-o", dst)
            self.assertEqual(mode(dst), 0o640)
        finally:
            os.umask(old)


if __name__ == "__main__":
    unittest.main(verbosity=2)
