"""What the CLI can do, from Python through the same library calls: import a
generator's image, export, convert, edit and history, sign and verify with
a key, compact, recover, torch-exact noise, .npy and .safetensors."""

import json
import os

import numpy as np
import pytest

import raiiaf
from conftest import DATA

SD_WEBUI = os.path.join(DATA, "sd-webui.png")


def imported(tmp_path, name="a.raiiaf", **kw):
    out = str(tmp_path / name)
    raiiaf.import_image(SD_WEBUI).save(out, **kw)
    return out


# ---- import -----------------------------------------------------------------------


def test_import_a1111_from_path_and_bytes():
    f = raiiaf.import_image(SD_WEBUI)
    gs = f.model_info["generation_settings"]
    assert gs["seed"] == 3782896554
    assert gs["sampler"] == "DPM++ 2M"
    assert f.tool == "AUTOMATIC1111" and f.format == "png"
    assert f.records >= 1 and f.fields >= 8
    with open(SD_WEBUI, "rb") as fh:
        g = raiiaf.import_image(fh.read(), tags=["mine"])
    assert g.model_info["generation_settings"] == gs
    assert g.model_info["tags"][-1] == "mine"
    # every text record kept verbatim
    chunks = f.metadata["raiiaf_metadata"]["extensions"]["org.raiiaf.import"]["chunks"]
    assert any(c.get("keyword") == "parameters" for c in chunks)


def test_import_errors():
    with pytest.raises(raiiaf.ImageError, match="not a PNG, JPEG or WebP"):
        raiiaf.import_image(b"GIF89a not an image")
    with pytest.raises(raiiaf.IOError, match="nonexistent"):
        raiiaf.import_image("/nonexistent/x.png")
    f = raiiaf.import_image(os.path.join(DATA, "empty.png"))
    assert f.tool is None
    assert any("no generator metadata recognised" in n for n in f.notes)


def test_import_save_with_latents(tmp_path):
    lat = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    out = imported(tmp_path, latents={"final": lat})
    with raiiaf.open(out) as f:
        f.verify()
        assert f.metadata["raiiaf_metadata"]["model_info"]["generation_settings"]["seed"] == 3782896554
        np.testing.assert_array_equal(f.latents["final"], lat)
        with open(SD_WEBUI, "rb") as fh:
            assert f.image_bytes == fh.read()  # byte for byte


# ---- export -----------------------------------------------------------------------


def test_export_round_trip(tmp_path):
    src = imported(tmp_path)
    png = str(tmp_path / "out.png")
    with raiiaf.open(src) as f:
        assert "Seed: 3782896554" in f.parameters
        assert f.export(png) == png
        data = f.export_bytes()
        mi = f.metadata["raiiaf_metadata"]["model_info"]
    with open(png, "rb") as fh:
        assert fh.read() == data
    back = raiiaf.import_image(png)
    assert back.tool == "raiiaf"
    assert back.model_info == mi


def test_export_refuses_another_format(tmp_path):
    src = imported(tmp_path)
    with raiiaf.open(src) as f:
        with pytest.raises(raiiaf.ArgumentError, match="the stored image is png"):
            f.export(str(tmp_path / "out.jpg"))
        with pytest.raises(raiiaf.ArgumentError, match="extension"):
            f.export(str(tmp_path / "out.gif"))
    assert not os.path.exists(tmp_path / "out.jpg")


# ---- convert ----------------------------------------------------------------------


def test_convert_format1_and_back(tmp_path):
    f1 = os.path.join(DATA, "format1", "two_latents.raiiaf")
    two, one = str(tmp_path / "two.raiiaf"), str(tmp_path / "one.raiiaf")
    r = raiiaf.convert(f1, two)
    assert r.format == 2 and r.tensors == 2 and r.has_image
    back = raiiaf.convert(two, one, format=1)
    with raiiaf.open(f1) as a, raiiaf.open(two) as b, raiiaf.open(one) as c:
        b.verify()
        assert b.format[0] == 2 and c.format == (1, 0)
        ext = b.metadata["raiiaf_metadata"]["extensions"]["org.raiiaf.format1"]
        assert json.loads(ext["manifest"]) == a.metadata
        for n in a.names:
            np.testing.assert_array_equal(a.latents[n], b.latents[n])
            np.testing.assert_array_equal(a.latents[n], c.latents[n])
        assert a.image_bytes == c.image_bytes
    assert back.tensors == 2


