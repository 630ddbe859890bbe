"""Thumbnails and latent previews (src/serve/) against independent sources:
Pillow decodes and box-reduces the same images; numpy applies the latent
factors as transcribed here from ComfyUI's comfy/latent_formats.py."""
import ctypes
import io

import numpy as np
import pytest
from PIL import Image

from raiiaf import _lib

lib = _lib.lib


def thumbnail(data, max_side):
    rgb, w, h = ctypes.c_void_p(), ctypes.c_uint32(), ctypes.c_uint32()
    err = ctypes.create_string_buffer(256)
    rc = lib.raiiaf_thumbnail(data, len(data), max_side, ctypes.byref(rgb), ctypes.byref(w), ctypes.byref(h),
                              err, len(err))
    if rc:
        return rc, err.value.decode(), None
    try:
        arr = np.frombuffer(ctypes.string_at(rgb, w.value * h.value * 3), np.uint8).reshape(h.value, w.value, 3)
    finally:
        lib.raiiaf_free(rgb)
    return rc, "", arr.copy()


def smooth_picture(w, h):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], -1).astype(np.uint8)


def encode(arr, fmt, **kw):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def test_png_thumbnail_is_the_box_mean():
    src = smooth_picture(512, 256)
    rc, err, th = thumbnail(encode(src, "PNG"), 128)
    assert rc == 0, err
    assert th.shape == (64, 128, 3)
    # Integer ratio 4: each output pixel is the rounded mean of a 4x4 block.
    want = np.floor(src.reshape(64, 4, 128, 4, 3).astype(np.float64).mean((1, 3)) + 0.5).astype(np.uint8)
    assert np.array_equal(th, want)


def test_small_image_is_not_enlarged():
    src = smooth_picture(40, 30)
    rc, err, th = thumbnail(encode(src, "PNG"), 256)
    assert rc == 0, err
    assert np.array_equal(th, src)


@pytest.mark.parametrize("fmt,kw", [("JPEG", {"quality": 95}), ("WEBP", {"quality": 95})])
def test_lossy_thumbnail_matches_pillow(fmt, kw):
    src = smooth_picture(1024, 768)
    data = encode(src, fmt, **kw)
    rc, err, th = thumbnail(data, 256)
    assert rc == 0, err
    assert th.shape == (192, 256, 3)
    ref = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").reduce(4), dtype=np.float64)
    # Scaled decoding (DCT scaling, libwebp's scaler) differs from decode-then-
    # box by a few levels on a smooth picture, never by a visible amount.
    assert np.abs(th.astype(np.float64) - ref).mean() < 3.0
    assert np.abs(th.astype(np.float64) - ref).max() < 24


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"\xff\xd8\xff" + b"\0" * 40,
                                  b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 20, b"GIF89a" + b"\0" * 40])
def test_bad_images_are_refused_with_a_message(data):
    rc, err, _ = thumbnail(data if data else b"\0", 64)
    assert rc == 13  # RAIIAF_E_IMAGE
    assert err


def test_truncated_jpeg_is_refused():
    data = encode(smooth_picture(256, 256), "JPEG")[:200]
    rc, err, th = thumbnail(data, 64)
    # libjpeg pads a truncated scan with grey (a warning), or fails in the header.
    assert rc in (0, 13)
    if rc:
        assert err.startswith("JPEG:")


# Transcribed from comfyanonymous/ComfyUI comfy/latent_formats.py (SDXL).
SDXL = np.array([[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068],
                 [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]])
SDXL_BIAS = np.array([0.1084, -0.0175, -0.0011])
# Flux's first and last rows and its bias (same file).
FLUX_ROW0, FLUX_ROW15 = np.array([-0.0346, 0.0244, 0.0681]), np.array([-0.1262, -0.0982, -0.0778])
FLUX_BIAS = np.array([-0.0329, -0.0718, -0.0851])


def preview(latent, family):
    c, h, w = latent.shape
    lat = np.ascontiguousarray(latent, np.float32)
    out = ctypes.create_string_buffer(h * w * 3)
    rc = lib.raiiaf_latent_preview(lat.ctypes.data, c, h, w, family.encode(), out, len(out))
    return rc, np.frombuffer(out.raw, np.uint8).reshape(h, w, 3)


def expected(latent, factors, bias):
    rgb = np.einsum("chw,ck->hwk", latent.astype(np.float64), factors) + bias
    return np.clip(np.rint((rgb + 1) / 2 * 255), 0, 255).astype(np.uint8)


def test_sdxl_preview_matches_the_published_factors():
    lat = np.random.default_rng(1).standard_normal((4, 16, 24)).astype(np.float32)
    rc, got = preview(lat, "sdxl")
    assert rc == 0
    assert np.abs(got.astype(int) - expected(lat, SDXL, SDXL_BIAS).astype(int)).max() <= 1


def test_flux_preview_uses_sixteen_channels():
    lat = np.zeros((16, 2, 2), np.float32)
    lat[0, 0, 0] = 2.0
    lat[15, 1, 1] = -3.0
    rc, got = preview(lat, "flux")
    assert rc == 0
    f = np.zeros((16, 3))
    f[0], f[15] = FLUX_ROW0, FLUX_ROW15
    want = expected(lat, f, FLUX_BIAS)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_preview_refuses_wrong_channels_and_unknown_family():
    lat = np.zeros((4, 2, 2), np.float32)
    assert preview(lat, "flux")[0] == 1  # RAIIAF_E_ARG
    assert preview(lat, "dalle")[0] == 15  # RAIIAF_E_NOT_FOUND


def test_channel_gray_stretches_min_to_max():
    lat = np.zeros((2, 1, 3), np.float32)
    lat[1, 0] = [-5.0, 0.0, 5.0]
    out = ctypes.create_string_buffer(3)
    assert lib.raiiaf_latent_channel_gray(lat.ctypes.data, 2, 1, 3, 1, out, 3) == 0
    assert list(out.raw) == [0, 128, 255]
    assert lib.raiiaf_latent_channel_gray(lat.ctypes.data, 2, 1, 3, 2, out, 3) == 1


def test_family_guess():
    g = lambda m, c: _lib.s(lib.raiiaf_latent_family_guess(m and m.encode(), c))
    assert g("flux1-dev.safetensors", 16) == "flux"
    assert g("sd_xl_base_1.0", 4) == "sdxl"
    assert g("sd3.5_large", 16) == "sd3"
    assert g(None, 4) == "sd1"
    assert g("mystery", 8) is None
