#!/usr/bin/python3
"""Behaviour tests of the `raiiaf` command-line tool: exact exit codes,
stdout and stderr for create, info, extract and verify.

Run by CTest (tests/cli_*.py) with:
  RAIIAF_CLI         path of the raiiaf binary
  RAIIAF_TEST_DATA   tests/data (generator images, npy/ fixtures)
  RAIIAF_GOLDEN_DIR  tests/golden (unused here)

Only the standard library and numpy are used; everything is written under
a temporary folder, never into the source tree.
"""

import glob
import io
import json
import os
import random
import shutil
import struct
import subprocess
import tempfile
import time
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("RAIIAF_CLI") or os.path.join(HERE, "..", "build", "raiiaf")
DATA = os.environ.get("RAIIAF_TEST_DATA") or os.path.join(HERE, "data")
NPY = os.path.join(DATA, "npy")

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_INPUT, EXIT_SYSTEM = 0, 1, 2, 3, 4

# The generation record of the example command.
RECORD = [
    "--model", "Stable Diffusion XL", "--model-version", "1.0",
    "--prompt", "a cat on a sofa", "--negative-prompt", "blurry",
    "--tag", "cat", "--tag", "sofa", "--seed", "42", "--steps", "30",
    "--sampler", "euler_a", "--cfg-scale", "7", "--scheduler", "karras",
]

TMP = None  # module-wide scratch folder (setUpModule)


def setUpModule():
    global TMP
    TMP = tempfile.mkdtemp(prefix="raiiaf-cli-test-")
    rng = np.random.default_rng(20240601)
    np.save(os.path.join(TMP, "noise.npy"), rng.standard_normal((1, 4, 128, 128)).astype(np.float32))
    np.save(os.path.join(TMP, "final.npy"), smooth((1, 4, 128, 128)))


def tearDownModule():
    if TMP and os.environ.get("RAIIAF_KEEP_TMP") is None:
        shutil.rmtree(TMP, ignore_errors=True)


def smooth(shape, dtype=np.float32):
    """A smooth field (what a final latent looks like): compresses well."""
    y, x = np.mgrid[0:shape[-2], 0:shape[-1]].astype(np.float64)
    nplanes = int(np.prod(shape[:-2]))
    planes = [np.sin(x / 19.0 + c) * np.cos(y / 23.0 - 0.5 * c) * (1.0 + 0.1 * c) for c in range(nplanes)]
    return np.stack(planes).reshape(shape).astype(dtype)


