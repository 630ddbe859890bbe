"""`raiiaf serve` over HTTP on a free loopback port, like a user with curl:
the JSON API, downloads byte-identical to `raiiaf extract` and numpy,
range requests, ETag 304s, refused bad ids and path tricks, read-only,
security headers, hostile prompts kept as data."""

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import CLI, DATA, run  # noqa: E402

HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(2)>'


# The third file's seed is the largest the format holds (issue 14: exact to 2^64-1).
SEEDS = [100, 101, 2**64 - 1]


def make_library(folder):
    """Three files: two PNG-imaged with a 1x4x16x16 latent, one WebP with a hostile prompt."""
    rng = np.random.default_rng(7)
    for i in range(3):
        lat = os.path.join(folder, "lat%d.npy" % i)
        np.save(lat, rng.standard_normal((1, 4, 16, 16)).astype(np.float32))
        img = os.path.join(DATA, "sd-webui.webp" if i == 2 else "sd-webui.png")
        prompt = HOSTILE if i == 2 else "a red fox in snow %d" % i
        r = run("create", "-o", os.path.join(folder, "f%d.raiiaf" % i), "--image", img, "--latent", "latent=" + lat,
                "--model", "sd_xl_base_1.0", "--prompt", prompt, "--seed", str(SEEDS[i]), "--steps", "20",
                "--tag", "fox" if i < 2 else "other")
        assert r.returncode == 0, r.stderr
        os.unlink(lat)
        time.sleep(0.02)  # distinct mtimes: newest first is observable


