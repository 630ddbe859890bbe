#!/usr/bin/python3
"""Format 1 manifests are Python json.dumps output (issue 14): NaN,
Infinity, -Infinity, integers of any size, \\u0000 in strings and lone
surrogates.  Files the original package wrote with such values must open:
verify, info, extract and convert (both ways) work, the manifest text is
shown and kept verbatim, and what format 2's schema cannot hold stays in the
org.raiiaf.format1 extension with a note.

The files are made here from the fixtures in tests/data/format1 (written by
the original package): their manifest is replaced by Python's own
json.dumps(manifest, indent=2) -- exactly how that package wrote it -- of the
same manifest with the values changed.  Run by CTest with RAIIAF_CLI and
RAIIAF_TEST_DATA.
"""

import json
import math
import os
import unittest

from cli_format1 import F1, F1File, expected_latent, fixture, read, run, with_manifest
from clitest import CliCase

NAME = "f32_noise_1x4x64x64"

# name -> edit of the parsed manifest's model_info (what a user of the
# original package could pass in generation_settings / prompt).
CASES = {
    "seed_2_63": lambda mi: mi["generation_settings"].update(seed=2**63),
    "seed_2_64_plus_5": lambda mi: mi["generation_settings"].update(seed=2**64 + 5),
    "nan_inf": lambda mi: mi["generation_settings"].update(cfg_scale=math.nan, eta=math.inf, offset=-math.inf),
    "nul": lambda mi: mi.update(prompt="a\x00b"),
    "surrogate": lambda mi: mi.update(prompt="x\ud800y", tags=["t\udfff"]),
}


def python_text(src_text, edit):
    m = json.loads(src_text)
    edit(m["raiiaf_metadata"]["model_info"])
    return json.dumps(m, indent=2)  # the original package's writer


class Format1Dialect(CliCase):
    PREFIX = "raiiaf-f1dialect-"

    @classmethod
    def setUpClass(cls):
        cls.src = os.path.join(F1, NAME + ".raiiaf")
        cls.orig = F1File(cls.src)
        # The fixture's own manifest is json.dumps(indent=2) of itself: the model is right.
        assert json.dumps(json.loads(cls.orig.mtext), indent=2) == cls.orig.mtext

    def make(self, case):
        text = python_text(self.orig.mtext, CASES[case])
        path = self.p(case + ".raiiaf")
        with_manifest(self.src, path, lambda _t: text)
        return path, text

    def check_extracted(self, folder):
        fx = fixture(NAME)
        self.assertEqual(read(os.path.join(folder, "image.png")), read(os.path.join(F1, fx["img_binary_file"])))
        for key in fx["latent_keys_in_order"]:
            import numpy as np
            self.assertEqual(np.load(os.path.join(folder, key + ".npy")).tobytes(), expected_latent(NAME, key).tobytes())

    def test_every_command_opens_them(self):
        for case in CASES:
            with self.subTest(case=case):
                path, text = self.make(case)
                r = run("verify", path)
                self.assertEqual((r.returncode, r.stdout.decode()), (0, "%s: OK\n" % path), r.stderr)
                self.assertIn("RAIIAF format 1.0", self.ok("info", path))
                self.assertEqual(self.ok("info", "--json", path).rstrip("\n"), text)  # verbatim
                d = self.p(case)
                self.ok("extract", path, "--all", d)
                self.check_extracted(d)
                self.ok("extract", path, "--meta", self.p(case + ".json"))
                self.assertEqual(read(self.p(case + ".json")).decode().rstrip("\n"), text)

    def test_info_shows_the_values(self):
        path, _ = self.make("seed_2_64_plus_5")
        self.assertIn("seed %d" % (2**64 + 5), self.ok("info", path))
        path, _ = self.make("nan_inf")
        self.assertIn("cfg NaN", self.ok("info", path))
        path, _ = self.make("nul")
        self.assertIn("Prompt:      a\\x00b\n", self.ok("info", path))  # the NUL shown, not cut there

    def test_convert_both_ways(self):
        expect_note = {"seed_2_63": None, "seed_2_64_plus_5": "generation_settings/seed",
                       "nan_inf": "generation_settings/cfg_scale", "nul": "model_info/prompt",
                       "surrogate": "model_info/prompt"}
        for case, note in expect_note.items():
            with self.subTest(case=case):
                path, text = self.make(case)
                v2 = self.p(case + "-v2.raiiaf")
                r = run("convert", path, "-o", v2)
                self.assertEqual(r.returncode, 0, r.stderr)
                if note:
                    self.assertIn("model_info/" + note.split("model_info/")[-1], r.stderr.decode())
                    self.assertIn("kept only in /raiiaf_metadata/extensions/org.raiiaf.format1/manifest", r.stderr.decode())
                else:
                    self.assertEqual(r.stderr, b"")
                self.ok("verify", v2)
                m2 = json.loads(self.ok("info", "--json", v2))["raiiaf_metadata"]
                self.assertEqual(m2["extensions"]["org.raiiaf.format1"]["manifest"], text)
                gs = m2["model_info"]["generation_settings"]
                if case == "seed_2_63":
                    self.assertEqual(gs["seed"], 2**63)  # format 2 holds it: mapped
                if case in ("seed_2_64_plus_5", "nan_inf"):
                    self.assertNotIn("seed" if case == "seed_2_64_plus_5" else "cfg_scale", gs)
                    self.assertEqual(gs["steps"], 20)  # the rest is mapped
                # and back: the same manifest text but the (corrected) file size
                v1 = self.p(case + "-v1.raiiaf")
                self.ok("convert", v2, "--format", "1", "-o", v1)
                back = F1File(v1)
                self.assertEqual(back.manifest["raiiaf_metadata"]["file_info"]["file_size"], len(back.data))
                want = json.loads(text)
                want["raiiaf_metadata"]["file_info"]["file_size"] = len(back.data)
                self.assertEqual(back.mtext, json.dumps(want, indent=2))
                self.ok("verify", v1)

    def test_image_record_extra_survives_convert(self):
        def edit(t):
            m = json.loads(t)
            for rec in m["raiiaf_metadata"]["chunks"]:
                if rec["type"] == "DATA":
                    rec["extra"] = {"width": 512, "mode": "RGBA"}  # the package's extra_image
            return json.dumps(m, indent=2)
        path = self.p("img.raiiaf")
        with_manifest(self.src, path, edit)
        v2, v1 = self.p("img-v2.raiiaf"), self.p("img-v1.raiiaf")
        self.ok("convert", path, "-o", v2)
        self.ok("convert", v2, "--format", "1", "-o", v1)
        data = [r for r in F1File(v1).records() if r["type"] == "DATA"]
        self.assertEqual(data[0]["extra"], {"width": 512, "mode": "RGBA"})

    def test_only_format_1_takes_the_dialect(self):
        # a format 2 manifest with NaN is refused (not JSON)
        p = self.p("v2.raiiaf")
        self.ok("create", "-o", p, "--image", os.path.join(os.environ.get("RAIIAF_TEST_DATA", ""), "empty.png"))
        r = run("edit", p, "--set-json", "/raiiaf_metadata/model_info/generation_settings/cfg_scale=NaN")
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
