"""Interop through libraiiaf: importing generators' images, exporting,
converting between formats, .npy / .safetensors tensors and torch-exact
noise.  Every function here is a thin call of the library function named
in its docstring; the rules live in the library (src/interop/)."""

import collections
import ctypes
import json
import os

import numpy as np

from . import _lib, errors
from ._core import _bf16_numpy, _c_order, _np_dtype, _Writer, as_tensor_bytes, BF16, CODECS, DTYPE_NAMES
from ._lib import lib, b, s

_ERR = 1024  # bytes of message buffer for the functions that take one


def _raise(rc, buf, path=None, part=None):
    msg = buf.value.decode("utf-8", "surrogateescape") if buf is not None else ""
    raise errors.make(rc, msg or s(lib.raiiaf_strerror(rc)), path, part)


def _take(ptr, size):
    """Bytes of library memory, which is then released with raiiaf_free()."""
    try:
        return ctypes.string_at(ptr, size)
    finally:
        lib.raiiaf_free(ptr)


def _take_str(ptr):
    """A NUL-terminated string of library memory, then released."""
    try:
        return ctypes.string_at(ptr).decode("utf-8", "surrogateescape")
    finally:
        lib.raiiaf_free(ptr)


def _dtype_code(dtype):
    if dtype in ("bfloat16", "bf16"):
        return BF16
    code = lib.raiiaf_dtype_from_name(b(np.dtype(dtype).name if not isinstance(dtype, str) else dtype))
    if not code:
        raise errors.ArgumentError("raiiaf: unknown dtype %r" % (dtype,), errors.E_ARG)
    return code


def _array_out(a):
    """A numpy array (own memory) from a raiiaf_array; bfloat16 as
    ml_dtypes.bfloat16 when installed, else its bits as uint16."""
    shape = tuple(a.shape[:a.rank])
    dt = _np_dtype(a.dtype)
    arr = np.frombuffer(ctypes.string_at(a.data, a.size) if a.size else b"", dtype=dt).reshape(shape).copy()
    if a.dtype == BF16:
        bf = _bf16_numpy()
        if bf:
            arr = arr.view(bf)
    return arr


# ---- import -----------------------------------------------------------------------


class Import:
    """What :func:`import_image` read from an image: ``tool`` (the generator
    as it names itself, "raiiaf" for our own export, or None), ``format``
    ("png", "jpeg", "webp"), ``metadata`` (``{"raiiaf_metadata":
    {"model_info": ..., "extensions": ...}}``), ``model_info``, ``notes``
    (what could not be mapped or read), ``records`` (text records read) and
    ``fields`` (generation fields mapped).  ``save(path)`` writes it, with
    the image byte for byte, as a RAIIAF file."""

    def __init__(self, handle, source):
        self._h = handle
        self.source = source
        self.tool = s(lib.raiiaf_import_tool(handle))
        self.format = s(lib.raiiaf_import_format(handle))
        self.records = lib.raiiaf_import_record_count(handle)
        self.fields = lib.raiiaf_import_field_count(handle)
        self.notes = [s(lib.raiiaf_import_note(handle, i)) for i in range(lib.raiiaf_import_note_count(handle))]

    def __del__(self):
        if getattr(self, "_h", None):
            lib.raiiaf_import_free(self._h)
            self._h = None

    def __repr__(self):
        return "<raiiaf.Import %s from %s: %d fields, %d text records>" % (
            self.tool or "no generator recognised", self.format, self.fields, self.records)

    @property
    def metadata(self):
        n = ctypes.c_size_t()
        p = lib.raiiaf_import_metadata(self._h, ctypes.byref(n))
        if not p:
            raise errors.NoMemoryError("raiiaf: out of memory", errors.E_NOMEM)
        return json.loads(ctypes.string_at(p, n.value).decode("utf-8"))

    @property
    def model_info(self):
        return self.metadata["raiiaf_metadata"]["model_info"]

    def add_tag(self, tag):
        rc = lib.raiiaf_import_add_tag(self._h, b(tag))
        if rc:
            raise errors.make(rc, s(lib.raiiaf_import_errmsg(self._h)), self.source)

    def save(self, path, latents=None, codec="auto", env=False):
        """Writes the import as a RAIIAF file at `path` (atomically): the
        image byte for byte, the record, and `latents` ({name: array or
        tensor}) when given.  ``env=True`` records this machine's
        environment (off by default: the importing machine is usually not
        the one that made the image)."""
        w = _Writer(path)
        try:
            if not env:
                w.check(lib.raiiaf_writer_set_env(w.h, 1))  # RAIIAF_ENV_NONE
            w.check(lib.raiiaf_import_to_writer(self._h, w.h))
            for name, value in (latents or {}).items():
                arr, code, shape = _tensor_args(value)
                w.check(lib.raiiaf_writer_add_tensor(w.h, b(name), code, arr.ndim, shape,
                                                     ctypes.c_void_p(arr.ctypes.data), arr.nbytes,
                                                     CODECS[codec], 0.0), "latent")
            w.check(lib.raiiaf_writer_finish(w.h))
        finally:
            w.free()
        return path


