#!/usr/bin/python3
"""Integers to 2^64-1 exactly through every CLI path (issue 14, defect 1):
create, edit, import of an A1111 text and of a ComfyUI graph, export and
re-import, index and search, with seeds 2^53+1 (the first integer a double
loses), 2^63-1 and 2^64-1.  Expected values are Python's own integers and
its json module's reading of what the tool writes.

Run by CTest with RAIIAF_CLI and RAIIAF_TEST_DATA.  Standard library only.
"""

import json
import os
import re
import struct
import unittest
import zlib

from clitest import DATA, CliCase, run

SEEDS = [2**53 + 1, 2**63 - 1, 2**64 - 1]
EMPTY = os.path.join(DATA, "empty.png")


def png_with_text(src, key, text):
    """src (a PNG) with one tEXt chunk key=text after IHDR: what A1111
    (`parameters`) and ComfyUI (`prompt`) write."""
    with open(src, "rb") as f:
        d = f.read()
    body = key.encode("latin-1") + b"\0" + text.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return d[:33] + chunk + d[33:]


def png_texts(path):
    """{key: text} of a PNG's tEXt/iTXt chunks, read here (not by the tool)."""
    with open(path, "rb") as f:
        d = f.read()
    out, p = {}, 8
    while p + 8 <= len(d):
        n, t = struct.unpack(">I4s", d[p:p + 8])
        body = d[p + 8:p + 8 + n]
        if t == b"tEXt":
            k, v = body.split(b"\0", 1)
            out[k.decode("latin-1")] = v.decode("latin-1")
        elif t == b"iTXt":
            k, rest = body.split(b"\0", 1)
            comp = rest[0]
            rest = rest[2:]
            _lang, rest = rest.split(b"\0", 1)
            _tk, v = rest.split(b"\0", 1)
            out[k.decode("latin-1")] = (zlib.decompress(v) if comp else v).decode("utf-8")
        p += 12 + n
    return out


def comfy_graph(seed):
    """A ComfyUI API graph (the `prompt` text chunk) whose KSampler has `seed`."""
    return {
        "3": {"class_type": "KSampler", "inputs": {"seed": seed, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                                                    "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                                                    "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 32, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "dog", "clip": ["4", 1]}},
    }


