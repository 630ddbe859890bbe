"""Seed recipes (format 2.1) from Python: noise made by PyTorch itself,
torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))
on the CPU, written with write(noise_seed=...) or found from the generation
seed, stored as 32 bytes and read back bit for bit.  Skipped, saying so, where
PyTorch is not installed (Debian's python3-torch is not a dependency); the
checks that need no torch are in test_native.py."""

import warnings

import numpy as np
import pytest

import raiiaf

torch = pytest.importorskip("torch", reason="PyTorch is not installed (python3-torch): seed "
                            "recipes are not checked against torch.randn here")

if not raiiaf.HAS_RECIPE:  # test_native.py checks that this is only so for an old library
    pytest.skip("the loaded libraiiaf has no seed recipes", allow_module_level=True)

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
SHAPES = [(1, 4, 64, 64), (17,), (5,)]
BITS = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}
KERNELS = {"avx2-fma", "avx2", "scalar"}


def randn(shape, dtype, seed):
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def same_bits(a, b):
    """Bit for bit (torch.equal would take -0.0 for 0.0)."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(BITS[a.dtype]), b.view(BITS[b.dtype]))


def numpy_bits(t):
    return t.view(BITS[t.dtype]).numpy()


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_torch_noise_stored_as_recipe(tmp_path, dtype, shape):
    seed = 42 + 1000 * SHAPES.index(shape) + DTYPES.index(dtype)
    t = randn(shape, dtype, seed)
    out = str(tmp_path / "n.raiiaf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an exact match says nothing
        raiiaf.write(out, latents={"initial_noise": t}, noise_seed=seed)
    for digests in (True, False):
        with raiiaf.open(out, digests=digests) as f:
            assert f.format == (2, 1)
            info = f.tensor_info("initial_noise")
            assert info.codec == "recipe"
            assert info.stored_size == 32
            assert info.raw_size == t.numel() * t.element_size()
            assert info.shape == shape
            assert info.dtype == {torch.float32: "float32", torch.float16: "float16",
                                  torch.bfloat16: "bfloat16"}[dtype]
            rec = f.recipe("initial_noise")
            assert rec["generator"] == "torch.randn/cpu" and rec["generator_version"] == 1
            assert rec["seed"] == seed and rec["kernel"] in KERNELS
            assert f.recipe(0) == rec
            assert same_bits(f.latent("initial_noise"), t)
            back = f.latents["initial_noise"]
            np.testing.assert_array_equal(np.asarray(back).view(numpy_bits(t).dtype), numpy_bits(t))
            assert not back.flags.writeable  # the same contract as every other latent
            if digests:
                assert f.verify() == []
    # The whole file is smaller than the values alone for the large shape.
    if t.numel() >= 4096:
        with raiiaf.open(out) as f:
            assert f.file_size < t.numel() * t.element_size() // 4


@pytest.mark.parametrize("codec", ["raw", "zstd", "auto"])
def test_recipe_whatever_the_codec_and_no_zero_copy(tmp_path, codec):
    """The codec only matters for a miss: a recipe tensor is regenerated,
    never mapped (there are no values in the file to map)."""
    t = randn((1, 4, 16, 16), torch.float32, 7)
    out = str(tmp_path / "c.raiiaf")
    raiiaf.write(out, latents={"initial_noise": t}, noise_seed=7, codec=codec)
    with raiiaf.open(out) as f:
        assert f.tensor_info("initial_noise").codec == "recipe"
        np.testing.assert_array_equal(f.latents["initial_noise"], t.numpy())
        assert f.mapping is None  # no image, no raw tensor: nothing mapped to find it from
        assert [c.codec for c in f.chunks if c.type == "TENS"] == ["recipe"]


def test_dict_of_seeds_and_big_seeds(tmp_path):
    big = 2 ** 64 - 1
    a = randn((2, 3), torch.float32, 1)
    b = randn((1, 4, 8, 8), torch.bfloat16, big)
    c = randn((4,), torch.float32, 3)
    out = str(tmp_path / "d.raiiaf")
    raiiaf.write(out, latents={"initial_noise": a, "other": b, "values": c},
                 noise_seed={"initial_noise": 1, "other": np.uint64(big)})
    with raiiaf.open(out) as f:
        assert [f.tensor_info(n).codec for n in f.names][:2] == ["recipe", "recipe"]
        assert f.tensor_info("values").codec in ("raw", "zstd")  # not named: values
        assert f.recipe("initial_noise")["seed"] == 1
        assert f.recipe("other")["seed"] == big
        assert f.recipe("values") is None
        assert same_bits(f.latent("initial_noise"), a)
        assert same_bits(f.latent("other"), b)
        assert same_bits(f.latent("values"), c)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_one_element_off_stores_values(tmp_path, dtype):
    t = randn((1, 4, 64, 64), dtype, 42)
    bad = t.clone()
    bad.view(-1)[1234] = bad.view(-1)[1234] * 2 + 1
    out = str(tmp_path / "v.raiiaf")
    with pytest.warns(raiiaf.RecipeWarning, match="element 1234"):
        raiiaf.write(out, latents={"initial_noise": bad}, noise_seed=42)
    with raiiaf.open(out) as f:
        assert f.format == (2, 0)
        info = f.tensor_info("initial_noise")
        assert info.codec != "recipe" and info.stored_size > 1000
        assert f.recipe("initial_noise") is None
        assert same_bits(f.latent("initial_noise"), bad)


def test_wrong_seed_stores_values(tmp_path):
    t = randn((17,), torch.float32, 5)
    out = str(tmp_path / "w.raiiaf")
    with pytest.warns(raiiaf.RecipeWarning, match="noise_seed 6"):
        raiiaf.write(out, latents={"initial_noise": t}, noise_seed=6, codec="raw")
    with raiiaf.open(out) as f:
        assert f.tensor_info("initial_noise").codec == "raw"  # the codec asked for, for values
        assert f.recipe("initial_noise") is None
        assert same_bits(f.latent("initial_noise"), t)


def test_generation_seed_is_tried_for_initial_noise(tmp_path):
    t = randn((1, 4, 32, 32), torch.float16, 1234)
    out = str(tmp_path / "g.raiiaf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raiiaf.write(out, latents={"initial_noise": t, "final": t * 2}, seed=1234, steps=20)
    with raiiaf.open(out) as f:
        assert f.format == (2, 1)
        assert f.tensor_info("initial_noise").codec == "recipe"
        assert f.recipe("initial_noise")["seed"] == 1234
        assert f.tensor_info("final").codec != "recipe"  # only initial_noise is tried
        assert f.metadata["raiiaf_metadata"]["model_info"]["generation_settings"]["seed"] == 1234
        assert same_bits(f.latent("initial_noise"), t)
        assert same_bits(f.latent("final"), t * 2)


def test_generation_seed_miss_is_quiet(tmp_path):
    t = randn((1, 4, 8, 8), torch.float32, 42)
    out = str(tmp_path / "q.raiiaf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # quietly: no RecipeWarning, no exception
        raiiaf.write(out, latents={"initial_noise": t}, seed=43)
    with raiiaf.open(out) as f:
        assert f.format == (2, 0)
        assert f.tensor_info("initial_noise").codec != "recipe"
        assert same_bits(f.latent("initial_noise"), t)


@pytest.mark.parametrize("seed", [-1, 2 ** 64, "42"], ids=["minus1", "2**64", "str"])
def test_bad_generation_seed_is_the_schemas_business(tmp_path, seed):
    """A generation seed no recipe can have is not tried; the error is the
    metadata's, as without a latent."""
    t = randn((4,), torch.float32, 42)
    with pytest.raises((raiiaf.SchemaError, raiiaf.JSONError), match="generation_settings/seed"):
        raiiaf.write(str(tmp_path / "b.raiiaf"), latents={"initial_noise": t}, seed=seed)


