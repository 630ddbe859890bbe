"""The native API: raiiaf.write / raiiaf.open, every dtype and codec, lazy
zero-copy latents, errors with the library's messages, env and drift."""

import gc
import json
import os

import numpy as np
import pytest

import raiiaf

DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
          "int64", "uint64", "bool"]


def sample(dtype, shape=(2, 3, 5), seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.startswith("float"):
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def test_write_and_read_the_issue_example(tmp_path, png_path):
    noise = np.random.default_rng(1).standard_normal((1, 4, 16, 16)).astype(np.float32)
    out = str(tmp_path / "cat.raiiaf")
    raiiaf.write(out, image=png_path, latents={"initial_noise": noise, "final": noise * 0.5},
                 model="SDXL", model_version="1.0", prompt="a cat", negative_prompt="blurry",
                 tags=["cat", "sofa"], seed=42, steps=30, sampler="euler_a", cfg_scale=7.0,
                 scheduler="karras", extensions={"org.example.tool": {"k": [1, 2]}}, codec="auto")
    with raiiaf.open(out) as f:
        assert f.format == (2, 0)
        md = f.metadata["raiiaf_metadata"]
        mi = md["model_info"]
        assert (mi["model_name"], mi["version"], mi["prompt"], mi["negative_prompt"]) == \
            ("SDXL", "1.0", "a cat", "blurry")
        assert mi["tags"] == ["cat", "sofa"]
        assert mi["generation_settings"] == {"seed": 42, "steps": 30, "sampler": "euler_a",
                                             "cfg_scale": 7, "scheduler": "karras"}
        assert md["extensions"] == {"org.example.tool": {"k": [1, 2]}}
        with open(png_path, "rb") as fh:
            assert f.image_bytes == fh.read()
        assert f.image_format == "png" and f.image_size == (16, 12)
        assert list(f.latents) == ["initial_noise", "final"] and len(f.latents) == 2
        np.testing.assert_array_equal(f.latents["initial_noise"], noise)
        np.testing.assert_array_equal(f.latents["final"], noise * 0.5)
        assert f.verify() == []


@pytest.mark.parametrize("codec", ["raw", "zstd", "auto"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_codec_round_trip(tmp_path, dtype, codec):
    arr = sample(dtype)
    out = str(tmp_path / "t.raiiaf")
    raiiaf.write(out, latents={"x": arr, "scalar": np.array(3, dtype=dtype),
                               "empty": np.zeros((0, 4), dtype)}, codec=codec)
    with raiiaf.open(out) as f:
        for name, want in (("x", arr), ("scalar", np.array(3, dtype=dtype)), ("empty", np.zeros((0, 4), dtype))):
            got = f.latents[name]
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
            assert f.tensor_info(name).dtype == dtype


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zfp_lossless_and_lossy(tmp_path, dtype):
    arr = sample(dtype, (1, 4, 16, 16))
    out = str(tmp_path / "z.raiiaf")
    raiiaf.write(out, latents={"lossless": arr, "lossy": arr}, codec="zfp", tolerance={"lossy": 1e-3})
    with raiiaf.open(out) as f:
        np.testing.assert_array_equal(f.latents["lossless"], arr)
        info = f.tensor_info("lossy")
        assert info.codec == "zfp" and info.tolerance == 1e-3 and 0 <= info.max_error <= 1e-3
        assert np.abs(f.latents["lossy"] - arr).max() <= 1e-3


def test_non_contiguous_and_big_endian_inputs(tmp_path):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    be = np.arange(5, dtype=">i4")
    out = str(tmp_path / "nc.raiiaf")
    raiiaf.write(out, latents={"t": base.T, "s": base[:, ::2], "be": be})
    with raiiaf.open(out) as f:
        np.testing.assert_array_equal(f.latents["t"], base.T)
        np.testing.assert_array_equal(f.latents["s"], base[:, ::2])
        np.testing.assert_array_equal(f.latents["be"], be)


def test_unsupported_dtype_is_refused(tmp_path):
    with pytest.raises(TypeError, match="complex64"):
        raiiaf.write(str(tmp_path / "c.raiiaf"), latents={"c": np.zeros(3, np.complex64)})
    assert not os.path.exists(tmp_path / "c.raiiaf")


def test_bfloat16_without_torch_is_uint16_bits(tmp_path):
    """numpy has no bfloat16: a bf16 tensor reads as its uint16 bit patterns
    (an ml_dtypes.bfloat16 array when ml_dtypes is installed).  Written here
    through the C API's dtype, since neither torch nor ml_dtypes is needed."""
    import ctypes
    from raiiaf import _core
    f32 = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)
    bits = (f32.view(np.uint32) >> 16).astype(np.uint16)
    out = str(tmp_path / "bf.raiiaf")
    w = _core._Writer(out)
    try:
        shape = (ctypes.c_uint64 * 1)(4)
        w.check(_core.lib.raiiaf_writer_add_tensor(w.h, b"bf", _core.BF16, 1, shape,
                                                   bits.ctypes.data, bits.nbytes, 0, 0.0))
        w.check(_core.lib.raiiaf_writer_finish(w.h))
    finally:
        w.free()
    with raiiaf.open(out) as f:
        assert f.tensor_info("bf").dtype == "bfloat16"
        got = f.latents["bf"]
        if got.dtype.name == "bfloat16":  # ml_dtypes present
            np.testing.assert_array_equal(got.view(np.uint16), bits)
        else:
            assert got.dtype == np.uint16
            np.testing.assert_array_equal(got, bits)
            # the bits are bfloat16: widening to float32 is exact
            np.testing.assert_array_equal((got.astype(np.uint32) << 16).view(np.float32), f32)
    # An ml_dtypes-like array (dtype named bfloat16) is written as bfloat16 bits.
    arr, code = _core.as_tensor_bytes(bits)
    assert code == _core.U16  # plain uint16 stays uint16


def _maps_entry(address):
    """The /proc/self/maps line whose range holds `address`."""
    with open("/proc/self/maps") as fh:
        for line in fh:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= address < hi:
                return lo, hi, line.split(None, 5)[5].strip() if len(line.split(None, 5)) > 5 else ""
    return None


def test_zero_copy_arrays_point_into_the_mapped_file(tmp_path, png):
    arr = sample("float32", (1, 4, 64, 64))
    out = str(tmp_path / "zc.raiiaf")
    raiiaf.write(out, image=png, latents={"raw": arr, "packed": arr}, codec={"raw": "raw", "packed": "zstd"})
    f = raiiaf.open(out)
    base, size = f.mapping
    assert size == os.path.getsize(out)
    view = f.latents["raw"]
    addr = view.__array_interface__["data"][0]
    assert base <= addr and addr + view.nbytes <= base + size  # inside the mapping
    chunk = f.chunks[f.metadata["raiiaf_metadata"]["tensors"][0]["chunk"]]
    assert addr == base + chunk.offset + 64  # exactly the payload's bytes in the file
    assert addr % 64 == 0
    entry = _maps_entry(addr)  # the kernel agrees: a mapping of this very file
    assert entry is not None and os.path.realpath(entry[2]) == os.path.realpath(out)
    img = f.image_buffer
    assert _maps_entry(img.__array_interface__["data"][0])[2] == entry[2]
    assert img.tobytes() == png
    # Decoded tensors are copies, outside the mapping.
    packed = f.latents["packed"]
    assert not (base <= packed.__array_interface__["data"][0] < base + size)
    np.testing.assert_array_equal(packed, arr)
    # Read-only, for good.
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view[0, 0, 0, 0] = 1
    with pytest.raises(ValueError):
        view.flags.writeable = True
    # The array keeps the reader alive after close() and after the File is gone.
    f.close()
    del f
    gc.collect()
    assert _maps_entry(addr) is not None
    np.testing.assert_array_equal(view, arr)
    del view, img, packed
    gc.collect()
    assert _maps_entry(addr) is None or os.path.realpath(_maps_entry(addr)[2]) != os.path.realpath(out)


def test_latents_are_lazy_and_cached(tmp_path):
    out = str(tmp_path / "lazy.raiiaf")
    raiiaf.write(out, latents={"a": sample("float32"), "b": sample("int8")})
    with raiiaf.open(out) as f:
        assert f.latents._cache == {}
        a = f.latents["a"]
        assert list(f.latents._cache) == ["a"] and f.latents["a"] is a
        with pytest.raises(KeyError):
            f.latents["nope"]
    with pytest.raises(ValueError, match="closed"):
        f.latents["b"]


def test_open_from_memory(tmp_path, png):
    out = str(tmp_path / "m.raiiaf")
    raiiaf.write(out, image=png, latents={"x": sample("float32")}, codec="raw")
    with open(out, "rb") as fh:
        data = fh.read()
    with raiiaf.open(data) as f:
        assert f.path is None and f.image_bytes == png
        base, size = f.mapping
        addr = f.latents["x"].__array_interface__["data"][0]
        assert base <= addr < base + size  # zero-copy into the caller's buffer


def test_errors_carry_the_library_message(tmp_path, png):
    out = str(tmp_path / "e.raiiaf")
    with pytest.raises(raiiaf.SchemaError) as ei:
        raiiaf.write(out, latents={"x": sample("float32")}, steps=0)
    e = ei.value
    assert e.status == 12 and e.status_name == "SCHEMA" and e.path == out
    assert "/raiiaf_metadata/model_info/generation_settings/steps" in e.message
    with pytest.raises(raiiaf.ImageError):
        raiiaf.write(out, image=b"GIF89a....")
    with pytest.raises(raiiaf.ArgumentError):  # a name used twice is refused by the library
        raiiaf.write(out, latents={"x": sample("int8")}, chunks={"TENS": b"x"})
    with pytest.raises(raiiaf.NotRaiiafError):
        raiiaf.open(png)
    with pytest.raises(raiiaf.IOError):
        raiiaf.open(str(tmp_path / "missing.raiiaf"))


def test_verify_reports_every_problem(tmp_path, png):
    out = str(tmp_path / "v.raiiaf")
    raiiaf.write(out, image=png, latents={"x": sample("float32")}, codec="raw")
    from conftest import flip
    with raiiaf.open(out) as f:
        t = [c for c in f.chunks if c.type == "TENS"][0]
    flip(out, t.offset + 64 + 3)
    with raiiaf.open(out) as f:
        with pytest.raises(raiiaf.CorruptError) as ei:
            f.verify()
    assert "TENS" in ei.value.message and isinstance(ei.value, raiiaf.raiiafLatentError)


def test_unknown_chunks_are_kept(tmp_path):
    out = str(tmp_path / "u.raiiaf")
    raiiaf.write(out, latents={"x": sample("int8")}, chunks={"XTRA": b"hello"})
    with raiiaf.open(out) as f:
        assert [c.type for c in f.chunks if c.type not in ("ENVR",)] == ["TENS", "XTRA"]


def test_environment_record_and_drift(tmp_path):
    if not raiiaf.HAS_ENV:
        pytest.skip("TODO(env): the loaded libraiiaf has no environment API")
    out = str(tmp_path / "env.raiiaf")
    raiiaf.write(out, latents={"x": sample("int8")}, env_components={"model": "name=model;sha256=abc"})
    with raiiaf.open(out) as f:
        env = f.env
        assert env["python"] == raiiaf.python_components()["python"]
        assert env["numpy"].startswith("name=numpy;version=" + np.__version__)
        assert env["model"] == "name=model;sha256=abc"
        assert "os" in env and "libraiiaf" in env
        assert "torch" not in env or "torch" in __import__("sys").modules
        drift = f.drift
        # Same process: only the caller's own component differs (it is unchecked).
        assert [(d.id, d.kind) for d in drift] == [("model", "unchecked")]
    raiiaf.write(out, latents={"x": sample("int8")}, env=False)
    with raiiaf.open(out) as f:
        assert f.env == {} and f.drift == [] and f.env_json is None


def test_write_is_atomic(tmp_path):
    out = str(tmp_path / "a.raiiaf")
    raiiaf.write(out, latents={"x": sample("int8")}, prompt="first")
    with pytest.raises(raiiaf.SchemaError):
        raiiaf.write(out, latents={"x": sample("int8")}, prompt="second", steps=-1)
    with raiiaf.open(out) as f:
        assert f.metadata["raiiaf_metadata"]["model_info"]["prompt"] == "first"
    assert sorted(os.listdir(tmp_path)) == ["a.raiiaf"]


def test_pil_image_in_and_out(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="Pillow (python3-pil) is not installed")
    im = Image.new("RGB", (7, 5), (10, 20, 30))
    out = str(tmp_path / "p.raiiaf")
    raiiaf.write(out, image=im)
    with raiiaf.open(out) as f:
        back = f.image()
        assert back.size == (7, 5) and back.getpixel((0, 0)) == (10, 20, 30)


def test_metadata_json_matches_manifest(tmp_path):
    out = str(tmp_path / "j.raiiaf")
    raiiaf.write(out, latents={"x": sample("int8")}, prompt="ünïcödé ✓")
    with raiiaf.open(out) as f:
        assert json.loads(f.manifest_json) == f.metadata
        assert f.metadata["raiiaf_metadata"]["model_info"]["prompt"] == "ünïcödé ✓"


# ---- seed recipes, without torch (test_recipe.py checks them against torch) ----------


def test_recipe_of_value_tensors_is_none(tmp_path):
    out = str(tmp_path / "v.raiiaf")
    raiiaf.write(out, latents={"initial_noise": sample("float32"), "i": sample("int32")}, seed=42)
    with raiiaf.open(out) as f:
        assert f.format == (2, 0)  # numpy's noise is not torch's: values, quietly
        assert f.recipe("initial_noise") is None and f.recipe(1) is None
        assert f.tensor_info("initial_noise").codec != "recipe"
        with pytest.raises(KeyError):
            f.recipe("nope")


@pytest.mark.parametrize("noise_seed, latents, error, match", [
    (7, {"noise": (4,)}, ValueError, "initial_noise"),
    ({"x": 7}, {"initial_noise": (4,)}, ValueError, "'x'"),
    (-1, {"initial_noise": (4,)}, ValueError, "0..2"),
    (2 ** 64, {"initial_noise": (4,)}, ValueError, "0..2"),
    (True, {"initial_noise": (4,)}, TypeError, "True"),
    ("7", {"initial_noise": (4,)}, TypeError, "int"),
    (7.0, {"initial_noise": (4,)}, TypeError, "int"),
], ids=["no-initial_noise", "unknown-name", "negative", "2**64", "True", "str", "float"])
def test_noise_seed_arguments_are_checked(tmp_path, noise_seed, latents, error, match):
    out = tmp_path / "a.raiiaf"
    with pytest.raises(error, match=match):
        raiiaf.write(str(out), latents={k: np.zeros(v, np.float32) for k, v in latents.items()},
                     noise_seed=noise_seed)
    assert not out.exists()


def test_noise_seed_needs_tolerance_zero(tmp_path):
    with pytest.raises(ValueError, match="tolerance"):
        raiiaf.write(str(tmp_path / "t.raiiaf"), latents={"initial_noise": np.zeros(4, np.float32)},
                     noise_seed=1, tolerance=0.01)


def test_noise_seed_miss_warns_and_stores_values(tmp_path):
    arr = sample("int16")
    out = str(tmp_path / "m.raiiaf")
    with pytest.warns(raiiaf.RecipeWarning, match="int16"):  # no generator makes int16
        raiiaf.write(out, latents={"initial_noise": arr}, noise_seed=3, codec="zstd")
    with raiiaf.open(out) as f:
        assert f.format == (2, 0) and f.tensor_info(0).codec == "zstd"
        np.testing.assert_array_equal(f.latents["initial_noise"], arr)


def cli_noise(cli, tmp_path, seed, shape, dtype="float32"):
    import subprocess
    npy = str(tmp_path / ("noise%d.npy" % seed))
    subprocess.run([cli, "noise", "--seed", str(seed), "--shape", ",".join(map(str, shape)),
                    "--dtype", dtype, "-o", npy], check=True, capture_output=True)
    return np.load(npy)


def test_cli_noise_stored_as_recipe(tmp_path, cli):
    """`raiiaf noise` is torch.randn bit for bit (test_recipe.py checks
    that against torch), so its output is stored as a recipe."""
    noise = cli_noise(cli, tmp_path, 42, (1, 4, 16, 16))
    out = str(tmp_path / "r.raiiaf")
    raiiaf.write(out, latents={"initial_noise": noise}, noise_seed=42, codec="raw")
    with raiiaf.open(out) as f:
        assert f.format == (2, 1)
        info = f.tensor_info("initial_noise")
        assert (info.codec, info.stored_size, info.raw_size) == ("recipe", 32, noise.nbytes)
        rec = f.recipe("initial_noise")
        assert rec["seed"] == 42 and rec["generator"] == "torch.randn/cpu"
        np.testing.assert_array_equal(f.latents["initial_noise"].view(np.uint32), noise.view(np.uint32))
        assert f.verify() == []
    raiiaf.write(out, latents={"initial_noise": noise}, seed=42, noise_seed=False)
    with raiiaf.open(out) as f:
        assert f.format == (2, 0) and f.tensor_info(0).codec != "recipe"


def test_format1_has_no_recipes(tmp_path, cli):
    if not raiiaf.HAS_FORMAT1_WRITE:
        pytest.skip("the loaded libraiiaf cannot write format 1")
    noise = cli_noise(cli, tmp_path, 9, (1, 4, 8, 8))
    out = str(tmp_path / "f1.raiiaf")
    record = dict(model="m", model_version="1", prompt="p", tags=["t"], steps=2, sampler="ddim", format=1)
    with pytest.warns(raiiaf.RecipeWarning, match="format 1"):
        raiiaf.write(out, latents={"initial_noise": noise}, noise_seed=9, seed=9, **record)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the generation seed is not even tried
        raiiaf.write(out, latents={"initial_noise": noise}, seed=9, **record)
    with raiiaf.open(out) as f:
        assert f.format == (1, 0) and f.recipe(0) is None
        np.testing.assert_array_equal(f.latents["initial_noise"], noise)


def _png_with_filter_byte(filter_byte, width=16, height=12):
    """A PNG whose chunks, CRCs and zlib stream are all valid, with row 5's
    filter type byte set to `filter_byte` (PNG defines 0-4)."""
    import struct
    import zlib
    rng = np.random.default_rng(7)
    pix = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    raw = b"".join(bytes([filter_byte if y == 5 else 0]) + pix[y].tobytes() for y in range(height))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("cpus", [1, 2])
def test_pixel_fault_is_an_image_error_on_either_thread(tmp_path, cpus, monkeypatch):
    # With two CPUs the writer checks pixel data on a second thread and the
    # fault surfaces at finish; with one, at add_image. Either way: ImageError
    # from the same call, and no file.
    from raiiaf import _core
    from raiiaf.main import raiiafFileHandler, raiiafImageError
    monkeypatch.setattr(_core, "_cpus", lambda: cpus)
    good, bad = _png_with_filter_byte(4), _png_with_filter_byte(5)
    import struct
    import zlib
    # the oracle: Python's zlib inflates both, and only `bad` has a row filter type above 4
    for png_bytes, ok in ((good, True), (bad, False)):
        n = struct.unpack(">I", png_bytes[33:37])[0]
        raw = zlib.decompress(png_bytes[41:41 + n])
        assert all(raw[y * 65] <= 4 for y in range(12)) == ok
    out = tmp_path / "f.raiiaf"
    raiiaf.write(str(out), image=good, latents={"x": np.zeros((1, 4, 8, 8), np.float32)})
    assert out.exists()
    out.unlink()
    with pytest.raises(raiiaf.ImageError) as ei:
        raiiaf.write(str(out), image=bad, latents={"x": np.zeros((1, 4, 8, 8), np.float32)})
    assert "filter" in ei.value.message
    assert not out.exists()
    with pytest.raises(raiiafImageError):
        raiiafFileHandler().file_encoder(str(tmp_path / "d.raiiaf"), {"x": np.zeros((1, 4, 8, 8), np.float32)}, [],
                                         "m", "1", "p", [], bad, convert_float16=False)
    assert not (tmp_path / "d.raiiaf").exists()
