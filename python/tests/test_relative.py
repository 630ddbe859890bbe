"""Relative tensors (format 2.1) from Python: write(relative="chain") and
write(relative={name: reference}) store a latent as the XOR of its bits with
an earlier latent when that codes smaller, and read it back bit for bit;
TensorInfo.reference names the reference.  The trajectory is synthetic:
x_t = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * noise (DDPM's linear beta
schedule, every 50th of 1000 steps), x0 a smooth field, the noise fixed."""

import os
import warnings

import numpy as np
import pytest

import raiiaf
from raiiaf import _core

if not raiiaf.HAS_RELATIVE:  # test_native.py checks that this is only so for an old library
    pytestmark = pytest.mark.skip(reason="the loaded libraiiaf has no relative tensors")

SHAPE = (1, 4, 32, 32)
BITS = {np.dtype(np.float32): np.uint32, np.dtype(np.float16): np.uint16}


def trajectory(dtype=np.float32, steps=20, shape=SHAPE):
    """{"step_00": x_999, "step_01": x_949, ..., "step_19": x_49}."""
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    abar = np.cumprod(1.0 - betas)
    h, w = shape[-2:]
    y, x = np.meshgrid(np.linspace(0, 2 * np.pi, h), np.linspace(0, 2 * np.pi, w), indexing="ij")
    x0 = np.stack([np.sin((c + 1) * x + 0.3 * c) * np.cos((c + 2) * y) + 0.25 * np.cos(x + y)
                   for c in range(shape[1])])[None].astype(np.float32)
    noise = np.random.default_rng(1234).standard_normal(shape).astype(np.float32)
    ts = list(range(999, -1, -50))[:steps]
    return {"step_%02d" % k: (np.sqrt(abar[t]) * x0 + np.sqrt(1.0 - abar[t]) * noise).astype(dtype)
            for k, t in enumerate(ts)}


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    bits = BITS.get(a.dtype)
    return bool(np.array_equal(a.view(bits), b.view(bits))) if bits else bool(np.array_equal(a, b))


