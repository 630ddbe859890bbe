#!/usr/bin/python3
"""CLI tests for issue 17 item 6: text from a file cannot drive the
terminal.  Prompts, tags, keys and names holding ESC sequences and other
control characters come out escaped (ESC as \\x1b) in every human-readable
output -- info, history, verify messages, search, env show -- while
ordinary UTF-8 passes unchanged and a multi-line prompt keeps its lines.
JSON output keeps the exact text (JSON escapes it).

Run by CTest with RAIIAF_CLI and RAIIAF_TEST_DATA."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("RAIIAF_CLI") or os.path.join(HERE, "..", "build", "raiiaf")
DATA = os.environ.get("RAIIAF_TEST_DATA") or os.path.join(HERE, "data")
IMAGE = os.path.join(DATA, "sd-webui.webp")
LATENT = os.path.join(DATA, "npy", "f32_1x4x8x8_v1.npy")

RED = "\x1b[31mRED\x1b[0m"
PROMPT = "a " + RED + " cat\nsecond line caf\u00e9 \u732b \u009b1m \u202eevil\rX\x07"
TAG = "t\x1b]0;title\x07"
KEY = "k\x1b[2J"


def run(*args, timeout=120):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, timeout=timeout)


class Escapes(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="raiiaf-esc-")
        self.f = os.path.join(self.dir, "e.raiiaf")
        r = run("create", "-o", self.f, "--image", IMAGE, "--latent", "lat=" + LATENT, "--prompt", PROMPT, "--tag", TAG,
                "--model", "m\x1b[1m", "--no-env", "-q")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("edit", self.f, "--set-json", "/raiiaf_metadata/model_info/" + KEY + "=1")
        self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def assertSafe(self, out, label):
        """No control character but newline (and tab) reaches the terminal,
        nor a C1 control or a bidirectional override."""
        text = out.decode("utf-8")
        for ch in text:
            o = ord(ch)
            self.assertFalse((o < 0x20 and ch not in "\n\t") or o == 0x7F or 0x80 <= o <= 0x9F or
                             0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069, (label, hex(o), text))

    def test_info(self):
        r = run("info", self.f)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertSafe(r.stdout, "info")
        out = r.stdout.decode()
        self.assertIn("a \\x1b[31mRED\\x1b[0m cat\n", out)
        # the second line of the prompt is aligned under the value; UTF-8 is kept
        self.assertIn("\n             second line caf\u00e9 \u732b \\u009b1m \\u202eevil\\x0dX\\x07\n", out)
        self.assertIn("Tags:        t\\x1b]0;title\\x07\n", out)
        self.assertIn("Model:       m\\x1b[1m", out)
        # JSON keeps the exact text
        r = run("info", "--json", self.f)
        mi = json.loads(r.stdout)["raiiaf_metadata"]["model_info"]
        self.assertEqual(mi["prompt"], PROMPT)
        self.assertEqual(mi["tags"], [TAG])

    def test_history(self):
        r = run("history", self.f)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertSafe(r.stdout, "history")
        self.assertIn("+ /raiiaf_metadata/model_info/k\\x1b[2J", r.stdout.decode())

    def test_messages(self):
        # an edit's error message quotes the key
        r = run("edit", self.f, "--remove", "/raiiaf_metadata/model_info/none\x1b[2J")
        self.assertNotEqual(r.returncode, 0)
        self.assertSafe(r.stderr, "edit error")
        self.assertIn(b"\\x1b[2J", r.stderr)
        r = run("info", os.path.join(self.dir, "missing\x1b[31m.raiiaf"))
        self.assertNotEqual(r.returncode, 0)
        self.assertSafe(r.stderr, "info error")
        self.assertIn(b"missing\\x1b[31m.raiiaf", r.stderr)
        r = run("verify", self.f)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertSafe(r.stdout + r.stderr, "verify")

    def test_search(self):
        db = os.path.join(self.dir, "lib.db")
        r = run("index", "--db", db, self.dir)
        if r.returncode != 0 and b"SQLite" in r.stderr:
            self.skipTest("built without SQLite")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("search", "--db", db, "cat")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertSafe(r.stdout, "search")
        self.assertIn("m\\x1b[1m", r.stdout.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
