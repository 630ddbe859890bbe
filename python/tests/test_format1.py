"""Every format 1 fixture (files written by the original package, in
tests/data/format1/) decodes to the exact inputs that made it."""

import glob
import json
import os
import warnings

import numpy as np
import pytest

import raiiaf
from raiiaf.main import raiiafFileHandler

from conftest import DATA

FIXTURES = sorted(glob.glob(os.path.join(DATA, "format1", "*.raiiaf")))


def _need_format1():
    if not raiiaf.HAS_FORMAT1_READ:
        pytest.skip("the loaded libraiiaf cannot read format 1 (no raiiaf_reader_env_json)")
    if not FIXTURES:
        pytest.skip("tests/data/format1/ holds no fixtures (copied there with the format 1 support)")


@pytest.mark.parametrize("path", FIXTURES or ["<none>"], ids=lambda p: os.path.basename(p))
def test_fixture_decodes_to_its_inputs(path):
    _need_format1()
    stem = path[:-len(".raiiaf")]
    with open(stem + ".json") as fh:
        spec = json.load(fh)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", raiiaf.DriftWarning)
        out = raiiafFileHandler().file_decoder(path)
    h = out["header"]
    assert h["magic"] == b"raiiaf" and h["version_major"] == 1 and h["file_size"] == os.path.getsize(path)
    names = [c["extra"]["key"] for c in out["metadata"]["raiiaf_metadata"]["chunks"] if c["type"] == "LATN"]
    assert len(out["chunks"]["latent"]) == len(names) >= 1
    for name, arr in zip(names, out["chunks"]["latent"]):
        want = np.load("%s.%s.npy" % (stem, name))
        if spec.get("convert_float16") and want.dtype == np.float32:
            want = want.astype(np.float16)  # what that package stored (as the fixture's json says)
        assert arr.dtype == want.dtype and arr.shape == want.shape
        assert arr.tobytes() == want.tobytes()  # bit-identical
    with open(stem + ".img_binary.png", "rb") as fh:
        assert out["chunks"]["image"] == fh.read()
    assert out["chunks"]["env"]["env_version"] == 1
    mi = out["metadata"]["raiiaf_metadata"]["model_info"]
    assert isinstance(mi["model_name"], str) and isinstance(mi["tags"], list)
    # The native API reads it too.
    with raiiaf.open(path) as f:
        assert f.format == (1, 0)
        assert list(f.latents) == names
        assert f.env["python"].startswith("name=python;version=")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            f.verify()  # the stale file_size every format 1 writer recorded is a warning
        assert all(issubclass(w.category, raiiaf.VerifyWarning) for w in caught)


def test_format1_drift_warnings_compare_like_the_original():
    _need_format1()
    path = FIXTURES[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raiiafFileHandler().file_decoder(path)
    msgs = [str(w.message) for w in caught if issubclass(w.category, raiiaf.DriftWarning)]
    # Only components format 1 records are compared (no arch/cpu/zstd noise).
    for m in msgs:
        cid = m.split("component ")[1].split(" ")[0]
        assert cid in {"torch", "numpy", "python", "cuda", "os", "gpu"}, m