class BigIntegers(CliCase):
    PREFIX = "raiiaf-bigint-"

    def manifest(self, path):
        return json.loads(self.ok("info", "--json", path))["raiiaf_metadata"]

    def gs(self, path):
        return self.manifest(path)["model_info"]["generation_settings"]

    def test_create_info_edit_verify(self):
        for i, seed in enumerate(SEEDS):
            p = self.p("c%d.raiiaf" % i)
            self.ok("create", "-o", p, "--image", EMPTY, "--model", "m", "--prompt", "p", "--seed", seed, "--steps", seed)
            text = self.ok("info", "--json", p)
            self.assertIn('"seed": %d,' % seed, text)  # a plain JSON integer literal
            self.assertEqual(self.gs(p)["seed"], seed)
            self.assertEqual(self.gs(p)["steps"], seed)
            self.assertIn("seed %d" % seed, self.ok("info", p))
            nxt = SEEDS[(i + 1) % 3]
            self.ok("edit", p, "--set-json", "/raiiaf_metadata/model_info/generation_settings/seed=%d" % nxt)
            self.assertEqual(self.gs(p)["seed"], nxt)
            self.assertEqual(self.gs(p)["steps"], seed)
            self.ok("verify", p)
            hist = json.loads(self.ok("history", "--json", p))
            self.assertEqual(hist[-1]["changes"], [{"op": "changed", "path": "/raiiaf_metadata/model_info/generation_settings/seed"}])

    def test_sign_and_safetensors(self):
        seed = 2**64 - 1
        p = self.p("s.raiiaf")
        self.ok("create", "-o", p, "--image", EMPTY, "--latent",
                "initial_noise=" + os.path.join(DATA, "npy", "f32_1x4x8x8_v1.npy"), "--model", "m", "--seed", seed)
        key = self.p("k.pem")
        self.ok("keygen", "-o", key)
        self.ok("sign", p, "--key", key)
        self.ok("verify", "--pubkey", key + ".pub", p)
        self.assertEqual(self.gs(p)["seed"], seed)
        st = self.p("n.safetensors")
        self.ok("extract", p, "--latent", "initial_noise=" + st)
        with open(st, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            meta = json.loads(f.read(n))["__metadata__"]
        self.assertEqual(meta["raiiaf.seed"], str(seed))
        self.assertEqual(json.loads(meta["raiiaf.manifest"])["raiiaf_metadata"]["model_info"]["generation_settings"]["seed"],
                         seed)

    def test_out_of_range_refused(self):
        p = self.p("x.raiiaf")
        r = run("create", "-o", p, "--image", EMPTY, "--model", "m", "--seed", 2**64)
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(p))
        self.ok("create", "-o", p, "--image", EMPTY, "--model", "m")
        r = run("edit", p, "--set-json", "/raiiaf_metadata/model_info/generation_settings/seed=%d" % 2**64)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"too big", r.stderr)

    def check_export_reimport(self, src, seed):
        png = self.p("exp-%d.png" % seed)
        self.ok("export", src, "--png", png)
        self.assertRegex(png_texts(png)["parameters"], r"(^|, )Seed: %d(,|$)" % seed)
        # Only the A1111 text: the embedded record removed, so the text is what is read.
        with open(png, "rb") as f:
            d = f.read()
        params = png_texts(png)["parameters"]
        plain = self.p("plain-%d.png" % seed)
        with open(plain, "wb") as f:
            f.write(png_with_text(os.path.join(DATA, "empty.png"), "parameters", params))
        back = self.p("back-%d.raiiaf" % seed)
        self.ok("import", plain, "-o", back, "-q")
        self.assertEqual(self.gs(back)["seed"], seed)
        self.assertTrue(d)

    def test_import_a1111_text(self):
        for seed in SEEDS:
            src = self.p("a1111-%d.png" % seed)
            with open(src, "wb") as f:
                f.write(png_with_text(os.path.join(DATA, "empty.png"), "parameters",
                                      "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
                                      "Seed: %d, Size: 64x32, Model: m" % seed))
            out = self.p("a1111-%d.raiiaf" % seed)
            self.ok("import", src, "-o", out, "-q")
            gs = self.gs(out)
            self.assertEqual(gs["seed"], seed)
            self.assertEqual((gs["steps"], gs["width"], gs["height"]), (20, 64, 32))
            self.check_export_reimport(out, seed)

    def test_import_comfyui_graph(self):
        for seed in SEEDS:
            src = self.p("comfy-%d.png" % seed)
            with open(src, "wb") as f:
                f.write(png_with_text(os.path.join(DATA, "empty.png"), "prompt", json.dumps(comfy_graph(seed))))
            out = self.p("comfy-%d.raiiaf" % seed)
            self.ok("import", src, "-o", out, "-q")
            self.assertEqual(self.gs(out)["seed"], seed)
            # the graph is kept verbatim and exported as it came
            png = self.p("comfy-exp-%d.png" % seed)
            self.ok("export", out, "--png", png)
            self.assertEqual(json.loads(png_texts(png)["prompt"])["3"]["inputs"]["seed"], seed)
            back = self.p("comfy-back-%d.raiiaf" % seed)
            self.ok("import", png, "-o", back, "-q")
            self.assertEqual(self.gs(back)["seed"], seed)

    def test_fooocus_string_seed(self):
        # Fooocus writes its seed as a JSON string in its `parameters` JSON.
        seed = 6952411511246973023  # the seed the issue saw become ...2928
        rec = {"prompt": "a cat", "negative_prompt": "", "steps": 30, "sampler": "dpmpp_2m_sde_gpu",
               "scheduler": "karras", "seed": str(seed), "base_model": "juggernautXL_v8Rundiffusion.safetensors",
               "resolution": "(1024, 1024)", "guidance_scale": 4, "version": "Fooocus v2.5.5"}
        src = self.p("fooocus.png")
        with open(src, "wb") as f:
            f.write(png_with_text(os.path.join(DATA, "empty.png"), "parameters", json.dumps(rec)))
        with open(src, "rb") as f:
            d = f.read()
        body = b"fooocus_scheme\0fooocus"
        chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
        with open(src, "wb") as f:
            f.write(d[:33] + chunk + d[33:])
        out = self.p("fooocus.raiiaf")
        self.ok("import", src, "-o", out, "-q")
        self.assertEqual(self.gs(out)["seed"], seed)

    def test_index_and_search(self):
        lib = self.p("lib")
        os.mkdir(lib)
        for i, seed in enumerate(SEEDS):
            self.ok("create", "-o", os.path.join(lib, "f%d.raiiaf" % i), "--image", EMPTY, "--model", "m", "--prompt", "p%d" % i,
                    "--seed", seed, "--steps", seed)
        db = self.p("lib.sqlite")
        self.ok("index", "--db", db, lib)
        for i, seed in enumerate(SEEDS):
            rows = [json.loads(x) for x in self.ok("search", "--db", db, "--json", "--seed", seed).splitlines()]
            self.assertEqual([os.path.basename(r["path"]) for r in rows], ["f%d.raiiaf" % i])
            self.assertEqual((rows[0]["seed"], rows[0]["steps"]), (seed, seed))
            text = self.ok("search", "--db", db, "--seed", seed)
            self.assertRegex(text, r"seed %d, %d steps" % (seed, seed))
        r = run("search", "--db", db, "--seed", 2**64 - 2)  # no match: exit 1, nothing printed
        self.assertEqual((r.returncode, r.stdout), (1, b""))


if __name__ == "__main__":
    unittest.main()