def test_convert_errors(tmp_path):
    with pytest.raises(raiiaf.IOError, match="missing.raiiaf"):
        raiiaf.convert(str(tmp_path / "missing.raiiaf"), str(tmp_path / "o.raiiaf"))
    with pytest.raises(raiiaf.ArgumentError):
        raiiaf.convert(imported(tmp_path), str(tmp_path / "o.raiiaf"), format=3)
    with pytest.raises(raiiaf.ArgumentError, match="codec"):
        raiiaf.convert(imported(tmp_path), str(tmp_path / "o.raiiaf"), codec="gzip")


# ---- edit, history, versions ------------------------------------------------------


def test_edit_history_and_versions(tmp_path):
    p = imported(tmp_path)
    v = raiiaf.edit(p, set={"/raiiaf_metadata/model_info/prompt": "a cat"}, add_tags=["cat"])
    assert v == 2
    with raiiaf.Edit(p) as e:
        e.remove_tag("cat")
        e.set("/raiiaf_metadata/model_info/generation_settings/steps", 40)
    assert e.committed == 3
    with raiiaf.open(p) as f:
        f.verify()
        assert f.version == f.latest_version == 3
        mi = f.metadata["raiiaf_metadata"]["model_info"]
        assert mi["prompt"] == "a cat" and mi["generation_settings"]["steps"] == 40
        assert "cat" not in mi.get("tags", [])
        hist = f.history()
        assert [h.version for h in hist] == [1, 2, 3]
        assert hist[0].manifest["raiiaf_metadata"]["model_info"]["prompt"] != "a cat"
    with raiiaf.open(p, version=1) as old:
        assert old.version == 1 and old.latest_version == 3
    # nothing is written when the block raises, or when the library refuses
    with pytest.raises(RuntimeError):
        with raiiaf.Edit(p) as e:
            e.add_tag("never")
            raise RuntimeError("stop")
    with pytest.raises(raiiaf.ArgumentError, match="written by the library"):
        raiiaf.edit(p, set={"/raiiaf_metadata/file_info/writer": "x"})
    with pytest.raises(raiiaf.SchemaError, match="steps"):
        raiiaf.edit(p, set={"/raiiaf_metadata/model_info/generation_settings/steps": 0})
    with raiiaf.open(p) as f:
        assert f.latest_version == 3
    assert raiiaf.compact(p) == p
    with raiiaf.open(p) as f:
        assert f.latest_version == 1 and f.metadata["raiiaf_metadata"]["model_info"]["prompt"] == "a cat"


# ---- signatures -------------------------------------------------------------------


def test_sign_and_verify_with_key(tmp_path):
    p = imported(tmp_path)
    key, pub = raiiaf.keygen(str(tmp_path / "me.key"))
    other, other_pub = raiiaf.keygen(str(tmp_path / "other.key"))
    kid = raiiaf.sign(p, key)
    assert len(kid) == 16
    with raiiaf.open(p) as f:
        f.verify(pubkey=pub)
        sig = f.signature()
        assert sig.state == "valid" and sig.key_id == kid
        with pytest.raises(raiiaf.Error, match="signature"):
            f.verify(pubkey=other_pub)
    raiiaf.edit(p, add_tags=["later"])
    with raiiaf.open(p) as f:
        assert f.signature(pub).state == "edited"
        with pytest.raises(raiiaf.Error, match="edited since"):
            f.verify(pubkey=pub)
    with pytest.raises(raiiaf.Error):
        raiiaf.sign(p, str(tmp_path / "missing.key"))


# ---- recover ----------------------------------------------------------------------


def test_recover(tmp_path):
    p = imported(tmp_path, latents={"final": np.ones((1, 4, 8, 8), np.float32)})
    data = bytearray(open(p, "rb").read())
    data = data[:-40]  # the footer is gone
    bad = tmp_path / "bad.raiiaf"
    bad.write_bytes(bytes(data))
    out = str(tmp_path / "saved.raiiaf")
    report = raiiaf.recover(str(bad), out)
    assert report and all(isinstance(m, str) for _, m in report)
    with raiiaf.open(out) as f:
        f.verify()
        np.testing.assert_array_equal(f.latents["final"], np.ones((1, 4, 8, 8), np.float32))
    with pytest.raises(raiiaf.Error):
        raiiaf.recover(str(tmp_path / "nothing.raiiaf"), str(tmp_path / "o.raiiaf"))


# ---- noise ------------------------------------------------------------------------


def test_noise_known_values():
    # torch.randn(4, generator=torch.Generator().manual_seed(42))
    np.testing.assert_allclose(raiiaf.noise(42, (4,)), [0.3367, 0.1288, 0.2345, 0.2303], atol=1e-4)
    a = raiiaf.noise(7, (1, 4, 8, 8))
    assert a.dtype == np.float32 and a.shape == (1, 4, 8, 8)
    np.testing.assert_array_equal(a, raiiaf.noise(7, [1, 4, 8, 8]))
    assert raiiaf.noise(7, (16,), "float16").dtype == np.float16
    with pytest.raises(raiiaf.ArgumentError):
        raiiaf.noise(1, (4,), "int32")


