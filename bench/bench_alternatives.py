#!/usr/bin/env python3
"""bench_alternatives.py -- an image plus its (1,4,128,128) float32 noise
latent, stored every common way: bytes, overhead over the image alone, and
encode/decode time as a ratio to SHA-256 over the same output bytes.

    RAIIAF_LIBRARY=build-bench/libraiiaf.so RAIIAF_CLI=build-bench/raiiaf \\
        python3 bench/bench_alternatives.py [--runs N]

The latent is torch.randn((1,4,128,128), generator=manual_seed(42)) as
`raiiaf noise` makes it (bit-exact).  Images: every PNG/JPEG/WebP in
tests/data.  Variants:
  image            the image alone (the baseline)
  png-itxt         base64 of the raw float32 bytes in a PNG iTXt chunk (PNG only)
  png-xmp          an XMP packet (rdf:Description with the base64) in the PNG
                   iTXt chunk XML:com.adobe.xmp (PNG only; JPEG APP1 caps XMP at
                   64 KiB, too small without Extended XMP)
  safetensors      the image + a .safetensors sidecar
  npz              the image + np.savez_compressed sidecar
  raiiaf-f1        raiiaf format 1 (the original package's layout, zfp)
  raiiaf-f2        raiiaf format 2, default codec (auto: byte planes); written
                   with noise_seed=False, so the latent is stored as values
                   even though it is seed 42's noise and seed=42 is given
  raiiaf-f2-recipe raiiaf format 2.1 through the Python package with
                   noise_seed=42: the latent is stored as a 32-byte seed recipe
                   (the library regenerates the noise and compares every byte
                   when writing; readers regenerate it and check its SHA-256)
Encode: from (image bytes, numpy latent) to the bytes on disk (files on
tmpfs).  Decode: from the files back to (image bytes, latent array), checked
bit for bit.  Times are medians of N runs, divided by the median time of
hashlib.sha256 over the variant's total stored bytes in the same run.
The summary gives the mean overhead in bytes per image, that over the raw
latent, the overhead as a percentage of all the images' bytes together and
the largest per-image percentage.
"""
import base64
import glob
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
import raiiaf  # noqa: E402

CLI = os.environ.get("RAIIAF_CLI") or os.path.join(ROOT, "build-bench", "raiiaf")
META = dict(model="bench-model", model_version="1.0", prompt="a benchmark", tags=["bench"], seed=42, steps=30,
            sampler="euler", cfg_scale=7.0)


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png_insert(png, chunk):
    # after IHDR (8-byte signature + 25-byte IHDR chunk)
    return png[:33] + chunk + png[33:]


def png_find_itxt(png, keyword):
    pos = 8
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos:pos + 4])
        t = png[pos + 4:pos + 8]
        if t == b"iTXt":
            d = png[pos + 8:pos + 8 + n]
            if d.startswith(keyword + b"\0"):
                # keyword\0 compflag compmethod lang\0 transkw\0 text
                rest = d[len(keyword) + 3:]
                rest = rest[rest.index(b"\0") + 1:]
                rest = rest[rest.index(b"\0") + 1:]
                return rest
        pos += 12 + n
    raise KeyError(keyword)


def png_without_chunk_at_33(png):
    """The PNG with the chunk png_insert put after IHDR removed (the image as it was)."""
    (n,) = struct.unpack(">I", png[33:37])
    return png[:33] + png[33 + 12 + n:]


def itxt(keyword, text):
    return png_chunk(b"iTXt", keyword + b"\0\0\0\0\0" + text)


def safetensors_bytes(arr):
    hdr = json.dumps({"latent": {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [0, arr.nbytes]}}).encode()
    hdr += b" " * (-len(hdr) % 8)
    return struct.pack("<Q", len(hdr)) + hdr + arr.tobytes()


def safetensors_load(b):
    (n,) = struct.unpack("<Q", b[:8])
    h = json.loads(b[8:8 + n])["latent"]
    s, e = h["data_offsets"]
    return np.frombuffer(b[8 + n + s:8 + n + e], dtype=np.float32).reshape(h["shape"])


