"""The original package's test scenarios against the drop-in: encode/decode,
bad magic, corrupt chunk, corrupt image, corrupt metadata, each raising the
original exception class; plus its parameters, defaults and return shapes."""

import os
import warnings

import numpy as np
import pytest

import raiiaf
from raiiaf.main import (raiiafChunkError, raiiafCorruptHeader, raiiafDecodeError, raiiafEnvChunkError,
                         raiiafFileHandler, raiiafImageError, raiiafLatentError, raiiafMetadataError)

from conftest import flip


@pytest.fixture
def handler():
    return raiiafFileHandler()


@pytest.fixture
def latents():
    rng = np.random.default_rng(42)
    return {"initial_noise": rng.standard_normal((1, 4, 32, 32)).astype(np.float32),
            "final_latent": rng.standard_normal((1, 4, 32, 32)).astype(np.float32)}


def encode(handler, path, latents, png, **kw):
    args = dict(filename=str(path), latent=latents, chunk_records=[], model_name="SDXL",
                model_version="1.0", prompt="a cat", tags=["cat", "sofa"], img_binary=png)
    args.update(kw)
    return handler.file_encoder(**args)


def test_both_import_paths_are_the_same_class():
    import raiiaf.main
    assert raiiaf.raiiafFileHandler is raiiaf.main.raiiafFileHandler
    assert raiiaf.raiiafDecodeError is raiiaf.main.raiiafDecodeError


def test_exception_hierarchy_is_the_original():
    for sub in (raiiafCorruptHeader, raiiafMetadataError, raiiafChunkError):
        assert issubclass(sub, raiiafDecodeError)
    for sub in (raiiafLatentError, raiiafImageError, raiiafEnvChunkError):
        assert issubclass(sub, raiiafChunkError)
    # The native classes are also original ones.
    assert issubclass(raiiaf.CorruptError, raiiafDecodeError)
    assert issubclass(raiiaf.CorruptError, raiiaf.Error)
    assert issubclass(raiiaf.SchemaError, raiiafMetadataError)
    assert issubclass(raiiaf.JSONError, raiiafMetadataError)
    assert issubclass(raiiaf.ImageError, raiiafImageError)
    assert issubclass(raiiaf.NotRaiiafError, raiiafCorruptHeader)
    assert issubclass(raiiaf.VersionError, raiiafCorruptHeader)
    assert issubclass(raiiaf.LimitError, raiiafDecodeError)


def test_encode_decode(handler, tmp_path, latents, png):
    records = []
    path = tmp_path / "out.raiiaf"
    res = encode(handler, path, latents, png, chunk_records=records, convert_float16=False,
                 generation_settings={"seed": 42, "steps": 30, "sampler": "euler_a", "cfg_scale": 7.5},
                 hardware_info={"os": "linux", "cpu_cores": 8})
    data = path.read_bytes()
    assert res["header"] == data[:64] and data.startswith(b"\x89RAIIAF\r\n\x1a\n\x00")
    assert len(res["latent_chunks"]) == 2 and all(c[:4] == b"TENS" for c in res["latent_chunks"])
    assert res["image_chunk"][:4] == b"IMAG" and res["image_chunk"][64:] == png
    assert res["metadata_chunk"][:4] == b"MANI"
    assert [r["type"] for r in records].count("TENS") == 2  # chunk_records receives the records
    out = handler.file_decoder(str(path))
    assert set(out) == {"header", "chunks", "metadata"}
    h = out["header"]
    assert set(h) == {"magic", "version_major", "version_minor", "flags", "chunk_table_offset",
                      "chunk_table_size", "chunk_count", "file_size", "reserved"}
    assert h["version_major"] == 2 and h["file_size"] == len(data) and h["flags"] == 0
    assert data[h["chunk_table_offset"]:h["chunk_table_offset"] + 4] == b"MANI"
    for got, want in zip(out["chunks"]["latent"], latents.values()):
        np.testing.assert_array_equal(got, want)
        assert got.flags.writeable  # the drop-in hands out its own arrays, like the original
    assert out["chunks"]["image"] == png
    md = out["metadata"]["raiiaf_metadata"]
    assert md["model_info"]["generation_settings"]["seed"] == 42
    assert md["model_info"]["hardware_info"]["cpu_cores"] == 8
    assert [t["name"] for t in md["tensors"]] == ["initial_noise", "final_latent"]
    if raiiaf.HAS_ENV:
        assert out["chunks"]["env"]["env_version"] == 2
        ids = [c["id"] for c in out["chunks"]["env"]["components"]]
        assert "python" in ids and "numpy" in ids


