"""Files written by the C CLI read by Python, and the reverse."""

import json
import subprocess

import numpy as np
import pytest

import raiiaf
from raiiaf.main import raiiafFileHandler


def run(cli, *args):
    return subprocess.run([cli] + list(args), capture_output=True, text=True)


def test_cli_writes_python_reads(cli, tmp_path, png_path):
    rng = np.random.default_rng(7)
    noise = rng.standard_normal((1, 4, 32, 32)).astype(np.float32)
    final = rng.integers(-5, 5, (2, 3)).astype(np.int16)
    np.save(tmp_path / "noise.npy", noise)
    np.save(tmp_path / "final.npy", final)
    out = str(tmp_path / "c.raiiaf")
    r = run(cli, "create", "-o", out, "--image", png_path,
            "--latent", "initial_noise=%s:raw" % (tmp_path / "noise.npy"),
            "--latent", "final=%s:zstd" % (tmp_path / "final.npy"),
            "--model", "SDXL", "--model-version", "1.0", "--prompt", "a cat", "--negative-prompt", "blurry",
            "--tag", "cat", "--seed", "42", "--steps", "30", "--sampler", "euler_a", "--cfg-scale", "7",
            "--scheduler", "karras", "-q")
    assert r.returncode == 0, r.stderr
    with raiiaf.open(out) as f:
        np.testing.assert_array_equal(f.latents["initial_noise"], noise)
        np.testing.assert_array_equal(f.latents["final"], final)
        with open(png_path, "rb") as fh:
            assert f.image_bytes == fh.read()
        gs = f.metadata["raiiaf_metadata"]["model_info"]["generation_settings"]
        assert gs == {"seed": 42, "steps": 30, "sampler": "euler_a", "cfg_scale": 7, "scheduler": "karras"}
        f.verify()
    dec = raiiafFileHandler().file_decoder(out)
    np.testing.assert_array_equal(dec["chunks"]["latent"][0], noise)


def test_python_writes_cli_reads(cli, tmp_path, png):
    rng = np.random.default_rng(8)
    lat = {"initial_noise": rng.standard_normal((1, 4, 16, 16)).astype(np.float32),
           "mask": rng.integers(0, 2, (16, 16)).astype(bool)}
    out = str(tmp_path / "p.raiiaf")
    raiiaf.write(out, image=png, latents=lat, model="SDXL", prompt="a dog", tags=["dog"], seed=1, steps=2)
    r = run(cli, "verify", out)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(cli, "info", "--json", out)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["raiiaf_metadata"]["model_info"]["prompt"] == "a dog"
    d = tmp_path / "x"
    r = run(cli, "extract", out, "--all", str(d))
    assert r.returncode == 0, r.stderr
    for name, arr in lat.items():
        np.testing.assert_array_equal(np.load(d / ("%s.npy" % name)), arr)
    assert (d / "image.png").read_bytes() == png


def test_dropin_file_passes_cli_verify(cli, tmp_path, png):
    out = str(tmp_path / "d.raiiaf")
    lat = {"x": np.ones((1, 4, 8, 8), np.float32)}
    raiiafFileHandler().file_encoder(out, lat, [], "m", "1", "p", ["t"], png)
    r = run(cli, "verify", out)
    assert r.returncode == 0, r.stdout + r.stderr


def test_format1_python_writes_cli_reads(cli, tmp_path, png):
    if not raiiaf.HAS_FORMAT1_WRITE:
        pytest.skip("the loaded libraiiaf cannot write format 1")
    out = str(tmp_path / "f1.raiiaf")
    lat = {"x": np.random.default_rng(3).standard_normal((1, 4, 8, 8)).astype(np.float32)}
    raiiafFileHandler().file_encoder(out, lat, [], "m", "1", "p", ["t"], png, format=1,
                                     convert_float16=False)
    r = run(cli, "verify", out)
    assert r.returncode == 0, r.stdout + r.stderr
    d = tmp_path / "x"
    assert run(cli, "extract", out, "--all", str(d)).returncode == 0
    np.testing.assert_array_equal(np.load(d / "x.npy"), lat["x"])


def test_cli_seed_recipe_python_reads(cli, tmp_path):
    if not raiiaf.HAS_RECIPE:
        pytest.skip("the loaded libraiiaf has no seed recipes")
    npy = str(tmp_path / "n.npy")
    assert run(cli, "noise", "--seed", "42", "--shape", "1,4,16,16", "--dtype", "bfloat16", "-o", npy).returncode == 0
    out = str(tmp_path / "r.raiiaf")
    r = run(cli, "create", "-o", out, "--latent", "initial_noise=" + npy, "--seed", "42", "-q")
    assert r.returncode == 0, r.stderr
    bits = np.load(npy).view(np.uint16)  # numpy saves bfloat16 as <V2
    with raiiaf.open(out) as f:
        assert f.format == (2, 1)
        info = f.tensor_info("initial_noise")
        assert (info.dtype, info.codec, info.stored_size) == ("bfloat16", "recipe", 32)
        assert f.recipe("initial_noise")["seed"] == 42
        np.testing.assert_array_equal(f.latents["initial_noise"].view(np.uint16), bits)
