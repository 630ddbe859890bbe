#!/usr/bin/env python3
"""`raiiaf noise` against PyTorch: torch.randn(shape, dtype=dtype,
generator=torch.Generator().manual_seed(seed)) on the CPU, bit for bit.

Run by CTest with RAIIAF_CLI (the raiiaf binary).  Needs PyTorch (Debian 12:
python3-torch 1.13.1, installed by scripts/bootstrap.sh); without it the test
FAILS, because bit-exactness against torch is the point.  Set
RAIIAF_SKIP_TORCH=1 to skip it deliberately on a machine without torch.

Both of ATen's float32 kernels are checked: the vectorised one this CPU's
torch uses (AVX2/AVX512 capability: --kernel avx2-fma) and the scalar one
(torch run with ATEN_CPU_CAPABILITY=default: --kernel scalar).
"""
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("RAIIAF_CLI") or os.path.join(HERE, "..", "build", "raiiaf")

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

SEEDS = [0, 1, 42, 1234, 2**31 - 1, 2**32 + 7, 987654321]
SHAPES = [(1,), (2,), (3,), (7,), (15,), (16,), (17,), (31,), (33,), (231,), (4, 4), (2, 3, 5),
          (1, 4, 8, 8), (3, 77), (1, 4, 64, 64), (1, 4, 128, 128)]
DTYPES = ["float32", "float16", "bfloat16"]


def run(*args):
    return subprocess.run([CLI, *map(str, args)], capture_output=True)


def bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint16)


def torch_capability():
    show = torch.__config__.show()
    for line in show.splitlines():
        if "CPU capability usage" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def kernel_for(capability):
    # AVX2 and AVX512 builds both run ATen's AVX2 normal kernel (with FMA);
    # "NO AVX" / DEFAULT runs the scalar one.
    return "avx2-fma" if capability.startswith("AVX") else "scalar"


SCALAR_CASES = [(seed, shape, dtype) for seed in (0, 42, 2**32 + 7) for shape in [(5,), (16,), (17,), (231,), (1, 4, 64, 64)]
                for dtype in DTYPES]

# Run in a torch forced to its scalar kernels; writes every case's bits to an .npz.
TORCH_SCRIPT = r'''
import sys, numpy as np, torch
cases = eval(sys.argv[1]); out = {}
for k, (seed, shape, dt) in enumerate(cases):
    t = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=getattr(torch, dt))
    out[str(k)] = t.contiguous().reshape(-1).view(torch.int16 if t.element_size() == 2 else torch.int32).numpy()
np.savez(sys.argv[2], **out)
'''


@unittest.skipIf(os.environ.get("RAIIAF_SKIP_TORCH") == "1", "RAIIAF_SKIP_TORCH=1")
class NoiseVsTorch(unittest.TestCase):
    def setUp(self):
        if torch is None:
            self.fail("PyTorch is not installed (apt-get install python3-torch, or RAIIAF_SKIP_TORCH=1)")
        self.tmp = tempfile.mkdtemp(prefix="raiiaf-noise-")

    def ours(self, seed, shape, dtype, kernel=None):
        out = os.path.join(self.tmp, "n.npy")
        args = ["noise", "--seed", seed, "--shape", ",".join(map(str, shape)), "--dtype", dtype, "-o", out]
        if kernel:
            args += ["--kernel", kernel]
        p = run(*args)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        a = np.load(out)
        if dtype == "bfloat16":  # numpy has no bfloat16: the .npy holds what raiiaf writes for it
            self.assertEqual(a.dtype.itemsize, 2)
        self.assertEqual(a.shape, tuple(shape))
        return a.reshape(-1).view(np.uint32 if dtype == "float32" else np.uint16)

    def test_matches_torch_this_cpu(self):
        kernel = kernel_for(torch_capability())
        checked = 0
        for dtype in DTYPES:
            for seed in SEEDS:
                for shape in SHAPES:
                    if dtype != "float32" and seed not in (0, 42, 2**32 + 7):
                        continue
                    t = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=getattr(torch, dtype))
                    want = t.reshape(-1).view(torch.int32 if dtype == "float32" else torch.int16).numpy()
                    want = want.view(np.uint32 if dtype == "float32" else np.uint16)
                    got = self.ours(seed, shape, dtype, kernel)
                    bad = np.flatnonzero(got != want)
                    self.assertEqual(len(bad), 0, f"seed {seed} shape {shape} {dtype} kernel {kernel}: "
                                     f"{len(bad)} of {want.size} differ, first at {bad[:3]}")
                    checked += want.size
        self.assertGreater(checked, 10**6)

    def test_scalar_kernel_matches_torch_default_capability(self):
        env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
        npz = os.path.join(self.tmp, "scalar.npz")
        p = subprocess.run([sys.executable, "-c", TORCH_SCRIPT, repr(SCALAR_CASES), npz], capture_output=True, env=env)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        ref = np.load(npz)
        for k, (seed, shape, dtype) in enumerate(SCALAR_CASES):
            want = ref[str(k)].view(np.uint32 if dtype == "float32" else np.uint16)
            got = self.ours(seed, shape, dtype, "scalar")
            self.assertTrue(np.array_equal(got, want), f"seed {seed} shape {shape} {dtype} scalar kernel")

    def test_kernels_differ_where_expected(self):
        # The float32 kernels give different bits for >= 16 elements; the
        # < 16 element double path is shared.
        a = self.ours(42, (64,), "float32", "avx2-fma")
        b = self.ours(42, (64,), "float32", "scalar")
        self.assertFalse(np.array_equal(a, b))
        self.assertTrue(np.array_equal(self.ours(42, (15,), "float32", "avx2-fma"), self.ours(42, (15,), "float32", "scalar")))

    def test_usage_errors(self):
        out = os.path.join(self.tmp, "x.npy")
        for args in (["--shape", "4", "-o", out], ["--seed", "1", "-o", out], ["--seed", "1", "--shape", "4"],
                     ["--seed", "x", "--shape", "4", "-o", out], ["--seed", "1", "--shape", "4,,4", "-o", out],
                     ["--seed", "1", "--shape", "4", "--dtype", "int8", "-o", out],
                     ["--seed", "1", "--shape", "4", "--kernel", "neon", "-o", out]):
            p = run("noise", *args)
            self.assertEqual(p.returncode, 2, args)
            self.assertFalse(os.path.exists(out))