def test_convert_float16_default_stores_float16(handler, tmp_path, latents, png):
    path = tmp_path / "f16.raiiaf"
    encode(handler, path, latents, png)
    with raiiaf.open(str(path)) as f:
        assert [f.tensor_info(n).dtype for n in f.names] == ["float16", "float16"]


def test_should_compress_false_stores_raw(handler, tmp_path, latents, png):
    path = tmp_path / "raw.raiiaf"
    encode(handler, path, latents, png, should_compress=False)
    with raiiaf.open(str(path)) as f:
        assert {f.tensor_info(n).codec for n in f.names} == {"raw"}


def test_encoder_input_checks(handler, tmp_path, latents, png):
    with pytest.raises(ValueError, match=r"\.raiiaf"):
        encode(handler, tmp_path / "out.bin", latents, png)
    with pytest.raises(ValueError, match="NaN or Inf"):
        encode(handler, tmp_path / "a.raiiaf", {"x": np.full((1, 1, 2, 2), np.nan, np.float32)}, png)
    with pytest.raises(ValueError, match="4-D"):
        encode(handler, tmp_path / "a.raiiaf", {"x": np.zeros((4, 4), np.float32)}, png)
    with pytest.raises(ValueError, match="float16 or float32"):
        encode(handler, tmp_path / "a.raiiaf", {"x": np.zeros((1, 1, 2, 2), np.float64)}, png)
    with pytest.raises(ValueError, match="float16's range"):
        encode(handler, tmp_path / "a.raiiaf", {"x": np.full((1, 1, 2, 2), 1e6, np.float32)}, png)
    with pytest.raises(raiiafImageError):  # not a PNG/JPEG/WebP
        encode(handler, tmp_path / "a.raiiaf", latents, b"not an image")
    assert not os.path.exists(tmp_path / "a.raiiaf")  # nothing half-written


def test_bad_magic(handler, tmp_path, latents, png):
    path = tmp_path / "bad.raiiaf"
    encode(handler, path, latents, png)
    with open(path, "r+b") as fh:
        fh.write(b"NOTRAIIAF")
    with pytest.raises(raiiafCorruptHeader) as ei:
        handler.file_decoder(str(path))
    assert isinstance(ei.value, raiiafDecodeError) and isinstance(ei.value, raiiaf.Error)
    assert ei.value.status_name == "NOT_RAIIAF"


def test_corrupt_header_checksum(handler, tmp_path, latents, png):
    path = tmp_path / "h.raiiaf"
    encode(handler, path, latents, png)
    flip(path, 30)  # a reserved byte of the header: its CRC no longer matches
    with pytest.raises(raiiafCorruptHeader) as ei:
        handler.file_decoder(str(path))
    assert "header" in str(ei.value)


def test_corrupt_chunk(handler, tmp_path, latents, png):
    path = tmp_path / "c.raiiaf"
    encode(handler, path, latents, png, should_compress=False)
    with raiiaf.open(str(path)) as f:
        off = [c for c in f.chunks if c.type == "TENS"][1].offset
    flip(path, off + 64 + 100)
    with pytest.raises(raiiafChunkError) as ei:
        handler.file_decoder(str(path))
    e = ei.value
    assert isinstance(e, raiiafLatentError) and isinstance(e, raiiaf.CorruptError)
    assert e.status_name == "CHECKSUM"
    assert "chunk 2" in e.message and str(off) in e.message  # the library's message: chunk and offset


def test_corrupt_image(handler, tmp_path, latents, png):
    path = tmp_path / "i.raiiaf"
    encode(handler, path, latents, png)
    flip(path, 64 + 64 + 20)  # inside the image payload
    with pytest.raises(raiiafImageError) as ei:
        handler.file_decoder(str(path))
    assert isinstance(ei.value, raiiafChunkError) and isinstance(ei.value, raiiaf.CorruptError)
    assert "IMAG" in ei.value.message


def test_corrupt_metadata(handler, tmp_path, latents, png):
    path = tmp_path / "m.raiiaf"
    encode(handler, path, latents, png)
    head = raiiaf.read_header(str(path))
    flip(path, head["chunk_table_offset"] + 64 + 10)  # inside the compressed manifest
    with pytest.raises(raiiafMetadataError) as ei:
        handler.file_decoder(str(path))
    assert isinstance(ei.value, raiiaf.CorruptError)


def test_invalid_metadata_names_the_json_path(handler, tmp_path, latents, png):
    with pytest.raises(raiiafMetadataError) as ei:
        encode(handler, tmp_path / "s.raiiaf", latents, png, generation_settings={"steps": 0})
    assert isinstance(ei.value, raiiaf.SchemaError)
    assert "/raiiaf_metadata/model_info/generation_settings/steps" in str(ei.value)