def test_noise_matches_torch():
    torch = pytest.importorskip("torch")
    for dtype, tdt in (("float32", torch.float32), ("float16", torch.float16)):
        want = torch.randn((2, 4, 9, 9), dtype=tdt, generator=torch.Generator().manual_seed(123)).numpy()
        got = raiiaf.noise(123, (2, 4, 9, 9), dtype)
        assert got.tobytes() == want.tobytes()


# ---- tensors ----------------------------------------------------------------------


def test_npy_and_safetensors(tmp_path):
    a = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    p = str(tmp_path / "a.npy")
    raiiaf.save_npy(p, a)
    np.testing.assert_array_equal(np.load(p), a)  # numpy reads what the library writes
    np.save(str(tmp_path / "b.npy"), a)
    np.testing.assert_array_equal(raiiaf.load_npy(str(tmp_path / "b.npy")), a)
    with open(p, "rb") as fh:
        np.testing.assert_array_equal(raiiaf.load_npy(fh.read()), a)
    st = str(tmp_path / "a.safetensors")
    raiiaf.save_safetensors(st, "latent", a, metadata={"who": "me"})
    assert raiiaf.safetensors_names(st) == ["latent"]
    np.testing.assert_array_equal(raiiaf.load_safetensors(st)["latent"], a)
    np.testing.assert_array_equal(raiiaf.load_safetensors(st, "latent"), a)
    np.testing.assert_array_equal(raiiaf.read_tensor_file(st + ":latent"), a)
    with pytest.raises(raiiaf.NotFoundError, match="the file holds: latent"):
        raiiaf.load_safetensors(st, "other")
    with pytest.raises(raiiaf.CorruptError):
        raiiaf.load_npy(b"\x93NUMPY\x01\x00garbage")


def test_file_tensor_to_safetensors_carries_record(tmp_path):
    lat = np.arange(8, dtype=np.float32).reshape(2, 4)
    p = imported(tmp_path, latents={"final": lat})
    st = str(tmp_path / "final.safetensors")
    with raiiaf.open(p) as f:
        f.save_tensor("final", st)
    data = open(st, "rb").read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    assert header["__metadata__"]["raiiaf.seed"] == "3782896554"
    np.testing.assert_array_equal(raiiaf.load_safetensors(st, "final"), lat)


def test_unknown_chunk_read_back(tmp_path):
    """write(extra_image=) keeps a chunk of its own type; it reads back exactly."""
    from conftest import make_png
    extra = make_png(4, 4, seed=3)
    out = str(tmp_path / "x.raiiaf")
    raiiaf.raiiafFileHandler().file_encoder(out, {"initial_noise": np.zeros((1, 4, 8, 8), np.float32)}, [],
                                            "m", "1", "p", ["t"], make_png(), extra_image=extra)
    with raiiaf.open(out) as f:
        idx = [c.type for c in f.chunks].index("XIMG")
        assert f.chunk_bytes(idx) == extra
        coded = [c.index for c in f.chunks if c.codec != "raw"]
        assert coded  # zeros code smaller than raw
        with pytest.raises(raiiaf.CodecError, match="read it as a tensor"):
            f.chunk_bytes(coded[0])


def test_edit_writes_numbers_as_the_writer_does(tmp_path, png):
    """An edit re-serialises the manifest: ram_gb keeps its two decimals
    (not 23.539999999999999)."""
    import re
    p = str(tmp_path / "n.raiiaf")
    raiiaf.write(p, image=png, prompt="p")
    raiiaf.edit(p, add_tags=["x"])
    with raiiaf.open(p) as f:
        text = f.manifest_json
        assert f.version == 2
    m = re.search(r'"ram_gb": ([0-9.eE+-]+)', text)
    if m is None:
        pytest.skip("this machine's capture recorded no ram_gb")
    assert re.fullmatch(r"\d+(\.\d{1,2})?", m.group(1)), m.group(1)


def test_write_to_memory(tmp_path, png):
    """write(None, ...) builds the file in memory: the same bytes a path
    gets apart from the time of writing, readable with open(bytes)."""
    lat = np.arange(64, dtype=np.float32).reshape(1, 4, 4, 4)
    data = raiiaf.write(None, image=png, latents={"final": lat}, prompt="p", env=False, date="2020-01-01T00:00:00Z")
    assert isinstance(data, bytes) and data[:7] == b"\x89RAIIAF"
    with raiiaf.open(data) as f:
        f.verify()
        np.testing.assert_array_equal(f.latents["final"], lat)
        assert f.image_bytes == png
    one = raiiaf.write(None, image=png, format=1, model="m", model_version="1", prompt="p", tags=["t"],
                       latents={"initial_noise": lat})
    with raiiaf.open(one) as f:
        assert f.format == (1, 0)
    assert not list(tmp_path.iterdir())  # nothing on disk


