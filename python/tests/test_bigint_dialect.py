"""Issue 14 from Python: integers to 2**64-1 exactly (seeds 2**53+1, 2**63-1,
2**64-1 through write, read, edit, import, export and convert), format 1
files in Python's JSON dialect (NaN, Infinity, 2**64+5, \\u0000, lone
surrogates) through the native API and the drop-in, and the drop-in's
original exception classes and shapes (raiiafLatentError, EnvChunk, no
"image" key without an image, extra_image).

Expected values come from Python itself: its ints, its json module, hashlib."""

import hashlib
import json
import math
import struct
import warnings
import zlib

import numpy as np
import pytest

import raiiaf
from raiiaf.main import (raiiafChunkError, raiiafDecodeError, raiiafFileHandler,  # the original's names
                         raiiafLatentError)

from conftest import make_png

SEEDS = [2**53 + 1, 2**63 - 1, 2**64 - 1]
GS = "/raiiaf_metadata/model_info/generation_settings/"


def gs_of(path):
    with raiiaf.open(str(path)) as f:
        m = f.metadata
    return (m.get("raiiaf_metadata") or m)["model_info"]["generation_settings"]


def png_with_parameters(text):
    png = make_png()
    body = b"parameters\0" + text.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return png[:33] + chunk + png[33:]


@pytest.fixture(autouse=True)
def quiet_drift():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", raiiaf.DriftWarning)
        yield


@pytest.mark.parametrize("seed", SEEDS)
def test_seed_write_read_edit(tmp_path, png, seed):
    p = tmp_path / "a.raiiaf"
    raiiaf.write(str(p), image=png, model="m", prompt="p", seed=seed, steps=seed)
    with raiiaf.open(str(p)) as f:
        assert '"seed": %d,' % seed in f.manifest_json  # a plain JSON integer
    g = gs_of(p)
    assert (g["seed"], g["steps"]) == (seed, seed) and type(g["seed"]) is int
    nxt = SEEDS[(SEEDS.index(seed) + 1) % 3]
    raiiaf.edit(str(p), set={GS + "seed": nxt})
    assert gs_of(p)["seed"] == nxt and gs_of(p)["steps"] == seed
    with raiiaf.open(str(p)) as f:
        f.verify()


@pytest.mark.parametrize("seed", SEEDS)
def test_seed_import_export_convert(tmp_path, seed):
    src = tmp_path / "a1111.png"
    src.write_bytes(png_with_parameters("a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
                                        "Seed: %d, Size: 16x12, Model: m" % seed))
    imp = raiiaf.import_image(str(src))
    assert imp.model_info["generation_settings"]["seed"] == seed
    a = tmp_path / "a.raiiaf"
    imp.save(str(a))
    assert gs_of(a)["seed"] == seed
    with raiiaf.open(str(a)) as f:
        assert ("Seed: %d," % seed) in f.parameters
    # format 2 -> 1 -> 2 (format 1's schema: an integer >= 0, any size)
    one, two = tmp_path / "one.raiiaf", tmp_path / "two.raiiaf"
    raiiaf.write(str(a), image=make_png(), latents={"initial_noise": np.zeros((1, 4, 8, 8), np.float32)},
                 model="m", model_version="1", prompt="p", tags=["t"],
                 generation_settings={"seed": seed, "steps": 1, "sampler": "s"}, noise_seed=False)
    raiiaf.convert(str(a), str(one), format=1)
    assert gs_of(one)["seed"] == seed
    raiiaf.convert(str(one), str(two))
    assert gs_of(two)["seed"] == seed


def test_out_of_range_refused(tmp_path, png):
    with pytest.raises(raiiaf.Error):
        raiiaf.write(str(tmp_path / "x.raiiaf"), image=png, model="m", seed=2**64)


def _dialect_file(tmp_path, png):
    """A format 1 file holding what Python's json writes and JSON does not."""
    p = tmp_path / "dialect.raiiaf"
    raiiaf.write(str(p), image=png, latents={"initial_noise": np.ones((1, 4, 8, 8), np.float32)}, model="m",
                 model_version="1", prompt="a\x00b\ud800c", tags=["t"], format=1,
                 generation_settings={"seed": 2**64 + 5, "steps": 2, "sampler": "s", "cfg_scale": math.nan,
                                      "eta": math.inf, "big": 2**63})
    return p