def import_image(source, tags=None):
    """Reads the generation record an image carries (``raiiaf_import_image``):
    A1111 / Forge / SD.Next, ComfyUI, InvokeAI, NovelAI, SwarmUI, Fooocus,
    Civitai, stealth PNG info, C2PA (claim generator only), or a PNG written
    by ``File.export``.  `source` is a path or the image's
    bytes.  Returns an :class:`Import`."""
    h = ctypes.c_void_p()
    if isinstance(source, (str, os.PathLike)):
        path = os.fsdecode(source)
        rc = lib.raiiaf_import_image_file(os.fsencode(source), ctypes.byref(h))
    else:
        path = None
        data = bytes(source)
        rc = lib.raiiaf_import_image(data, len(data), ctypes.byref(h))
    if rc:
        msg = s(lib.raiiaf_import_errmsg(h)) if h else ""
        if h:
            lib.raiiaf_import_free(h)
        raise errors.make(rc, msg or s(lib.raiiaf_strerror(rc)), path, "image")
    imp = Import(h, path)
    for t in tags or ():
        imp.add_tag(t)
    return imp


# ---- export -----------------------------------------------------------------------

EXPORT_MANIFEST_OMITTED = 0x1


class ExportWarning(UserWarning):
    """Part of the record did not fit where it goes (a JPEG's 64 KB EXIF
    segment holds the parameters text but not the whole manifest)."""


def export_bytes(f, format=None):
    """The file's image with its generation record (``raiiaf_export``), as
    bytes; (bytes, flags)."""
    out, n, flags = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_uint()
    err = ctypes.create_string_buffer(_ERR)
    rc = lib.raiiaf_export(f._h, b(format) if format else None, ctypes.byref(out), ctypes.byref(n),
                           ctypes.byref(flags), err, _ERR)
    if rc:
        _raise(rc, err, f.path, "image")
    return _take(out, n.value), flags.value


def export_file(f, path, format=None):
    """``raiiaf_export_file``: written atomically; the format from the
    extension unless given.  Returns the RAIIAF_EXPORT_* flags."""
    flags = ctypes.c_uint()
    err = ctypes.create_string_buffer(_ERR)
    rc = lib.raiiaf_export_file(f._h, os.fsencode(path), b(format) if format else None, ctypes.byref(flags), err, _ERR)
    if rc:
        _raise(rc, err, f.path, "image")
    return flags.value


def parameters(f):
    """The A1111-style parameters text of the file's record (``raiiaf_export_parameters``)."""
    out = ctypes.c_void_p()
    err = ctypes.create_string_buffer(_ERR)
    rc = lib.raiiaf_export_parameters(f._h, ctypes.byref(out), err, _ERR)
    if rc:
        _raise(rc, err, f.path, "metadata")
    return _take_str(out)


# ---- convert ----------------------------------------------------------------------