def run(*args, cwd=None):
    """Runs the CLI; returns (exit status, stdout, stderr) as text."""
    p = subprocess.run([CLI] + [str(a) for a in args], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def npy_bytes(a):
    """What np.save writes for `a`."""
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def image_dims(data):
    """(format, width, height) read straight from the image header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        w, h = struct.unpack(">II", data[16:24])
        return "png", w, h
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 4 <= len(data):
            if data[i] != 0xFF:
                raise ValueError("bad JPEG marker")
            while data[i] == 0xFF:
                i += 1
            m = data[i]
            i += 1
            if m == 0x01 or 0xD0 <= m <= 0xD8:
                continue
            seglen = struct.unpack(">H", data[i:i + 2])[0]
            if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 3:i + 7])
                return "jpeg", w, h
            i += seglen
        raise ValueError("no JPEG SOF")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = data[12:16]
        if kind == b"VP8X":
            return "webp", 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if kind == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return "webp", w & 0x3FFF, h & 0x3FFF
        if kind == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return "webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise ValueError("unknown image")


EXT = {"png": "png", "jpeg": "jpg", "webp": "webp"}


class CliCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=TMP)

    def p(self, *names):
        return os.path.join(self.dir, *names)

    def ok(self, *args, cwd=None):
        rc, out, err = run(*args, cwd=cwd)
        self.assertEqual(rc, 0, "raiiaf %s -> %d\nstdout: %s\nstderr: %s" % (" ".join(map(str, args)), rc, out, err))
        self.assertEqual(err, "", "unexpected stderr for raiiaf %s" % " ".join(map(str, args)))
        return out

    def fails(self, code, *args, cwd=None):
        """Runs a command expected to fail with `code`: no stdout (except for
        verify), one or more 'raiiaf: ...' lines on stderr."""
        rc, out, err = run(*args, cwd=cwd)
        self.assertEqual(rc, code, "raiiaf %s -> %d (expected %d)\nstdout: %s\nstderr: %s" %
                         (" ".join(map(str, args)), rc, code, out, err))
        self.assertTrue(err.strip(), "no message on stderr for raiiaf %s" % " ".join(map(str, args)))
        if args[0] != "verify":
            self.assertEqual(out, "", "stdout should be empty on error")
            self.assertTrue(err.startswith("raiiaf: "), err)
        return err

    def save(self, name, array):
        path = self.p(name)
        np.save(path, array)
        return path

    def create(self, out, *args):
        """create -o OUT ...: checks the exact success line and returns the path."""
        stdout = self.ok("create", "-o", out, *args)
        ntens = sum(1 for a in args if a == "--latent")
        has_image = "--image" in args
        self.assertEqual(stdout, "%s: written (%d tensor%s%s)\n" %
                         (out, ntens, "" if ntens == 1 else "s", ", image" if has_image else ""))
        return out

    def manifest(self, path):
        out = self.ok("info", "--json", path)
        self.assertTrue(out.endswith("\n"))
        return json.loads(out)

    def assert_same_array(self, path, expected):
        got = np.load(path)
        self.assertEqual(got.dtype, expected.dtype, path)
        self.assertEqual(got.shape, expected.shape, path)
        self.assertEqual(got.tobytes(), expected.tobytes(), path)

    def assert_no_temp(self, folder):
        left = [f for f in os.listdir(folder) if ".tmp-" in f]
        self.assertEqual(left, [], "temporary files left behind")


# ---------------------------------------------------------------------------
# create -> info -> extract -> verify with the exact command
# ---------------------------------------------------------------------------

class RoundTrip(CliCase):
    def roundtrip(self, image_name):
        image = os.path.join(DATA, image_name)
        noise_path, final_path = os.path.join(TMP, "noise.npy"), os.path.join(TMP, "final.npy")
        noise, final = np.load(noise_path), np.load(final_path)
        out = self.p("cat.raiiaf")
        t0 = time.time()
        self.create(out, "--image", image, "--latent", "initial_noise=" + noise_path,
                    "--latent", "final=" + final_path, *RECORD)
        img = read(image)
        fmt, width, height = image_dims(img)

        # info --json: the manifest
        m = self.manifest(out)
        meta = m["raiiaf_metadata"]
        mi = meta["model_info"]
        self.assertEqual(mi["model_name"], "Stable Diffusion XL")
        self.assertEqual(mi["version"], "1.0")
        self.assertEqual(mi["prompt"], "a cat on a sofa")
        self.assertEqual(mi["negative_prompt"], "blurry")
        self.assertEqual(mi["tags"], ["cat", "sofa"])
        self.assertEqual(mi["generation_settings"],
                         {"seed": 42, "steps": 30, "sampler": "euler_a", "cfg_scale": 7, "scheduler": "karras"})
        self.assertRegex(mi["date"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(meta["file_info"]["magic"], "raiiaf")
        self.assertEqual(meta["file_info"]["version_major"], 2)
        self.assertEqual(meta["file_info"]["chunk_count"], 4)  # image, 2 tensors, environment record (ENVR)
        self.assertEqual(meta["image"]["format"], fmt)
        self.assertEqual((meta["image"]["width"], meta["image"]["height"]), (width, height))
        self.assertEqual(meta["image"]["size"], len(img))
        tens = meta["tensors"]
        self.assertEqual([t["name"] for t in tens], ["initial_noise", "final"])
        for t in tens:
            self.assertEqual(t["dtype"], "float32")
            self.assertEqual(t["shape"], [1, 4, 128, 128])
            self.assertIn(t["codec"], ("raw", "zstd", "zfp"))
        # smooth data must compress (auto never picks something larger than raw)
        self.assertNotEqual(tens[1]["codec"], "raw")
        chunks = meta["chunks"]
        self.assertEqual([c["type"] for c in chunks], ["IMAG", "TENS", "TENS", "ENVR"])
        for t in tens:
            c = chunks[t["chunk"]]
            self.assertEqual(c["codec"], t["codec"])
            self.assertEqual(c["raw_size"], 4 * 4 * 128 * 128)
            self.assertLessEqual(c["stored_size"], c["raw_size"])

        # info: the exact summary (Date and byte counts computed)
        size = os.path.getsize(out)
        lines = ["File:        " + out,
                 "Format:      RAIIAF format 2.0",
                 "Size:        %d bytes" % size,
                 "Version:     1",
                 "Signature:   unsigned",
                 "Model:       Stable Diffusion XL 1.0",
                 "Prompt:      a cat on a sofa",
                 "Negative:    blurry",
                 "Date:        " + mi["date"],
                 "Tags:        cat, sofa",
                 "Settings:    seed 42, steps 30, sampler euler_a, cfg 7, scheduler karras",
                 "Image:       %s %dx%d, %d bytes" % (fmt, width, height, len(img)),
                 "Tensors:     2"]
        for t in tens:
            c = chunks[t["chunk"]]
            lines.append("  %s  float32  [1, 4, 128, 128]  %s  %d/%d bytes (%.3f)" %
                         (t["name"], t["codec"], c["stored_size"], c["raw_size"], c["stored_size"] / c["raw_size"]))
        info = self.ok("info", out)
        env_line = info.splitlines()[-1]  # the environment record (machine-dependent; tests/cli_env.py)
        self.assertRegex(env_line, r"^Environment: \d+ components, os .+ \(raiiaf env show\)$")
        self.assertEqual(info, "\n".join(lines + [env_line]) + "\n")

        # extract: image byte for byte, tensors bit for bit, manifest
        self.ok("extract", out, "--image", self.p("out." + EXT[fmt]), "--latent", "final=" + self.p("final.npy"),
                "--latent", "initial_noise=" + self.p("noise.npy"), "--meta", self.p("meta.json"))
        self.assertEqual(read(self.p("out." + EXT[fmt])), img)
        self.assert_same_array(self.p("final.npy"), final)
        self.assert_same_array(self.p("noise.npy"), noise)
        # the .npy written is what np.save writes
        self.assertEqual(read(self.p("final.npy")), read(final_path))
        self.assertEqual(read(self.p("noise.npy")), read(noise_path))
        json_out = self.ok("info", "--json", out)
        self.assertEqual(read(self.p("meta.json")).decode() + "\n", json_out)

        # --all DIR
        self.ok("extract", out, "--all", self.p("all"))
        self.assertEqual(sorted(os.listdir(self.p("all"))),
                         sorted(["image." + EXT[fmt], "initial_noise.npy", "final.npy", "manifest.json"]))
        self.assertEqual(read(self.p("all", "image." + EXT[fmt])), img)
        self.assert_same_array(self.p("all", "final.npy"), final)
        self.assert_same_array(self.p("all", "initial_noise.npy"), noise)
        self.assertEqual(read(self.p("all", "manifest.json")).decode() + "\n", json_out)
        self.assertEqual(json.loads(read(self.p("all", "manifest.json"))), m)

        # verify
        self.assertEqual(self.ok("verify", out), out + ": OK\n")
        self.assertEqual(self.ok("verify", "-q", out), "")
        self.assert_no_temp(self.dir)
        self.assertLess(time.time() - t0, 60)

    def test_png(self):
        self.roundtrip("sd-webui.png")

    def test_jpeg(self):
        self.roundtrip("sd-webui.jpg")

    def test_webp(self):
        self.roundtrip("sd-webui.webp")

    def test_quiet_and_relative_paths(self):
        shutil.copy(os.path.join(DATA, "sd-webui.webp"), self.p("in.webp"))
        shutil.copy(os.path.join(TMP, "final.npy"), self.p("f.npy"))
        rc, out, err = run("create", "-q", "-o", "a.raiiaf", "--image", "in.webp", "--latent", "f=f.npy", cwd=self.dir)
        self.assertEqual((rc, out, err), (0, "", ""))
        rc, out, err = run("create", "--output=b.raiiaf", "--image=in.webp", "--latent=f=f.npy:zstd", cwd=self.dir)
        self.assertEqual((rc, out, err), (0, "b.raiiaf: written (1 tensor, image)\n", ""))
        rc, out, err = run("verify", "a.raiiaf", "b.raiiaf", cwd=self.dir)
        self.assertEqual((rc, out, err), (0, "a.raiiaf: OK\nb.raiiaf: OK\n", ""))

    def test_info_no_image_no_record(self):
        out = self.create(self.p("r.raiiaf"), "--latent", "x=" + os.path.join(NPY, "f16_5.npy"), "--codec", "raw",
                          "--no-env")
        m = self.manifest(out)
        info = self.ok("info", out)
        self.assertEqual(info, "File:        %s\nFormat:      RAIIAF format 2.0\nSize:        %d bytes\n"
                               "Version:     1\nSignature:   unsigned\n"
                               "Date:        %s\nImage:       none\nTensors:     1\n"
                               "  x  float16  [5]  raw  10/10 bytes (1.000)\n"
                         % (out, os.path.getsize(out), m["raiiaf_metadata"]["model_info"]["date"]))
        self.assertNotIn("image", m["raiiaf_metadata"])

    def test_info_several_files(self):
        a = self.create(self.p("a.raiiaf"), "--latent", "x=" + os.path.join(NPY, "i64_scalar.npy"), "--codec", "raw")
        b = self.create(self.p("b.raiiaf"), "--latent", "y=" + os.path.join(NPY, "bool_2x3.npy"), "--codec", "raw")
        out = self.ok("info", a, b)
        blocks = out.split("\n\n")
        self.assertEqual(len(blocks), 2)
        self.assertTrue(blocks[0].startswith("== %s\nFile:        %s\n" % (a, a)))
        self.assertTrue(blocks[1].startswith("== %s\nFile:        %s\n" % (b, b)))
        self.assertIn("\n  x  int64  []  raw  8/8 bytes (1.000)\n", out)
        self.assertIn("\n  y  bool  [2, 3]  raw  6/6 bytes (1.000)\n", out)
        # --json with several files: one manifest per line group, each valid
        rc, js, err = run("info", "--json", a, b)
        self.assertEqual((rc, err), (0, ""))
        dec = json.JSONDecoder()
        first, end = dec.raw_decode(js)
        second, _ = dec.raw_decode(js[end:].lstrip())
        self.assertEqual(first["raiiaf_metadata"]["tensors"][0]["name"], "x")
        self.assertEqual(second["raiiaf_metadata"]["tensors"][0]["name"], "y")

    def test_info_errors(self):
        err = self.fails(EXIT_INPUT, "info", self.p("missing.raiiaf"))
        self.assertIn("missing.raiiaf", err)
        self.assertIn("No such file", err)
        err = self.fails(EXIT_INPUT, "info", os.path.join(DATA, "sd-webui.png"))
        self.assertIn("sd-webui.png: not a RAIIAF file", err)
        self.fails(EXIT_USAGE, "info")
        err = self.fails(EXIT_USAGE, "info", "--bogus", "x.raiiaf")
        self.assertIn("'--bogus'", err)


# ---------------------------------------------------------------------------
# dtypes, ranks, codecs, tolerance
# ---------------------------------------------------------------------------

ALL_DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64",
              "uint8", "uint16", "uint32", "uint64", "bool"]
ZFP_DTYPES = ["float32", "float64", "int32", "int64"]


def random_array(rng, dtype, shape):
    """Random bit patterns (floats include NaNs with payloads, infinities,
    negative zero, subnormals): only a bit-exact path keeps them."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    n = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    return np.frombuffer(rng.bytes(n), dtype=dt.newbyteorder("<")).astype(dt).reshape(shape)


class Dtypes(CliCase):
    def check_file(self, out, arrays, codecs):
        """Extracts every tensor of `out` and compares with `arrays`; checks
        info --json's dtype, shape and codec."""
        m = self.manifest(out)
        tens = {t["name"]: t for t in m["raiiaf_metadata"]["tensors"]}
        self.assertEqual(sorted(tens), sorted(arrays))
        args = []
        for name in arrays:
            args += ["--latent", "%s=%s" % (name, self.p("out-" + name + ".npy"))]
        self.ok("extract", out, *args)
        for name, a in arrays.items():
            t = tens[name]
            self.assertEqual(t["dtype"], "bool" if a.dtype == np.bool_ else str(a.dtype), name)
            self.assertEqual(t["shape"], list(a.shape), name)
            if codecs.get(name):
                self.assertEqual(t["codec"], codecs[name], name)
            path = self.p("out-" + name + ".npy")
            self.assert_same_array(path, a)
            self.assertEqual(read(path), npy_bytes(a), name + ": not what np.save writes")
        self.assertEqual(self.ok("verify", out), out + ": OK\n")

    def test_every_dtype_every_codec(self):
        rng = np.random.default_rng(7)
        for codec in ["raw", "zstd", "auto"]:
            with self.subTest(codec=codec):
                arrays, args = {}, []
                for dt in ALL_DTYPES:
                    a = random_array(rng, dt, (3, 5, 7))
                    arrays[dt] = a
                    args += ["--latent", "%s=%s" % (dt, self.save("%s-%s.npy" % (codec, dt), a))]
                out = self.create(self.p(codec + ".raiiaf"), "--codec", codec, *args)
                self.check_file(out, arrays, {dt: codec for dt in ALL_DTYPES} if codec != "auto" else {})

    def test_zfp_reversible(self):
        rng = np.random.default_rng(8)
        arrays, args = {}, []
        for dt in ZFP_DTYPES:
            for kind, a in [("random", random_array(rng, dt, (2, 4, 16, 16))),
                            ("smooth", smooth((2, 4, 16, 16), np.float64) * 1000)]:
                a = a.astype(dt)
                name = "%s_%s" % (dt, kind)
                arrays[name] = a
                args += ["--latent", "%s=%s:zfp" % (name, self.save(name + ".npy", a))]
        out = self.create(self.p("zfp.raiiaf"), *args)
        self.check_file(out, arrays, {n: "zfp" for n in arrays})

    def test_ranks_and_empty(self):
        rng = np.random.default_rng(9)
        arrays = {
            "r0": np.array(3.25, dtype=np.float32),
            "r0i": np.array(-7, dtype=np.int16),
            "r1": np.arange(17, dtype=np.float64),
            "r5": random_array(rng, "float32", (2, 1, 3, 4, 5)),
            "r8": random_array(rng, "uint8", (2, 1, 2, 1, 2, 1, 2, 3)),
            "empty": np.zeros((0, 3), dtype=np.float32),
            "empty5": np.zeros((2, 3, 0, 4, 1), dtype=np.int32),
        }
        for codec in ["raw", "zstd", "auto"]:
            with self.subTest(codec=codec):
                args = []
                for name, a in arrays.items():
                    args += ["--latent", "%s=%s" % (name, self.save(name + ".npy", a))]
                out = self.create(self.p(codec + ".raiiaf"), "--codec", codec, *args)
                self.check_file(out, arrays, {})
        # fixtures written by real numpy: format 2.0/3.0 headers, scalar, 0x3, bfloat16 ('|V2')
        fixtures = ["f32_1x4x8x8_v1", "f32_2x3_v2", "f32_2x3_v3", "f16_5", "bool_2x3", "i64_scalar", "f32_0x3"]
        args, arrays = [], {}
        for f in fixtures:
            args += ["--latent", "%s=%s" % (f, os.path.join(NPY, f + ".npy"))]
            arrays[f] = np.load(os.path.join(NPY, f + ".npy"))
        out = self.create(self.p("fixtures.raiiaf"), *args)
        self.check_file(out, arrays, {})

    def test_bfloat16(self):
        out = self.create(self.p("bf.raiiaf"), "--latent", "b=" + os.path.join(NPY, "bf16_v2.npy"))
        t = self.manifest(out)["raiiaf_metadata"]["tensors"][0]
        self.assertEqual((t["dtype"], t["shape"]), ("bfloat16", [3]))
        self.ok("extract", out, "--latent", "b=" + self.p("b.npy"))
        got = np.load(self.p("b.npy"))
        self.assertEqual(got.dtype.str, "|V2")
        self.assertEqual(got.shape, (3,))
        self.assertEqual(got.tobytes(), bytes.fromhex("803f0040 00bf".replace(" ", "")))

    def test_codec_default_and_override(self):
        final = os.path.join(TMP, "final.npy")
        out = self.create(self.p("c.raiiaf"), "--codec", "raw", "--latent", "a=" + final,
                          "--latent", "b=%s:zstd" % final, "--latent", "c=%s:zfp" % final,
                          "--latent", "d=%s:raw" % final, "--latent", "e=%s:auto" % final)
        codecs = {t["name"]: t["codec"] for t in self.manifest(out)["raiiaf_metadata"]["tensors"]}
        self.assertEqual(codecs["a"], "raw")
        self.assertEqual(codecs["b"], "zstd")
        self.assertEqual(codecs["c"], "zfp")
        self.assertEqual(codecs["d"], "raw")
        self.assertIn(codecs["e"], ("zstd", "zfp"))  # smooth data: auto never stays raw
        a = np.load(final)
        self.check_file(out, {n: a for n in "abcde"}, codecs)
        # --codec zstd as the default
        out = self.create(self.p("z.raiiaf"), "--codec", "zstd", "--latent", "a=" + final)
        self.assertEqual(self.manifest(out)["raiiaf_metadata"]["tensors"][0]["codec"], "zstd")

    def test_colon_in_path_is_not_a_codec(self):
        path = self.save("a:b.npy", np.arange(4, dtype=np.int32))
        out = self.create(self.p("c.raiiaf"), "--latent", "x=" + path)
        self.check_file(out, {"x": np.arange(4, dtype=np.int32)}, {})

    def test_tolerance(self):
        a = smooth((1, 4, 128, 128))
        path = self.save("s.npy", a)
        out = self.create(self.p("t.raiiaf"), "--latent", "x=" + path, "--tolerance", "0.001")
        t = self.manifest(out)["raiiaf_metadata"]["tensors"][0]
        self.assertEqual(t["codec"], "zfp")
        self.assertEqual(t["tolerance"], 0.001)
        self.assertEqual(t["zfp_mode"], "fixed_accuracy")
        self.assertLessEqual(t["max_error"], 0.001)
        # --no-digest first, so the error bound is checked whatever the SHA-256 says
        self.ok("extract", out, "--no-digest", "--latent", "x=" + self.p("x.npy"))
        got = np.load(self.p("x.npy"))
        self.assertEqual((got.dtype, got.shape), (a.dtype, a.shape))
        err = np.max(np.abs(got.astype(np.float64) - a.astype(np.float64)))
        self.assertLessEqual(err, 0.001)
        self.assertAlmostEqual(err, t["max_error"], delta=1e-9)
        c = self.manifest(out)["raiiaf_metadata"]["chunks"][0]
        self.assertLess(c["stored_size"], c["raw_size"] // 2)
        info = self.ok("info", out)
        self.assertIn("\n  x  float32  [1, 4, 128, 128]  zfp (tolerance 0.001, max error %g)  %d/%d bytes (%.3f)\n"
                      % (t["max_error"], c["stored_size"], c["raw_size"], c["stored_size"] / c["raw_size"]), info)
        # the chunk's SHA-256 is that of the decoded (reconstructed) bytes
        # (docs/SPEC.md 6.3): full checks accept the file and give the same values
        self.assertEqual(self.ok("verify", out), out + ": OK\n")
        self.ok("extract", out, "--latent", "x=" + self.p("y.npy"))
        self.assertEqual(read(self.p("y.npy")), read(self.p("x.npy")))
        # float64 too; integers and float16 are refused a tolerance
        out64 = self.create(self.p("t64.raiiaf"), "--latent", "x=" + self.save("d.npy", a.astype(np.float64)),
                            "--tolerance", "1e-6")
        self.ok("extract", out64, "--no-digest", "--latent", "x=" + self.p("x64.npy"))
        got = np.load(self.p("x64.npy"))
        self.assertEqual(got.dtype, np.float64)
        self.assertLessEqual(np.max(np.abs(got - a.astype(np.float64))), 1e-6)
        err = self.fails(EXIT_USAGE, "create", "-o", self.p("ti.raiiaf"), "--tolerance", "0.5",
                         "--latent", "x=" + self.save("i.npy", np.arange(64, dtype=np.int32).reshape(8, 8)))
        self.assertIn("int32", err)
        self.assertEqual(self.ok("verify", out64), out64 + ": OK\n")

    def test_zfp_refused_for_float16(self):
        half = self.save("half.npy", np.ones(5, dtype=np.float16))
        out = self.p("h.raiiaf")
        err = self.fails(EXIT_USAGE, "create", "-o", out, "--latent", "x=%s:zfp" % half)
        self.assertIn("--latent x=" + half, err)
        self.assertIn("zfp", err)
        self.assertIn("float16", err)
        self.assertFalse(os.path.exists(out))
        self.assert_no_temp(self.dir)
        # the same through --codec zfp
        self.fails(EXIT_USAGE, "create", "-o", out, "--codec", "zfp", "--latent", "x=" + half)
        self.assertFalse(os.path.exists(out))


# ---------------------------------------------------------------------------
# create: metadata and errors
# ---------------------------------------------------------------------------

class CreateErrors(CliCase):
    def setUp(self):
        super().setUp()
        self.final = os.path.join(TMP, "final.npy")
        self.out = self.p("o.raiiaf")

    def tearDown(self):
        self.assert_no_temp(self.dir)

    def test_meta_merge(self):
        extra = self.p("extra.json")
        write(extra, json.dumps({"raiiaf_metadata": {
            "extensions": {"org.example": {"k": 1}},
            "model_info": {"hardware_info": {"os": "Linux"}, "model_name": "from meta"}}}).encode())
        self.create(self.out, "--latent", "x=" + self.final, "--meta", extra, "--model", "SDXL", "--seed", "5")
        meta = self.manifest(self.out)["raiiaf_metadata"]
        self.assertEqual(meta["extensions"], {"org.example": {"k": 1}})
        self.assertEqual(meta["model_info"]["hardware_info"], {"os": "Linux"})
        self.assertEqual(meta["model_info"]["model_name"], "SDXL")  # options win over --meta
        self.assertEqual(meta["model_info"]["generation_settings"], {"seed": 5})
        self.assertEqual(self.ok("verify", self.out), self.out + ": OK\n")

    def test_meta_invalid_json(self):
        bad = self.p("bad.json")
        write(bad, b'{\n  "a": 1,\n  "b": \n}\n')
        err = self.fails(EXIT_INPUT, "create", "-o", self.out, "--latent", "x=" + self.final, "--meta", bad)
        self.assertIn(bad + ":", err)
        self.assertIn("invalid JSON", err)
        self.assertRegex(err, r"line 4\b.*column 1\b")
        self.assertFalse(os.path.exists(self.out))

    def test_meta_missing(self):
        err = self.fails(EXIT_INPUT, "create", "-o", self.out, "--latent", "x=" + self.final,
                         "--meta", self.p("nope.json"))
        self.assertIn("nope.json", err)
        self.assertIn("No such file", err)

    def test_meta_schema_violation(self):
        meta = self.p("steps.json")
        write(meta, b'{"raiiaf_metadata": {"model_info": {"generation_settings": {"steps": 0}}}}')
        err = self.fails(EXIT_INPUT, "create", "-o", self.out, "--latent", "x=" + self.final, "--meta", meta)
        self.assertIn("/raiiaf_metadata/model_info/generation_settings/steps", err)
        self.assertFalse(os.path.exists(self.out))

    def test_steps(self):
        err = self.fails(EXIT_USAGE, "create", "-o", self.out, "--latent", "x=" + self.final, "--steps", "abc")
        self.assertIn("--steps", err)
        self.assertIn("'abc'", err)
        for bad in ["-1", "1.5", "", "12x"]:
            self.fails(EXIT_USAGE, "create", "-o", self.out, "--latent", "x=" + self.final, "--steps", bad)
        self.fails(EXIT_USAGE, "create", "-o", self.out, "--latent", "x=" + self.final, "--cfg-scale", "seven")
        err = self.fails(EXIT_INPUT, "create", "-o", self.out, "--latent", "x=" + self.final, "--steps", "0")
        self.assertIn("/raiiaf_metadata/model_info/generation_settings/steps", err)
        self.assertFalse(os.path.exists(self.out))

    def test_usage_errors(self):
        lat = ["--latent", "x=" + self.final]
        err = self.fails(EXIT_USAGE, "create", "-o", self.out, *lat, "--bogus")
        self.assertIn("'--bogus'", err)
        err = self.fails(EXIT_USAGE, "create", *lat)
        self.assertIn("no output file", err)
        err = self.fails(EXIT_USAGE, "create", "-o", self.out)
        self.assertIn("nothing to store", err)
        err = self.fails(EXIT_USAGE, "create", "-o", self.out, *lat, "--codec", "lzma")
        self.assertIn("'lzma'", err)
        for tol in ["0", "-1", "x", "inf"]:
            self.fails(EXIT_USAGE, "create", "-o", self.out, *lat, "--tolerance", tol)
        for spec in ["x", "=f.npy", "x="]:
            err = self.fails(EXIT_USAGE, "create", "-o", self.out, "--latent", spec)
            self.assertIn("NAME=FILE", err)
        err = self.fails(EXIT_USAGE, "create", "-o", self.out, *lat, "--model")
        self.assertIn("--model needs a value", err)
        err = self.fails(EXIT_USAGE, "create", "-o")
        self.assertIn("-o needs a value", err)
        err = self.fails(EXIT_USAGE, "create", "-o", self.out, *lat, "--latent", "x=" + self.final)
        self.assertIn('"x" already exists', err)
        self.assertFalse(os.path.exists(self.out))

    def test_missing_image(self):
        err = self.fails(EXIT_INPUT, "create", "-o", self.out, "--image", self.p("nope.png"))
        self.assertIn("nope.png", err)
        self.assertIn("No such file", err)

    def test_text_as_image(self):
        txt = self.p("notes.png")
        write(txt, b"hello world\n")
        err = self.fails(EXIT_INPUT, "create", "-o", self.out, "--image", txt)
        self.assertIn(txt + ": not a PNG, JPEG or WebP image", err)
        self.assertFalse(os.path.exists(self.out))

    def test_damaged_image(self):
        # a PNG cut short: its validation must refuse it
        png = read(os.path.join(DATA, "sd-webui.png"))
        cut = self.p("cut.png")
        write(cut, png[:len(png) // 2])
        err = self.fails(EXIT_INPUT, "create", "-o", self.out, "--image", cut)
        self.assertIn(cut + ":", err)
        self.assertFalse(os.path.exists(self.out))

    def test_bad_npy(self):
        cases = {
            os.path.join(NPY, "fortran.npy"): "Fortran-order arrays are not supported",
            os.path.join(NPY, "object.npy"): "object arrays ('|O') are not supported",
            os.path.join(NPY, "f32_bigendian.npy"): "'>f4'",
            os.path.join(NPY, "c64.npy"): "'<c8'",
        }
        trunc = self.p("trunc.npy")
        write(trunc, read(os.path.join(TMP, "noise.npy"))[:1000])
        cases[trunc] = "data: 872 bytes present, shape (1, 4, 128, 128) of float32 needs 262144"
        notnpy = self.p("text.npy")
        write(notnpy, b"not a numpy file at all\n")
        cases[notnpy] = "text.npy"
        cases[self.p("nope.npy")] = "No such file"
        for path, msg in cases.items():
            with self.subTest(path=os.path.basename(path)):
                err = self.fails(EXIT_INPUT, "create", "-o", self.out, "--latent", "lat=" + path)
                self.assertIn("--latent lat: " + path + ":", err)
                self.assertIn(msg, err)
                self.assertFalse(os.path.exists(self.out))

    def test_atomic_over_existing(self):
        """A failing create leaves an existing OUT byte-identical, and no temporary file."""
        self.create(self.out, "--latent", "x=" + self.final, "--image", os.path.join(DATA, "sd-webui.webp"))
        before = read(self.out)
        txt = self.p("bad.png")
        write(txt, b"plain text")
        failing = [
            (EXIT_INPUT, ["--image", txt]),
            (EXIT_INPUT, ["--image", os.path.join(DATA, "sd-webui.png"), "--latent", "y=" + os.path.join(NPY, "fortran.npy")]),
            (EXIT_INPUT, ["--image", os.path.join(DATA, "sd-webui.png"), "--latent", "y=" + self.final, "--steps", "0"]),
            (EXIT_USAGE, ["--latent", "y=" + self.final, "--latent", "y=" + self.final]),
            (EXIT_USAGE, ["--latent", "y=%s:zfp" % os.path.join(NPY, "f16_5.npy")]),
        ]
        for code, args in failing:
            with self.subTest(args=args):
                self.fails(code, "create", "-o", self.out, *args)
                self.assertEqual(read(self.out), before)
                self.assert_no_temp(self.dir)
                self.assertEqual(sorted(os.listdir(self.dir)), ["bad.png", "o.raiiaf"])
        self.assertEqual(self.ok("verify", self.out), self.out + ": OK\n")

    def test_unwritable_output(self):
        err = self.fails(EXIT_SYSTEM, "create", "-o", self.p("no", "such", "dir.raiiaf"), "--latent", "x=" + self.final)
        self.assertIn("dir.raiiaf", err)

    def test_tags_escaped(self):
        tags = ['quote " and \\ backslash', "tab\there", "ünïcode ✓"]
        args = []
        for t in tags:
            args += ["--tag", t]
        self.create(self.out, "--latent", "x=" + self.final, *args)
        self.assertEqual(self.manifest(self.out)["raiiaf_metadata"]["model_info"]["tags"], tags)


# ---------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------

class Verify(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(dir=TMP)
        cls.good = os.path.join(cls.base, "good.raiiaf")
        rc, out, err = run("create", "-o", cls.good, "--image", os.path.join(DATA, "sd-webui.webp"),
                           "--latent", "initial_noise=" + os.path.join(TMP, "noise.npy"),
                           "--latent", "final=" + os.path.join(TMP, "final.npy"), *RECORD)
        assert rc == 0, err
        cls.data = read(cls.good)
        rc, js, err = run("info", "--json", cls.good)
        cls.meta = json.loads(js)["raiiaf_metadata"]

    def corrupt(self, name, pos=None, data=None, bit=0):
        b = bytearray(self.data if data is None else data)
        if pos is not None:
            b[pos] ^= 1 << bit
        path = self.p(name)
        write(path, bytes(b))
        return path

    def verify_fails(self, path, *messages):
        rc, out, err = run("verify", path)
        self.assertEqual(rc, EXIT_PROBLEM, err)
        self.assertEqual(out, path + ": FAILED\n")
        self.assertTrue(err.startswith(path + ": "), err)
        for m in messages:
            self.assertIn(m, err)
        return err

    def test_ok(self):
        self.assertEqual(self.ok("verify", self.good), self.good + ": OK\n")

    def test_image_payload(self):
        img = self.meta["chunks"][self.meta["image"]["chunk"]]
        path = self.corrupt("img.raiiaf", img["offset"] + 64 + 1000)
        self.verify_fails(path, "chunk 0 (IMAG) at offset %d: payload CRC-32C mismatch" % img["offset"])

    def test_tensor_payload(self):
        t = self.meta["tensors"][1]
        c = self.meta["chunks"][t["chunk"]]
        path = self.corrupt("tens.raiiaf", c["offset"] + 64 + c["stored_size"] // 2, bit=7)
        self.verify_fails(path, 'chunk %d (TENS "final") at offset %d: payload CRC-32C mismatch'
                          % (t["chunk"], c["offset"]))

    def test_manifest_region(self):
        # the manifest sits just before the 64-byte footer
        path = self.corrupt("man.raiiaf", len(self.data) - 64 - 200)
        self.verify_fails(path, "manifest", "CRC-32C mismatch")

    def test_footer(self):
        path = self.corrupt("foot.raiiaf", len(self.data) - 20)
        self.verify_fails(path, "footer at offset %d: CRC-32C mismatch" % (len(self.data) - 64))

    def test_header(self):
        path = self.corrupt("hdr.raiiaf", 40)
        self.verify_fails(path, "header (offset 0): CRC-32C mismatch")
        path = self.corrupt("sig.raiiaf", 0)
        self.verify_fails(path, "not a RAIIAF file")

    def test_chunk_header(self):
        img = self.meta["chunks"][0]
        path = self.corrupt("chdr.raiiaf", img["offset"] + 10)
        self.verify_fails(path, "chunk 0 (IMAG) at offset %d: chunk header CRC-32C mismatch" % img["offset"])

    def test_truncated(self):
        path = self.corrupt("t1.raiiaf", data=self.data[:-1000])
        self.verify_fails(path, "truncated")
        path = self.corrupt("t2.raiiaf", data=self.data[:len(self.data) // 2 // 64 * 64])
        self.verify_fails(path, "truncated")
        path = self.corrupt("t3.raiiaf", data=self.data[:10])
        self.verify_fails(path)
        path = self.corrupt("empty.raiiaf", data=b"")
        self.verify_fails(path)

    def test_appended_bytes(self):
        path = self.corrupt("app.raiiaf", data=self.data + b"\0" * 64)
        self.verify_fails(path)

    def test_several_files(self):
        bad = self.corrupt("bad.raiiaf", len(self.data) // 3)
        rc, out, err = run("verify", self.good, bad, self.good)
        self.assertEqual(rc, EXIT_PROBLEM)
        self.assertEqual(out, "%s: OK\n%s: FAILED\n%s: OK\n" % (self.good, bad, self.good))
        self.assertIn(bad + ": ", err)
        self.assertNotIn(self.good, err)
        rc, out, err = run("verify", "-q", self.good, bad)
        self.assertEqual((rc, out), (EXIT_PROBLEM, bad + ": FAILED\n"))

    def test_missing_file(self):
        missing = self.p("missing.raiiaf")
        rc, out, err = run("verify", missing)
        self.assertEqual((rc, out), (EXIT_INPUT, ""))
        self.assertIn("missing.raiiaf", err)
        self.assertIn("No such file", err)
        # a missing file among good and bad ones: 3 wins, the others still get their verdict
        bad = self.corrupt("bad.raiiaf", len(self.data) // 3)
        rc, out, err = run("verify", self.good, missing, bad)
        self.assertEqual((rc, out), (EXIT_INPUT, "%s: OK\n%s: FAILED\n" % (self.good, bad)))

    def test_png_is_not_raiiaf(self):
        png = os.path.join(DATA, "sd-webui.png")
        rc, out, err = run("verify", png)
        self.assertEqual((rc, out), (EXIT_PROBLEM, png + ": FAILED\n"))
        self.assertIn(png + ": not a RAIIAF file", err)

    def test_usage(self):
        self.fails(EXIT_USAGE, "verify")
        err = self.fails(EXIT_USAGE, "verify", "--bogus", self.good)
        self.assertIn("'--bogus'", err)


# ---------------------------------------------------------------------------
# extract
# ---------------------------------------------------------------------------

class Extract(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(dir=TMP)
        cls.good = os.path.join(cls.base, "good.raiiaf")
        rc, out, err = run("create", "-o", cls.good, "--image", os.path.join(DATA, "sd-webui.jpg"),
                           "--latent", "initial_noise=" + os.path.join(TMP, "noise.npy"),
                           "--latent", "final=" + os.path.join(TMP, "final.npy"), *RECORD)
        assert rc == 0, err
        cls.data = read(cls.good)
        rc, js, err = run("info", "--json", cls.good)
        cls.meta = json.loads(js)["raiiaf_metadata"]

    def flipped(self, pos):
        b = bytearray(self.data)
        b[pos] ^= 0x04
        path = self.p("bad.raiiaf")
        write(path, bytes(b))
        return path

    def payload_pos(self, chunk):
        c = self.meta["chunks"][chunk]
        return c["offset"] + 64 + c["stored_size"] // 2

    def test_unknown_tensor(self):
        err = self.fails(EXIT_INPUT, "extract", self.good, "--latent", "nope=" + self.p("n.npy"))
        self.assertIn('%s: no tensor named "nope"' % self.good, err)
        self.assertEqual(os.listdir(self.dir), [])
        # checked before anything is written, even outputs listed earlier
        self.fails(EXIT_INPUT, "extract", self.good, "--image", self.p("i.jpg"), "--latent", "final=" + self.p("f.npy"),
                   "--latent", "nope=" + self.p("n.npy"))
        self.assertEqual(os.listdir(self.dir), [])

    def test_corrupt_image_payload(self):
        bad = self.flipped(self.payload_pos(self.meta["image"]["chunk"]))
        for extra in [[], ["--no-digest"]]:
            with self.subTest(extra=extra):
                out = self.p("out.jpg")
                err = self.fails(EXIT_INPUT, "extract", bad, *extra, "--image", out)
                self.assertIn(bad + ": chunk 0 (IMAG)", err)
                self.assertIn("payload CRC-32C mismatch", err)
                self.assertFalse(os.path.exists(out))
                self.assert_no_temp(self.dir)
        # the tensors are intact and still come out
        self.ok("extract", bad, "--latent", "final=" + self.p("final.npy"))
        self.assert_same_array(self.p("final.npy"), np.load(os.path.join(TMP, "final.npy")))

    def test_corrupt_tensor_payload(self):
        t = self.meta["tensors"][1]
        bad = self.flipped(self.payload_pos(t["chunk"]))
        for extra in [[], ["--no-digest"]]:
            with self.subTest(extra=extra):
                err = self.fails(EXIT_INPUT, "extract", bad, *extra, "--latent", "final=" + self.p("f.npy"))
                self.assertIn('%s: chunk %d (TENS "final")' % (bad, t["chunk"]), err)
                self.assertIn("CRC-32C mismatch", err)
                self.assertEqual(sorted(os.listdir(self.dir)), ["bad.raiiaf"])
        # nothing at all is written when one requested payload is damaged
        self.fails(EXIT_INPUT, "extract", bad, "--image", self.p("i.jpg"), "--meta", self.p("m.json"),
                   "--latent", "initial_noise=" + self.p("n.npy"), "--latent", "final=" + self.p("f.npy"))
        self.assertEqual(sorted(os.listdir(self.dir)), ["bad.raiiaf"])
        self.fails(EXIT_INPUT, "extract", bad, "--all", self.p("all"))
        self.assertEqual(os.listdir(self.p("all")) if os.path.isdir(self.p("all")) else [], [])
        # an undamaged part can still be extracted on its own
        self.ok("extract", bad, "--image", self.p("i.jpg"))
        self.assertEqual(read(self.p("i.jpg")), read(os.path.join(DATA, "sd-webui.jpg")))

    def test_corrupt_manifest(self):
        bad = self.flipped(len(self.data) - 64 - 100)
        err = self.fails(EXIT_INPUT, "extract", bad, "--meta", self.p("m.json"), "--all", self.p("all"))
        self.assertIn(bad + ": manifest", err)
        self.assertEqual(sorted(os.listdir(self.dir)), ["bad.raiiaf"])

    def test_digest_mismatch_is_caught(self):
        """An image payload changed with every CRC-32C made to match again
        (chunk header, the manifest's record, the manifest chunk): only the
        SHA-256 catches it, and --no-digest lets it through."""
        c = self.meta["chunks"][self.meta["image"]["chunk"]]
        b = bytearray(self.data)
        o, n = c["offset"], c["stored_size"]
        b[o + 64 + 5000] ^= 0x01
        # chunk header (docs/SPEC.md): payload CRC-32C at 32, CRC-32C of bytes 0..59 at 60
        self.assertEqual(struct.unpack("<I", bytes(b[o + 32:o + 36]))[0], c["crc32c"])
        new_crc = crc32c(bytes(b[o + 64:o + 64 + n]))
        b[o + 32:o + 36] = struct.pack("<I", new_crc)
        b[o + 60:o + 64] = struct.pack("<I", crc32c(bytes(b[o:o + 60])))
        # the manifest repeats the CRC: rewrite it as a MANI chunk with one stored (mode 0) plane
        footer = bytes(b[-64:])
        mo = struct.unpack("<Q", footer[8:16])[0]
        text = self.ok("info", "--json", self.good)[:-1].encode()
        old = b'"crc32c": %d' % c["crc32c"]
        self.assertEqual(text.count(old), 1)
        text = text.replace(old, b'"crc32c": %d' % new_crc)
        payload = b"\x01" + bytes(7) + b"\x00" + bytes(7) + struct.pack("<Q", len(text)) + text
        h = bytearray(b[mo:mo + 64])
        h[16:32] = struct.pack("<QQ", len(payload), len(text))
        h[32:36] = struct.pack("<I", crc32c(payload))
        h[60:64] = struct.pack("<I", crc32c(bytes(h[:60])))
        body = bytes(b[:mo]) + bytes(h) + payload
        body += bytes(-len(body) % 64) + footer
        bad = self.p("sha.raiiaf")
        write(bad, body)
        self.assertEqual(self.ok("info", "--json", bad)[:-1].encode(), text)
        err = self.fails(EXIT_INPUT, "extract", bad, "--image", self.p("x.jpg"))
        self.assertIn(bad + ": chunk 0 (IMAG) at offset %d: SHA-256" % o, err)
        self.assertFalse(os.path.exists(self.p("x.jpg")))
        rc, out, err = run("verify", bad)
        self.assertEqual((rc, out), (EXIT_PROBLEM, bad + ": FAILED\n"))
        self.assertIn("SHA-256", err)
        # --no-digest skips exactly that check
        self.ok("extract", bad, "--no-digest", "--image", self.p("x.jpg"))
        self.assertEqual(read(self.p("x.jpg")), bytes(b[o + 64:o + 64 + n]))

    def test_hostile_names_stay_inside(self):
        half = os.path.join(NPY, "f16_5.npy")
        names = ["../evil", "../../evil2", "/abs", ".hidden", "a/b", "..", "manifest", "ok.name"]
        args = []
        for n in names:
            args += ["--latent", "%s=%s" % (n, half)]
        f = self.create(self.p("hostile.raiiaf"), *args)
        outdir = self.p("sub", "out")
        os.makedirs(self.p("sub"))
        self.ok("extract", f, "--all", outdir)
        files = sorted(os.listdir(outdir))
        self.assertEqual(len(files), len(names) + 1, files)
        self.assertIn("manifest.json", files)
        self.assertIn("ok.name.npy", files)
        for fn in files:
            self.assertFalse(fn.startswith("."), fn)
        self.assertEqual(sorted(os.listdir(self.p("sub"))), ["out"])
        self.assertEqual(sorted(os.listdir(self.dir)), ["hostile.raiiaf", "sub"])
        self.assertFalse(os.path.exists("/abs.npy"))
        expected = np.load(half)
        for fn in files:
            if fn.endswith(".npy"):
                self.assert_same_array(os.path.join(outdir, fn), expected)
        # the manifest written is the manifest, not a tensor named "manifest"
        self.assertEqual(json.loads(read(os.path.join(outdir, "manifest.json"))), self.manifest(f))

    def test_all_without_image(self):
        f = self.create(self.p("n.raiiaf"), "--latent", "x=" + os.path.join(NPY, "bool_2x3.npy"))
        self.ok("extract", f, "--all", self.p("all"))
        self.assertEqual(sorted(os.listdir(self.p("all"))), ["manifest.json", "x.npy"])
        err = self.fails(EXIT_INPUT, "extract", f, "--image", self.p("i.png"))
        self.assertIn("holds no image", err)
        self.assertFalse(os.path.exists(self.p("i.png")))

    def test_overwrite_existing_output(self):
        out = self.p("f.npy")
        write(out, b"old content")
        self.ok("extract", self.good, "--latent", "final=" + out)
        self.assertEqual(read(out), read(os.path.join(TMP, "final.npy")))
        self.assert_no_temp(self.dir)

    def test_usage(self):
        self.fails(EXIT_USAGE, "extract")
        err = self.fails(EXIT_USAGE, "extract", self.good)
        self.assertIn("nothing to extract", err)
        err = self.fails(EXIT_USAGE, "extract", self.good, self.good, "--image", self.p("x"))
        self.assertIn("one input file at a time", err)
        err = self.fails(EXIT_USAGE, "extract", self.good, "--latent", "final")
        self.assertIn("NAME=OUT.npy", err)
        err = self.fails(EXIT_USAGE, "extract", self.good, "--bogus")
        self.assertIn("'--bogus'", err)
        self.fails(EXIT_USAGE, "extract", self.good, "--image")
        err = self.fails(EXIT_INPUT, "extract", self.p("missing.raiiaf"), "--image", self.p("x"))
        self.assertIn("No such file", err)
        self.assertEqual(os.listdir(self.dir), [])

    def test_unwritable_output(self):
        err = self.fails(EXIT_SYSTEM, "extract", self.good, "--image", self.p("no", "dir", "x.jpg"))
        self.assertIn("x.jpg", err)


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ---------------------------------------------------------------------------
# help, version, dispatch
# ---------------------------------------------------------------------------

class Help(CliCase):
    def test_help(self):
        for args in [["--help"], ["-h"], ["help"], ["create", "--help"], ["info", "--help"],
                     ["extract", "--help"], ["verify", "--help"], ["create", "-h"]]:
            with self.subTest(args=args):
                out = self.ok(*args)
                self.assertTrue(out.startswith("usage: raiiaf"), out)
        self.assertIn("Exit status: 0 success; 1 verify found a problem; 2 usage error", self.ok("--help"))

    def test_no_command(self):
        rc, out, err = run()
        self.assertEqual((rc, out), (EXIT_USAGE, ""))
        self.assertTrue(err.startswith("usage: raiiaf"))

    def test_bogus_command(self):
        err = self.fails(EXIT_USAGE, "bogus")
        self.assertIn("unknown command 'bogus'", err)

    def test_version(self):
        out = self.ok("--version")
        self.assertRegex(out, r"^raiiaf \d+\.\d+\.\d+\S* \(format 2\.\d+\)\n$")


# ---------------------------------------------------------------------------
# every generator image, then random single-bit flips
# ---------------------------------------------------------------------------

FLIPS_PER_FILE = 30


class EveryImage(CliCase):
    def test_every_image(self):
        images = sorted(glob.glob(os.path.join(DATA, "*.png")) + glob.glob(os.path.join(DATA, "*.jpg")) +
                        glob.glob(os.path.join(DATA, "*.webp")))
        self.assertGreaterEqual(len(images), 3)
        rng = np.random.default_rng(1234)
        for image in images:
            with self.subTest(image=os.path.basename(image)):
                self.one_image(image, rng, random.Random(os.path.basename(image)))

    def one_image(self, image, rng, rnd):
        d = tempfile.mkdtemp(dir=self.dir)
        lat = rng.standard_normal((1, 4, 128, 128)).astype(np.float32)
        lat_path = os.path.join(d, "lat.npy")
        np.save(lat_path, lat)
        f = os.path.join(d, "f.raiiaf")
        self.create(f, "--image", image, "--latent", "lat=" + lat_path, "--prompt", os.path.basename(image))
        img = read(image)
        fmt, w, h = image_dims(img)
        manifest_text = self.ok("info", "--json", f)[:-1].encode()
        meta = json.loads(manifest_text)["raiiaf_metadata"]
        self.assertEqual((meta["image"]["format"], meta["image"]["width"], meta["image"]["height"]), (fmt, w, h))
        self.ok("extract", f, "--image", os.path.join(d, "img"), "--latent", "lat=" + os.path.join(d, "out.npy"))
        self.assertEqual(read(os.path.join(d, "img")), img)
        self.assert_same_array(os.path.join(d, "out.npy"), lat)
        self.assertEqual(self.ok("verify", f), f + ": OK\n")

        data = read(f)
        size = len(data)
        # Where the flips go: a third anywhere, a third in the structures
        # (header, chunk headers, the latent, manifest and footer), a third in
        # the last chunk onwards.
        chunks = meta["chunks"]
        last_end = max(c["offset"] + 64 + c["stored_size"] for c in chunks)
        structural = [(0, 64)] + [(c["offset"], c["offset"] + 64) for c in chunks] + [(last_end, size)]
        tens = chunks[meta["tensors"][0]["chunk"]]
        positions = []
        for k in range(FLIPS_PER_FILE):
            if k % 3 == 0:
                pos = rnd.randrange(size)
            elif k % 3 == 1:
                lo, hi = structural[rnd.randrange(len(structural))]
                pos = rnd.randrange(lo, hi)
            else:
                pos = rnd.randrange(tens["offset"], size)
            positions.append((pos, rnd.randrange(8)))
        bad_files = []
        for i, (pos, bit) in enumerate(positions):
            b = bytearray(data)
            b[pos] ^= 1 << bit
            path = os.path.join(d, "flip%02d.raiiaf" % i)
            write(path, bytes(b))
            bad_files.append(path)
        # verify: every flipped file fails (one call for all of them)
        rc, out, err = run("verify", *bad_files)
        self.assertEqual(rc, EXIT_PROBLEM, err)
        self.assertEqual(out, "".join("%s: FAILED\n" % p for p in bad_files),
                         "a flipped bit went unnoticed: " + repr([(p, positions[i]) for i, p in enumerate(bad_files)
                                                                  if p + ": OK" in out]))
        for p in bad_files:
            self.assertIn(p + ": ", err)
        # extract: fails with nothing written, or writes exactly the originals
        for i, path in enumerate(bad_files):
            oi, ol, om = (os.path.join(d, "x-img"), os.path.join(d, "x-lat.npy"), os.path.join(d, "x-meta.json"))
            rc, out, err = run("extract", path, "--image", oi, "--latent", "lat=" + ol, "--meta", om)
            where = "%s (flip at byte %d bit %d): rc %d %s" % (path, positions[i][0], positions[i][1], rc, err)
            self.assertEqual(out, "", where)
            if rc == 0:
                self.assertEqual(err, "", where)
                self.assertEqual(read(oi), img, where)
                self.assert_same_array(ol, lat)
                self.assertEqual(read(om), manifest_text, where)
            else:
                self.assertEqual(rc, EXIT_INPUT, where)
                self.assertTrue(err.startswith("raiiaf: " + path + ": "), where)
                for o in (oi, ol, om):
                    self.assertFalse(os.path.exists(o), where + ": " + o + " was written")
            for o in (oi, ol, om):
                if os.path.exists(o):
                    os.unlink(o)
            os.unlink(path)
        self.assert_no_temp(d)
        shutil.rmtree(d)


if __name__ == "__main__":
    if not os.access(CLI, os.X_OK):
        raise SystemExit("RAIIAF_CLI is not an executable: %s" % CLI)
    unittest.main()
