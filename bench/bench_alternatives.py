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
  raiiaf-f2        raiiaf format 2, default codec (auto: byte planes)
  raiiaf-f2-recipe format 2 with a seed recipe: not implemented (issue #8
                   item 2 shipped the generator and `raiiaf noise` only)
Encode: from (image bytes, numpy latent) to the bytes on disk (files on
tmpfs).  Decode: from the files back to (image bytes, latent array), checked
bit for bit.  Times are medians of N runs, divided by the median time of
hashlib.sha256 over the variant's total stored bytes in the same run.
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

    def rf_enc(fmt):
        def enc(lat):
            p = os.path.join(tmp, "f%d.raiiaf" % fmt)
            raiiaf.write(p, image=img, latents={"initial_noise": lat}, env=False, format=fmt, **META)
            return [p]
        return enc

    def rf_dec(paths):
        with raiiaf.open(paths[0]) as f:
            return f.image_bytes, np.array(f.latents["initial_noise"])

    out["raiiaf-f1"] = (rf_enc(1), rf_dec)
    out["raiiaf-f2"] = (rf_enc(2), rf_dec)
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
    names = ["image", "png-itxt", "png-xmp", "safetensors", "npz", "raiiaf-f1", "raiiaf-f2"]
    totals = {n: [0, 0, 0.0, 0.0, 0] for n in names}  # bytes, image bytes, enc ratio sum, dec ratio sum, count
    print("bench_alternatives: latent (1,4,128,128) float32 = %d bytes, median of %d runs, ratios to SHA-256 of the stored bytes\n"
          % (lat.nbytes, runs))
    print("%-28s %-12s %10s %9s %8s %8s" % ("image", "variant", "bytes", "overhead", "enc/sha", "dec/sha"))
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
            print("%-28s %-12s %10d %8.1f%% %8.1f %8.1f" % (os.path.basename(img_path) if name == "image" else "", name, size,
                                                         100.0 * over / len(img), e / s, d / s))
            t = totals[name]
            t[0] += size
            t[1] += len(img)
            t[2] += e / s
            t[3] += d / s
            t[4] += 1
    print("\nall images (PNG-only variants: over the PNGs):")
    print("%-12s %12s %12s %9s %9s" % ("variant", "overhead B", "latent/raw", "enc/sha", "dec/sha"))
    for name in names:
        t = totals[name]
        if not t[4]:
            continue
        per = (t[0] - t[1]) / t[4]
        print("%-12s %12.0f %12.3f %9.1f %9.1f" % (name, per, per / lat.nbytes, t[2] / t[4], t[3] / t[4]))
    print("%-12s %12s" % ("raiiaf-f2-recipe", "not implemented"))


if __name__ == "__main__":
    main()