Converted = collections.namedtuple("Converted", "path format tensors has_image notes")


def convert(src, dst, format=2, codec=None):
    """Rewrites `src` (format 1 or 2) as format `format` at `dst`
    (``raiiaf_convert``): every tensor bit for bit, the image byte for byte,
    the generation and environment records; from format 1 the original
    manifest is kept verbatim so converting back loses nothing.  `codec`:
    "auto", "raw", "zstd", "zfp", or None for the library's rule.  Returns
    Converted(path, format, tensors, has_image, notes)."""
    notes = []

    def note(ctx, text):
        notes.append(s(text))

    cb = _lib.NOTE_FN(note)
    tensors, image = ctypes.c_size_t(), ctypes.c_int()
    err = ctypes.create_string_buffer(_ERR)
    if codec is not None and codec not in CODECS:
        raise errors.ArgumentError("raiiaf: codec must be one of %s, not %r" % (", ".join(CODECS), codec), errors.E_ARG)
    rc = lib.raiiaf_convert(os.fsencode(src), os.fsencode(dst), int(format), -1 if codec is None else CODECS[codec],
                            cb, None, ctypes.byref(tensors), ctypes.byref(image), err, _ERR)
    if rc:
        _raise(rc, err, os.fsdecode(src))
    return Converted(os.fsdecode(dst), int(format), tensors.value, bool(image.value), notes)


# ---- tensors in and out -----------------------------------------------------------


def _parse(fn, data, name=None):
    a = _lib.Array()
    err = ctypes.create_string_buffer(_ERR)
    buf = bytes(data)
    args = (buf, len(buf)) + ((b(name) if name else None,) if fn is lib.raiiaf_safetensors_parse else ())
    rc = fn(*args, ctypes.byref(a), err, _ERR)
    if rc:
        _raise(rc, err, None, "latent")
    return _array_out(a)  # data points into buf: copied out before buf goes


def load_npy(source):
    """A .npy file (path) or its bytes as a numpy array (``raiiaf_npy_read_file``
    / ``raiiaf_npy_parse``): little-endian C-order arrays of the dtypes
    RAIIAF stores, bfloat16 saved as '<V2' included."""
    if not isinstance(source, (str, os.PathLike)):
        return _parse(lib.raiiaf_npy_parse, source)
    return read_tensor_file(source)


def read_tensor_file(path):
    """A tensor from FILE.npy, FILE.safetensors (one tensor) or
    FILE.safetensors:NAME (``raiiaf_tensor_file_read``)."""
    a = _lib.Array()
    err = ctypes.create_string_buffer(_ERR)
    rc = lib.raiiaf_tensor_file_read(os.fsencode(path), ctypes.byref(a), err, _ERR)
    if rc:
        _raise(rc, err, os.fsdecode(path), "latent")
    try:
        return _array_out(a)
    finally:
        lib.raiiaf_array_free(ctypes.byref(a))


def _tensor_args(array):
    arr, code = as_tensor_bytes(array)
    arr = _c_order(arr)
    shape = (_lib.c_uint64 * max(arr.ndim, 1))(*arr.shape)
    return arr, code, shape


def save_npy(path, array):
    """Writes `array` (numpy or torch) as .npy, byte for byte as np.save()
    would, atomically (``raiiaf_npy_write_file``)."""
    arr, code, shape = _tensor_args(array)
    err = ctypes.create_string_buffer(_ERR)
    rc = lib.raiiaf_npy_write_file(os.fsencode(path), code, arr.ndim, shape, ctypes.c_void_p(arr.ctypes.data),
                                   arr.nbytes, err, _ERR)
    if rc:
        _raise(rc, err, os.fsdecode(path))
    return path


def safetensors_names(data):
    """The tensor names of .safetensors bytes (or a path), in file order."""
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as fh:
            data = fh.read()
    buf = bytes(data)
    out = ctypes.c_void_p()
    err = ctypes.create_string_buffer(_ERR)
    rc = lib.raiiaf_safetensors_names(buf, len(buf), ctypes.byref(out), err, _ERR)
    if rc:
        _raise(rc, err)
    return json.loads(_take_str(out))