def start_server(args, cwd=None):
    p = subprocess.Popen([CLI, "serve", *args, "--port", "0", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=cwd)
    line = p.stdout.readline().decode()
    m = re.search(r"http://([0-9.]+):(\d+)/", line)
    if not m:
        p.kill()
        raise AssertionError("no URL from serve: %r %r" % (line, p.stderr.read()))
    return p, "http://%s:%s" % (m.group(1), m.group(2)), line


def get(url, headers=None, method="GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Serve(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="raiiaf-serve-")
        cls.files = os.path.join(cls.dir, "files")
        os.mkdir(cls.files)
        make_library(cls.files)
        cls.db = os.path.join(cls.dir, "lib.sqlite")
        cls.proc, cls.base, cls.banner = start_server([cls.files, "--db", cls.db])

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=30)
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def api(self, path):
        st, h, body = get(self.base + path)
        self.assertEqual(h.get("Content-Type"), "application/json", path)
        return st, json.loads(body)

    def ids(self, query=""):
        st, j = self.api("/api/search" + query)
        self.assertEqual(st, 200, j)
        return j["items"]

    def test_binds_loopback_and_says_so(self):
        self.assertTrue(self.base.startswith("http://127.0.0.1:"))
        self.assertIn("this machine only", self.banner)

    def test_search_lists_all_newest_first_and_narrows(self):
        items = self.ids()
        self.assertEqual(len(items), 3)
        self.assertEqual([os.path.basename(i["path"]) for i in items], ["f2.raiiaf", "f1.raiiaf", "f0.raiiaf"])
        self.assertEqual([i["seed"] for i in self.ids("?q=fox")], [101, 100])
        self.assertEqual(len(self.ids("?tag=other")), 1)
        self.assertEqual(len(self.ids("?seed=101")), 1)
        big = self.ids("?seed=%d" % SEEDS[2])
        self.assertEqual([i["seed"] for i in big], [SEEDS[2]])  # not negative, not rounded
        self.assertEqual(len(self.ids("?q=fox&limit=1&offset=1")), 1)
        self.assertEqual(len(self.ids("?model=nothing-like-it")), 0)

    def test_file_json_and_hostile_prompt_is_data(self):
        hostile = [i for i in self.ids() if i["seed"] == SEEDS[2]][0]
        st, j = self.api("/api/file/%d" % hostile["id"])
        self.assertEqual(st, 200)
        self.assertEqual(j["index"]["prompt"], HOSTILE)
        self.assertEqual(j["tensors"][0]["name"], "latent")
        self.assertEqual(j["tensors"][0]["shape"], [1, 4, 16, 16])
        st, h, body = get(self.base + "/api/file/%d" % hostile["id"])
        # Served as JSON that the browser must not sniff into HTML.
        self.assertEqual((h["Content-Type"], h["X-Content-Type-Options"]), ("application/json", "nosniff"))

    def test_downloads_match_extract_and_numpy(self):
        it = self.ids("?seed=100")[0]
        fid, path = it["id"], it["path"]
        out = os.path.join(self.dir, "x")
        os.makedirs(out, exist_ok=True)
        r = run("extract", path, "--image", os.path.join(out, "image.png"),
                "--latent", "latent=" + os.path.join(out, "latent.npy"), "-q")
        self.assertEqual(r.returncode, 0, r.stderr)
        st, h, img = get(self.base + "/api/file/%d/image" % fid)
        self.assertEqual((st, h["Content-Type"]), (200, "image/png"))
        with open(os.path.join(out, "image.png"), "rb") as f:
            self.assertEqual(img, f.read())
        st, h, npy = get(self.base + "/api/file/%d/tensor/latent.npy" % fid)
        self.assertEqual(st, 200)
        arr = np.load(io.BytesIO(npy))
        with open(os.path.join(out, "latent.npy"), "rb") as f:
            self.assertEqual(npy, f.read())  # byte-identical to extract's
        st, h, stf = get(self.base + "/api/file/%d/tensor/latent.safetensors" % fid)
        self.assertEqual(st, 200)
        hl = int.from_bytes(stf[:8], "little")
        header = json.loads(stf[8:8 + hl])
        self.assertEqual(header["latent"]["shape"], [1, 4, 16, 16])
        a, b = header["latent"]["data_offsets"]
        self.assertTrue(np.array_equal(np.frombuffer(stf[8 + hl + a:8 + hl + b], "<f4").reshape(1, 4, 16, 16), arr))
        st, h, man = get(self.base + "/api/file/%d/manifest" % fid)
        self.assertEqual(st, 200)
        json.loads(man)

    def test_verify_ok_and_damaged(self):
        it = self.ids("?seed=101")[0]
        st, j = self.api("/api/file/%d/verify" % it["id"])
        self.assertEqual((st, j["ok"], j["problems"]), (200, True, []))
        # Flip a byte inside the image payload of a copy; index it alone.
        d = os.path.join(self.dir, "damaged")
        os.makedirs(d, exist_ok=True)
        with open(it["path"], "rb") as f:
            data = bytearray(f.read())
        data[1000] ^= 0xFF
        with open(os.path.join(d, "bad.raiiaf"), "wb") as f:
            f.write(data)
        p, base, _ = start_server([d, "--db", os.path.join(d, "db.sqlite")])
        try:
            st, h, body = get(base + "/api/file/1/verify")
            j = json.loads(body)
            self.assertEqual((st, j["ok"]), (200, False))
            self.assertTrue(j["problems"][0]["message"])
        finally:
            p.terminate()
            p.wait(timeout=30)
            p.stdout.close()
            p.stderr.close()

    def test_range_requests(self):
        fid = self.ids("?seed=100")[0]["id"]
        url = self.base + "/api/file/%d/image" % fid
        st, h, whole = get(url)
        st, h, part = get(url, {"Range": "bytes=10-19"})
        self.assertEqual(st, 206)
        self.assertEqual(part, whole[10:20])
        self.assertEqual(h["Content-Range"], "bytes 10-19/%d" % len(whole))
        st, h, tail = get(url, {"Range": "bytes=-5"})
        self.assertEqual((st, tail), (206, whole[-5:]))
        st, h, _ = get(url, {"Range": "bytes=%d-" % (len(whole) + 10)})
        self.assertEqual(st, 416)

    def test_thumbnail_etag_304(self):
        fid = self.ids("?seed=100")[0]["id"]
        url = self.base + "/api/file/%d/thumb" % fid
        st, h, body = get(url)
        self.assertEqual((st, h["Content-Type"]), (200, "image/png"))
        from PIL import Image
        im = Image.open(io.BytesIO(body))
        self.assertLessEqual(max(im.size), 256)
        etag = h["ETag"]
        st, h2, body2 = get(url, {"If-None-Match": etag})
        self.assertEqual((st, body2), (304, b""))
        st, _, _ = get(url, {"If-None-Match": '"something-else"'})
        self.assertEqual(st, 200)

    def test_latent_preview_png(self):
        fid = self.ids("?seed=100")[0]["id"]
        st, h, body = get(self.base + "/api/file/%d/tensor/latent/preview.png?family=sdxl" % fid)
        self.assertEqual((st, h["Content-Type"]), (200, "image/png"))
        from PIL import Image
        im = Image.open(io.BytesIO(body))
        self.assertEqual(im.size, (16, 16))
        self.assertGreater(len(set(im.getdata())), 10)
        st, j = self.api("/api/file/%d/tensor/latent/preview.png?family=flux" % fid)
        self.assertEqual(st, 422)  # flux has 16 channels, this latent 4

    def test_bad_ids_and_paths_are_refused(self):
        for path, want in [("/api/file/999999", 404), ("/api/file/abc", 400), ("/api/file/-1", 400),
                           ("/api/file/1%2F..%2F..%2Fetc%2Fpasswd", 400), ("/api/file/99999999999999999999999", 400),
                           ("/api/file/1/tensor/nope.npy", 404), ("/api/nothing", 404),
                           ("/api/search?seed=x", 400), ("/api/search?seed=%d" % 2**64, 400), ("/api/search?q=%zz", 400),
                           ("/api/search?q=" + "a" * 5000, 414)]:
            st, j = self.api(path)
            self.assertEqual(st, want, path)
            self.assertIn("error", j)
        for path in ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/../../etc/passwd", "/files/"]:
            st, h, body = get(self.base + path)
            self.assertIn(st, (400, 404), path)
            self.assertNotIn(b"root:", body)

    def test_read_only_and_headers(self):
        st, h, _ = get(self.base + "/api/search", method="POST")
        self.assertEqual(st, 405)
        st, h, _ = get(self.base + "/api/file/1", method="DELETE")
        self.assertEqual(st, 405)
        st, h, page = get(self.base + "/")
        self.assertEqual(st, 200)
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        self.assertIn("default-src 'none'", h["Content-Security-Policy"])
        self.assertIn(b"/app.js", page)
        self.assertNotIn(b"http://", page.replace(b"http://www.w3.org", b""))  # nothing from a CDN


class ServeArgs(unittest.TestCase):
    def test_usage_errors(self):
        self.assertEqual(run("serve").returncode, 2)
        self.assertEqual(run("serve", "--port", "70000", "--db", "x").returncode, 2)
        r = run("serve", "--db", "/nonexistent/x.sqlite", "--bind", "not-an-address")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"not-an-address", r.stderr)


if __name__ == "__main__":
    unittest.main()
