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
import urllib.parse
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
    m = re.search(r"http://([0-9.]+|\[[0-9a-f:]+\]):(\d+)/", line)
    if not m:
        p.kill()
        raise AssertionError("no URL from serve: %r %r" % (line, p.stderr.read()))
    return p, "http://%s:%s" % (m.group(1), m.group(2)), line


def stop(p):
    p.terminate()
    p.wait(timeout=30)
    p.stdout.close()
    p.stderr.close()


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


def page_token(base):
    """The edit token the server put in its page (what the app's script reads)."""
    st, h, page = get(base + "/")
    m = re.search(rb'<meta name="raiiaf-token" content="([0-9a-f]*)">', page)
    return m.group(1).decode() if m else None


class Panels(unittest.TestCase):
    """The detail page's panels, checked against what the CLI says of the same files."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="raiiaf-serve-panels-")
        cls.files = os.path.join(cls.dir, "files")
        os.mkdir(cls.files)
        lat16 = os.path.join(cls.dir, "lat16.npy")
        np.save(lat16, np.random.default_rng(3).standard_normal((1, 16, 8, 8)).astype(np.float32))
        cls.f = os.path.join(cls.files, "flux.raiiaf")
        # An environment record whose libc is not this machine's: drift to show.
        r = run("create", "-o", cls.f, "--image", os.path.join(DATA, "sd-webui.png"), "--latent", "latent=" + lat16,
                "--model", "flux1-dev", "--prompt", "a heron", "--seed", "5", "--sampler", "Euler a",
                "--env", "libc=name=glibc;version=1.0-test", "--tag", "bird")
        assert r.returncode == 0, r.stderr
        cls.plain = os.path.join(cls.files, "plain.raiiaf")
        r = run("create", "-o", cls.plain, "--latent", "latent=" + lat16, "--prompt", "a plain one", "--seed", "6",
                "--sampler", "DPM++ 2M", "--no-env")
        assert r.returncode == 0, r.stderr
        key = os.path.join(cls.dir, "k.pem")
        assert run("keygen", "-o", key).returncode == 0
        r = run("sign", cls.f, "--key", key)
        assert r.returncode == 0, r.stderr
        cls.key_id = re.search(rb"signed by ([0-9a-f]{16})", r.stdout + r.stderr).group(1).decode()
        assert run("edit", cls.f, "--add-tag", "heron").returncode == 0
        cls.db = os.path.join(cls.dir, "lib.sqlite")
        cls.proc, cls.base, _ = start_server([cls.files, "--db", cls.db])
        st, h, body = get(cls.base + "/api/search?q=heron")
        cls.id = json.loads(body)["items"][0]["id"]
        st, h, body = get(cls.base + "/api/search?q=plain")
        cls.plain_id = json.loads(body)["items"][0]["id"]

    @classmethod
    def tearDownClass(cls):
        stop(cls.proc)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def api(self, path):
        st, h, body = get(self.base + path)
        self.assertEqual(h.get("Content-Type"), "application/json", path)
        return st, json.loads(body)

    def test_environment_drift(self):
        st, j = self.api("/api/file/%d" % self.id)
        env = {c["id"]: c for c in j["env"]["components"]}
        self.assertEqual(env["libc"]["canonical"], "name=glibc;version=1.0-test")
        self.assertEqual(env["libc"]["drift"], "changed")
        # This machine's glibc, as Python's own platform module reads it.
        import platform
        self.assertEqual(env["libc"]["current"], "name=glibc;version=" + platform.libc_ver()[1])
        self.assertIsNone(env["arch"]["drift"])  # captured here at create time: the same
        self.assertGreaterEqual(j["env"]["differences"], 1)
        st, sub = self.api("/api/file/%d/env" % self.id)
        self.assertEqual((st, sub), (200, j["env"]))
        st, j = self.api("/api/file/%d" % self.plain_id)
        self.assertIsNone(j["env"])  # --no-env: no record, no drift

    def test_signature_edited_since(self):
        st, j = self.api("/api/file/%d/signature" % self.id)
        self.assertEqual((st, j["state"], j["key_id"], j["signed_version"]), (200, "edited", self.key_id, 1))
        st, j = self.api("/api/file/%d" % self.plain_id)
        self.assertEqual(j["signature"]["state"], "none")

    def test_history_as_the_cli_prints_it(self):
        st, j = self.api("/api/file/%d/history" % self.id)
        self.assertEqual(st, 200)
        r = run("history", "--json", self.f)
        self.assertEqual(j, json.loads(r.stdout))
        # create, sign (a SIGN chunk listed), edit (the tags).
        self.assertEqual([v["version"] for v in j], [1, 2, 3])
        self.assertIn({"op": "changed", "path": "/raiiaf_metadata/model_info/tags"}, j[2]["changes"])

    def test_latent_family_from_the_manifest(self):
        st, j = self.api("/api/file/%d" % self.id)
        self.assertEqual(j["latent_family"], "flux")
        url = self.base + "/api/file/%d/tensor/latent/preview.png" % self.id
        st, h, default = get(url)
        st2, h2, flux = get(url + "?family=flux")
        st3, h3, sd3 = get(url + "?family=sd3")  # what 16 channels alone would guess
        self.assertEqual((st, st2, st3), (200, 200, 200))
        self.assertEqual(default, flux)
        self.assertNotEqual(default, sd3)

    def test_filters(self):
        def ids(q):
            st, j = self.api("/api/search?" + q)
            self.assertEqual(st, 200, (q, j))
            return sorted(i["id"] for i in j["items"])
        both = sorted([self.id, self.plain_id])
        self.assertEqual(ids("sampler=euler%20a"), [self.id])
        self.assertEqual(ids("sampler=DPM%2B%2B+2M"), [self.plain_id])
        self.assertEqual(ids("signed=1"), [self.id])
        self.assertEqual(ids("fails_verification=1"), [])
        import datetime
        today = datetime.datetime.fromtimestamp(os.stat(self.plain).st_mtime, datetime.timezone.utc).date()
        self.assertEqual(ids("from=%s&to=%s" % (today, today)), both)
        self.assertEqual(ids("to=%s" % (today - datetime.timedelta(days=1))), [])
        self.assertEqual(ids("from=%s" % (today + datetime.timedelta(days=1))), [])
        # 2262-04-11 on would overflow the 64-bit nanosecond mtimes (found by fuzz_serve_api under UBSan)
        for q in ["from=2026-02-30", "to=yesterday", "from=2026-01-02&to=2026-01-01", "from=3800-01-01", "to=9999-12-31"]:
            st, j = self.api("/api/search?" + q)
            self.assertEqual(st, 400, q)
            self.assertIn("error", j)

    def test_read_only_refuses_edits_naming_the_flag(self):
        st, h, body = get(self.base + "/api/file/%d/tags?tag=x" % self.id, method="POST")
        self.assertEqual(st, 403)
        self.assertIn("--allow-edit", json.loads(body)["error"])
        self.assertEqual(page_token(self.base), "")


class Failing(unittest.TestCase):
    def test_fails_verification_filter_and_failed_check(self):
        d = tempfile.mkdtemp(prefix="raiiaf-serve-bad-")
        try:
            make_library(d)
            with open(os.path.join(d, "f0.raiiaf"), "r+b") as f:
                f.seek(1000)
                b = f.read(1)
                f.seek(1000)
                f.write(bytes([b[0] ^ 0xFF]))
            p, base, _ = start_server([d, "--db", os.path.join(d, "db.sqlite")])
            try:
                st, h, body = get(base + "/api/search?fails_verification=1")
                items = json.loads(body)["items"]
                self.assertEqual([os.path.basename(i["path"]) for i in items], ["f0.raiiaf"])
                st, h, body = get(base + "/api/file/%d/verify" % items[0]["id"])
                j = json.loads(body)
                r = run("verify", items[0]["path"])
                self.assertNotEqual(r.returncode, 0)
                self.assertFalse(j["ok"])
                self.assertIn(j["failed_check"]["message"], r.stderr.decode() + r.stdout.decode())
                st, h, body = get(base + "/api/stats")
                stats = json.loads(body)
                self.assertEqual(stats["verifications_run"], 3)  # each file once; the /verify above was cached
                self.assertEqual(stats["verify_cache_hits"], 1)
            finally:
                stop(p)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class Edit(unittest.TestCase):
    """--allow-edit: the token, the origin checks, the edit as the CLI sees it."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="raiiaf-serve-edit-")
        make_library(self.dir)
        self.proc, self.base, self.banner = start_server([self.dir, "--db", os.path.join(self.dir, "db.sqlite"),
                                                          "--allow-edit"])
        st, h, body = get(self.base + "/api/search?seed=100")
        item = json.loads(body)["items"][0]
        self.id, self.path = item["id"], item["path"]

    def tearDown(self):
        stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, tag):
        return self.base + "/api/file/%d/tags?tag=%s" % (self.id, urllib.parse.quote(tag))

    def test_token_required_and_edit_lands(self):
        self.assertIn("editable", self.banner)
        token = page_token(self.base)
        self.assertRegex(token, "^[0-9a-f]{64}$")
        with open(self.path, "rb") as f:
            before = f.read()
        st, h, body = get(self.url("heron"), method="POST")
        self.assertEqual(st, 403)
        self.assertIn("X-Raiiaf-Token", json.loads(body)["error"])
        st, h, body = get(self.url("heron"), {"X-Raiiaf-Token": "0" * 64}, method="POST")
        self.assertEqual(st, 403)
        # Right token, but from another site's page (or a rebinding host name).
        host = self.base[len("http://"):]
        st, _, _ = get(self.url("heron"), {"X-Raiiaf-Token": token, "Origin": "http://evil.example"}, method="POST")
        self.assertEqual(st, 403)
        st, _, _ = get(self.base + "/api/search", {"Host": "evil.example:%s" % host.split(":")[-1]})
        self.assertEqual(st, 403)
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), before)  # nothing refused changed the file
        st, h, body = get(self.url("<b>heron</b>"), {"X-Raiiaf-Token": token, "Origin": self.base}, method="POST")
        self.assertEqual(st, 200, body)
        self.assertIn("<b>heron</b>", json.loads(body)["tags"])
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(len(before)), before)  # appended, payloads untouched
        info = run("info", self.path).stdout.decode()
        self.assertIn("<b>heron</b>", info)
        self.assertEqual(run("verify", self.path).returncode, 0)
        # The index row was refreshed: the tag is searchable at once.
        st, h, body = get(self.base + "/api/search?tag=" + urllib.parse.quote("<b>heron</b>"))
        self.assertEqual([i["id"] for i in json.loads(body)["items"]], [self.id])
        st, h, body = get(self.url("fox"), {"X-Raiiaf-Token": token}, method="DELETE")
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["tags"], ["<b>heron</b>"])
        self.assertNotIn("fox", re.findall(r"Tags:\s*(.*)", run("info", self.path).stdout.decode())[0].split(", "))
        st, h, body = get(self.url("never-there"), {"X-Raiiaf-Token": token}, method="DELETE")
        self.assertEqual(st, 404)
        r = json.loads(run("history", "--json", self.path).stdout)
        self.assertEqual(len(r), 3)

    def test_edit_replaces_the_cached_thumbnail(self):
        token = page_token(self.base)
        folder = os.path.join(self.dir, "db.sqlite.thumbs", str(self.id))
        st, h1, t1 = get(self.base + "/api/file/%d/thumb" % self.id)
        self.assertEqual(st, 200)
        old = os.listdir(folder)
        st, _, body = get(self.url("heron"), {"X-Raiiaf-Token": token}, method="POST")
        self.assertEqual(st, 200, body)
        st, h2, t2 = get(self.base + "/api/file/%d/thumb" % self.id, {"If-None-Match": h1["ETag"]})
        self.assertEqual((st, t2), (200, t1))  # the file changed: a new ETag, the same picture
        self.assertNotEqual(h2["ETag"], h1["ETag"])
        new = os.listdir(folder)
        self.assertEqual(len(new), 1)
        self.assertNotEqual(new, old)