def test_format1_python_dialect_native(tmp_path, png):
    p = _dialect_file(tmp_path, png)
    with raiiaf.open(str(p)) as f:
        text = f.manifest_json
        m = f.metadata
        f.verify()
        assert f.image_bytes == png
    assert json.dumps(m, indent=2) == text  # exactly what the original package would write
    g = m["raiiaf_metadata"]["model_info"]["generation_settings"]
    assert g["seed"] == 2**64 + 5 and g["big"] == 2**63 and math.isnan(g["cfg_scale"]) and g["eta"] == math.inf
    assert m["raiiaf_metadata"]["model_info"]["prompt"] == "a\x00b\ud800c"
    # format 2 cannot hold NaN, 2**64+5 or a lone surrogate: they stay in the extension, the rest is mapped
    v2, v1 = tmp_path / "v2.raiiaf", tmp_path / "v1.raiiaf"
    raiiaf.convert(str(p), str(v2))
    with raiiaf.open(str(v2)) as f:
        m2 = f.metadata["raiiaf_metadata"]
    assert m2["extensions"]["org.raiiaf.format1"]["manifest"] == text
    g2 = m2["model_info"]["generation_settings"]
    assert g2["big"] == 2**63 and g2["steps"] == 2 and "seed" not in g2 and "cfg_scale" not in g2
    raiiaf.convert(str(v2), str(v1), format=1)
    with raiiaf.open(str(v1)) as f:
        back = f.metadata
    want = json.loads(text)
    for mm in (want, back):
        mm["raiiaf_metadata"]["file_info"]["file_size"] = 0
        mm["raiiaf_metadata"]["model_info"]["generation_settings"]["cfg_scale"] = "nan"  # NaN != NaN
    assert back == want


def test_dropin_reads_the_dialect(tmp_path, png):
    p = _dialect_file(tmp_path, png)
    out = raiiafFileHandler().file_decoder(str(p))  # raised JSONError before
    g = out["metadata"]["raiiaf_metadata"]["model_info"]["generation_settings"]
    assert g["seed"] == 2**64 + 5 and math.isnan(g["cfg_scale"])
    np.testing.assert_array_equal(out["chunks"]["latent"][0], np.ones((1, 4, 8, 8), np.float16))


@pytest.mark.parametrize("bad,why", [
    (np.full((1, 4, 8, 8), np.nan, np.float32), "NaN"),
    (np.zeros((4, 8, 8), np.float32), "3-D"),
    (np.zeros((1, 4, 8, 8), np.int32), "int32"),
])
def test_dropin_latent_errors_are_the_originals(tmp_path, png, bad, why):
    h = raiiafFileHandler()
    caught = None
    try:
        h.file_encoder(str(tmp_path / "x.raiiaf"), {"x": bad}, [], "m", "1", "p", ["t"], png)
    except raiiafLatentError as e:  # the original's except clause
        caught = e
    assert caught is not None, why
    assert isinstance(caught, raiiafChunkError) and isinstance(caught, raiiafDecodeError)
    assert isinstance(caught, ValueError)  # what this package raised before
    assert not (tmp_path / "x.raiiaf").exists()


@pytest.mark.parametrize("fmt", [1, 2])
def test_dropin_env_is_an_envchunk(tmp_path, png, fmt):
    p = tmp_path / "e.raiiaf"
    raiiafFileHandler().file_encoder(str(p), {"x": np.zeros((1, 4, 8, 8), np.float32)}, [], "m", "1", "p", ["t"],
                                     png, format=fmt)
    env = raiiafFileHandler().file_decoder(str(p))["chunks"]["env"]
    if env is None:
        pytest.skip("this libraiiaf records no environment")
    assert env.env_version == fmt
    assert env.components
    for c in env.components:  # as the original's EnvChunk: bytes digests of the canonical string
        assert isinstance(c["component_id"], str)
        assert c["component_sha256_digest"] == hashlib.sha256(c["cononical_str"].encode("utf-8")).digest()
    assert env["env_version"] == fmt  # still readable as the dict it was stored as


@pytest.mark.parametrize("fmt", [1, 2])
def test_dropin_no_image_key_without_an_image(tmp_path, fmt):
    p = tmp_path / "n.raiiaf"
    raiiafFileHandler().file_encoder(str(p), {"x": np.zeros((1, 4, 8, 8), np.float32)}, [], "m", "1", "p", ["t"],
                                     None, format=fmt)
    out = raiiafFileHandler().file_decoder(str(p))
    assert "image" not in out["chunks"]
    assert len(out["chunks"]["latent"]) == 1


@pytest.mark.parametrize("fmt", [1, 2])
def test_dropin_extra_image_survives_convert(tmp_path, png, fmt):
    extra = {"width": 16, "note": "from the original's extra_image"}
    h = raiiafFileHandler()
    src = tmp_path / "s.raiiaf"
    h.file_encoder(str(src), {"x": np.zeros((1, 4, 8, 8), np.float32)}, [], "m", "1", "p", ["t"], png,
                   extra_image=extra, format=fmt)
    a, b = tmp_path / "a.raiiaf", tmp_path / "b.raiiaf"
    raiiaf.convert(str(src), str(a), format=3 - fmt)
    raiiaf.convert(str(a), str(b), format=1)
    recs = h.file_decoder(str(b))["metadata"]["raiiaf_metadata"]["chunks"]
    assert [r["extra"] for r in recs if r["type"] == "DATA"] == [extra]