def quietly(**kw):
    """raiiaf.write(), failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return raiiaf.write(**kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
@pytest.mark.parametrize("codec", ["auto", "zstd", "raw"])
def test_chain_trajectory_round_trip_and_smaller(tmp_path, dtype, codec):
    lat = trajectory(dtype)
    assert len(lat) == 20 and lat["step_00"].shape == SHAPE and lat["step_00"].dtype == dtype
    rel, alone = str(tmp_path / "rel.raiiaf"), str(tmp_path / "alone.raiiaf")
    quietly(path=rel, latents=lat, relative="chain", codec=codec)  # "chain" never warns
    quietly(path=alone, latents=lat, codec=codec)
    names = list(lat)
    for digests in (True, False):
        with raiiaf.open(rel, digests=digests) as f:
            assert f.format == (2, 1)
            assert f.names == names
            infos = [f.tensor_info(n) for n in names]
            assert infos[0].reference is None
            assert [i.reference for i in infos[1:]] == names[:-1]  # step_k -> step_{k-1}
            for i in infos[1:]:
                assert i.codec == "zstd"  # a residual is byte-plane zstd whatever the codec asked
                assert i.raw_size == lat[i.name].nbytes and i.shape == SHAPE
            for n in reversed(names):  # the last first: the whole chain is decoded for it
                back = f.latents[n]
                assert same_bits(back, lat[n]), n
                assert not back.flags.writeable
            if digests:
                assert f.verify() == []
    with raiiaf.open(alone) as f:
        assert f.format == (2, 0)
        assert all(f.tensor_info(n).reference is None for n in names)
    assert os.path.getsize(rel) < os.path.getsize(alone)


def test_relative_tensors_are_never_zero_copy(tmp_path):
    lat = trajectory(steps=4)
    out = str(tmp_path / "z.raiiaf")
    raiiaf.write(out, latents=lat, relative="chain", codec="raw")
    with raiiaf.open(out) as f:
        base, size = f.mapping
        first = f.latents["step_00"]  # stored alone and raw: over the mapping
        assert f.tensor_info("step_00").codec == "raw"
        assert base <= first.ctypes.data < base + size
        for n in list(lat)[1:]:
            assert f.tensor_info(n).reference is not None
            arr = f.latents[n]  # decoded: its own memory
            assert not base <= arr.ctypes.data < base + size
            assert same_bits(arr, lat[n])


def test_reader_checks_reference_before_zero_copy(tmp_path, monkeypatch):
    """A tensor with a reference is decoded, never mapped, whatever its codec
    says (its stored bytes are an XOR, not values)."""
    lat = trajectory(steps=2)
    out = str(tmp_path / "r.raiiaf")
    raiiaf.write(out, latents=lat, relative="chain", codec="raw")
    calls = []
    real = _core.lib

    class Lib:  # the real library, with tensor_data watched and every codec read as raw
        def __getattr__(self, name):
            return getattr(real, name)

        @staticmethod
        def raiiaf_reader_tensor_data(h, idx, ptr):
            calls.append(idx)
            return real.raiiaf_reader_tensor_data(h, idx, ptr)

        @staticmethod
        def raiiaf_reader_tensor_info(h, idx, info):
            rc = real.raiiaf_reader_tensor_info(h, idx, info)
            info._obj.codec = _core.CODEC_RAW
            return rc

    with raiiaf.open(out) as f:
        monkeypatch.setattr(_core, "lib", Lib())
        assert same_bits(f.latents["step_01"], lat["step_01"])
        assert calls == []
        assert same_bits(f.latents["step_00"], lat["step_00"])
        assert calls == [0]


def test_tensor_info_keeps_its_fields_in_order(tmp_path):
    lat = trajectory(steps=2)
    out = str(tmp_path / "i.raiiaf")
    raiiaf.write(out, latents=lat, relative={"step_01": "step_00"})
    assert raiiaf.TensorInfo._fields == ("name", "index", "dtype", "shape", "codec", "stored_size",
                                         "raw_size", "tolerance", "max_error", "reference")
    with raiiaf.open(out) as f:
        name, index, dtype, shape, codec, stored, raw, tol, err, ref = f.tensor_info(1)
        assert (name, index, dtype, shape, codec, raw, ref) == \
            ("step_01", 1, "float32", SHAPE, "zstd", lat["step_01"].nbytes, "step_00")
        assert f.tensor_info("step_01")[:9] == f.tensor_info(1)[:9]


def test_dict_pairs_and_a_shared_reference(tmp_path):
    lat = trajectory(steps=6)
    out = str(tmp_path / "d.raiiaf")
    pairs = {"step_02": "step_01", "step_03": "step_01", "step_05": "step_04"}
    quietly(path=out, latents=lat, relative=pairs)  # all kept: no warning
    with raiiaf.open(out) as f:
        assert {n: f.tensor_info(n).reference for n in lat} == \
            {"step_00": None, "step_01": None, "step_02": "step_01", "step_03": "step_01",
             "step_04": None, "step_05": "step_04"}
        for n in lat:
            assert same_bits(f.latents[n], lat[n])
        assert f.verify() == []


def test_unrelated_tensors_stored_alone_with_a_warning(tmp_path):
    rng = np.random.default_rng(7)
    lat = {"a": rng.standard_normal(SHAPE).astype(np.float32),
           "b": rng.standard_normal(SHAPE).astype(np.float32),
           "c": rng.standard_normal(SHAPE).astype(np.float32)}
    out = str(tmp_path / "u.raiiaf")
    with pytest.warns(raiiaf.RelativeWarning) as rec:
        raiiaf.write(out, latents=lat, relative={"b": "a", "c": "b"})
    msgs = [str(w.message) for w in rec if issubclass(w.category, raiiaf.RelativeWarning)]
    assert len(msgs) == 2
    assert "b not stored relative to a" in msgs[0] and "c not stored relative to b" in msgs[1]
    assert all("stored alone" in m and "bytes, alone" in m for m in msgs)  # the library's reason
    with raiiaf.open(out) as f:
        assert f.format == (2, 0)  # nothing relative: readable by 2.0 readers
        for n in lat:
            assert f.tensor_info(n).reference is None
            assert same_bits(f.latents[n], lat[n])
    quietly(path=out, latents=lat, relative="chain")  # the same, asked for by "chain": quiet
    with raiiaf.open(out) as f:
        assert f.format == (2, 0) and all(f.tensor_info(n).reference is None for n in lat)


def test_zfp_stores_alone(tmp_path):
    lat = trajectory(steps=3)
    out = str(tmp_path / "zfp.raiiaf")
    with pytest.warns(raiiaf.RelativeWarning, match="zfp"):
        raiiaf.write(out, latents=lat, relative={"step_01": "step_00"}, codec="zfp")
    quietly(path=out, latents=lat, relative="chain", codec={"step_01": "zfp"})
    with raiiaf.open(out) as f:
        assert [f.tensor_info(n).reference for n in lat] == [None, None, "step_01"]
        assert f.tensor_info("step_01").codec == "zfp"
        for n in lat:
            assert same_bits(f.latents[n], lat[n])


def test_chain_skips_dtype_shape_and_tolerance_changes_quietly(tmp_path):
    t = trajectory(steps=3)
    lat = {"a0": t["step_00"], "a1": t["step_01"],
           "h": t["step_01"].astype(np.float16),          # another dtype: alone
           "h2": t["step_02"].astype(np.float16),         # relative to h
           "s": t["step_02"][:, :2].copy(),               # another shape: alone
           "lossy": t["step_02"],                         # tolerance: alone, lossy
           "after": t["step_02"]}                         # its predecessor is lossy: alone
    out = str(tmp_path / "m.raiiaf")
    quietly(path=out, latents=lat, relative="chain", tolerance={"lossy": 1e-3})
    with raiiaf.open(out) as f:
        assert {n: f.tensor_info(n).reference for n in lat} == \
            {"a0": None, "a1": "a0", "h": None, "h2": "h", "s": None, "lossy": None, "after": None}
        for n in lat:
            if n != "lossy":
                assert same_bits(f.latents[n], lat[n]), n
        assert np.max(np.abs(f.latents["lossy"] - lat["lossy"])) <= 1e-3


@pytest.mark.parametrize("relative, tolerance, latents, error, match", [
    ({"nope": "a"}, 0.0, None, ValueError, "'nope'.*not in latents"),
    ({"b": "nope"}, 0.0, None, ValueError, "earlier latent"),
    ({"a": "b"}, 0.0, None, ValueError, "earlier latent"),          # a later one
    ({"b": "b"}, 0.0, None, ValueError, "earlier latent"),          # itself
    ({"b": "a"}, {"b": 0.01}, None, ValueError, "tolerance"),
    ({"b": "a"}, {"a": 0.01}, None, ValueError, "tolerance"),       # its reference is lossy
    ({"b": "a"}, 0.01, None, ValueError, "tolerance"),
    ({"b": "a"}, 0.0, {"a": np.zeros(SHAPE, np.float16)}, ValueError, "float16"),
    ({"b": "a"}, 0.0, {"a": np.zeros((1, 4, 8, 8), np.float32)}, ValueError, "shape"),
    ("chains", 0.0, None, ValueError, "chain"),
    (["b", "a"], 0.0, None, TypeError, "dict"),
    ({"b": 0}, 0.0, None, TypeError, "name"),
], ids=["unknown-name", "unknown-reference", "later-reference", "itself", "tolerance-name",
        "tolerance-reference", "tolerance-all", "dtype", "shape", "bad-string", "list", "int-reference"])
def test_bad_relative_arguments_raise(tmp_path, relative, tolerance, latents, error, match):
    lat = dict(trajectory(steps=3))
    lat = {"a": lat["step_00"], "b": lat["step_01"], "c": lat["step_02"]}
    lat.update(latents or {})
    out = tmp_path / "bad.raiiaf"
    with pytest.raises(error, match=match):
        raiiaf.write(str(out), latents=lat, relative=relative, tolerance=tolerance)
    assert not out.exists()  # nothing written, not even in part


def test_format1_has_no_relative_tensors(tmp_path):
    if not raiiaf.HAS_FORMAT1_WRITE:
        pytest.skip("the loaded libraiiaf cannot write format 1")
    lat = trajectory(steps=3)
    out = str(tmp_path / "f1.raiiaf")
    record = dict(model="m", model_version="1", prompt="p", tags=["t"], seed=1, steps=2, sampler="ddim",
                  format=1)
    with pytest.warns(raiiaf.RelativeWarning, match="format 1"):
        raiiaf.write(out, latents=lat, relative={"step_02": "step_01"}, **record)
    quietly(path=out, latents=lat, relative="chain", **record)  # "chain": alone, quietly
    with raiiaf.open(out) as f:
        assert f.format == (1, 0)
        for n in lat:
            assert f.tensor_info(n).reference is None
            assert same_bits(f.latents[n], lat[n])


def test_noise_seed_takes_the_recipe_path(tmp_path, cli):
    """A latent with a noise seed is a 32-byte recipe, not relative; it can
    still be the reference of the next step."""
    import subprocess
    if not raiiaf.HAS_RECIPE:
        pytest.skip("the loaded libraiiaf has no seed recipes")
    npy = str(tmp_path / "noise.npy")
    subprocess.run([cli, "noise", "--seed", "42", "--shape", ",".join(map(str, SHAPE)), "-o", npy],
                   check=True, capture_output=True)
    noise = np.load(npy)
    t = trajectory(steps=2)
    lat = {"x0": t["step_00"], "initial_noise": noise, "step": (0.999 * noise + 0.01 * t["step_00"])}
    out = str(tmp_path / "n.raiiaf")
    quietly(path=out, latents=lat, noise_seed=42, relative={"initial_noise": "x0", "step": "initial_noise"})
    with raiiaf.open(out) as f:
        assert f.format == (2, 1)
        noise_info, step_info = f.tensor_info("initial_noise"), f.tensor_info("step")
        assert (noise_info.codec, noise_info.reference) == ("recipe", None)
        assert step_info.reference == "initial_noise"
        for n in lat:
            assert same_bits(f.latents[n], lat[n]), n
        assert f.verify() == []


def test_torch_trajectory(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (python3-torch)")
    lat = {n: torch.from_numpy(a) for n, a in trajectory(steps=5).items()}
    lat.update({"bf_%d" % k: torch.from_numpy(a).to(torch.bfloat16)
                for k, a in enumerate(trajectory(steps=3).values())})
    out = str(tmp_path / "t.raiiaf")
    quietly(path=out, latents=lat, relative="chain")
    with raiiaf.open(out) as f:
        assert [f.tensor_info(n).reference for n in lat] == \
            [None, "step_00", "step_01", "step_02", "step_03", None, "bf_0", "bf_1"]
        for n, v in lat.items():
            back = f.latent(n)
            assert back.dtype == v.dtype
            bits = torch.int16 if v.dtype == torch.bfloat16 else torch.int32
            assert torch.equal(back.view(bits), v.view(bits)), n
