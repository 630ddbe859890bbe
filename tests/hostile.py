"""Builders for hostile RAIIAF files, shared by tests/cli_bounds.py and
python/tests/test_bounds.py (issue 17).  Everything is made by hand from
docs/SPEC.md so that the library under test is not also the file's author:
zstd frames of raw and RLE blocks (no zstd module needed), byte-plane
payloads, chunks, footers, CRC-32C."""

import struct

_T = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ (0x82F63B78 & -(_c & 1))
    _T.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def zstd_frame(parts):
    """One zstd frame of ("raw", bytes) and ("rle", byte, count) parts."""
    blocks = []
    for p in parts:
        if p[0] == "raw":
            data = p[1]
            for i in range(0, len(data), 1 << 17):
                blocks.append((0, data[i:i + (1 << 17)], len(data[i:i + (1 << 17)])))
        else:
            left = p[2]
            while left:
                n = min(left, 1 << 17)
                blocks.append((1, bytes([p[1]]), n))
                left -= n
    size = sum(b[2] for b in blocks)
    out = bytearray(struct.pack("<I", 0xFD2FB528))
    out += bytes([0xA0])  # 4-byte content size, single segment, no checksum
    out += struct.pack("<I", size)
    for i, (kind, data, n) in enumerate(blocks):
        hdr = (1 if i == len(blocks) - 1 else 0) | (kind << 1) | (n << 3)
        out += struct.pack("<I", hdr)[:3] + data
    return bytes(out), size


def planes(parts):
    """A one-plane zstd payload (codec 1) and its decoded size."""
    frame, size = zstd_frame(parts)
    return bytes([1, 0]) + bytes(6) + bytes([1]) + bytes(7) + struct.pack("<Q", len(frame)) + frame, size


def header(flags=0):
    h = bytes([0x89]) + b"RAIIAF\r\n\x1a\n\x00" + struct.pack("<HHI", 2, 1 if flags else 0, flags) + bytes(40)
    return h + struct.pack("<I", crc32c(h))


def chunk(ctype, codec, index, payload, raw):
    h = ctype + bytes([codec]) + bytes(3) + struct.pack("<I", index) + bytes(4)
    h += struct.pack("<QQI", len(payload), raw, crc32c(payload)) + bytes(24)
    h += struct.pack("<I", crc32c(h))
    pad = (-len(payload)) % 64
    return h + payload + bytes(pad)


def footer(manifest_off, prev, version):
    f = b"RAIIAFft" + struct.pack("<QQI", manifest_off, prev, version) + bytes(32)
    return f + struct.pack("<I", crc32c(f))


def manifest_chunk(parts, index=0):
    payload, raw = planes(parts)
    return chunk(b"MANI", 1, index, payload, raw)


def one_manifest_file(parts):
    """header, a MANI chunk decoding to the parts, footer."""
    return header() + manifest_chunk(parts) + footer(64, 0, 1)


def empty_objects(n):
    """JSON text parts of a manifest holding n empty objects, [{},{},...],
    beside an otherwise valid raiiaf_metadata: repeated "{}," is not one
    byte, so it is stored raw (3 bytes a value)."""
    pre = b'{"raiiaf_metadata":{"chunks":[],"tensors":[]},"pad":['
    return [("raw", pre + b"{}," * (n - 1) + b"{}]}")]


def open_brackets(n):
    """[[[[... : one value a byte, as RLE (n bytes from about 4 n / 131072)."""
    return [("rle", ord("["), n)]


def decoy_file(ndecoys, parts, good=True):
    """A good version 1 (an empty manifest), then ndecoys MANI+footer pairs
    claiming version 2 whose CRCs hold but whose manifests decode to
    `parts` (not a manifest), then 64 zero bytes where the last footer
    should be: readers search back from the end for a complete version.
    good=False zeroes version 1's footer: there is nothing to find."""
    m0 = manifest_chunk([("raw", b'{"raiiaf_metadata":{"chunks":[],"tensors":[]}}')])
    data = bytearray(header() + m0)  # appended to in place: thousands of decoys
    f0 = len(data)
    data += footer(64, 0, 1) if good else bytes(64)
    mani = manifest_chunk(parts)
    for _ in range(ndecoys):
        moff = len(data)
        data += mani + footer(moff, f0, 2)
    return bytes(data + bytes(64))


def over_budget_file():
    """One u8 tensor whose zstd chunk (40 000 stored bytes, within the
    allowed expansion) declares one byte more than a reader's default
    budget of decoded bytes, 64 MiB + 64 x the file size.  Returns the file
    and that budget."""
    stored = bytes([1, 0]) + bytes(6) + bytes([1]) + bytes(7) + struct.pack("<Q", 40000 - 24) + bytes(40000 - 24)
    raw = 10 ** 7  # placeholder of the same number of digits

    def build(raw):
        m = ('{"raiiaf_metadata":{"chunks":[{"index":0,"type":"TENS","offset":64,"codec":"zstd","stored_size":%d,'
             '"raw_size":%d,"crc32c":%d,"sha256":"%s"}],"tensors":[{"name":"big","dtype":"uint8","codec":"zstd",'
             '"chunk":0,"shape":[%d]}]}}' % (len(stored), raw, crc32c(stored), "0" * 64, raw)).encode()
        data = header() + chunk(b"TENS", 1, 0, stored, raw)
        moff = len(data)
        return data + manifest_chunk([("raw", m)], 1) + footer(moff, 0, 1)

    size = len(build(raw))
    budget = (64 << 20) + 64 * size
    data = build(budget + 1)
    assert len(data) == size
    return data, budget