def variants(img_path, is_png, tmp):
    img = open(img_path, "rb").read()
    ext = os.path.splitext(img_path)[1]
    out = {}

    def image_only_enc(lat):
        open(os.path.join(tmp, "a" + ext), "wb").write(img)
        return [os.path.join(tmp, "a" + ext)]

    def image_only_dec(paths):
        return open(paths[0], "rb").read(), None

    out["image"] = (image_only_enc, image_only_dec)

    if is_png:
        def itxt_enc(lat):
            p = os.path.join(tmp, "b.png")
            open(p, "wb").write(png_insert(img, itxt(b"raiiaf_latent", base64.b64encode(lat.tobytes()))))
            return [p]

        def itxt_dec(paths):
            b = open(paths[0], "rb").read()
            return png_without_chunk_at_33(b), np.frombuffer(base64.b64decode(png_find_itxt(b, b"raiiaf_latent")),
                                                             np.float32).reshape(1, 4, 128, 128)

        def xmp_enc(lat):
            pkt = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
                   b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
                   b'xmlns:raiiaf="https://raiiaf.org/ns/1.0/" raiiaf:latentShape="1,4,128,128" raiiaf:latentDtype="float32" '
                   b'raiiaf:latent="' + base64.b64encode(lat.tobytes()) + b'"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
            p = os.path.join(tmp, "c.png")
            open(p, "wb").write(png_insert(img, itxt(b"XML:com.adobe.xmp", pkt)))
            return [p]

        def xmp_dec(paths):
            b = open(paths[0], "rb").read()
            x = png_find_itxt(b, b"XML:com.adobe.xmp")
            s = x.index(b'raiiaf:latent="') + len(b'raiiaf:latent="')
            e = x.index(b'"', s)
            return png_without_chunk_at_33(b), np.frombuffer(base64.b64decode(x[s:e]), np.float32).reshape(1, 4, 128, 128)

        out["png-itxt"] = (itxt_enc, itxt_dec)
        out["png-xmp"] = (xmp_enc, xmp_dec)

    def st_enc(lat):
        a, s = os.path.join(tmp, "d" + ext), os.path.join(tmp, "d.safetensors")
        open(a, "wb").write(img)
        open(s, "wb").write(safetensors_bytes(lat))
        return [a, s]

    def st_dec(paths):
        return open(paths[0], "rb").read(), safetensors_load(open(paths[1], "rb").read())

    def npz_enc(lat):
        a, s = os.path.join(tmp, "e" + ext), os.path.join(tmp, "e.npz")
        open(a, "wb").write(img)
        np.savez_compressed(s, latent=lat)
        return [a, s]

    def npz_dec(paths):
        with np.load(paths[1]) as z:
            return open(paths[0], "rb").read(), z["latent"]

    out["safetensors"] = (st_enc, st_dec)
    out["npz"] = (npz_enc, npz_dec)

    def rf_enc(fmt, noise_seed):
        def enc(lat):
            p = os.path.join(tmp, "f%d%s.raiiaf" % (fmt, "r" if noise_seed else ""))
            raiiaf.write(p, image=img, latents={"initial_noise": lat}, env=False, format=fmt,
                         noise_seed=noise_seed, **META)
            return [p]
        return enc

    def rf_dec(codec):
        def dec(paths):
            with raiiaf.open(paths[0]) as f:
                if codec is not None:  # what the variant claims to measure
                    got = f.tensor_info("initial_noise").codec
                    assert got == codec, (paths[0], got)
                return f.image_bytes, np.array(f.latents["initial_noise"])
        return dec

    out["raiiaf-f1"] = (rf_enc(1, False), rf_dec(None))
    out["raiiaf-f2"] = (rf_enc(2, False), rf_dec("zstd"))
    out["raiiaf-f2-recipe"] = (rf_enc(2, 42), rf_dec("recipe"))
    return img, out


def main():
    runs = 5
    if len(sys.argv) > 2 and sys.argv[1] == "--runs":
        runs = int(sys.argv[2])
    tmpdir = tempfile.mkdtemp(prefix="raiiaf-alt-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    npy = os.path.join(tmpdir, "noise.npy")
    subprocess.run([CLI, "noise", "--seed", "42", "--shape", "1,4,128,128", "-o", npy], check=True)
    lat = np.load(npy)
    images = sorted(p for p in glob.glob(os.path.join(ROOT, "tests", "data", "*"))
                    if p.endswith((".png", ".jpg", ".webp")))
    names = ["image", "png-itxt", "png-xmp", "safetensors", "npz", "raiiaf-f1", "raiiaf-f2", "raiiaf-f2-recipe"]
    # bytes, image bytes, enc ratio sum, dec ratio sum, count, largest overhead %
    totals = {n: [0, 0, 0.0, 0.0, 0, 0.0] for n in names}
    print("bench_alternatives: latent (1,4,128,128) float32 = %d bytes, median of %d runs, ratios to SHA-256 of the stored bytes\n"
          % (lat.nbytes, runs))
    print("%-28s %-16s %10s %9s %8s %8s" % ("image", "variant", "bytes", "overhead", "enc/sha", "dec/sha"))
    for img_path in images:
        is_png = img_path.endswith(".png")
        img, vs = variants(img_path, is_png, tmpdir)
        for name in names:
            if name not in vs:
                continue
            enc, dec = vs[name]
            te, td, ts = [], [], []
            for r in range(runs + 1):
                t0 = time.perf_counter()
                paths = enc(lat)
                t1 = time.perf_counter()
                got_img, got_lat = dec(paths)
                t2 = time.perf_counter()
                blob = b"".join(open(p, "rb").read() for p in paths)
                t3 = time.perf_counter()
                hashlib.sha256(blob).digest()
                t4 = time.perf_counter()
                assert got_img == img, (img_path, name)
                if got_lat is not None:
                    assert got_lat.tobytes() == lat.tobytes(), (img_path, name)
                if r:
                    te.append(t1 - t0)
                    td.append(t2 - t1)
                    ts.append(t4 - t3)
                for p in paths:
                    os.unlink(p)
            size = len(blob)
            med = lambda v: sorted(v)[len(v) // 2]
            e, d, s = med(te), med(td), med(ts)
            over = size - len(img)
            pct = 100.0 * over / len(img)
            print("%-28s %-16s %10d %8s%% %8.1f %8.1f" % (os.path.basename(img_path) if name == "image" else "", name, size,
                                                         ("%.1f" if pct >= 1 else "%.3f") % pct, e / s, d / s))
            t = totals[name]
            t[0] += size
            t[1] += len(img)
            t[2] += e / s
            t[3] += d / s
            t[4] += 1
            t[5] = max(t[5], pct)
    print("\nall images (PNG-only variants: over the PNGs):")
    print("%-16s %11s %11s %10s %8s %8s %8s" % ("variant", "overhead B", "latent/raw", "overhead%", "max%",
                                                 "enc/sha", "dec/sha"))
    for name in names:
        t = totals[name]
        if not t[4]:
            continue
        per = (t[0] - t[1]) / t[4]
        print("%-16s %11.0f %11.4f %9.3f%% %7.3f%% %8.1f %8.1f" % (name, per, per / lat.nbytes,
                                                              100.0 * (t[0] - t[1]) / t[1], t[5],
                                                              t[2] / t[4], t[3] / t[4]))


if __name__ == "__main__":
    main()
