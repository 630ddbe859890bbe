"""The original package's README example, unchanged (reconstructed from its
interface): encode a dict of latents with an image, decode it, compare."""

import os

import numpy as np
import pytest

from conftest import make_png


def test_readme_example_round_trips(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("image.png", "wb") as fh:
        fh.write(make_png(64, 64))
    pytest.importorskip("PIL", reason="png_to_bytes needs Pillow (python3-pil)")

    # --- the example, as its README has it -------------------------------------
    from raiiaf.main import raiiafFileHandler

    handler = raiiafFileHandler()

    latent = {
        "initial_noise": np.random.randn(1, 4, 64, 64).astype(np.float32),
        "final_latent": np.random.randn(1, 4, 64, 64).astype(np.float32),
    }
    img_binary = handler.png_to_bytes("image.png")

    result = handler.file_encoder(
        filename="output.raiiaf",
        latent=latent,
        chunk_records=[],
        model_name="Stable Diffusion 3",
        model_version="3",
        prompt="A puppy smiling, cinematic",
        tags=["puppy", "dog", "smile"],
        img_binary=img_binary,
    )

    decoded = handler.file_decoder("output.raiiaf")
    print(decoded["metadata"])
    img = handler.bytes_to_png(decoded["chunks"]["image"])
    # -----------------------------------------------------------------------------

    assert set(result) >= {"header", "latent_chunks", "metadata_chunk", "image_chunk"}
    assert len(result["latent_chunks"]) == 2
    assert os.path.getsize("output.raiiaf") == decoded["header"]["file_size"]
    assert decoded["chunks"]["image"] == img_binary
    assert img.size == (64, 64) and img.mode == "RGBA"
    back = decoded["chunks"]["latent"]
    assert len(back) == 2
    for arr, orig in zip(back, latent.values()):  # file order = dict order
        assert arr.dtype == np.float16  # convert_float16=True by default, and it works
        np.testing.assert_array_equal(arr, orig.astype(np.float16))
    mi = decoded["metadata"]["raiiaf_metadata"]["model_info"]
    assert mi["model_name"] == "Stable Diffusion 3" and mi["version"] == "3"
    assert mi["prompt"] == "A puppy smiling, cinematic" and mi["tags"] == ["puppy", "dog", "smile"]


def test_readme_example_with_raw_png_bytes(tmp_path, png):
    from raiiaf import raiiafFileHandler

    handler = raiiafFileHandler()
    latent = {"initial_noise": np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)}
    out = str(tmp_path / "output.raiiaf")
    handler.file_encoder(out, latent, [], "SDXL", "1.0", "a cat", ["cat"], png,
                         convert_float16=False)
    decoded = handler.file_decoder(out)
    np.testing.assert_array_equal(decoded["chunks"]["latent"][0], latent["initial_noise"])
    assert decoded["chunks"]["latent"][0].dtype == np.float32
    assert decoded["chunks"]["image"] == png
