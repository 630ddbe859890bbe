#!/usr/bin/python3
"""Bounds on hostile files, measured (issue 17, "Bounds, measured and
written down").

For each hostile class of issue 17 this builds a file (tests/hostile.py and
the builders below, by hand from docs/SPEC.md, never by the library under
test), runs the commands that read such a file -- `info`, `verify`,
`extract --all`, `recover`, `history`, `import` (images), `create --latent`
(.npy/.safetensors) and Python's `raiiaf.open` -- each in its own child
process, and records the exit status, the first line of its message, the
child's peak RSS (os.wait4) and its wall time.

  tests/bounds_table.py              small sizes (CTest `bounds_table`, part
                                     of `make test`): fails when a command
                                     crashes (a signal), exits 0 where a
                                     refusal is required, or, on a file
                                     under 1 MB, takes more than 2 s of
                                     CPU or 256 MiB
  tests/bounds_table.py --full       the issue's sizes (`make stress`);
                                     the same checks, reported
  --markdown FILE                    also writes the table (docs/SECURITY.md)
  --only WORD                        only the classes whose file name holds
                                     WORD (a quick look at one class)

Environment: RAIIAF_CLI (the raiiaf binary), RAIIAF_LIBRARY (libraiiaf.so,
for Python's open), RAIIAF_SANITIZED=1 (ASan build: RSS and time are
recorded, not checked), RAIIAF_BOUNDS_NO_MOUNT=1 (use RLIMIT_FSIZE even as
root).  Also measured: a write into a full small file
system fails with exit 4, leaves the old file intact and nothing else
(see full_disk())."""

import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hostile  # noqa: E402

CLI = os.path.abspath(os.environ.get("RAIIAF_CLI") or os.path.join(HERE, "..", "build", "raiiaf"))
LIB = os.path.abspath(os.environ.get("RAIIAF_LIBRARY") or os.path.join(os.path.dirname(CLI), "libraiiaf.so"))
PYDIR = os.path.abspath(os.path.join(HERE, "..", "python"))
SANITIZED = os.environ.get("RAIIAF_SANITIZED", "0") in ("1", "ON", "TRUE", "true")
TIME_LIMIT = 2.0
RSS_LIMIT_KIB = 256 * 1024
SMALL_FILE = 1_000_000
CHILD_TIMEOUT = 600

# ---- builders not in hostile.py ------------------------------------------