def test_truncated_file(handler, tmp_path, latents, png):
    path = tmp_path / "t.raiiaf"
    encode(handler, path, latents, png)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(raiiafDecodeError):
        handler.file_decoder(str(path))


def test_missing_file(handler, tmp_path):
    with pytest.raises(FileNotFoundError):
        handler.file_decoder(str(tmp_path / "none.raiiaf"))


def test_limits(tmp_path, latents, png):
    path = tmp_path / "l.raiiaf"
    encode(raiiafFileHandler(), path, latents, png)
    with pytest.raises(raiiafDecodeError, match="max_file_size"):
        raiiafFileHandler(max_file_size=100).file_decoder(str(path))
    with pytest.raises(raiiafChunkError, match="max_chunk_size"):
        raiiafFileHandler(max_chunk_size=100).file_decoder(str(path))


def test_png_helpers(tmp_path, png):
    pytest.importorskip("PIL", reason="png_to_bytes/bytes_to_png need Pillow (python3-pil)")
    from PIL import Image
    p = tmp_path / "rgb.png"
    Image.new("RGB", (5, 3), (1, 2, 3)).save(p)
    b = raiiafFileHandler.png_to_bytes(str(p))
    assert b.startswith(b"\x89PNG")
    im = raiiafFileHandler.bytes_to_png(b)
    assert im.mode == "RGBA" and im.size == (5, 3) and im.getpixel((0, 0)) == (1, 2, 3, 255)
    with pytest.raises(raiiafImageError):
        raiiafFileHandler.bytes_to_png(b"garbage")


def test_drift_warnings_are_stable(handler, tmp_path, latents, png):
    if not raiiaf.HAS_ENV:
        pytest.skip("the loaded libraiiaf has no environment API")
    path = str(tmp_path / "d.raiiaf")
    raiiaf.write(path, image=png, latents=latents,
                 env_components={"python": "name=python;version=0.0.1",
                                 "numpy": "name=numpy;version=0.0.2",
                                 "zz-tool": "name=zz-tool;version=1"})
    runs = []
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            handler.file_decoder(path)
        runs.append([str(w.message) for w in caught if issubclass(w.category, raiiaf.DriftWarning)])
    assert runs[0] == runs[1]
    drift = runs[0]
    assert any("numpy differs" in m and "0.0.2" in m for m in drift)
    assert any("python differs" in m and "0.0.1" in m for m in drift)
    ids = [m.split("component ")[1].split(" ")[0] for m in drift]
    assert ids == sorted(ids)  # sorted by component id
    # Only in the file and nothing here can capture it ("unchecked"): no warning.
    assert not any("zz-tool" in m for m in drift)


def test_format1_writing(handler, tmp_path, latents, png):
    path = tmp_path / "f1.raiiaf"
    if not raiiaf.HAS_FORMAT1_WRITE:
        with pytest.raises(NotImplementedError):
            encode(handler, path, latents, png, format=1)
        pytest.skip("the loaded libraiiaf cannot write format 1 (raiiaf_writer_set_format missing)")
    res = encode(handler, path, latents, png, format=1, convert_float16=False,
                 generation_settings={"seed": 1, "steps": 2, "sampler": "ddim"})
    data = path.read_bytes()
    assert data[:6] == b"raiiaf" and res["header"] == data[:33]
    assert len(res["latent_chunks"]) == 2
    out = handler.file_decoder(str(path))
    assert out["header"]["magic"] == b"raiiaf" and out["header"]["version_major"] == 1
    assert out["header"]["file_size"] == len(data)
    for got, want in zip(out["chunks"]["latent"], latents.values()):
        np.testing.assert_array_equal(got, want)
    assert out["chunks"]["image"] == png
    assert out["chunks"]["env"]["env_version"] == 1
    comps = {c["component_id"]: c["cononical_str"] for c in out["chunks"]["env"]["components"]}
    assert comps["python"].startswith("name=python;version=")
    assert out["metadata"]["raiiaf_metadata"]["model_info"]["generation_settings"]["seed"] == 1
    # Corrupting a latent of a format 1 file is found by its SHA-256.
    with raiiaf.open(str(path)) as f:
        rec = f.metadata["raiiaf_metadata"]["chunks"][0]
    flip(path, rec["offset"] + rec["compressed_size"] // 2, 0xFF)
    with pytest.raises(raiiafChunkError):
        handler.file_decoder(str(path))
