#!/usr/bin/python3
"""CLI tests for format 1 (the original Python package's files): info,
extract, verify, convert (both ways) and create --format 1, on the fixtures
in tests/data/format1 (written by the Python package, with their inputs).

Run by CTest with RAIIAF_CLI (the raiiaf binary) and RAIIAF_TEST_DATA
(tests/data).  Standard library and numpy only; zstd frames are decoded by
the CLI itself (info --json) or written as raw blocks here.
"""

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("RAIIAF_CLI") or os.path.join(HERE, "..", "build", "raiiaf")
DATA = os.environ.get("RAIIAF_TEST_DATA") or os.path.join(HERE, "data")
F1 = os.path.join(DATA, "format1")
FIXTURES = ["f32_noise_1x4x64x64", "two_latents", "uncompressed", "f16_uncompressed"]


def run(*args):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, timeout=300)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fixture(name):
    with open(os.path.join(F1, name + ".json")) as f:
        return json.load(f)


def expected_latent(name, key):
    """The latent as format 1 stores it (the package made float16 itself)."""
    fx = fixture(name)
    a = np.load(os.path.join(F1, fx["latent_npy_files"][key]))
    return a.astype(np.float16) if fx["convert_float16"] else a


def raw_frame(data):
    """A zstd frame of raw blocks: content size declared, no checksum."""
    out = bytearray(struct.pack("<IB", 0xFD2FB528, 0xE0) + struct.pack("<Q", len(data)))
    blocks = [data[i:i + 131072] for i in range(0, len(data), 131072)] or [b""]
    for i, b in enumerate(blocks):
        h = (len(b) << 3) | (1 if i == len(blocks) - 1 else 0)
        out += struct.pack("<I", h)[:3] + b
    return bytes(out)


class F1File:
    """A format 1 file: header fields, manifest (through `info --json`)."""

    def __init__(self, path):
        self.path = path
        self.data = read(path)
        (self.moff, self.mlen, self.count, self.size, self.reserved) = struct.unpack("<IIIQI", self.data[9:33])
        r = run("info", "--json", path)
        assert r.returncode == 0, r.stderr
        self.mtext = r.stdout.decode()[:-1]
        self.manifest = json.loads(self.mtext)

    def records(self):
        return self.manifest["raiiaf_metadata"]["chunks"]

    def chunk(self, rec):
        return self.data[rec["offset"]:rec["offset"] + rec["compressed_size"]]


def with_manifest(path, out, edit):
    """Writes `out`: the file at `path` with its manifest text passed
    through edit() and the header fixed, so only that edit is wrong."""
    f = F1File(path)
    text = edit(f.mtext).encode()
    frame = raw_frame(b"META0000" + struct.pack("<I", len(text)) + text)
    head = bytearray(f.data[:f.moff])
    struct.pack_into("<II", head, 13, len(frame), 0)
    struct.pack_into("<IQ", head, 17, f.count, f.moff + len(frame))
    with open(out, "wb") as o:
        o.write(bytes(head) + frame)


def _set_size(text, size):
    m = json.loads(text)
    m["raiiaf_metadata"]["file_info"]["file_size"] = size
    return json.dumps(m, indent=2)


def normalise(text, *keys):
    for k in keys:
        text = re.sub(r'"%s": [^,\n]+' % k, '"%s": X' % k, text)
    return text


