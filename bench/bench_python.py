#!/usr/bin/python3
"""Python overhead benchmark: the drop-in (raiiaf.main.raiiafFileHandler) and
the native API against the C CLI, on the same inputs.

    RAIIAF_LIBRARY=build/libraiiaf.so PYTHONPATH=python /usr/bin/python3 bench/bench_python.py \\
        --cli build/raiiaf --runs 11

Inputs: tests/data/comfyui.png (2,056,491 bytes) and two float32 latents of
shape (1,4,128,128): seeded N(0,1) noise and a smooth field; files go to
/dev/shm when it exists.  Every time is the median of --runs runs after one
warm-up; operations are interleaved run by run.

Rows:
  encode  drop-in   file_encoder(..., convert_float16=False) in this process (the
                    original's return dict included: the file is read back)
          native    raiiaf.write(...) in this process
          python    a fresh /usr/bin/python3 doing the drop-in encode from the
                    .png/.npy files (interpreter start + import + read + encode)
          CLI       `raiiaf create --image .. --latent ..` (process start + read + encode)
  decode  drop-in   file_decoder(): every latent copied out, image bytes, env drift
          native    raiiaf.open() + every latent (zero-copy when raw) + image_bytes
          python    a fresh /usr/bin/python3 doing file_decoder and saving .npy/.png
          CLI       `raiiaf extract FILE --all DIR` (writes .npy per latent + the image)
  encode drop-in f1       the same with format=1 (the original's layout; zfp latents, as the
                          original's should_compress=True default)
  encode drop-in 1 thread the drop-in with the image checked on the calling thread only
With --original DIR (the original package installed there, e.g.
`pip install --target DIR raiiaf==1.1.0` with its zstandard, zfpy and jsonschema), a
child /usr/bin/python3 imports it from DIR and times its file_encoder and
file_decoder on the same inputs in the same run (it cannot share this process:
both packages are named raiiaf).  Every row also gives the median CPU time of
this process (a loaded machine inflates it less than wall time).
Then (--part sampling, bench/bench_sampling_data.py) raiiaf.Recorder's
overhead per sampling step and raiiaf.data.Dataset throughput through a torch
DataLoader with 1 and 2 workers, local and through nginx.
Also the cost of one ctypes call (raiiaf_reader_tensor_count), next to a
Python function call and cffi's ABI mode when cffi is installed, and
zero-copy access against a copying read of a 64 MiB raw tensor.
"""

import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402

import raiiaf  # noqa: E402
from raiiaf import _lib  # noqa: E402
from raiiaf.main import raiiafFileHandler  # noqa: E402

RECORD = dict(model_name="Stable Diffusion XL", model_version="1.0", prompt="a cat on a sofa",
              tags=["cat", "sofa"])

CHILD_ENCODE = r"""
import sys, numpy as np
from raiiaf.main import raiiafFileHandler
out, img, *npys = sys.argv[1:]
lat = {p.split('=')[0]: np.load(p.split('=')[1]) for p in npys}
raiiafFileHandler().file_encoder(out, lat, [], "Stable Diffusion XL", "1.0", "a cat on a sofa",
                                 ["cat", "sofa"], open(img, "rb").read(), convert_float16=False)
"""
CHILD_DECODE = r"""
import os, sys, warnings, numpy as np
from raiiaf.main import raiiafFileHandler
warnings.simplefilter("ignore")
f, d = sys.argv[1:]
out = raiiafFileHandler().file_decoder(f)
os.makedirs(d, exist_ok=True)
names = [t["name"] for t in out["metadata"]["raiiaf_metadata"]["tensors"]]
for n, a in zip(names, out["chunks"]["latent"]):
    np.save(os.path.join(d, n + ".npy"), a)
open(os.path.join(d, "image.png"), "wb").write(out["chunks"]["image"])
"""


