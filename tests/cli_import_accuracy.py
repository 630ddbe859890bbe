#!/usr/bin/python3
"""Import accuracy over every fixture, and what export makes of each.

The cases: every image X.png / X.jpg / X.webp anywhere under tests/data
(RAIIAF_TEST_DATA) with a sibling X.ext.expected.json =
  {"tool": ..., "family": ..., "model_info": {expected fields except
   generation_settings}, "generation_settings": {expected fields}}
("tool": null: the image carries no record a generator wrote).  The
expected values were read from each file's own text by hand (the files in
tests/data) or written beside the record when the fixture was built
(tests/data/import/make_fixtures.py), never by raiiaf.

For each case:
  1. `raiiaf import` gives the tool, the family and every expected field
     exactly; a table of fields exact / total per generator is printed, and
     any difference fails (the fixtures are ours: 100% is the bar).
  2. `raiiaf export` writes an image whose re-import gives the same
     model_info (the whole record travels in the export);
  3. its A1111-style text alone, read the way A1111 reads it (PNG text
     chunk; JPEG/WebP: EXIF UserComment "UNICODE\\0" + UTF-16 big-endian as
     piexif decodes it, with tests/cli_import.py's independent readers),
     imports to the same model_info too (the writer's date aside);
  4. exiftool reads the same text.
"""

import collections
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli_import  # noqa: E402  (its independent PNG/EXIF readers)
from cli_import import png_texts, usercomment_raw  # noqa: E402

CLI = cli_import.CLI
DATA = cli_import.DATA
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp")


def cases():
    out = []
    for dp, _, fs in os.walk(DATA):
        for f in fs:
            if f.lower().endswith(IMAGE_EXT) and f + ".expected.json" in fs:
                out.append(os.path.join(dp, f))
    return sorted(out)


def run(*args):
    p = subprocess.run([CLI, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError(f"raiiaf {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def manifest(path):
    return json.loads(run("info", "--json", "-q", path).stdout)["raiiaf_metadata"]


def same(a, b):
    """JSON values equal, 5 == 5.0 (a CFG scale read back from text)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return a == b


def png_with_text(keyword, text):
    """tests/data/empty.png with one text chunk added before IDAT, as A1111
    writes `parameters` (tEXt when Latin-1, else iTXt)."""
    d = cli_import.rb(os.path.join(DATA, "empty.png"))
    try:
        body, kind = keyword.encode("latin-1") + b"\0" + text.encode("latin-1"), b"tEXt"
    except UnicodeEncodeError:
        body, kind = keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"), b"iTXt"
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return d[:33] + chunk + d[33:]


def exported_text(path):
    """The parameters text of an export, read independently of raiiaf."""
    if path.endswith(".png"):
        texts = [v for k, _, v in png_texts(path) if k == "parameters"]
        assert len(texts) == 1, "one parameters chunk"
        return texts[0].decode("utf-8")
    raw = usercomment_raw(path)
    assert raw[:8] == b"UNICODE\0", raw[:8]
    return raw[8:].decode("utf-16-be")  # piexif: big-endian whatever the TIFF order


class Accuracy(unittest.TestCase):
    tally = collections.OrderedDict()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="raiiaf-accuracy-")
        cls.cases = cases()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if not cls.tally:
            return
        width = max(len(k) for k in cls.tally) + 2
        lines = [f"\n{'generator':<{width}}{'files':>6}{'fields exact / total':>24}"]
        exact = total = 0
        for tool, (n, e, t) in sorted(cls.tally.items()):
            lines.append(f"{tool:<{width}}{n:>6}{e:>14} / {t:<7}{100.0 * e / t:6.1f}%")
            exact += e
            total += t
        lines.append(f"{'all':<{width}}{sum(v[0] for v in cls.tally.values()):>6}{exact:>14} / {total:<7}"
                     f"{100.0 * exact / total:6.1f}%")
        print("\n".join(lines))

    def p(self, *parts):
        return os.path.join(self.tmp, "-".join(parts))

    def imported(self, img, tag):
        out = self.p(tag, os.path.basename(img) + ".raiiaf")
        run("import", img, "-o", out, "-q")
        return out, manifest(out)

    def test_1_there_are_cases(self):
        self.assertGreaterEqual(len(self.cases), 12, self.cases)

    def test_2_fields(self):
        for img in self.cases:
            with open(img + ".expected.json", encoding="utf-8") as f:
                exp = json.load(f)
            rel = os.path.relpath(img, DATA)
            with self.subTest(rel):
                _, m = self.imported(img, "acc")
                ext = m["extensions"].get("org.raiiaf.import", {})
                mi = m["model_info"]
                gs = mi.get("generation_settings", {})
                checks = [("tool", ext.get("tool"), exp["tool"]), ("family", ext.get("family"), exp["family"])]
                checks += [("model_info/" + k, mi.get(k), v) for k, v in exp["model_info"].items()]
                checks += [("generation_settings/" + k, gs.get(k), v) for k, v in exp["generation_settings"].items()]
                wrong = [f"{rel}: {name}: got {got!r}, expected {want!r}" for name, got, want in checks
                         if not same(got, want)]
                key = exp["tool"] or "(none)"
                n, e, t = self.tally.get(key, (0, 0, 0))
                self.tally[key] = (n + 1, e + len(checks) - len(wrong), t + len(checks))
                self.assertEqual(wrong, [])

    def test_3_export_reimports_the_same(self):
        have_exiftool = shutil.which("exiftool") is not None
        for img in self.cases:
            rel = os.path.relpath(img, DATA)
            with self.subTest(rel):
                a, ma = self.imported(img, "exp")
                if "prompt" not in ma["model_info"] and "generation_settings" not in ma["model_info"]:
                    continue  # nothing to export but the image
                ext = {".jpg": ".jpg", ".jpeg": ".jpg", ".webp": ".webp"}.get(os.path.splitext(img)[1].lower(), ".png")
                out = self.p("exp", os.path.basename(img) + ext)
                run("export", a, "-o", out, "-q")
                if ext == ".png":
                    # a Fooocus scheme chunk must not outlive the parameters it described
                    schemes = [v for k, _, v in png_texts(out) if k == "fooocus_scheme"]
                    self.assertIn(schemes, ([], [b"a1111"]), f"{rel}: fooocus_scheme left behind")
                # the whole record travels
                _, mb = self.imported(out, "re")
                self.assertTrue(same(ma["model_info"], mb["model_info"]),
                                f"{rel}: export -> import changed model_info\n{ma['model_info']}\n{mb['model_info']}")
                # the A1111 text alone gives the same values
                text = exported_text(out)
                alone = self.p("alone", os.path.basename(img) + ".png")
                cli_import.wb(alone, png_with_text("parameters", text))
                _, mc = self.imported(alone, "alone")
                want = {k: v for k, v in ma["model_info"].items() if k != "date"}
                got = {k: v for k, v in mc["model_info"].items() if k != "date"}
                self.assertTrue(same(want, got), f"{rel}: the exported text alone reads back differently\n"
                                                 f"text: {text!r}\nwant: {want}\ngot:  {got}")
                # exiftool reads the same text
                if have_exiftool:
                    tag = "Parameters" if ext == ".png" else "UserComment"
                    p = subprocess.run(["exiftool", "-j", "-" + tag, out], capture_output=True, text=True, check=True)
                    got_text = json.loads(p.stdout)[0].get(tag)
                    self.assertEqual(str(got_text).rstrip(), text.rstrip(), f"{rel}: exiftool's {tag}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