def load_safetensors(source, name=None):
    """Tensors of a .safetensors file (path or bytes): {name: array} for all
    of them, or one array when `name` is given (``raiiaf_safetensors_parse``)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            source = fh.read()
    if name is not None:
        return _parse(lib.raiiaf_safetensors_parse, source, name)
    return {n: _parse(lib.raiiaf_safetensors_parse, source, n) for n in safetensors_names(source)}


def safetensors_bytes(name, array, metadata=None):
    """A .safetensors file holding `array` as tensor `name`, with
    `metadata` ({str: str}) as its __metadata__ (``raiiaf_safetensors_build``)."""
    arr, code, shape = _tensor_args(array)
    out, n = ctypes.c_void_p(), ctypes.c_size_t()
    err = ctypes.create_string_buffer(_ERR)
    rc = lib.raiiaf_safetensors_build(b(name), code, arr.ndim, shape, ctypes.c_void_p(arr.ctypes.data), arr.nbytes,
                                      b(json.dumps(metadata)) if metadata is not None else None,
                                      ctypes.byref(out), ctypes.byref(n), err, _ERR)
    if rc:
        _raise(rc, err)
    return _take(out, n.value)


def save_safetensors(path, name, array, metadata=None):
    """Writes `array` as tensor `name` of a .safetensors file at `path`."""
    data = safetensors_bytes(name, array, metadata)
    err = ctypes.create_string_buffer(_ERR)
    rc = lib.raiiaf_write_file(os.fsencode(path), data, len(data), err, _ERR)  # atomic, as every library write
    if rc:
        _raise(rc, err, os.fsdecode(path))
    return path


def save_tensor(f, name, path):
    """Tensor `name` of open file `f` written to `path` (``raiiaf_tensor_file_write``):
    .safetensors carries the file's generation record as __metadata__; else .npy."""
    idx = f._index(name)
    info = f.tensor_info(idx)
    arr = np.ascontiguousarray(f._array(idx, bf16_as=False))
    shape = (_lib.c_uint64 * max(arr.ndim, 1))(*arr.shape)
    err = ctypes.create_string_buffer(_ERR)
    code = lib.raiiaf_dtype_from_name(b(info.dtype))
    rc = lib.raiiaf_tensor_file_write(f._h, os.fsencode(path), b(info.name), code, arr.ndim, shape,
                                      ctypes.c_void_p(arr.ctypes.data), arr.nbytes, err, _ERR)
    if rc:
        _raise(rc, err, os.fsdecode(path))
    return path


# ---- noise ------------------------------------------------------------------------


def noise(seed, shape, dtype="float32", kernel=None):
    """torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    as PyTorch computes it on the CPU, bit for bit, without torch
    (``raiiaf_torch_randn``).  dtype: "float32", "float16" or "bfloat16";
    kernel: None / "avx2-fma" (x86-64 torch builds), "avx2", "scalar".
    bfloat16 comes back as ml_dtypes.bfloat16 when installed, else its bits
    as uint16."""
    code = _dtype_code(dtype)
    shape = tuple(int(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    out = np.empty(shape, _np_dtype(code))
    dims = (_lib.c_uint64 * max(len(shape), 1))(*shape)
    rc = lib.raiiaf_torch_randn(int(seed) & 0xFFFFFFFFFFFFFFFF, code, len(shape), dims, b(kernel) if kernel else None,
                                ctypes.c_void_p(out.ctypes.data), out.nbytes)
    if rc:
        raise errors.make(rc, "raiiaf: noise(seed=%s, shape=%s, dtype=%s, kernel=%s): %s"
                          % (seed, shape, DTYPE_NAMES.get(code, dtype), kernel, s(lib.raiiaf_strerror(rc))))
    if code == BF16:
        bf = _bf16_numpy()
        if bf:
            out = out.view(bf)
    return out