def save_torch_npy(path, t):
    """A torch tensor as .npy, bit for bit (bfloat16 as '|V2', as raiiaf reads it)."""
    if t.dtype == torch.bfloat16:
        a = t.contiguous().view(torch.int16).numpy().view(np.dtype("V2"))
    else:
        a = t.numpy()
    np.save(path, a)
    return a.reshape(-1).view(np.uint32 if a.dtype.itemsize == 4 else np.uint16)


@unittest.skipIf(os.environ.get("RAIIAF_SKIP_TORCH") == "1", "RAIIAF_SKIP_TORCH=1")
class RecipeVsTorch(unittest.TestCase):
    """`raiiaf create --noise-seed`: noise made by torch itself is stored as a
    32-byte recipe only when regenerating it matches to the bit, and
    `extract` gives back torch's bits."""

    def setUp(self):
        if torch is None:
            self.fail("PyTorch is not installed (apt-get install python3-torch, or RAIIAF_SKIP_TORCH=1)")
        self.tmp = tempfile.mkdtemp(prefix="raiiaf-recipe-")

    def roundtrip(self, t, create_args, expect_recipe):
        src = os.path.join(self.tmp, "in.npy")
        out = os.path.join(self.tmp, "out.npy")
        f = os.path.join(self.tmp, "f.raiiaf")
        want = save_torch_npy(src, t)
        p = run("create", "-o", f, "--no-env", "-v", "--latent", "initial_noise=" + src, *create_args)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        info = run("info", f).stdout.decode()
        line = [l for l in info.splitlines() if "initial_noise" in l][0]
        self.assertEqual(" recipe " in line, expect_recipe, line + "\n" + p.stdout.decode())
        head = open(f, "rb").read(20)
        self.assertEqual(head[14], 1 if expect_recipe else 0)  # version_minor
        self.assertEqual(run("verify", f).returncode, 0)
        p = run("extract", f, "--latent", "initial_noise=" + out)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        got = np.load(out).reshape(-1).view(want.dtype)
        self.assertTrue(np.array_equal(got, want))
        return os.path.getsize(f), p

    def test_torch_noise_becomes_a_recipe(self):
        n = 0
        for dt in ("float32", "float16", "bfloat16"):
            for seed in (0, 42, 2**32 + 7, 987654321):
                for shape in ((1, 4, 64, 64), (17,), (231,), (5,), (2, 4, 16, 16)):
                    t = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=getattr(torch, dt))
                    size, _ = self.roundtrip(t, ["--noise-seed", str(seed)], True)
                    self.assertLess(size, 2048)  # 32-byte recipe + manifest, whatever the tensor's size
                    n += 1
        self.assertEqual(n, 60)

    def test_generation_seed_is_tried_automatically(self):
        t = torch.randn((1, 4, 32, 32), generator=torch.Generator().manual_seed(1234))
        self.roundtrip(t, ["--seed", "1234"], True)
        self.roundtrip(t, ["--seed", "1234", "--no-recipe"], False)
        # a different generation seed: values stored, silently (not asked for)
        size, _ = self.roundtrip(t, ["--seed", "1235"], False)
        self.assertGreater(size, 4 * 32 * 32 * 4 * 0.8)

    def test_anything_else_is_stored_as_values(self):
        t = torch.randn((1, 4, 32, 32), generator=torch.Generator().manual_seed(5))
        src = os.path.join(self.tmp, "in.npy")
        f = os.path.join(self.tmp, "f.raiiaf")
        save_torch_npy(src, t)
        p = run("create", "-o", f, "--no-env", "--latent", "initial_noise=" + src, "--noise-seed", "6")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"stored as values: element 0 is", p.stderr)  # asked for: the miss is reported
        t2 = t.clone()
        t2.view(-1)[4000] = t2.view(-1)[4000].item() + 1e-3  # one value off
        self.roundtrip(t2, ["--noise-seed", "5"], False)
        self.roundtrip(t * 1.0000001, ["--noise-seed", "5"], False)


if __name__ == "__main__":
    unittest.main(verbosity=1)