class Format1(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="raiiaf-f1-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def p(self, name):
        return os.path.join(self.tmp, name)

    def ok(self, *args):
        r = run(*args)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r

    def check_extracted(self, name, folder):
        fx = fixture(name)
        img = read(os.path.join(F1, fx["img_binary_file"]))
        self.assertEqual(read(os.path.join(folder, "image.png")), img)
        self.assertEqual(hashlib.sha256(img).hexdigest(), fx["img_binary_sha256"])
        for key in fx["latent_keys_in_order"]:
            got = np.load(os.path.join(folder, key + ".npy"))
            want = expected_latent(name, key)
            self.assertEqual(got.dtype, want.dtype)
            self.assertEqual(got.shape, want.shape)
            self.assertEqual(got.tobytes(), want.tobytes())

    def test_info_extract_verify(self):
        for name in FIXTURES:
            path = os.path.join(F1, name + ".raiiaf")
            out = self.ok("info", path).stdout.decode()
            self.assertIn("RAIIAF format 1.0", out)
            self.assertIn("png 512x512, 504322 bytes", out)
            self.assertIn("initial_noise  float%s  [1, 4, 64, 64]" % ("16" if "f16" in name else "32"), out)
            d = self.p(name)
            self.ok("extract", path, "--all", d)
            self.check_extracted(name, d)
            self.ok("extract", path, "--meta", self.p("m.json"))
            self.assertEqual(read(self.p("m.json")).decode().rstrip("\n"), F1File(path).mtext)
            r = run("verify", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.decode(), "%s: OK\n" % path)
            self.assertIn("warning: manifest /raiiaf_metadata/file_info/file_size", r.stderr.decode())

    def test_file_size_wording(self):
        # The manifest's file_size recorded too large and too small: the
        # warning says which, by how many bytes, and the file still verifies
        # (the header's size is used).
        path = os.path.join(F1, FIXTURES[0] + ".raiiaf")
        for delta, word in ((1000, "more"), (-7, "less")):
            out = self.p("size%d.raiiaf" % delta)
            # first with a placeholder of as many digits, then the real size + delta
            with_manifest(path, out, lambda t: _set_size(t, 10 ** 5))
            real = os.path.getsize(out)
            self.assertEqual(len(str(real + delta)), 6)
            with_manifest(path, out, lambda t: _set_size(t, real + delta))
            self.assertEqual(os.path.getsize(out), real)
            r = run("verify", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            err = r.stderr.decode()
            self.assertIn("file_size is %d, %d bytes %s than the file's %d" % (real + delta, abs(delta), word, real), err)
            if word == "more":
                self.assertNotIn("short", err)
            else:
                self.assertIn("recorded it a few bytes short", err)

    def test_convert_both_ways(self):
        for name in FIXTURES:
            path = os.path.join(F1, name + ".raiiaf")
            v2, back = self.p(name + ".v2.raiiaf"), self.p(name + ".back.raiiaf")
            self.ok("convert", path, "-o", v2)
            r = self.ok("verify", v2)
            self.assertEqual(r.stderr, b"")
            self.assertIn("RAIIAF format 2.0", self.ok("info", v2).stdout.decode())
            self.ok("extract", v2, "--all", self.p(name + ".x"))
            self.check_extracted(name, self.p(name + ".x"))
            m2 = json.loads(self.ok("info", "--json", v2).stdout)["raiiaf_metadata"]
            orig = F1File(path)
            ext = m2["extensions"]["org.raiiaf.format1"]
            self.assertEqual(ext["manifest"], orig.mtext)  # verbatim
            self.assertEqual(json.loads(ext["env"])["env_version"], 1)
            mi = orig.manifest["raiiaf_metadata"]["model_info"]
            for k in ("model_name", "version", "date", "prompt", "tags", "generation_settings", "hardware_info"):
                self.assertEqual(m2["model_info"][k], mi[k], k)
            # and back: the original file again, but for the corrected file_size
            self.ok("convert", v2, "--format", "1", "-o", back)
            b = F1File(back)
            self.assertEqual(b.size, len(b.data))
            self.assertEqual(b.manifest["raiiaf_metadata"]["file_info"]["file_size"], len(b.data))
            self.assertEqual(b.data[:9], orig.data[:9])
            self.assertEqual(len(b.records()), len(orig.records()))
            for x, y in zip(orig.records(), b.records()):
                self.assertEqual(orig.chunk(x), b.chunk(y), x["type"])
            self.assertEqual(normalise(b.mtext, "file_size"), normalise(orig.mtext, "file_size"))
            self.ok("verify", back)

    def test_create_format1_from_inputs(self):
        for name in FIXTURES:
            fx = fixture(name)
            meta = self.p("meta.json")
            with open(meta, "w") as f:
                json.dump({"raiiaf_metadata": {"model_info": {"generation_settings": fx["generation_settings"],
                                                              "hardware_info": fx["hardware_info"]}}}, f)
            args = ["create", "--format", "1", "-o", self.p(name + ".raiiaf"), "--image",
                    os.path.join(F1, fx["img_binary_file"]), "--model", fx["model_name"], "--model-version",
                    fx["model_version"], "--prompt", fx["prompt"], "--meta", meta, "-q"]
            for t in fx["tags"]:
                args += ["--tag", t]
            for key in fx["latent_keys_in_order"]:
                npy = self.p(key + ".npy")
                np.save(npy, expected_latent(name, key))
                args += ["--latent", "%s=%s" % (key, npy)]
            if not fx["should_compress"]:
                args += ["--codec", "raw"]
            self.ok(*args)
            ours, orig = F1File(self.p(name + ".raiiaf")), F1File(os.path.join(F1, name + ".raiiaf"))
            self.assertEqual(ours.data[:9], orig.data[:9])
            self.assertEqual(ours.reserved, 0)
            same = 0
            for x, y in zip(orig.records(), ours.records()):
                if x["type"] == "ENVC":
                    continue
                self.assertEqual(orig.chunk(x), ours.chunk(y), "%s %s" % (name, x["type"]))
                same += 1
            self.assertEqual(same, len(orig.records()) - 1)
            # the manifest, once date, file_size and the ENVC record are set aside
            recs = ours.manifest["raiiaf_metadata"]["chunks"]
            recs[-1] = orig.records()[-1]
            self.assertEqual(normalise(json.dumps(ours.manifest, indent=2), "date", "file_size"),
                             normalise(orig.mtext, "date", "file_size"))
            self.assertEqual(normalise(ours.mtext, "date", "file_size", "compressed_size", "uncompressed_size", "hash"),
                             normalise(orig.mtext, "date", "file_size", "compressed_size", "uncompressed_size", "hash"))
            r = self.ok("verify", self.p(name + ".raiiaf"))
            self.assertEqual(r.stderr, b"")

    def test_create_format1_refusals(self):
        npy = self.p("a.npy")
        np.save(npy, np.zeros((4, 8, 8), np.float32))
        base = ["create", "--format", "1", "-o", self.p("x.raiiaf"), "--model", "m", "--model-version", "1", "--prompt", "p",
                "--tag", "t"]
        r = run(*base, "--latent", "a=" + npy)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("4-D latents", r.stderr.decode())
        np.save(npy, np.zeros((1, 4, 8, 8), np.int32))
        r = run(*base, "--latent", "a=" + npy)
        self.assertEqual(r.returncode, 2)
        self.assertIn("float32 and float16", r.stderr.decode())
        np.save(npy, np.zeros((1, 4, 8, 8), np.float32))
        r = run("create", "--format", "1", "-o", self.p("x.raiiaf"), "--latent", "a=" + npy)
        self.assertEqual(r.returncode, 3)
        self.assertIn("model_name", r.stderr.decode())
        r = run(*base, "--format", "3", "--latent", "a=" + npy)
        self.assertEqual(r.returncode, 2)
        self.assertFalse(os.path.exists(self.p("x.raiiaf")))
        self.ok(*base, "--latent", "a=" + npy)
        self.assertIn("RAIIAF format 1.0", self.ok("info", self.p("x.raiiaf")).stdout.decode())

    def expect(self, path, needle, cmd=("extract", "--all")):
        r = run(cmd[0], path, *cmd[1:], self.p("out"))
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(needle, r.stderr.decode())
        r = run("verify", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(needle, r.stderr.decode())
        self.assertIn("FAILED", r.stdout.decode())

    def test_damage(self):
        two = os.path.join(F1, "two_latents.raiiaf")
        unc = os.path.join(F1, "uncompressed.raiiaf")
        bad = self.p("bad.raiiaf")
        data = read(two)
        with open(bad, "wb") as f:
            f.write(data[:-100])
        self.expect(bad, "truncated")
        cases = [
            (two, lambda t: t.replace('"offset": 247392', '"offset": 9999999'), "does not fit"),
            (two, lambda t: t.replace('"len_header": 21', '"len_header": 20', 1), "len_header 20 + len_data"),
            (unc, lambda t: t.replace('"len_data": 65536', '"len_data": 65535'), "len_data"),
            (two, lambda t: t.replace('"dtype": "float32"', '"dtype": "bfloat16"', 1), 'unknown dtype "bfloat16"'),
            (two, lambda t: t.replace('"flags": "F32"', '"flags": "F99"', 1), '"F99" is not a latent dtype flag'),
            (two, lambda t: t.replace('"type": "ENVC"', '"type": "ENVX"'), "not a format 1 chunk type"),
        ]
        for src, edit, needle in cases:
            with_manifest(src, bad, edit)
            self.expect(bad, needle)
        # the shape disagrees with the zfp header (same byte count): found when read
        with_manifest(os.path.join(F1, "f32_noise_1x4x64x64.raiiaf"), bad,
                      lambda t: t.replace("            64,\n            64\n", "            16,\n            256\n"))
        self.ok("info", bad)
        self.expect(bad, "the zfp header describes a 4-D float32 field (nx=64 ny=64 nz=4 nw=1)")
        # flips in the stored bytes: the SHA-256 catches them
        for src, at, needle in [(unc, 33 + 12 + 1000, "chunk 0 (LATN \"initial_noise\") at offset 33: SHA-256"),
                                (unc, 65581 + 250000, "chunk 1 (DATA) at offset 65581: SHA-256"),
                                (two, 33 + 21 + 4, "zfp")]:
            d = bytearray(read(src))
            d[at] ^= 0x04
            with open(bad, "wb") as f:
                f.write(d)
            self.expect(bad, needle)
        # the ENVC record: its stored digest and each component's
        with_manifest(two, bad, lambda t: re.sub(r'"hash": "1c9b[0-9a-f]+"', '"hash": "%s"' % ("0" * 64), t))
        r = run("verify", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("(ENVC) at offset 969921: SHA-256", r.stderr.decode())


if __name__ == "__main__":
    unittest.main()