class Cache(unittest.TestCase):
    def test_second_start_serves_thumbnail_from_disk(self):
        d = tempfile.mkdtemp(prefix="raiiaf-serve-cache-")
        try:
            files = os.path.join(d, "files")
            os.mkdir(files)
            make_library(files)
            db = os.path.join(d, "lib.sqlite")
            before = {n: os.stat(os.path.join(files, n)).st_mtime_ns for n in os.listdir(files)}
            p, base, _ = start_server([files, "--db", db])
            try:
                st, h, body = get(base + "/api/search?seed=100")
                fid = json.loads(body)["items"][0]["id"]
                st, h1, thumb1 = get(base + "/api/file/%d/thumb" % fid)
                self.assertEqual(st, 200)
                stats = json.loads(get(base + "/api/stats")[2])
                self.assertEqual((stats["thumbnails_made"], stats["thumbnail_cache_hits"]), (1, 0))
            finally:
                stop(p)
            self.assertEqual(os.listdir(db + ".thumbs"), [str(fid)])  # DB.thumbs/ID/SIZE-MTIME.png
            st_ = os.stat(os.path.join(files, "f0.raiiaf"))  # the file of seed 100
            self.assertEqual(os.listdir(os.path.join(db + ".thumbs", str(fid))),
                             ["%d-%d.png" % (st_.st_size, st_.st_mtime_ns)])
            p, base, _ = start_server(["--db", db])
            try:
                st, h2, thumb2 = get(base + "/api/file/%d/thumb" % fid)
                self.assertEqual((st, thumb2, h2["ETag"]), (200, thumb1, h1["ETag"]))
                stats = json.loads(get(base + "/api/stats")[2])
                self.assertEqual((stats["thumbnails_made"], stats["thumbnail_cache_hits"]), (0, 1))
                st, _, _ = get(base + "/api/file/%d/thumb" % fid, {"If-None-Match": h2["ETag"]})
                self.assertEqual(st, 304)
            finally:
                stop(p)
            # The originals were never touched; the cache lives beside the database.
            self.assertEqual({n: os.stat(os.path.join(files, n)).st_mtime_ns for n in os.listdir(files)
                              if not n.startswith(".")}, before)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class Bind(unittest.TestCase):
    def test_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6) as so:
                so.bind(("::1", 0))
        except OSError:
            self.skipTest("this machine has no IPv6 loopback")
        d = tempfile.mkdtemp(prefix="raiiaf-serve-v6-")
        try:
            make_library(d)
            p, base, banner = start_server([d, "--db", os.path.join(d, "db.sqlite"), "--bind", "::1"])
            try:
                self.assertTrue(base.startswith("http://[::1]:"), banner)
                self.assertIn("bound to ::1: this machine only", banner)
                st, h, body = get(base + "/api/search")
                self.assertEqual((st, len(json.loads(body)["items"])), (200, 3))
            finally:
                stop(p)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class ServeArgs(unittest.TestCase):
    def test_usage_errors(self):
        self.assertEqual(run("serve").returncode, 2)
        self.assertEqual(run("serve", "--port", "70000", "--db", "x").returncode, 2)
        r = run("serve", "--db", "/nonexistent/x.sqlite", "--bind", "not-an-address")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"not-an-address", r.stderr)


if __name__ == "__main__":
    unittest.main()