def test_decode_limit_set_before_open(tmp_path, png):
    """A limit set before the open applies to everything, the manifest too."""
    data = raiiaf.write(None, image=png, latents={"x": np.zeros((64, 64), np.float32)}, codec="zstd", env=False)
    with pytest.raises(raiiaf.LimitError, match="budget of 10 decoded bytes"):
        raiiaf.open(data, decode_limit=10)
    with raiiaf.open(data, decode_limit=0) as f:  # no limit
        assert f.latents["x"].shape == (64, 64)
    p = str(tmp_path / "l.raiiaf")
    open(p, "wb").write(data)
    with raiiaf.open(p, decode_limit=10 ** 9) as f:
        f.verify()


def test_max_decode_raises_the_default_budget(tmp_path, png, monkeypatch):
    """80 MiB of zeros stored with zstd: a file of a few KB that needs more
    than the default budget (64 MiB + 64 x its size).  Reading it fails
    with a LimitError that says how to raise the budget; max_decode= (bytes
    or a size such as "128M"), or RAIIAF_MAX_DECODE, raises it."""
    monkeypatch.delenv("RAIIAF_MAX_DECODE", raising=False)
    zeros = np.zeros((20, 1024, 1024), np.float32)  # 80 MiB
    p = str(tmp_path / "z.raiiaf")
    raiiaf.write(p, image=png, latents={"z": zeros}, codec="zstd", env=False)
    size = os.path.getsize(p)
    assert size < 1 << 20
    default = (64 << 20) + 64 * size
    assert raiiaf._lib.lib.raiiaf_decode_limit_default(size) == default
    with raiiaf.open(p) as f:  # opening decodes only the manifest
        with pytest.raises(raiiaf.LimitError, match=r"budget of %d decoded bytes.*max_decode= \(Python\)" % default):
            f.latents["z"]
    for limit in (128 << 20, "128M", "128MiB"):
        with raiiaf.open(p, max_decode=limit) as f:
            np.testing.assert_array_equal(f.latents["z"], zeros)
    monkeypatch.setenv("RAIIAF_MAX_DECODE", "128M")
    with raiiaf.open(p) as f:
        f.verify()
    # the keyword wins over the environment; the older name still works
    with pytest.raises(raiiaf.LimitError, match="budget of 1024 decoded bytes"):
        raiiaf.open(p, max_decode=1024)
    with pytest.raises(raiiaf.LimitError, match="budget of 1024 decoded bytes"):
        raiiaf.open(p, decode_limit=1024)
    # an older version takes a budget too (it could not before)
    with pytest.raises(raiiaf.LimitError):
        raiiaf.open(p, version=1, max_decode=16)
    with raiiaf.open(p, version=1, max_decode="128M") as f:
        assert f.latents["z"].shape == zeros.shape
    monkeypatch.delenv("RAIIAF_MAX_DECODE")
    with pytest.raises(ValueError, match="not a size in bytes"):
        raiiaf.open(p, max_decode="12Q")
    # recover: the candidate it writes is verified within the budget
    out = str(tmp_path / "r.raiiaf")
    with pytest.raises(raiiaf.LimitError, match="recover's budget"):
        raiiaf.recover(p, out)
    assert not os.path.exists(out)
    raiiaf.recover(p, out, max_decode="256M")
    with raiiaf.open(out, max_decode="128M") as f:
        f.verify()
    with raiiaf.open(out, max_decode="128M") as f:  # the budget is over a reader's life: verify spent it
        np.testing.assert_array_equal(f.latents["z"], zeros)


def test_error_names_the_path_once(tmp_path):
    """The library says "x: cannot open"; the exception says it once, not
    "x: x: cannot open" (as the CLI)."""
    missing = str(tmp_path / "missing.raiiaf")
    with pytest.raises(raiiaf.IOError) as e:
        raiiaf.open(missing)
    assert str(e.value).count(missing) == 1, str(e.value)
    assert str(e.value).startswith(missing + ": cannot open")
    with pytest.raises(raiiaf.IOError) as e:
        raiiaf.import_image(str(tmp_path / "missing.png"))
    assert str(e.value).count("missing.png") == 1, str(e.value)
    bad = tmp_path / "bad.raiiaf"
    bad.write_bytes(b"hello")
    with pytest.raises(raiiaf.Error) as e:
        raiiaf.open(str(bad))
    assert str(e.value).startswith(str(bad) + ": ")  # a message without the path gets it in front
