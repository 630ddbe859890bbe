"""Shared fixtures.  Run from the repository root:

    RAIIAF_LIBRARY=build/libraiiaf.so PYTHONPATH=python python3 -m pytest -q python/tests

(`make test` does this through ctest, with RAIIAF_CLI set to the CLI.)"""

import os
import struct
import zlib

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")


def make_png(width=16, height=12, seed=0):
    """A small valid RGBA PNG without Pillow."""
    rng = np.random.default_rng(seed)
    pix = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    raw = b"".join(b"\x00" + pix[y].tobytes() for y in range(height))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def png():
    return make_png()


@pytest.fixture
def png_path(tmp_path, png):
    p = tmp_path / "image.png"
    p.write_bytes(png)
    return str(p)


def cli_path():
    p = os.environ.get("RAIIAF_CLI")
    if not p:
        lib = os.environ.get("RAIIAF_LIBRARY")
        for cand in ([os.path.join(os.path.dirname(lib), "raiiaf")] if lib else []) + \
                [os.path.join(ROOT, d, "raiiaf") for d in ("build", "build-py")]:
            if os.path.isfile(cand) and os.access(cand, os.X_OK):
                return cand
    return p


@pytest.fixture
def cli():
    p = cli_path()
    if not p or not os.path.exists(p):
        pytest.skip("the raiiaf CLI was not found (set RAIIAF_CLI; ctest does)")
    return p


def flip(path, offset, mask=0x01):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ mask]))
