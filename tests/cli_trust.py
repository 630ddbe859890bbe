#!/usr/bin/python3
"""CLI tests for issue #6 (trust): edit, history, info/extract --version,
compact, keygen, sign, verify --pubkey, recover; crash safety (SIGKILL at
every write of create, edit, compact and sign through tests/kill_shim.c),
I/O and allocation failure injection, and hostile sizes under a memory
limit.

Run by CTest with RAIIAF_CLI, RAIIAF_TEST_DATA, RAIIAF_KILL_SHIM (the
LD_PRELOAD library) and RAIIAF_SANITIZED ("1" in ASan builds, where the
allocation-failure and rlimit tests are skipped, and crash / I/O failure
tests use RAIIAF_IO_SHIM, the same shim without malloc: a preloaded
allocator and a small address space do not mix with ASan; there, leaks
on every failure path are caught by LeakSanitizer)."""

import glob
import json
import os
import shutil
import struct
import subprocess
import unittest

from clitest import CLI, IMAGE, LATENT, SANITIZED, CliCase, run

P = "/raiiaf_metadata/model_info/prompt"


def readb(path):
    with open(path, "rb") as f:
        return f.read()


def writeb(path, data):
    with open(path, "wb") as f:
        f.write(data)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


class Trust(CliCase):
    PREFIX = "raiiaf-trust-"

    def create(self, name="a.raiiaf", prompt="old prompt"):
        out = self.p(name)
        self.ok("create", "-o", out, "--image", IMAGE, "--latent", "lat=" + LATENT, "--prompt", prompt,
                "--tag", "t1", "--no-env", "-q")
        return out

    def prompt(self, path, *extra):
        r = run("info", "--json", "-q", *extra, path)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["raiiaf_metadata"]["model_info"].get("prompt")

    def verify(self, path, *extra):
        return run("verify", *extra, path)

    # ---- edit / history / versions / compact ----------------------------

    def test_edit_history_versions(self):
        f = self.create()
        before = readb(f)
        out = self.ok("edit", f, "--set", P + "=new prompt", "--add-tag", "T", "--remove-tag", "t1",
                      "--set-json", "/raiiaf_metadata/model_info/generation_settings={\"steps\": 30}")
        self.assertIn("version 2 written", out)
        after = readb(f)
        self.assertEqual(after[:len(before)], before)  # append-only
        self.assertEqual(self.verify(f).returncode, 0)
        self.assertEqual(self.prompt(f), "new prompt")
        self.assertEqual(self.prompt(f, "--version", "1"), "old prompt")
        info = self.ok("info", "-q", "--version", "1", f)
        self.assertIn("Version:     1 of 2", info)
        hist = self.ok("history", f)
        self.assertIn("version 1", hist)
        self.assertIn("version 2", hist)
        self.assertIn("~ /raiiaf_metadata/model_info/prompt", hist)
        self.assertIn("+ /raiiaf_metadata/model_info/generation_settings", hist)
        hj = json.loads(self.ok("history", "--json", f))
        self.assertEqual([h["version"] for h in hj], [1, 2])
        self.assertIn({"op": "changed", "path": P}, hj[1]["changes"])
        # extract an older version's manifest
        m1 = self.p("m1.json")
        self.ok("extract", f, "--version", "1", "--meta", m1, "-q")
        self.assertEqual(json.loads(readb(m1))["raiiaf_metadata"]["model_info"]["prompt"], "old prompt")
        self.assertEqual(run("info", "--version", "3", f).returncode, 3)
        # library-owned fields and schema violations are refused, nothing written
        size = os.path.getsize(f)
        r = run("edit", f, "--set-json", "/raiiaf_metadata/file_info/manifest_version=9")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"written by the library", r.stderr)
        r = run("edit", f, "--set-json", "/raiiaf_metadata/model_info/generation_settings/steps=-1")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(os.path.getsize(f), size)
        # compact
        c = self.p("c.raiiaf")
        self.ok("compact", f, "-o", c)
        self.assertEqual(self.verify(c).returncode, 0)
        self.assertEqual(self.prompt(c), "new prompt")
        self.assertLess(os.path.getsize(c), os.path.getsize(f))
        self.assertIn("Version:     1\n", self.ok("info", "-q", c))
        self.ok("compact", f)  # in place
        self.assertEqual(self.verify(f).returncode, 0)
        self.assertEqual(glob.glob(self.p("*.tmp-*")), [])

    def test_torn_tail(self):
        f = self.create()
        self.ok("edit", f, "--set", P + "=second")
        with open(f, "ab") as h:
            h.write(b"\x00" * 100 + b"RAIIAFft" + b"\x01" * 20)
        r = self.verify(f)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"128 trailing bytes after the last complete version (interrupted edit?)", r.stderr)
        r = run("info", f)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"warning:", r.stderr)
        self.assertEqual(self.prompt(f), "second")
        self.ok("edit", f, "--set", P + "=third")  # cuts the tail first
        self.assertEqual(self.verify(f).returncode, 0)
        self.assertEqual(self.prompt(f), "third")

    # ---- signatures ---------------------------------------------------------

    def test_sign_verify(self):
        f = self.create()
        key, key2 = self.p("k"), self.p("k2")
        self.ok("keygen", "-o", key)
        self.ok("keygen", "-o", key2)
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertIn(b"PUBLIC KEY", readb(key + ".pub"))
        self.assertNotEqual(run("keygen", "-o", key).returncode, 0)
        self.assertIn("Signature:   unsigned", self.ok("info", "-q", f))
        r = self.verify(f, "--pubkey", key + ".pub")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"not signed", r.stderr)
        out = self.ok("sign", f, "--key", key)
        kid = out.strip().split()[-1]
        self.assertEqual(len(kid), 16)
        self.assertIn("Signature:   signed by %s (version 1)" % kid, self.ok("info", "-q", f))
        r = self.verify(f, "--pubkey", key + ".pub")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(("signed by %s" % kid).encode(), r.stderr)
        r = self.verify(f, "--pubkey", key2 + ".pub")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"not by the given key", r.stderr)
        self.ok("edit", f, "--set", P + "=changed")
        self.assertIn("signed version 1 by %s, edited since" % kid, self.ok("info", "-q", f))
        r = self.verify(f, "--pubkey", key + ".pub")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"edited since", r.stderr)
        self.ok("sign", f, "--key", key)
        self.assertEqual(self.verify(f, "--pubkey", key + ".pub").returncode, 0)
        # a flipped byte anywhere in what is signed
        data = bytearray(readb(f))
        for off in (100, 5000, len(data) - 700, len(data) - 30):
            d = bytearray(data)
            d[off] ^= 0x10
            g = self.p("flip.raiiaf")
            writeb(g, d)
            r = self.verify(g, "--pubkey", key + ".pub")
            self.assertEqual(r.returncode, 1, off)
            self.assertTrue(r.stderr.strip(), off)

    # ---- recover ------------------------------------------------------------

    def test_recover(self):
        f = self.create()
        self.ok("edit", f, "--set", P + "=second")
        data = bytearray(readb(f))
        data[-64:] = b"\x00" * 64  # the footer is gone
        d = self.p("damaged.raiiaf")
        writeb(d, data)
        o = self.p("out.raiiaf")
        out = self.ok("recover", d, "-o", o)
        self.assertIn("using manifest version", out)
        self.assertEqual(self.verify(o).returncode, 0)
        # all manifests damaged: the image survives; the tensor is kept as unknown
        for i in range(64, len(data), 64):
            if data[i:i + 4] == b"MANI":
                data[i + 64:i + 80] = b"\x55" * 16
        writeb(d, data)
        r = run("recover", d, "-o", o)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"no surviving record", r.stdout + r.stderr)
        self.assertEqual(self.verify(o).returncode, 0)
        self.assertIn("Image:       webp", self.ok("info", "-q", o))
        writeb(d, b"\x00" * 4096)
        self.assertEqual(run("recover", d, "-o", o).returncode, 3)

    # ---- crash safety -------------------------------------------------------

    def count_writes(self, args):
        cnt = self.p("count")
        r = run(*args, env=self.shim_env(SHIM_COUNT=cnt))
        self.assertEqual(r.returncode, 0, r.stderr)
        return int(readb(cnt).split()[0])

    def need_shim(self, malloc=False):
        if malloc and SANITIZED:
            self.skipTest("allocation failure injection needs the allocator, which ASan owns")
        super().need_shim()

    def test_crash_create_compact(self):
        self.need_shim()
        for cmd in ("create", "compact"):
            base = self.create("base.raiiaf", prompt="old prompt")
            self.ok("edit", base, "--set", P + "=new prompt")
            dst = self.p("dst.raiiaf")
            if cmd == "create":
                args = ["create", "-o", dst, "--image", IMAGE, "--latent", "lat=" + LATENT, "--prompt", "new prompt", "--no-env", "-q"]
            else:
                args = ["compact", base, "-o", dst]
            self.create("dst.raiiaf", prompt="old prompt")
            n = self.count_writes(args)
            self.assertGreater(n, 2)
            for k in range(1, n + 1):
                self.create("dst.raiiaf", prompt="old prompt")
                r = run(*args, env=self.shim_env(SHIM_KILL_AFTER=k))
                self.assertEqual(r.returncode, -9, (cmd, k, r.stderr))
                self.assertEqual(self.verify(dst).returncode, 0, (cmd, k))
                self.assertEqual(self.prompt(dst), "old prompt", (cmd, k))
                for t in glob.glob(self.p("*.tmp-*")):
                    os.unlink(t)  # a killed process cannot clean up; the destination is what matters

    def test_crash_edit_sign(self):
        self.need_shim()
        key = self.p("k")
        self.ok("keygen", "-o", key)
        for cmd in ("edit", "sign"):
            f = self.create("e.raiiaf", prompt="old prompt")
            args = ["edit", f, "--set", P + "=new prompt"] if cmd == "edit" else ["sign", f, "--key", key]
            n = self.count_writes(args)
            for k in range(1, n + 1):
                f = self.create("e.raiiaf", prompt="old prompt")
                r = run(*args, env=self.shim_env(SHIM_KILL_AFTER=k))
                self.assertEqual(r.returncode, -9, (cmd, k, r.stderr))
                # the old version is complete and readable; verify names the torn tail
                self.assertEqual(self.prompt(f), "old prompt", (cmd, k))
                v = self.verify(f)
                self.assertEqual(v.returncode, 1, (cmd, k))
                self.assertIn(b"interrupted edit?", v.stderr)
                self.ok("edit", f, "--set", P + "=after crash")  # truncates the tail first
                self.assertEqual(self.verify(f).returncode, 0)

    # ---- failure injection --------------------------------------------------

    def test_io_failures(self):
        self.need_shim()
        for kind in ("write", "fsync", "rename", "ftruncate"):
            for cmd in ("create", "edit", "compact"):
                for k in (1, 2, 3, 5):
                    f = self.create("f.raiiaf", prompt="old prompt")
                    if cmd == "edit" and kind == "ftruncate":
                        with open(f, "ab") as h:
                            h.write(b"junk")  # a torn tail makes edit truncate
                    before = readb(f)
                    args = {"create": ["create", "-o", f, "--image", IMAGE, "--prompt", "new", "--no-env", "-q"],
                            "edit": ["edit", f, "--set", P + "=new"],
                            "compact": ["compact", f]}[cmd]
                    r = run(*args, env=self.shim_env(SHIM_FAIL="%s:%d" % (kind, k)))
                    self.assertIn(r.returncode, (0, 3, 4), (kind, cmd, k, r.stderr))
                    if r.returncode:
                        self.assertTrue(r.stderr.strip())
                        if not (cmd == "edit" and kind == "ftruncate"):
                            self.assertEqual(readb(f), before, (kind, cmd, k))
                        self.assertEqual(self.prompt(f), "old prompt")
                    else:
                        self.assertEqual(self.verify(f).returncode, 0, (kind, cmd, k))
                    self.assertEqual(glob.glob(self.p("*.tmp-*")), [], (kind, cmd, k))

    def test_malloc_failures(self):
        self.need_shim(malloc=True)
        f = self.create("m.raiiaf", prompt="old prompt")
        base = readb(f)
        key = self.p("k")
        self.ok("keygen", "-o", key)
        for cmd in ("create", "edit", "compact", "sign", "info", "verify"):
            args = {"create": ["create", "-o", f, "--image", IMAGE, "--prompt", "new", "--no-env", "-q"],
                    "edit": ["edit", f, "--set", P + "=new"], "compact": ["compact", f], "sign": ["sign", f, "--key", key],
                    "info": ["info", f], "verify": ["verify", f]}[cmd]
            writeb(f, base)
            cnt = self.p("count")
            run(*args, env=self.shim_env(SHIM_COUNT=cnt, SHIM_FAIL="malloc:999999999"))
            total = int(readb(cnt).split()[3])
            step = max(1, total // 60)
            for k in range(1, total + 1, step):
                writeb(f, base)
                r = run(*args, env=self.shim_env(SHIM_FAIL="malloc:%d" % k))
                self.assertIn(r.returncode, (0, 1, 3, 4), (cmd, k, r.stderr))
                self.assertEqual(self.verify(f).returncode, 0, (cmd, k))
                self.assertEqual(glob.glob(self.p("*.tmp-*")), [], (cmd, k))

    # ---- hostile sizes under a memory limit ---------------------------------

    def test_hostile_sizes_memory_limit(self):
        if SANITIZED or not shutil.which("prlimit"):
            self.skipTest("the address-space limit test runs only in non-sanitizer builds with prlimit")
        f = self.create()
        data = bytearray(readb(f))
        moff = struct.unpack_from("<Q", data, len(data) - 56)[0]
        cases = []
        for stored, raw in ((1 << 63, 16), (16, 1 << 63), (100, 1 << 40), (2 ** 64 - 64, 2 ** 64 - 1)):
            d = bytearray(data)
            struct.pack_into("<QQ", d, moff + 16, stored, raw)
            struct.pack_into("<I", d, moff + 60, crc32c(bytes(d[moff:moff + 60])))
            cases.append(d)
        for i, d in enumerate(cases):
            g = self.p("hostile%d.raiiaf" % i)
            writeb(g, d)
            for cmd in (["info", g], ["verify", g], ["recover", g, "-o", self.p("rec.raiiaf")], ["edit", g, "--set", P + "=x"]):
                r = subprocess.run(["prlimit", "--as=%d" % (512 << 20), CLI, *cmd], capture_output=True, timeout=60)
                self.assertGreaterEqual(r.returncode, 0, (i, cmd, r.stderr))  # no signal
                self.assertNotEqual(r.returncode, 4, (i, cmd, r.stderr))  # not out of memory
                if cmd[0] != "recover":
                    self.assertIn(r.returncode, (1, 3), (i, cmd))
                    self.assertTrue(r.stderr.strip())


if __name__ == "__main__":
    unittest.main(verbosity=1)