def test_generation_seed_only_for_initial_noise_and_lossless(tmp_path):
    t = randn((1, 4, 8, 8), torch.float32, 42)
    out = str(tmp_path / "o.raiiaf")
    raiiaf.write(out, latents={"noise": t}, seed=42)
    with raiiaf.open(out) as f:
        assert f.tensor_info("noise").codec != "recipe"
    raiiaf.write(out, latents={"initial_noise": t}, seed=42, tolerance=1e-3)  # lossy asked: no recipe
    with raiiaf.open(out) as f:
        assert f.tensor_info("initial_noise").codec == "zfp"


def test_noise_seed_false_stores_values(tmp_path):
    t = randn((1, 4, 64, 64), torch.float32, 42)
    out = str(tmp_path / "f.raiiaf")
    raiiaf.write(out, latents={"initial_noise": t}, seed=42, noise_seed=False)
    with raiiaf.open(out) as f:
        assert f.format == (2, 0)
        info = f.tensor_info("initial_noise")
        assert info.codec == "zstd" and info.stored_size > 32 * 1024
        assert f.recipe("initial_noise") is None
        assert same_bits(f.latent("initial_noise"), t)


def test_explicit_noise_seed_with_tolerance_is_refused(tmp_path):
    t = randn((4,), torch.float32, 1)
    with pytest.raises(ValueError, match="tolerance"):
        raiiaf.write(str(tmp_path / "t.raiiaf"), latents={"initial_noise": t}, noise_seed=1, tolerance=0.1)
    with pytest.raises(ValueError, match="tolerance"):
        raiiaf.write(str(tmp_path / "t.raiiaf"), latents={"initial_noise": t, "x": t},
                     noise_seed={"x": 1}, tolerance={"x": 0.5})
    assert not (tmp_path / "t.raiiaf").exists()


def test_dropin_reads_recipe_files(tmp_path):
    from raiiaf import raiiafFileHandler
    t = randn((1, 4, 8, 8), torch.float32, 9)
    out = str(tmp_path / "d.raiiaf")
    raiiaf.write(out, latents={"initial_noise": t}, noise_seed=9)
    got = raiiafFileHandler().file_decoder(out)["chunks"]["latent"]
    np.testing.assert_array_equal(got[0].view(np.int32), t.numpy().view(np.int32))


def test_cli_reads_what_python_wrote_and_the_reverse(tmp_path, cli):
    import subprocess
    t = randn((1, 4, 8, 8), torch.float32, 77)
    out = str(tmp_path / "p.raiiaf")
    raiiaf.write(out, latents={"initial_noise": t}, noise_seed=77)
    info = subprocess.run([cli, "info", out], capture_output=True, text=True, check=True).stdout
    assert "recipe" in info and "seed 77" in info
    npy = str(tmp_path / "n.npy")
    subprocess.run([cli, "noise", "--seed", "77", "--shape", "1,4,8,8", "-o", npy], check=True)
    assert np.array_equal(np.load(npy).view(np.int32), t.numpy().view(np.int32))  # the CLI's = torch's