def recipe_file(count, raw):
    """count recipe tensors (codec 3, 32-byte payloads) of `raw` bytes each,
    float32, whose recorded digests are wrong: every one is regenerated
    before it fails."""
    payload = struct.pack("<HHB3xQ16x", 1, 1, 1, 42)
    data = bytearray(hostile.header(flags=1))
    chunks, tensors = [], []
    for i in range(count):
        off = len(data)
        data += hostile.chunk(b"TENS", 3, i, payload, raw)
        chunks.append('{"index":%d,"type":"TENS","offset":%d,"codec":"recipe","stored_size":32,"raw_size":%d,'
                      '"crc32c":%d,"sha256":"%s"}' % (i, off, raw, hostile.crc32c(payload), "0" * 64))
        tensors.append('{"name":"n%d","dtype":"float32","codec":"recipe","chunk":%d,"shape":[%d]}' % (i, i, raw // 4))
    m = ('{"raiiaf_metadata":{"chunks":[%s],"tensors":[%s]}}' % (",".join(chunks), ",".join(tensors))).encode()
    moff = len(data)
    return bytes(data + hostile.manifest_chunk([("raw", m)], count) + hostile.footer(moff, 0, 1))


def zstd_flood(count, raw):
    """count u8 tensors, each a zstd payload of one RLE frame of `raw` zero
    bytes (a few dozen stored bytes each), digests wrong."""
    chunks, tensors = [], []
    data = bytearray(hostile.header())
    for i in range(count):
        stored, size = hostile.planes([("rle", 0, raw)])
        off = len(data)
        data += hostile.chunk(b"TENS", 1, i, stored, size)
        chunks.append('{"index":%d,"type":"TENS","offset":%d,"codec":"zstd","stored_size":%d,"raw_size":%d,'
                      '"crc32c":%d,"sha256":"%s"}' % (i, off, len(stored), raw, hostile.crc32c(stored), "0" * 64))
        tensors.append('{"name":"z%d","dtype":"uint8","codec":"zstd","chunk":%d,"shape":[%d]}' % (i, i, raw))
    m = ('{"raiiaf_metadata":{"chunks":[%s],"tensors":[%s]}}' % (",".join(chunks), ",".join(tensors))).encode()
    moff = len(data)
    return bytes(data + hostile.manifest_chunk([("raw", m)], count) + hostile.footer(moff, 0, 1))


def huge_shape():
    """A raw tensor whose shape multiplies past 2^64 (and past every limit)."""
    stored = bytes(64)
    m = ('{"raiiaf_metadata":{"chunks":[{"index":0,"type":"TENS","offset":64,"codec":"raw","stored_size":64,'
         '"raw_size":64,"crc32c":%d,"sha256":"%s"}],"tensors":[{"name":"x","dtype":"float32","codec":"raw",'
         '"chunk":0,"shape":[4294967296,4294967296,16]}]}}' % (hostile.crc32c(stored), "0" * 64)).encode()
    data = hostile.header() + hostile.chunk(b"TENS", 0, 0, stored, 64)
    moff = len(data)
    return data + hostile.manifest_chunk([("raw", m)], 1) + hostile.footer(moff, 0, 1)


def many_versions(count, pad):
    """count versions in a footer chain, each manifest padded with `pad`
    bytes of one string (RLE: a few bytes stored per 128 KiB)."""
    data = bytearray(hostile.header())
    prev = 0
    for v in range(1, count + 1):
        moff = len(data)
        parts = [("raw", b'{"raiiaf_metadata":{"chunks":[],"tensors":[]},"pad":"'), ("rle", ord("a"), pad), ("raw", b'"}')]
        data += hostile.manifest_chunk(parts, 0)
        foff = len(data)
        data += hostile.footer(moff, prev, v)
        prev = foff
    return bytes(data)


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))


def png(width, height, extra=b""):
    """An 8-bit grey PNG of zeros (zlib's own deflate: 1000x smaller)."""
    raw = zlib.compressobj(9)
    row = bytes(width + 1)
    idat = b"".join(raw.compress(row) for _ in range(height)) + raw.flush()
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + extra
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def ztxt_bomb(count, size):
    """A 1x1 PNG with `count` zTXt records each inflating to `size` bytes
    (or to size[i])."""
    sizes = size if isinstance(size, tuple) else (size,) * count
    zs = {n: zlib.compress(b"a" * n, 9) for n in set(sizes)}
    extra = b"".join(png_chunk(b"zTXt", b"k%d\x00\x00" % i + zs[sizes[i]]) for i in range(count))
    return png(1, 1, extra)


def jpeg_bomb():
    """A baseline JPEG header declaring 65500x65500 with almost no data."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 65500, 65500, 1) + b"\x01\x11\x00"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    dht = b"\xff\xc4" + struct.pack(">H", 31) + b"\x00" + bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]) + bytes(range(12))
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof + dht + sos + bytes(1000) + b"\xff\xd9"


def webp_bomb():
    """A VP8X WebP declaring a 16384x16384 canvas and a tiny VP8L frame."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4) + (16383).to_bytes(3, "little") * 2
    # VP8L: signature, 14-bit width-1 / height-1 (16383), no alpha, version 0
    bits = 16383 | (16383 << 14)
    vp8l_payload = b"\x2f" + struct.pack("<I", bits) + bytes(15)
    vp8l = b"VP8L" + struct.pack("<I", len(vp8l_payload)) + vp8l_payload
    body = b"WEBP" + vp8x + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


