#!/usr/bin/python3
"""`raiiaf import` / `export` on the sources of issue 14 part A: Civitai,
NovelAI (EXIF, legacy PNG, stealth), InvokeAI legacy and graph, stealth PNG
info, C2PA.  Expected values come from each fixture's X.expected.json
(written by tests/data/import/make_fixtures_exif_stealth.py from the values it put into
the record, not by raiiaf); hostile stealth images are built here with PIL
and gzip.  Run by CTest with RAIIAF_CLI and RAIIAF_TEST_DATA."""

import glob
import gzip
import io
import json
import os
import struct
import unittest
import zlib

from PIL import Image

from clitest import DATA, CliCase, run

FIXTURES = sorted(glob.glob(os.path.join(DATA, "import", "*", "*.expected.json")))
MINE = ("civitai", "novelai", "invokeai", "stealth", "c2pa")


def stealth_png(payload, sig="stealth_pngcomp", length_bits=None, side=64):
    """An RGBA PNG with SIG + 32-bit bit count + PAYLOAD in its alpha LSBs,
    x outer / y inner, as sd-webui-stealth-pnginfo writes it."""
    n = len(payload) * 8 if length_bits is None else length_bits
    bits = "".join(format(b, "08b") for b in sig.encode() + struct.pack(">I", n) + payload)
    while side * side < len(bits):
        side *= 2
    im = Image.new("RGBA", (side, side), (10, 20, 30, 255))
    px = im.load()
    for i, b in enumerate(bits):
        x, y = divmod(i, side)
        r, g, bb, a = px[x, y]
        px[x, y] = (r, g, bb, (a & ~1) | int(b))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


class Sources(CliCase):
    PREFIX = "raiiaf-import-sources-"

    def imported(self, image):
        out = self.p(os.path.basename(image) + ".raiiaf")
        r = run("import", image, "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(self.ok("info", "--json", "-q", out))["raiiaf_metadata"]
        return out, info, r.stderr.decode()

    def test_fixtures_tool_family_fields(self):
        mine = [f for f in FIXTURES if os.path.basename(os.path.dirname(f)) in MINE]
        self.assertGreaterEqual(len(mine), 18)
        for exp_path in mine:
            image = exp_path[:-len(".expected.json")]
            with self.subTest(os.path.relpath(image, DATA)):
                exp = json.load(open(exp_path, encoding="utf-8"))
                _, m, _ = self.imported(image)
                ext = m["extensions"]["org.raiiaf.import"]
                self.assertEqual((ext["tool"], ext["family"]), (exp["tool"], exp["family"]))
                gs = m["model_info"].get("generation_settings", {})
                for k, v in exp["generation_settings"].items():
                    self.assertEqual(gs.get(k), v, k)
                for k, v in exp["model_info"].items():
                    self.assertEqual(m["model_info"].get(k), v, k)

    def test_export_reimports_the_same_model_info(self):
        for exp_path in FIXTURES:
            folder = os.path.basename(os.path.dirname(exp_path))
            if folder not in MINE or folder == "c2pa":
                continue
            image = exp_path[:-len(".expected.json")]
            with self.subTest(os.path.relpath(image, DATA)):
                a, ma, _ = self.imported(image)
                ext = {"jpeg": "jpg"}.get(image.rsplit(".", 1)[1], image.rsplit(".", 1)[1])
                exported = self.p("x." + ext)
                self.ok("export", a, "-o", exported, "-q")
                _, mb, _ = self.imported(exported)
                self.assertEqual(ma["model_info"]["generation_settings"], mb["model_info"]["generation_settings"])
                for k in ("prompt", "negative_prompt", "model_name", "model_hash"):
                    self.assertEqual(ma["model_info"].get(k), mb["model_info"].get(k), k)

    def test_stealth_record_kept_verbatim(self):
        _, m, _ = self.imported(os.path.join(DATA, "import", "stealth", "stealth-comp.png"))
        ch = m["extensions"]["org.raiiaf.import"]["chunks"]
        st = [c for c in ch if c["type"] == "stealth-alpha"]
        self.assertEqual(len(st), 1)
        self.assertEqual(st[0]["keyword"], "stealth_pngcomp")
        self.assertTrue(st[0]["text"].startswith("a lighthouse at dusk, volumetric light\nNegative prompt: blurry"))

    def test_stealth_gzip_bomb_is_bounded_and_noted(self):
        bomb = gzip.compress(b" " * (17 << 20), compresslevel=9, mtime=0)
        src = self.p("bomb.png")
        with open(src, "wb") as f:
            f.write(stealth_png(bomb))
        _, m, err = self.imported(src)
        self.assertIn("stealth PNG info (stealth_pngcomp): the gzip payload decompresses to more than the 16 MiB "
                      "text budget", err)
        self.assertNotIn("prompt", m["model_info"])

    def test_stealth_lying_length_is_noted(self):
        src = self.p("lie.png")
        with open(src, "wb") as f:
            f.write(stealth_png(b"a cat\nSteps: 2, Seed: 1, Sampler: Euler", sig="stealth_pnginfo",
                                length_bits=0xFFFFFF00, side=32))
        _, m, err = self.imported(src)
        self.assertIn("length field says 4294967040 bits but the image holds 872 after the header", err)
        self.assertNotIn("prompt", m["model_info"])

    def test_c2pa_recorded_read_only(self):
        for name, gen in (("c2pa-firefly.jpeg", "Adobe_Firefly adobe_c2pa/0.12.2 c2pa-rs/0.32.0"),
                          ("c2pa-chatgpt.png", "ChatGPT")):
            with self.subTest(name):
                image = os.path.join(DATA, "import", "c2pa", name)
                _, m, err = self.imported(image)
                c = m["extensions"]["org.raiiaf.import"]["c2pa"]
                self.assertEqual(c["claim_generator"], gen)
                self.assertIn("C2PA manifest store in", err)
                self.assertNotIn("generation_settings", m["model_info"])
        # A generator's record beside a C2PA store: the record names the tool, the store is kept.
        png = open(os.path.join(DATA, "import", "civitai", "civitai-a1111.png"), "rb").read()
        store = open(os.path.join(DATA, "import", "c2pa", "c2pa-chatgpt.png"), "rb").read()
        i = store.find(b"caBX") - 4
        n, = struct.unpack(">I", store[i:i + 4])
        both = self.p("both.png")
        with open(both, "wb") as f:
            f.write(png[:33] + store[i:i + 12 + n] + png[33:])
        _, m, _ = self.imported(both)
        ext = m["extensions"]["org.raiiaf.import"]
        self.assertEqual(ext["tool"], "Civitai")
        self.assertEqual(ext["c2pa"]["claim_generator"], "ChatGPT")


if __name__ == "__main__":
    unittest.main(verbosity=2)
