#!/usr/bin/python3
"""CLI tests for issue 17: what writers do to the files around them.

* a file replaced (create -o, convert -o, compact, recover -o, extract)
  keeps its mode: a 0600 file stays 0600 (item 10);
* a writer killed (SIGKILL at each of its writes, tests/kill_shim.c) leaves
  no temporary file behind, where the file system has O_TMPFILE (item 7);
* a missing input file is exit status 3 for every command, and the message
  names it once; two `index` runs at once both succeed (items 11, 12);

Run by CTest with RAIIAF_CLI, RAIIAF_TEST_DATA, RAIIAF_KILL_SHIM,
RAIIAF_IO_SHIM and RAIIAF_SANITIZED (see cli_trust.py)."""

import os
import shutil
import stat
import subprocess
import unittest

from clitest import CLI, IMAGE, LATENT, CliCase, run


def has_o_tmpfile(folder):
    try:
        os.close(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600))
        return True
    except (AttributeError, OSError):
        return False


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class Files(CliCase):
    PREFIX = "raiiaf-files-"

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

    # ---- item 7: nothing left behind by a killed writer ---------------------

    def test_killed_writer_leaves_nothing(self):
        self.need_shim()
        if not has_o_tmpfile(self.dir):
            self.skipTest("no O_TMPFILE here: a killed writer leaves its named temporary file")
        src = self.create("src.raiiaf")
        self.ok("edit", src, "--add-tag", "x")
        with open(src, "rb") as f:
            before_src = f.read()
        for new in (False, True):  # over an existing file, and a new one
            dst = self.p("dst.raiiaf")
            cmds = {
                "create": ["create", "-o", dst, "--image", IMAGE, "--latent", "lat=" + LATENT, "--prompt", "q", "--no-env", "-q"],
                "convert": ["convert", src, "-o", dst, "-q"],
                "compact": ["compact", src, "-o", dst],
                "recover": ["recover", src, "-o", dst],
            }
            for name, args in cmds.items():
                cnt = self.p("count")
                r = run(*args, env=self.shim_env(SHIM_COUNT=cnt))
                self.assertEqual(r.returncode, 0, (name, r.stderr))
                with open(cnt) as f:
                    n = int(f.read().split()[0])
                os.unlink(cnt)
                self.assertGreater(n, 1, name)
                for k in range(1, n + 1):
                    if new:
                        if os.path.exists(dst):
                            os.unlink(dst)
                    else:
                        self.create("dst.raiiaf")
                    listing = sorted(os.listdir(self.dir))
                    r = run(*args, env=self.shim_env(SHIM_KILL_AFTER=k))
                    self.assertEqual(r.returncode, -9, (name, k, r.stderr))
                    self.assertEqual(sorted(os.listdir(self.dir)), listing, (name, k, new))
                    if not new:
                        self.assertEqual(run("verify", dst).returncode, 0, (name, k))
        with open(src, "rb") as f:
            self.assertEqual(f.read(), before_src)

    # ---- item 11: one exit status for a missing input ----------------------

    def test_missing_input_exit_status(self):
        f = self.create("ok.raiiaf")
        key = self.p("me.key")
        self.ok("keygen", "-o", key)
        gone = self.p("missing.raiiaf")
        out = self.p("out.raiiaf")
        cmds = [
            ["info", gone], ["info", "--json", gone], ["extract", gone, "--all", self.p("x")], ["verify", gone],
            ["history", gone], ["edit", gone, "--add-tag", "x"], ["sign", gone, "--key", key], ["sign", f, "--key", self.p("no.key")],
            ["verify", "--pubkey", self.p("no.key.pub"), f],
            ["compact", gone], ["compact", gone, "-o", out], ["recover", gone, "-o", out], ["convert", gone, "-o", out],
            ["export", gone, "-o", self.p("x.png")], ["import", self.p("missing.png"), "-o", out], ["env", "show", gone],
            ["env", "diff", gone], ["create", "-o", out, "--image", self.p("missing.png"), "--no-env"],
            ["create", "-o", out, "--latent", "a=" + self.p("missing.npy"), "--no-env"],
            ["index", "--db", self.p("lib.db"), self.p("missing-folder")], ["search", "--db", self.p("missing.db"), "cat"],
        ]
        for args in cmds:
            r = run(*args)
            self.assertEqual(r.returncode, 3, (args, r.stderr))
            self.assertIn(b"No such file", r.stderr, args)
            # one wording for every command: "PATH: cannot open ...", never "for writing" for a file that is not there
            self.assertIn(b"cannot open", r.stderr, args)
            self.assertNotIn(b"for writing", r.stderr, args)
            self.assertTrue(r.stderr.startswith(b"raiiaf: "), (args, r.stderr))
            self.assertFalse(os.path.exists(out), args)
            # the message names the missing path once (item 12: not "x: x: cannot open")
            missing = [a.split("=", 1)[-1] for a in args if "missing" in a or "no.key" in a][0]
            self.assertEqual(r.stderr.count(missing.encode()), 1, (args, r.stderr))

    def test_index_twice_at_once(self):
        lib = self.p("lib")
        os.mkdir(lib)
        src = self.create("one.raiiaf")
        for i in range(150):
            shutil.copyfile(src, os.path.join(lib, "f%d.raiiaf" % i))
        for k in range(3):
            db = self.p("lib%d.db" % k)
            procs = [subprocess.Popen([CLI, "index", "--db", db, lib, "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for _ in range(2)]
            for p in procs:
                out, err = p.communicate(timeout=120)
                self.assertEqual(p.returncode, 0, err)
                self.assertNotIn(b"locked", err)
            r = run("search", "--db", db, "--json", "p")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(r.stdout.splitlines()), 150)


if __name__ == "__main__":
    unittest.main(verbosity=2)