def npy_liar():
    """A .npy header claiming 2^40 float32 values, with 16 bytes of data."""
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
    hdr += b" " * (63 - (10 + len(hdr)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + bytes(16)


def safetensors_liar():
    """A .safetensors header whose tensor claims offsets far past the file."""
    h = b'{"x":{"dtype":"F32","shape":[268435456],"data_offsets":[0,1073741824]}}'
    return struct.pack("<Q", len(h)) + h + bytes(16)


def relative_chain(folder, count, side):
    """count float32 tensors, each relative to the one before (--delta-chain),
    written by the CLI from .npy files made here (numpy)."""
    import numpy as np
    rng = np.random.default_rng(1)
    base = rng.standard_normal((1, 4, side, side), dtype=np.float32)
    args = [CLI, "create", "-o", os.path.join(folder, "chain.raiiaf"), "--delta-chain", "--no-env", "-q"]
    for i in range(count):
        base = base.copy()
        base[0, 0, i % side, 0] += 1
        p = os.path.join(folder, "l%d.npy" % i)
        np.save(p, base)
        args += ["--latent", "t%d=%s" % (i, p)]
    subprocess.run(args, check=True, capture_output=True)
    with open(os.path.join(folder, "chain.raiiaf"), "rb") as f:
        return f.read()


# ---- the classes ---------------------------------------------------------

RAIIAF_CMDS = ("info", "verify", "extract", "recover", "history", "open")


def classes(full):
    """(name, file name, bytes or builder, commands, commands that must refuse)."""
    k = 1 if not full else 0
    out = []
    out.append(("fallback decoys: versions whose manifests are not JSON, no good version",
                "decoys.raiiaf", lambda d: hostile.decoy_file(40 if k else 9500, [("rle", ord("}"), (64 << 10) if k else (64 << 20))], good=False),
                RAIIAF_CMDS, ("info", "verify", "extract", "history", "open")))
    out.append(("zTXt bombs: PNG text records inflating past the 16 MiB budget",
                "ztxt.png", lambda d: ztxt_bomb(2, (6 << 20, 20 << 20)) if k else ztxt_bomb(30, 64 << 20), ("import",), ()))
    out.append(("recipe floods: 32-byte recipes of wrong digest",
                "recipes.raiiaf", lambda d: recipe_file(4 if k else 20, (4 << 20) if k else (1 << 30)), RAIIAF_CMDS, ("verify",)))
    out.append(("one recipe regenerating the largest tensor (1 GiB)" if full else "one recipe regenerating 16 MiB",
                "recipe1.raiiaf", lambda d: recipe_file(1, (1 << 30) if full else (16 << 20)), RAIIAF_CMDS, ("verify",)))
    out.append(("zstd expansion: RLE frames of zeros, wrong digests",
                "zstd.raiiaf", lambda d: zstd_flood(64, (1 << 20) if k else (32 << 20)), RAIIAF_CMDS, ("verify",)))
    out.append(("relative chains: each tensor relative to the one before",
                "chain.raiiaf", lambda d: relative_chain(d, 32 if k else 256, 16 if k else 64), RAIIAF_CMDS, ()))
    out.append(("JSON node floods: a manifest of many empty objects",
                "objects.raiiaf", lambda d: hostile.one_manifest_file(hostile.empty_objects(200_000 if k else 1_200_000)),
                RAIIAF_CMDS, ("info", "verify", "extract", "history", "open") if not k else ()))
    out.append(("deep JSON: [[[[... (RLE)",
                "deep.raiiaf", lambda d: hostile.one_manifest_file(hostile.open_brackets(2_200_000 if k else 64 << 20)),
                RAIIAF_CMDS, ("info", "verify", "extract", "history", "open")))
    out.append(("format 1 image bombs: a format 1 file holding a large all-zero PNG",
                "f1bomb.raiiaf", lambda d: format1_bomb(d, 2000 if k else 20000), RAIIAF_CMDS, ()))
    out.append(("recover candidate floods: manifests of many objects, no footer",
                "manis.raiiaf", lambda d: hostile.header() + hostile.manifest_chunk(hostile.empty_objects(100_000 if k else 700_000)) * 3,
                RAIIAF_CMDS, ("info", "verify", "extract", "history", "open")))
    out.append(("many large versions: a chain of padded manifests",
                "versions.raiiaf", lambda d: many_versions(30, (512 << 10) if k else (60 << 20)), RAIIAF_CMDS, ()))
    out.append(("huge shapes: 2^32 x 2^32 x 16 float32",
                "shape.raiiaf", lambda d: huge_shape(), RAIIAF_CMDS, ("info", "verify", "extract", "history", "open")))
    out.append(("lying .npy header: 2^40 values, 16 bytes", "liar.npy", lambda d: npy_liar(), ("create",), ("create",)))
    out.append(("lying .safetensors header: offsets past the end", "liar.safetensors", lambda d: safetensors_liar(),
                ("create",), ("create",)))
    out.append(("PNG decompression bomb: all-zero grey image",
                "bomb.png", lambda d: png(4000 if k else 30000, 4000 if k else 30000), ("import",), ()))
    out.append(("JPEG decompression bomb: 65500x65500 header", "bomb.jpg", lambda d: jpeg_bomb(), ("import",), ()))
    out.append(("WebP decompression bomb: 16384x16384 canvas", "bomb.webp", lambda d: webp_bomb(), ("import",), ()))
    return out


def format1_bomb(folder, side):
    """Made with the CLI's format 1 writer from a PNG built here: the class
    is a format 1 file whose image is a bomb, not a malformed file."""
    import numpy as np
    p = os.path.join(folder, "f1.png")
    with open(p, "wb") as f:
        f.write(png(side, side))
    np.save(os.path.join(folder, "f1.npy"), np.zeros((1, 4, 8, 8), dtype=np.float32))
    out = os.path.join(folder, "f1bomb-made.raiiaf")
    subprocess.run([CLI, "create", "--format", "1", "-o", out, "--image", p, "--latent", "x=" + os.path.join(folder, "f1.npy"),
                    "--model", "m", "--model-version", "1", "--prompt", "p", "--tag", "t", "-q"], check=True, capture_output=True)
    with open(out, "rb") as f:
        return f.read()


# ---- running -------------------------------------------------------------

OPEN_PY = ("import sys; sys.path.insert(0, %r); import raiiaf\n"
           "f = raiiaf.open(sys.argv[1])\n"
           "print('opened: %%d tensors, %%d metadata members' %% (len(f.names), len(f.metadata)))\n") % PYDIR


def command(cmd, path, work):
    if cmd == "open":
        return ["/usr/bin/python3", "-c", OPEN_PY, path]
    if cmd == "extract":
        return [CLI, "extract", path, "--all", os.path.join(work, "x")]
    if cmd == "recover":
        return [CLI, "recover", path, "-o", os.path.join(work, "rec.raiiaf")]
    if cmd == "import":
        return [CLI, "import", path, "-o", os.path.join(work, "imp.raiiaf")]
    if cmd == "create":
        return [CLI, "create", "-o", os.path.join(work, "c.raiiaf"), "--latent", "x=" + path, "--no-env"]
    return [CLI, cmd, path]


# The command runs as the child of a small Python process, which reports
# its os.wait4 status and rusage: Linux carries the high-water RSS of the
# process that calls execve into the new program, so a command started
# straight from this (large) process would count this process's memory.
RUNNER = r"""
import os, sys, time
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, st, ru = os.wait4(pid, 0)
secs = time.monotonic() - t0
with open(sys.argv[1], "w") as f:
    f.write("%d %d %.4f %.4f" % (os.waitstatus_to_exitcode(st), ru.ru_maxrss, secs, ru.ru_utime + ru.ru_stime))
"""


def measure(argv, work):
    """Runs argv; returns (status, first line of its message, peak RSS KiB,
    wall seconds, CPU seconds).  status is the exit code, or -N for signal
    N, or 'timeout'."""
    env = dict(os.environ, RAIIAF_LIBRARY=LIB)
    res = os.path.join(work, "result")
    with open(os.path.join(work, "out"), "w+b") as out, open(os.path.join(work, "err"), "w+b") as err:
        p = subprocess.Popen(["/usr/bin/python3", "-S", "-c", RUNNER, res] + argv, stdout=out, stderr=err, env=env,
                             cwd=work, start_new_session=True)
        try:
            p.wait(timeout=CHILD_TIMEOUT)
            with open(res) as f:
                code, rss, secs, cpu = f.read().split()
            status, rss, secs, cpu = int(code), int(rss), float(secs), float(cpu)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait()
            status, rss, secs, cpu = "timeout", 0, float(CHILD_TIMEOUT), 0.0
        msg = b""
        for f in (err, out):
            f.seek(0)
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
            if lines:
                # Python: the exception's line (the last), not "Traceback ..."
                msg = lines[-1] if lines[0].startswith(b"Traceback") else lines[0]
                break
    return status, msg.decode("utf-8", "replace")[:150], rss, secs, cpu


def full_disk(work):
    """A write into a full file system: exit 4, the old file intact, nothing
    left.  A 20 MB tmpfs where one can be mounted (root); otherwise
    RLIMIT_FSIZE at 20 MB, which fails the write with EFBIG the same way.
    Returns (method, ok, detail)."""
    import numpy as np
    mnt = os.path.join(work, "tmpfs")
    os.mkdir(mnt)
    method = "tmpfs of 20 MB"
    mounted = os.geteuid() == 0 and not os.environ.get("RAIIAF_BOUNDS_NO_MOUNT") and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", mnt],
                                                   capture_output=True).returncode == 0
    try:
        old = os.path.join(mnt, "keep.raiiaf")
        np.save(os.path.join(work, "big.npy"), np.random.default_rng(2).standard_normal(8 << 20 >> 2, dtype=np.float32))
        small = os.path.join(work, "small.npy")
        np.save(small, np.zeros((1, 4, 8, 8), dtype=np.float32))
        r = subprocess.run([CLI, "create", "-o", old, "--latent", "x=" + small, "--no-env", "-q"], capture_output=True)
        assert r.returncode == 0, r.stderr
        with open(old, "rb") as f:
            before = f.read()
        # fill the file system up to a little under what the next write needs
        pre = None
        if mounted:
            pre = os.path.join(mnt, "filler")
            with open(pre, "wb") as f:
                f.write(bytes(12 << 20))
            limit = None
        else:
            method = "RLIMIT_FSIZE of 20 MB, EFBIG (no tmpfs mounted)"
            limit = 20 << 20
        args = [CLI, "create", "-o", old, "--latent", "x=" + os.path.join(work, "big.npy"), "--latent",
                "y=" + os.path.join(work, "big.npy") + ":raw", "--latent", "z=" + os.path.join(work, "big.npy") + ":raw",
                "--no-env", "-q"]

        def lim():
            if limit:
                # ignored, SIGXFSZ does not kill: the write fails with EFBIG
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        r = subprocess.run(args, capture_output=True, preexec_fn=lim)
        with open(old, "rb") as f:
            after = f.read()
        left = sorted(set(os.listdir(mnt)) - {"keep.raiiaf", "filler"})
        ok = r.returncode == 4 and after == before and not left
        detail = "exit %d, old file %s, left behind: %s; %s" % (
            r.returncode, "intact" if after == before else "CHANGED", left or "nothing",
            r.stderr.decode("utf-8", "replace").strip().splitlines()[0] if r.stderr.strip() else "")
        return method, ok, detail
    finally:
        if mounted:
            subprocess.run(["umount", mnt], capture_output=True)


def main():
    known = {"--full", "--markdown", "--only"}
    if "-h" in sys.argv or "--help" in sys.argv:
        print(__doc__)
        return 0
    for i, a in enumerate(sys.argv[1:], 1):
        if a.startswith("-") and a not in known:
            print("bounds_table.py: unknown option %r (see --help)" % a, file=sys.stderr)
            return 2
        if a in ("--markdown", "--only") and i + 1 >= len(sys.argv):
            print("bounds_table.py: %s needs a value" % a, file=sys.stderr)
            return 2
    full = "--full" in sys.argv
    md = sys.argv[sys.argv.index("--markdown") + 1] if "--markdown" in sys.argv else None
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    work = tempfile.mkdtemp(prefix="raiiaf-bounds-table-")
    rows, failures = [], []
    try:
        for name, fname, build, cmds, refuse in classes(full):
            if only and only not in fname:
                continue
            d = os.path.join(work, fname + ".d")
            os.mkdir(d)
            data = build(d)
            path = os.path.join(d, fname)
            with open(path, "wb") as f:
                f.write(data)
            size = len(data)
            for cmd in cmds:
                cw = os.path.join(d, cmd)
                os.mkdir(cw)
                status, msg, rss, secs, cpu = measure(command(cmd, path, cw), cw)
                msg = msg.replace(cw + "/", "").replace(d + "/", "")
                shutil.rmtree(cw, ignore_errors=True)
                bad = []
                if status == "timeout" or (isinstance(status, int) and status < 0):
                    bad.append("crashed or hung (%s)" % status)
                elif cmd in refuse and status == 0:
                    bad.append("exit 0 where a refusal is required")
                if size < SMALL_FILE and not SANITIZED:
                    # CPU time: the suite runs tests in parallel on a
                    # shared machine, where wall time also measures the load
                    if cpu > TIME_LIMIT:
                        bad.append("%.2f s of CPU > %.0f s" % (cpu, TIME_LIMIT))
                    if rss > RSS_LIMIT_KIB:
                        bad.append("%d MiB > %d MiB" % (rss >> 10, RSS_LIMIT_KIB >> 10))
                rows.append((name, size, cmd, status, msg, rss, secs, cpu, bad))
                line = "%-9s %-8s exit %-4s %7.2f s %7.2f s CPU %6d MiB  %s" % (fname, cmd, status, secs, cpu, rss >> 10, msg)
                print(line + ("   <-- " + "; ".join(bad) if bad else ""), flush=True)
                if bad:
                    failures.append((fname, cmd, bad))
            shutil.rmtree(d, ignore_errors=True)
        method, ok, detail = full_disk(work) if not only else ("not run (--only)", True, "")
        print("full disk (%s): %s -- %s" % (method, "ok" if ok else "FAILED", detail))
        if not ok:
            failures.append(("full disk", method, [detail]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if md:
        with open(md, "w") as f:
            f.write(table(rows, full, method, ok, detail))
    if failures:
        print("%d case(s) out of bounds:" % len(failures))
        for f in failures:
            print("  %s %s: %s" % (f[0], f[1], "; ".join(f[2])))
        return 1
    print("all %d cases within bounds" % len(rows))
    return 0


def table(rows, full, method, ok, detail):
    out = ["| Class | File | Command | Exit | Message (first line) | Peak RSS | Wall | CPU |",
           "|---|---:|---|---:|---|---:|---:|---:|"]
    last = None
    for name, size, cmd, status, msg, rss, secs, cpu, bad in rows:
        cls = name if name != last else ""
        fsize = ("%.1f KB" % (size / 1000) if size < 1_000_000 else "%.1f MB" % (size / 1e6)) if cls else ""
        last = name
        msg = msg.replace("|", "\\|")
        if msg.startswith("raiiaf: "):  # the program's name, not a file's
            msg = msg[len("raiiaf: "):]
        mark = " **(over)**" if bad else ""
        out.append("| %s | %s | %s | %s | %s | %d MiB | %.2f s | %.2f s%s |" % (cls, fsize, cmd, status, msg[:110], rss >> 10,
                                                                               secs, cpu, mark))
    out.append("")
    out.append("Full file system (%s): %s (%s)." % (method, "as required" if ok else "NOT as required", detail))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