def smooth(shape, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    for ax in (-1, -2):
        x = (x + np.roll(x, 1, ax) + np.roll(x, -1, ax)) / 3
    return x.astype(np.float32)


def med_ms(xs):
    return statistics.median(xs) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--cli", default=os.environ.get("RAIIAF_CLI") or os.path.join(ROOT, "build", "raiiaf"))
    ap.add_argument("--image", default=os.path.join(ROOT, "tests", "data", "comfyui.png"))
    ap.add_argument("--dir", default=None)
    ap.add_argument("--part", choices=("all", "core", "sampling"), default="all",
                    help="core: the rows above; sampling: Recorder overhead per step and DataLoader "
                         "throughput (bench/bench_sampling_data.py, needs torch)")
    ap.add_argument("--files", type=int, default=300, help="files for the DataLoader part")
    ap.add_argument("--original", default=None, metavar="DIR",
                    help="a folder holding the original raiiaf package (1.x) to time side by side")
    args = ap.parse_args()

    base = args.dir or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    if args.part in ("all", "core"):
        tmp = tempfile.mkdtemp(prefix="raiiaf-bench-py-", dir=base)
        try:
            run(args, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.part in ("all", "sampling"):
        sys.path.insert(0, HERE)
        import bench_sampling_data
        print()
        bench_sampling_data.main(["--runs", str(args.runs), "--files", str(args.files)]
                                 + (["--dir", args.dir] if args.dir else []))


def run(args, tmp):
    import warnings
    warnings.simplefilter("ignore", raiiaf.DriftWarning)
    img = open(args.image, "rb").read()
    rng = np.random.default_rng(20240601)
    lat = {"initial_noise": rng.standard_normal((1, 4, 128, 128)).astype(np.float32),
           "final": smooth((1, 4, 128, 128))}
    npys = []
    for n, a in lat.items():
        p = os.path.join(tmp, n + ".npy")
        np.save(p, a)
        npys.append("%s=%s" % (n, p))
    env = dict(os.environ, RAIIAF_LIBRARY=_lib.path, PYTHONPATH=os.path.join(ROOT, "python"),
               PYTHONDONTWRITEBYTECODE="1")
    h = raiiafFileHandler()
    f_drop, f_nat, f_cli, f_py, f_f1, f_drop1 = (os.path.join(tmp, x + ".raiiaf")
                                                 for x in ("drop", "nat", "cli", "py", "f1", "drop1"))

    print("bench_python: libraiiaf %s from %s, CLI %s" % (raiiaf.library_version, _lib.path, args.cli))
    print("python %s, numpy %s; files in %s; median of %d runs"
          % (sys.version.split()[0], np.__version__, tmp, args.runs))
    print("inputs: %s (%d bytes) + 2 float32 latents (1,4,128,128), codec auto" % (args.image, len(img)))

    ops = {
        "encode drop-in": lambda: h.file_encoder(f_drop, lat, [], img_binary=img, convert_float16=False, **RECORD),
        "encode drop-in 1 thread": lambda: _one_cpu(lambda: h.file_encoder(f_drop1, lat, [], img_binary=img,
                                                                         convert_float16=False, **RECORD)),
        "encode drop-in f1": lambda: h.file_encoder(f_f1, lat, [], img_binary=img, convert_float16=False,
                                                    format=1, **RECORD),
        "encode native": lambda: raiiaf.write(f_nat, image=img, latents=lat, model=RECORD["model_name"],
                                              model_version=RECORD["model_version"], prompt=RECORD["prompt"],
                                              tags=RECORD["tags"]),
        "encode python": lambda: subprocess.run([sys.executable, "-c", CHILD_ENCODE, f_py, args.image] + npys,
                                                env=env, check=True),
        "encode CLI": lambda: subprocess.run([args.cli, "create", "-q", "-o", f_cli, "--image", args.image,
                                              "--model", RECORD["model_name"], "--model-version", "1.0",
                                              "--prompt", RECORD["prompt"], "--tag", "cat", "--tag", "sofa"]
                                             + sum((["--latent", x] for x in npys), []), check=True),
        "decode drop-in": lambda: h.file_decoder(f_drop),
        "decode native": lambda: _native_decode(f_nat),
        "decode python": lambda: subprocess.run([sys.executable, "-c", CHILD_DECODE, f_py,
                                                 os.path.join(tmp, "xpy")], env=env, check=True),
        "decode CLI": lambda: subprocess.run([args.cli, "extract", "-q", f_cli, "--all", os.path.join(tmp, "xcli")]
                                             if _has_quiet(args.cli) else
                                             [args.cli, "extract", f_cli, "--all", os.path.join(tmp, "xcli")],
                                             check=True, stdout=subprocess.DEVNULL),
    }
    times = {k: [] for k in ops}
    cpu = {k: [] for k in ops}
    for i in range(args.runs + 1):
        for k, fn in ops.items():
            if k.startswith("decode"):
                shutil.rmtree(os.path.join(tmp, "xpy"), ignore_errors=True)
                shutil.rmtree(os.path.join(tmp, "xcli"), ignore_errors=True)
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            dc = time.process_time() - c0
            if i:
                times[k].append(dt)
                cpu[k].append(dc)
    m = {k: med_ms(v) for k, v in times.items()}
    mc = {k: med_ms(v) for k, v in cpu.items()}
    print()
    print("%-24s %10s %8s %10s" % ("operation", "median ms", "/ CLI", "cpu ms"))
    for k in ops:
        cli = m[k.split()[0] + " CLI"]
        print("%-24s %10.2f %7.2fx %10.2f%s" % (k, m[k], m[k] / cli, mc[k],
                                                "" if k.split()[1] in ("drop-in", "native") else "  (this process only)"))
    if args.original:
        orig = _original(args, tmp, npys)
        print()
        print("the original package (%s), same inputs, median of %d runs in a child process:" % (args.original, args.runs))
        for op, mine in (("encode", "encode drop-in"), ("decode", "decode drop-in")):
            print("  %s original %8.2f ms   drop-in %8.2f ms   drop-in is %.1fx faster"
                  % (op, orig[op], m[mine], orig[op] / m[mine]))
        print("  format 1 write: drop-in f1 %.2f ms vs the original's encoder %.2f ms (%.2fx)"
              % (m["encode drop-in f1"], orig["encode"], m["encode drop-in f1"] / orig["encode"]))
    else:
        print("(the original package: not timed; give --original DIR)")
    print("(python start + `import raiiaf` alone: %.1f ms)" % _startup_ms(env, args.runs))

    # ---- one C call through ctypes -----------------------------------------
    print()
    r = raiiaf.open(f_nat)
    hnd = r._h
    fn = _lib.lib.raiiaf_reader_tensor_count
    n = 200000
    t_ct = min(timeit.repeat(lambda: fn(hnd), number=n, repeat=5)) / n * 1e9

    def pyfn(x):
        return 2

    t_py = min(timeit.repeat(lambda: pyfn(hnd), number=n, repeat=5)) / n * 1e9
    t_names = min(timeit.repeat(lambda: r.latents["initial_noise"], number=n, repeat=5)) / n * 1e9
    print("one call, ns (min of 5 x %d):" % n)
    print("  ctypes  raiiaf_reader_tensor_count(r)       %7.0f" % t_ct)
    try:
        import cffi
        ffi = cffi.FFI()
        ffi.cdef("size_t raiiaf_reader_tensor_count(const void *r);")
        cl = ffi.dlopen(_lib.path)
        p = ffi.cast("void *", hnd.value)
        cfn = cl.raiiaf_reader_tensor_count
        t_cffi = min(timeit.repeat(lambda: cfn(p), number=n, repeat=5)) / n * 1e9
        print("  cffi ABI mode, same function            %7.0f   (cffi %s)" % (t_cffi, cffi.__version__))
    except ImportError:
        print("  cffi ABI mode                              n/a   (python3-cffi not installed)")
    print("  a Python function call (lambda + def)   %7.0f" % t_py)
    print("  f.latents[name] once loaded (dict hit)  %7.0f" % t_names)
    r.close()

    # ---- zero-copy ------------------------------------------------------------
    big = np.random.default_rng(3).standard_normal((16, 4, 512, 512)).astype(np.float32)  # 64 MiB
    fb = os.path.join(tmp, "big.raiiaf")
    raiiaf.write(fb, latents={"big": big}, codec="raw", env=False)
    zc, cp = [], []
    for i in range(args.runs + 1):
        with raiiaf.open(fb) as f:
            t0 = time.perf_counter()
            a = f.latents["big"]
            t1 = time.perf_counter()
        with raiiaf.open(fb, digests=False) as f:
            t2 = time.perf_counter()
            a = f.latents["big"]
            t3 = time.perf_counter()
        with raiiaf.open(fb) as f:
            t4 = time.perf_counter()
            b = np.empty_like(big)
            f._r.check(_lib.lib.raiiaf_reader_read_tensor(f._h, 0, ctypes.c_void_p(b.ctypes.data), b.nbytes))
            t5 = time.perf_counter()
        if i:
            zc.append((t1 - t0, t3 - t2))
            cp.append(t5 - t4)
        del a, b
    print()
    print("64 MiB raw float32 tensor, median ms:")
    print("  zero-copy f.latents[name] (CRC-32C + SHA-256 checked)  %8.2f" % med_ms([x[0] for x in zc]))
    print("  zero-copy, opened digests=False (CRC-32C only)         %8.2f" % med_ms([x[1] for x in zc]))
    print("  copying raiiaf_reader_read_tensor into numpy           %8.2f" % med_ms(cp))


def _one_cpu(fn):
    """fn() with the Python writer told it has one CPU (no second thread)."""
    from raiiaf import _core
    keep = _core._cpus
    _core._cpus = lambda: 1
    try:
        return fn()
    finally:
        _core._cpus = keep


CHILD_ORIGINAL = r"""
import json, os, statistics, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
folder, tmp, img_path, runs, *npys = sys.argv[1:]
sys.path.insert(0, folder)
from raiiaf.main import raiiafFileHandler
assert os.path.abspath(sys.modules["raiiaf"].__file__).startswith(os.path.abspath(folder)), "not the original package"
img = open(img_path, "rb").read()
lat = {p.split("=")[0]: np.load(p.split("=")[1]) for p in npys}
h = raiiafFileHandler()
f = os.path.join(tmp, "orig.raiiaf")
enc, dec = [], []
for i in range(int(runs) + 1):
    t0 = time.perf_counter()
    h.file_encoder(f, lat, [], "Stable Diffusion XL", "1.0", "a cat on a sofa", ["cat", "sofa"], img,
                   convert_float16=False)
    t1 = time.perf_counter()
    h.file_decoder(f)
    t2 = time.perf_counter()
    if i:
        enc.append(t1 - t0)
        dec.append(t2 - t1)
print(json.dumps({"encode": statistics.median(enc) * 1e3, "decode": statistics.median(dec) * 1e3}))
"""


def _original(args, tmp, npys):
    """Median encode/decode ms of the original package in --original."""
    import json
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    out = subprocess.run([sys.executable, "-c", CHILD_ORIGINAL, args.original, tmp, args.image, str(args.runs)] + npys,
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _native_decode(path):
    with raiiaf.open(path) as f:
        arrs = [f.latents[n] for n in f.names]
        img = f.image_bytes
    return arrs, img


_quiet = {}


def _has_quiet(cli):
    if cli not in _quiet:
        r = subprocess.run([cli, "extract", "--help"], capture_output=True, text=True)
        _quiet[cli] = "-q" in (r.stdout + r.stderr)
    return _quiet[cli]


def _startup_ms(env, runs):
    xs = []
    for _ in range(max(3, runs // 2)):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import raiiaf.main"], env=env, check=True)
        xs.append(time.perf_counter() - t0)
    return med_ms(xs)


if __name__ == "__main__":
    main()
