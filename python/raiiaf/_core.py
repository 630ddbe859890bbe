"""The native API: raiiaf.write() and raiiaf.open() / raiiaf.File."""

import collections.abc
import ctypes
import io
import json
import os
import platform
import re
import struct
import sys
import warnings
from collections import namedtuple

import numpy as np

from . import _lib, errors
from ._lib import lib, b, s

# ---- dtypes and codecs --------------------------------------------------------

F16, BF16, F32, F64, I8, U8, I16, U16, I32, U32, I64, U64, BOOL = range(1, 14)
CODEC_RAW, CODEC_ZSTD, CODEC_ZFP, CODEC_RECIPE, CODEC_AUTO = 0, 1, 2, 3, 255
CODECS = {"raw": CODEC_RAW, "zstd": CODEC_ZSTD, "zfp": CODEC_ZFP, "auto": CODEC_AUTO}  # write(codec=)
CODEC_NAMES = {v: k for k, v in CODECS.items()}
CODEC_NAMES[CODEC_RECIPE] = "recipe"  # read only: written through write(noise_seed=)
NOISE_LATENT = "initial_noise"  # the latent an int noise_seed (or the generation seed) applies to

# raiiaf dtype -> numpy dtype (bfloat16: its bit patterns as uint16, see _np_dtype)
_NP = {F16: "<f2", BF16: "<u2", F32: "<f4", F64: "<f8", I8: "i1", U8: "u1", I16: "<i2",
       U16: "<u2", I32: "<i4", U32: "<u4", I64: "<i8", U64: "<u8", BOOL: "?"}
_FROM_NP = {"float16": F16, "float32": F32, "float64": F64, "int8": I8, "uint8": U8,
            "int16": I16, "uint16": U16, "int32": I32, "uint32": U32, "int64": I64,
            "uint64": U64, "bool": BOOL}
DTYPE_NAMES = {k: s(lib.raiiaf_dtype_name(k)) for k in _NP}

READ_NO_DIGEST = 0x1
ENV_DEFAULT, ENV_NONE, ENV_INCLUDE_HOSTNAME, ENV_NO_CAPTURE = 0x0, 0x1, 0x2, 0x4
DRIFT_KINDS = {1: "added", 2: "removed", 3: "changed", 4: "unchecked"}

# Kept for programs written against earlier versions of this package: the
# library version checked at load time (_lib.REQUIRED_VERSION) has them all.
HAS_FORMAT1_WRITE = HAS_FORMAT1_READ = HAS_ENV = HAS_RECIPE = HAS_RELATIVE = True


def _bf16_numpy():
    """ml_dtypes.bfloat16 when ml_dtypes is installed, else None."""
    mod = sys.modules.get("ml_dtypes")
    if mod is None:
        try:
            import ml_dtypes as mod  # noqa: F401
        except ImportError:
            return None
    return mod.bfloat16


def _np_dtype(code):
    return np.dtype(_NP[code])


def _torch():
    return sys.modules.get("torch")


def _is_torch_tensor(x):
    t = _torch()
    return t is not None and isinstance(x, t.Tensor)


def as_tensor_bytes(value):
    """(contiguous little-endian numpy array, raiiaf dtype code) for a numpy
    array, a torch tensor (any device, any dtype the format has, bfloat16
    included) or anything numpy.asarray takes."""
    if _is_torch_tensor(value):
        torch = _torch()
        t = value.detach()
        if t.device.type != "cpu":
            t = t.to("cpu")
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16), BF16
        try:
            value = t.numpy()
        except TypeError as e:
            raise TypeError("raiiaf: torch dtype %s has no RAIIAF equivalent (%s)" % (t.dtype, e)) from None
    arr = np.asarray(value)
    if arr.dtype.name == "bfloat16":  # ml_dtypes
        return _c_order(arr).view(np.uint16), BF16
    code = _FROM_NP.get(arr.dtype.name)
    if code is None:
        raise TypeError("raiiaf: dtype %s has no RAIIAF equivalent (the format holds float16, "
                        "bfloat16, float32, float64, int8..uint64 and bool)" % arr.dtype)
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and sys.byteorder == "big"):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return _c_order(arr), code


def _c_order(arr):
    """C-contiguous, keeping rank 0 (np.ascontiguousarray makes it 1-D)."""
    return arr if arr.flags.c_contiguous else np.array(arr, order="C")


# ---- small records -----------------------------------------------------------

# reference: the tensor this one is stored relative to (format 2.1), or None; last, so
# that positional unpacking of the older fields keeps working.
TensorInfo = namedtuple("TensorInfo", "name index dtype shape codec stored_size raw_size tolerance max_error "
                                      "reference")
ChunkInfo = namedtuple("ChunkInfo", "type index codec offset stored_size raw_size")
DriftItem = namedtuple("DriftItem", "id kind file current")


class DriftWarning(UserWarning):
    """The environment a file was made in differs from the current one."""


class VerifyWarning(UserWarning):
    """A warning reported by raiiaf_reader_verify() (not a failure)."""


class RecipeWarning(UserWarning):
    """write(noise_seed=...) asked for a seed recipe, and the latent's values
    were stored instead (the message says why: they are not that seed's
    torch.randn bit for bit, a dtype without a generator, format 1, or a
    libraiiaf without seed recipes).  Nothing is lost: values are lossless."""


class RelativeWarning(UserWarning):
    """write(relative={name: reference}) asked for a latent to be stored
    relative to an earlier one, and it was stored alone (the message says
    why: the difference codes no smaller, codec "zfp", format 1, a reference
    chain at its limit, or a libraiiaf without relative tensors).  Nothing is
    lost: the values are stored whole."""


def _pointer_escape(key):
    return str(key).replace("~", "~0").replace("/", "~1")


# ---- the environment of this Python process ------------------------------------

_BAD_VALUE = re.compile(r"[;=\x00-\x1f\x7f]")


def _clean(v):
    v = _BAD_VALUE.sub("_", str(v)).strip()
    return v or "unknown"


def python_components():
    """Components describing this Python process, as {id: canonical}:
    python and numpy always; torch, cuda and cudnn when torch is loaded;
    diffusers when it is loaded.  The canonical strings follow format 1's
    ENVC ("name=torch;version=V;cuda=C"), so they compare with format 1 files."""
    comps = {"python": "name=python;version=%s" % _clean(platform.python_version()),
             "numpy": "name=numpy;version=%s" % _clean(np.__version__)}
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "__version__"):
        # Exactly as format 1 wrote them: torch's cuda=None, cuda's version=none without CUDA.
        cuda = getattr(getattr(torch, "version", None), "cuda", None)
        comps["torch"] = "name=torch;version=%s;cuda=%s" % (_clean(torch.__version__), _clean(str(cuda)))
        comps["cuda"] = "name=cuda;version=%s" % _clean(cuda or "none")
        try:
            cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        except Exception:  # pragma: no cover - depends on the install
            cudnn = None
        if cudnn:
            comps["cudnn"] = "name=cudnn;version=%s" % _clean(cudnn)
    diffusers = sys.modules.get("diffusers")
    if diffusers is not None and hasattr(diffusers, "__version__"):
        comps["diffusers"] = "name=diffusers;version=%s" % _clean(diffusers.__version__)
    return comps


# Component ids python_components() produces -> the module that decides them.
_PY_MODULES = {"torch": "torch", "cuda": "torch", "cudnn": "torch", "diffusers": "diffusers"}


def _installed(module):
    import importlib.util
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _env_from_components(comps, capture=True, flags=ENV_DEFAULT):
    """A C raiiaf_env handle: the library's capture (unless capture=False)
    plus `comps`.  Caller frees with raiiaf_env_free."""
    h = ctypes.c_void_p()
    rc = lib.raiiaf_env_capture(flags, ctypes.byref(h)) if capture else lib.raiiaf_env_new(ctypes.byref(h))
    if rc:
        msg = s(lib.raiiaf_env_errmsg(h)) if h else ""
        lib.raiiaf_env_free(h)
        raise errors.make(rc, msg or s(lib.raiiaf_strerror(rc)), part="env")
    for cid, canon in comps.items():
        rc = lib.raiiaf_env_add_component(h, b(cid), b(canon))
        if rc:
            msg = s(lib.raiiaf_env_errmsg(h))
            lib.raiiaf_env_free(h)
            raise errors.make(rc, msg)
    return h


def _env_components(h):
    out = {}
    for i in range(lib.raiiaf_env_count(h)):
        cid, canon = ctypes.c_char_p(), ctypes.c_char_p()
        if lib.raiiaf_env_component(h, i, ctypes.byref(cid), ctypes.byref(canon), None) == 0:
            out[s(cid.value)] = s(canon.value)
    return out


def current_env(include_hostname=False):
    """The current environment as {id: canonical}: what libraiiaf captures
    (os, cpu, ram, libraries, GPUs) plus python_components()."""
    h = _env_from_components(python_components(), True, ENV_INCLUDE_HOSTNAME if include_hostname else 0)
    try:
        return _env_components(h)
    finally:
        lib.raiiaf_env_free(h)


# ---- writing ----------------------------------------------------------------------


def _image_bytes(image):
    if image is None:
        return None
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        with io.open(image, "rb") as fh:  # (this module's open() is raiiaf.open)
            return fh.read()
    if hasattr(image, "save") and hasattr(image, "mode"):  # a PIL image
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    raise TypeError("raiiaf: image must be a path, bytes or a PIL image, not %s" % type(image).__name__)


def _cpus():
    """How many CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Writer:
    """A C writer to `path`, or into memory when path is None."""

    def __init__(self, path):
        self.path = None if path is None else os.fspath(path)
        self.h = ctypes.c_void_p()
        if self.path is None:
            rc = lib.raiiaf_writer_new_memory(ctypes.byref(self.h))
        else:
            rc = lib.raiiaf_writer_new(b(self.path), ctypes.byref(self.h))
        self.check(rc)

    def result(self):
        """The path written, or the bytes of a memory writer."""
        if self.path is not None:
            return self.path
        data, n = ctypes.c_void_p(), ctypes.c_size_t()
        self.check(lib.raiiaf_writer_memory(self.h, ctypes.byref(data), ctypes.byref(n)))
        return ctypes.string_at(data, n.value)

    def check(self, rc, part=None):
        if rc:
            msg = s(lib.raiiaf_writer_errmsg(self.h)) if self.h else ""
            raise errors.make(rc, msg or s(lib.raiiaf_strerror(rc)), self.path, part)

    def set(self, pointer, value):
        # ASCII JSON (\uXXXX escapes): a str's lone surrogate travels as \ud800, which
        # format 1 keeps (Python's dialect) and format 2 refuses with a JSON error.
        self.check(lib.raiiaf_writer_set_json(self.h, b(pointer), b(json.dumps(value))))

    def free(self):
        if self.h:
            lib.raiiaf_writer_free(self.h)
            self.h = ctypes.c_void_p()


def write(path, image=None, latents=None, *, model=None, model_version=None, prompt=None,
          negative_prompt=None, tags=None, seed=None, steps=None, sampler=None, cfg_scale=None,
          scheduler=None, date=None, generation_settings=None, hardware_info=None, extra=None,
          extensions=None, codec="auto", tolerance=0.0, env=True, env_components=None,
          include_hostname=False, chunks=None, format=2, noise_seed=None, relative=None):
    """Writes a RAIIAF file atomically (an existing file is replaced whole or
    not at all) and returns its path; with path None, builds the file in
    memory and returns its bytes.

    image       a path, bytes or a PIL image (saved as PNG); stored byte for byte
    latents     {name: numpy array or torch tensor}, in file order
    codec       "auto" (default), "raw", "zstd" or "zfp", or {name: codec}
    tolerance   > 0: lossy zfp with that absolute error bound (float32/64); or {name: tol}
    model, model_version, prompt, negative_prompt, tags, date and
    seed, steps, sampler, cfg_scale, scheduler
                the generation record (model_info, model_info/generation_settings)
    generation_settings, hardware_info
                dicts merged into model_info/generation_settings, set as model_info/hardware_info
    extensions  {namespace: value} stored as raiiaf_metadata/extensions
    extra       a dict merged into the whole manifest (like `raiiaf create --meta`)
    env         True: record the environment (the library's capture plus python,
                numpy, and torch/CUDA/cuDNN and diffusers when loaded); False: none
    env_components  {id: canonical} added to the record (they win over automatic ones)
    chunks      {TYPE: bytes}: further chunks of types the format does not define
    format      2 (default) or 1 (the original package's layout, when the library can)
    noise_seed  seed recipes (format 2.1): a latent that is exactly
                torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(S))
                on the CPU (float32, float16 or bfloat16) is stored as 32 bytes naming the
                generator and S, and regenerated (its SHA-256 checked) on read.
                An int S applies to the latent "initial_noise"; {name: S} to those latents
                (0 <= S < 2**64; their tolerance must be 0).  The library regenerates the
                noise and compares every byte: a recipe is stored only on an exact match,
                else the values (with `codec`) and a RecipeWarning says why.
                None (default): when `seed` is given and a latent is named "initial_noise",
                the generation seed is tried for it, quietly (values on any mismatch).
                False: never a recipe (files that format 2.0 readers can read).
    relative    relative tensors (format 2.1), for denoising trajectories: a latent is
                stored as the XOR of its bytes with an earlier latent of the same dtype
                and shape, coded with byte-plane zstd, when that is smaller than the
                latent alone (with `codec`); reading decodes the chain, every link checked.
                {name: reference}: each names an earlier latent in `latents` (same dtype
                and shape; both tolerance 0); when one is stored alone anyway (the
                difference codes no smaller, codec "zfp", format 1) a RelativeWarning
                says why.  "chain": every latent after the first is tried against the
                one just before it when dtype, shape and tolerance 0 allow, quietly.
                A latent that takes a seed recipe (noise_seed) is not made relative.
                None (default): every latent is stored alone.
    """
    w = _Writer(path)
    try:
        if format != 2:
            w.check(lib.raiiaf_writer_set_format(w.h, int(format)))
        noise = _noise_seeds(noise_seed, seed, latents, tolerance, format)
        rel = _relatives(relative, latents, tolerance, noise)
        refs = {}  # reference name -> (array, dtype code, uses left): the bytes passed as reference_data
        uses = collections.Counter(ref for ref, _ in rel.values())
        img = _image_bytes(image)
        if img is not None:
            # With two CPUs to run on, the image's pixel data is checked on a
            # second thread while the latents are hashed and coded here (issue
            # 15: the check is most of a write).  A fault it finds is then
            # reported by finish, which is also in this call.
            if _cpus() >= 2:
                w.check(lib.raiiaf_writer_set_threads(w.h, 2))
            buf = ctypes.c_char_p(img)
            w.check(lib.raiiaf_writer_add_image(w.h, buf, len(img)), "image")
        for name, value in (latents or {}).items():
            arr, code = as_tensor_bytes(value)
            c = codec.get(name, "auto") if isinstance(codec, dict) else codec
            tol = tolerance.get(name, 0.0) if isinstance(tolerance, dict) else tolerance
            if c not in CODECS:
                raise ValueError("raiiaf: unknown codec %r (auto, raw, zstd, zfp)" % (c,))
            shape = (ctypes.c_uint64 * max(arr.ndim, 1))(*arr.shape)
            if name in noise:
                _add_noise(w, name, code, arr, shape, CODECS[c], *noise[name])
            elif name in rel:
                ref, explicit = rel[name]
                ref_arr, ref_code, _ = refs[ref]
                _add_relative(w, name, code, arr, shape, CODECS[c], ref, ref_arr, ref_code, explicit, format)
            else:
                w.check(lib.raiiaf_writer_add_tensor(w.h, b(name), code, arr.ndim, shape,
                                                     ctypes.c_void_p(arr.ctypes.data), arr.nbytes,
                                                     CODECS[c], float(tol or 0.0)), "latent")
            if name in rel:  # one use of its reference done; keep the arrays no longer than needed
                ref = rel[name][0]
                ref_arr, ref_code, left = refs[ref]
                if left > 1:
                    refs[ref] = (ref_arr, ref_code, left - 1)
                else:
                    del refs[ref]
            if uses[name]:
                refs[name] = (arr, code, uses[name])
        for ctype, data in (chunks or {}).items():
            data = bytes(data)
            w.check(lib.raiiaf_writer_add_chunk(w.h, b(ctype), ctypes.c_char_p(data), len(data)), "chunk")
        mi = "/raiiaf_metadata/model_info/"
        for key, val in (("model_name", model), ("version", model_version), ("prompt", prompt),
                         ("negative_prompt", negative_prompt), ("date", date)):
            if val is not None:
                w.set(mi + key, str(val))
        if tags is not None:
            w.set(mi + "tags", [str(t) for t in tags])
        gs = dict(generation_settings or {})
        for key, val in (("seed", seed), ("steps", steps), ("sampler", sampler),
                         ("cfg_scale", cfg_scale), ("scheduler", scheduler)):
            if val is not None:
                gs[key] = val
        for key, val in gs.items():
            w.set(mi + "generation_settings/" + _pointer_escape(key), _jsonable(val))
        if hardware_info is not None:
            w.set(mi + "hardware_info", _jsonable(hardware_info))
        if extensions:
            w.check(lib.raiiaf_writer_merge_json(w.h, b(json.dumps(
                {"raiiaf_metadata": {"extensions": _jsonable(extensions)}}))))
        if extra:
            w.check(lib.raiiaf_writer_merge_json(w.h, b(json.dumps(_jsonable(extra)))))
        _write_env(w, format, env, env_components, include_hostname)
        rc = lib.raiiaf_writer_finish(w.h)
        w.check(rc, "image" if rc == errors.E_IMAGE else None)  # the second thread's finding (above)
        return w.result()
    finally:
        w.free()


def _seed_value(v, what):
    """v as a seed for a recipe (0 <= v < 2**64), or a TypeError/ValueError."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError("raiiaf: %s must be an int, not %s" % (what, type(v).__name__))
    v = int(v)
    if not 0 <= v < 2 ** 64:
        raise ValueError("raiiaf: %s must be in 0..2**64-1, got %d" % (what, v))
    return v


def _noise_seeds(noise_seed, seed, latents, tolerance, format):
    """{latent name: (seed, explicit)} for the latents to try as seed recipes."""
    names = list(latents or {})

    def tol(name):
        return float((tolerance.get(name, 0.0) if isinstance(tolerance, dict) else tolerance) or 0.0)

    if noise_seed is False:
        return {}
    if noise_seed is None:  # the generation seed, tried quietly for initial_noise
        if seed is None or NOISE_LATENT not in names or tol(NOISE_LATENT) != 0 or format != 2:
            return {}
        try:
            return {NOISE_LATENT: (_seed_value(seed, "seed"), False)}
        except (TypeError, ValueError):  # e.g. -1 ("random") or a string: values, as the CLI does
            return {}
    if isinstance(noise_seed, dict):
        wanted = dict(noise_seed)
    elif isinstance(noise_seed, bool):
        raise TypeError("raiiaf: noise_seed must be an int, a dict {name: seed}, None or False, not True")
    else:
        wanted = {NOISE_LATENT: noise_seed}
    out = {}
    for name, v in wanted.items():
        if name not in names:
            raise ValueError("raiiaf: noise_seed names latent %r, which is not in latents (%s)%s"
                             % (name, ", ".join(names) or "none",
                                "" if isinstance(noise_seed, dict) else
                                "; an int noise_seed applies to \"%s\", use {name: seed}" % NOISE_LATENT))
        if tol(name) != 0:
            raise ValueError("raiiaf: latent %r has a noise_seed and tolerance %r: a seed recipe is "
                             "lossless, its tolerance must be 0" % (name, tol(name)))
        out[name] = (_seed_value(v, "noise_seed for %r" % name), True)
    return out


def _relatives(relative, latents, tolerance, noise):
    """{latent name: (reference name, explicit)} for the latents to try
    relative to an earlier one."""
    names = list(latents or {})
    order = {name: i for i, name in enumerate(names)}

    def tol(name):
        return float((tolerance.get(name, 0.0) if isinstance(tolerance, dict) else tolerance) or 0.0)

    if relative is None or relative is False:
        return {}
    if isinstance(relative, str):
        if relative != "chain":
            raise ValueError("raiiaf: relative must be a dict {name: reference}, \"chain\" or None, not %r"
                             % (relative,))
        # dtype and shape are compared when the arrays are at hand (write()).
        return {name: (prev, False) for prev, name in zip(names, names[1:])
                if name not in noise and tol(name) == 0 and tol(prev) == 0}
    if not isinstance(relative, dict):
        raise TypeError("raiiaf: relative must be a dict {name: reference}, \"chain\" or None, not %s"
                        % type(relative).__name__)
    out = {}
    for name, ref in relative.items():
        if name not in order:
            raise ValueError("raiiaf: relative names latent %r, which is not in latents (%s)"
                             % (name, ", ".join(names) or "none"))
        if not isinstance(ref, str):
            raise TypeError("raiiaf: relative[%r] must be a latent's name, not %s" % (name, type(ref).__name__))
        if ref not in order or order[ref] >= order[name]:
            raise ValueError("raiiaf: latent %r cannot be relative to %r: the reference must be an earlier "
                             "latent in latents (%s)" % (name, ref, ", ".join(names[:order[name]]) or "none"))
        for n in (name, ref):
            if tol(n) != 0:
                raise ValueError("raiiaf: latent %r is relative to %r, and %r has tolerance %r: relative "
                                 "tensors are lossless, both tolerances must be 0" % (name, ref, n, tol(n)))
        if name not in noise:  # a seed recipe wins: 32 bytes
            out[name] = (ref, True)
    return out


def _add_relative(w, name, code, arr, shape, codec, ref, ref_arr, ref_code, explicit, format):
    """Adds latent `name` relative to the earlier latent `ref` (whose bytes
    are `ref_arr`) when that codes smaller, else alone with `codec`."""
    same = code == ref_code and arr.shape == ref_arr.shape
    if explicit and not same:
        raise ValueError("raiiaf: latent %r cannot be relative to %r: dtype %s shape %s against %s %s"
                         % (name, ref, DTYPE_NAMES[code], tuple(arr.shape), DTYPE_NAMES[ref_code],
                            tuple(ref_arr.shape)))
    # Format 1 is decided here too, so that libraries before the one that stores
    # such tensors alone (they answered NOT_FOUND) behave the same.
    why = "format %s has no relative tensors" % format if format != 2 else None
    if not same or why:  # "chain" across a change of dtype or shape: alone, quietly
        if why and explicit:
            warnings.warn("raiiaf: %s: stored alone: %s" % (name, why), RelativeWarning, stacklevel=3)
        _add_values(w, name, code, arr, shape, codec)
        return
    as_relative = ctypes.c_int(0)
    w.check(lib.raiiaf_writer_add_tensor_relative(w.h, b(name), code, arr.ndim, shape,
                                                  ctypes.c_void_p(arr.ctypes.data), arr.nbytes, b(ref),
                                                  ctypes.c_void_p(ref_arr.ctypes.data), codec,
                                                  ctypes.byref(as_relative)), "latent")
    if not as_relative.value and explicit:
        warnings.warn("raiiaf: %s not stored relative to %s: %s"
                      % (name, ref, s(lib.raiiaf_writer_errmsg(w.h))), RelativeWarning, stacklevel=3)


def _add_values(w, name, code, arr, shape, codec):
    """Adds latent `name` as its values, losslessly with `codec`."""
    w.check(lib.raiiaf_writer_add_tensor(w.h, b(name), code, arr.ndim, shape,
                                         ctypes.c_void_p(arr.ctypes.data), arr.nbytes, codec, 0.0), "latent")


def _add_noise(w, name, code, arr, shape, codec, seed, explicit):
    """Adds latent `name` as a seed recipe when it is that seed's torch.randn
    bit for bit, else as values with `codec`."""
    as_recipe = ctypes.c_int(0)
    w.check(lib.raiiaf_writer_add_noise_tensor(w.h, b(name), code, arr.ndim, shape,
                                               ctypes.c_void_p(arr.ctypes.data), arr.nbytes, seed, codec,
                                               ctypes.byref(as_recipe)), "latent")
    if not as_recipe.value and explicit:
        warnings.warn("raiiaf: no seed recipe for %s (noise_seed %d): %s"
                      % (name, seed, s(lib.raiiaf_writer_errmsg(w.h))), RecipeWarning, stacklevel=3)


def _jsonable(v):
    """numpy scalars and arrays to plain JSON values."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _write_env(w, format, env, env_components, include_hostname):
    user = dict(env_components or {})
    if format == 1:
        if not env:
            return
        comps = python_components()
        comps.update(user)
        cur = current_env()  # the os component in format 1's form comes from the library's capture
        if "os" in cur and "os" not in comps:
            comps["os"] = cur["os"]
        import hashlib
        rec = {"env_version": 1, "components": [
            {"component_id": cid, "cononical_str": canon,
             "component_sha256_digest": hashlib.sha256(canon.encode()).hexdigest()}
            for cid, canon in comps.items()]}
        text = json.dumps(rec).encode()
        w.check(lib.raiiaf_writer_set_format1_env(w.h, text, len(text)), "env")
        return
    if not env:
        w.check(lib.raiiaf_writer_set_env(w.h, ENV_NONE))
        return
    w.check(lib.raiiaf_writer_set_env(w.h, ENV_INCLUDE_HOSTNAME if include_hostname else ENV_DEFAULT))
    for cid, canon in user.items():
        w.check(lib.raiiaf_writer_add_env_component(w.h, b(cid), b(canon)), "env")
    for cid, canon in python_components().items():
        if cid not in user:
            w.check(lib.raiiaf_writer_add_env_component(w.h, b(cid), b(canon)), "env")


# ---- reading ------------------------------------------------------------------------


class _Reader:
    """Owns the C reader handle (and the borrowed buffer of a memory open).
    Zero-copy arrays hold a reference to it, so the mapping outlives them."""

    def __init__(self, source, flags, version=None, decode_limit=None):
        self.h = ctypes.c_void_p()
        self.keep = None
        if version is not None and not isinstance(source, (str, os.PathLike)):
            raise TypeError("raiiaf: open(version=) needs a path")
        if isinstance(source, (str, os.PathLike)):
            self.path = os.fsdecode(source)
            rc = lib.raiiaf_reader_new(flags, ctypes.byref(self.h))
            if not rc and version is not None:
                rc = lib.raiiaf_reader_set_version(self.h, int(version))
            if not rc and decode_limit is not None:
                rc = lib.raiiaf_reader_set_decode_limit(self.h, int(decode_limit))
            if not rc:
                rc = lib.raiiaf_reader_open(self.h, os.fsencode(source))
        else:
            self.path = None
            self.keep = np.frombuffer(source, dtype=np.uint8)
            rc = lib.raiiaf_reader_new(flags, ctypes.byref(self.h))
            if not rc and decode_limit is not None:
                rc = lib.raiiaf_reader_set_decode_limit(self.h, int(decode_limit))
            if not rc:
                rc = lib.raiiaf_reader_open_buffer(self.h, ctypes.c_void_p(self.keep.ctypes.data), self.keep.nbytes)
        if rc:
            msg = s(lib.raiiaf_reader_errmsg(self.h)) if self.h else ""
            self.free()
            raise errors.make(rc, msg or s(lib.raiiaf_strerror(rc)), self.path)

    def check(self, rc, part=None):
        if rc:
            raise errors.make(rc, s(lib.raiiaf_reader_errmsg(self.h)) or s(lib.raiiaf_strerror(rc)),
                              self.path, part)

    def free(self):
        if self.h:
            lib.raiiaf_reader_free(self.h)
            self.h = ctypes.c_void_p()

    def __del__(self):
        self.free()


class _Mapped:
    """A read-only window on the reader's memory, for numpy (zero-copy)."""

    def __init__(self, reader, address, typestr, shape):
        self.reader = reader  # keeps the mapping alive
        self.__array_interface__ = {"version": 3, "typestr": typestr, "shape": shape,
                                    "data": (address, True)}


class LatentMap(collections.abc.Mapping):
    """The file's tensors by name, in file order, each loaded on first use."""

    def __init__(self, f):
        self._f = f
        self._cache = {}

    def __getitem__(self, name):
        if name not in self._cache:
            self._cache[name] = self._f._array(self._f._index(name))
        return self._cache[name]

    def __iter__(self):
        return iter(self._f.names)

    def __len__(self):
        return len(self._f.names)

    def __repr__(self):
        return "LatentMap(%s)" % ", ".join(self._f.names)


class File:
    """An open RAIIAF file (format 1 or 2): ``raiiaf.open(path)``.

    Use as a context manager.  Arrays from ``latents`` that are stored raw are
    read-only views of the mapped file (no copy); they keep the mapping alive
    even after ``close()``.  Every payload's CRC-32C and SHA-256 are checked
    when it is first read (``digests=False``: CRC-32C only)."""

    def __init__(self, source, digests=True, version=None, decode_limit=None, max_decode=None):
        self._r = _Reader(source, 0 if digests else READ_NO_DIGEST, version, max_decode_bytes(max_decode, decode_limit))
        self.path = self._r.path
        self._meta = None
        self._names = None
        self.latents = LatentMap(self)

    # -- lifetime
    def close(self):
        """Lets go of the file.  The C reader is freed once no zero-copy array
        still refers to it."""
        self._r = None
        self.latents._cache.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def _h(self):
        if self._r is None:
            raise ValueError("raiiaf: I/O operation on a closed file")
        return self._r.h

    def __repr__(self):
        return "<raiiaf.File %r format %d.%d, %d tensors>" % ((self.path or "<memory>",) + self.format + (len(self.names),))

    # -- whole-file facts
    @property
    def format(self):
        """(major, minor) of the container format: (2, 0), (2, 1) when a
        tensor is stored as a seed recipe, or (1, 0) for the original
        package's files."""
        ma, mi = ctypes.c_uint(), ctypes.c_uint()
        lib.raiiaf_reader_format(self._h, ctypes.byref(ma), ctypes.byref(mi))
        return ma.value, mi.value

    @property
    def file_size(self):
        return lib.raiiaf_reader_file_size(self._h)

    @property
    def manifest_json(self):
        """The manifest exactly as stored (str)."""
        n = ctypes.c_size_t()
        p = lib.raiiaf_reader_manifest(self._h, ctypes.byref(n))
        return ctypes.string_at(p, n.value).decode("utf-8")

    @property
    def metadata(self):
        """The manifest as a dict (``metadata["raiiaf_metadata"]["model_info"]`` ...)."""
        if self._meta is None:
            self._meta = json.loads(self.manifest_json)
        return self._meta

    @property
    def chunks(self):
        out = []
        info = _lib.ChunkInfo()
        for i in range(lib.raiiaf_reader_chunk_count(self._h)):
            self._r.check(lib.raiiaf_reader_chunk_info(self._h, i, ctypes.byref(info)), "chunk")
            out.append(ChunkInfo(s(info.type), info.index, CODEC_NAMES.get(info.codec, info.codec),
                                 info.offset, info.stored_size, info.raw_size))
        return out

    def chunk_bytes(self, index):
        """The payload of chunk `index` (of ``chunks``) as stored, checked:
        for chunks of types the library does not interpret (raw only)."""
        p, n = ctypes.c_void_p(), ctypes.c_size_t()
        self._r.check(lib.raiiaf_reader_chunk_data(self._h, index, ctypes.byref(p), ctypes.byref(n)), "chunk")
        return ctypes.string_at(p, n.value)

    # -- tensors
    @property
    def names(self):
        """Tensor names in file order."""
        if self._names is None:
            self._names = [self.tensor_info(i).name for i in range(lib.raiiaf_reader_tensor_count(self._h))]
        return self._names

    def _index(self, name):
        if isinstance(name, int):
            return name
        idx = ctypes.c_size_t()
        rc = lib.raiiaf_reader_find_tensor(self._h, b(name), ctypes.byref(idx))
        if rc == errors.E_NOT_FOUND:
            raise KeyError(name)
        self._r.check(rc, "latent")
        return idx.value

    def tensor_info(self, name):
        """A TensorInfo (name, index, dtype name, shape, codec name, sizes,
        tolerance, max_error, reference) for a tensor name or index;
        reference is the name of the tensor it is stored relative to, or None."""
        idx = self._index(name)
        ti = _lib.TensorInfo()
        self._r.check(lib.raiiaf_reader_tensor_info(self._h, idx, ctypes.byref(ti)), "latent")
        return TensorInfo(s(ti.name), idx, DTYPE_NAMES.get(ti.dtype, ti.dtype), tuple(ti.shape[:ti.rank]),
                          CODEC_NAMES.get(ti.codec, ti.codec), ti.stored_size, ti.raw_size,
                          ti.tolerance, ti.max_error, s(ti.reference))

    def recipe(self, name):
        """How tensor `name` (or index) is regenerated when it is stored as a
        seed recipe (codec "recipe"): {"generator": "torch.randn/cpu",
        "generator_version": 1, "kernel": "avx2-fma", "seed": 42}.  None when
        the tensor stores its values."""
        idx = self._index(name)
        if self.tensor_info(idx).codec != "recipe":
            return None
        rec = _lib.Recipe()
        rc = lib.raiiaf_reader_tensor_recipe(self._h, idx, ctypes.byref(rec))
        if rc == errors.E_NOT_FOUND:
            return None
        self._r.check(rc, "latent")
        return {"generator": s(rec.generator), "generator_version": rec.generator_version,
                "kernel": s(rec.kernel), "seed": rec.seed}

    def _array(self, idx, bf16_as=None):
        ti = _lib.TensorInfo()
        self._r.check(lib.raiiaf_reader_tensor_info(self._h, idx, ctypes.byref(ti)), "latent")
        dt = _np_dtype(ti.dtype)
        shape = tuple(ti.shape[:ti.rank])
        arr = None
        # zero-copy: raw values only (never a recipe, nor a relative tensor: its bytes are an XOR)
        if ti.codec == CODEC_RAW and ti.reference is None and ti.raw_size > 0:
            ptr = ctypes.c_void_p()
            rc = lib.raiiaf_reader_tensor_data(self._h, idx, ctypes.byref(ptr))
            if rc == 0:
                arr = np.asarray(_Mapped(self._r, ptr.value, dt.str, shape))
            elif rc != errors.E_CODEC:  # format 1: nothing is aligned, copy instead
                self._r.check(rc, "latent")
        if arr is None:
            arr = np.empty(shape, dt)
            if ti.raw_size:
                self._r.check(lib.raiiaf_reader_read_tensor(self._h, idx, ctypes.c_void_p(arr.ctypes.data),
                                                            ti.raw_size), "latent")
            arr.flags.writeable = False  # same contract as the mapped ones
        if ti.dtype == BF16:
            bf = _bf16_numpy() if bf16_as is None else bf16_as  # False: keep the uint16 bits
            if bf:
                arr = arr.view(bf)
        return arr

    def latent(self, name, device=None, dtype=None):
        """Tensor `name` as a torch tensor (its own memory, writable), on
        `device` ("cuda", ...) and converted to `dtype` when given.  bfloat16
        tensors come back as torch.bfloat16, bit for bit; uint16 and uint32
        are widened to int64 (not every torch has those types)."""
        try:
            import torch
        except ImportError:
            raise ImportError("raiiaf: File.latent() needs PyTorch; use File.latents[name] "
                              "for a numpy array") from None
        idx = self._index(name)
        arr = self._array(idx, bf16_as=False)
        if self.tensor_info(idx).dtype == "bfloat16":
            t = torch.from_numpy(np.array(arr).view(np.int16)).view(torch.bfloat16)
        elif arr.dtype in (np.uint16, np.uint32):  # widened: not every torch has these types
            t = torch.from_numpy(arr.astype(np.int64))
        else:
            t = torch.from_numpy(np.array(arr))
        if dtype is not None or device is not None:
            t = t.to(device=device, dtype=dtype)
        return t

    # -- image
    def _image(self):
        data, size, fmt = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_char_p()
        wd, ht = ctypes.c_uint32(), ctypes.c_uint32()
        rc = lib.raiiaf_reader_image(self._h, ctypes.byref(data), ctypes.byref(size), ctypes.byref(fmt),
                                     ctypes.byref(wd), ctypes.byref(ht))
        if rc == errors.E_NOT_FOUND:
            return None
        self._r.check(rc, "image")
        return data.value, size.value, s(fmt.value), (wd.value, ht.value)

    @property
    def has_image(self):
        return self._image() is not None

    @property
    def image_bytes(self):
        """The image exactly as written (bytes), or None when the file has none."""
        im = self._image()
        return None if im is None else ctypes.string_at(im[0], im[1])

    @property
    def image_buffer(self):
        """The image bytes as a read-only numpy uint8 array over the file's
        mapping (no copy), or None."""
        im = self._image()
        if im is None:
            return None
        return np.asarray(_Mapped(self._r, im[0], "|u1", (im[1],)))

    @property
    def image_format(self):
        im = self._image()
        return None if im is None else im[2]

    @property
    def image_size(self):
        """(width, height), or None."""
        im = self._image()
        return None if im is None else im[3]

    def image(self):
        """The image as a PIL image (needs Pillow)."""
        data = self.image_bytes
        if data is None:
            return None
        try:
            from PIL import Image
        except ImportError:
            raise ImportError("raiiaf: File.image() needs Pillow (python3-pil); "
                              "File.image_bytes has the bytes") from None
        im = Image.open(io.BytesIO(data))
        im.load()
        return im

    # -- the mapping
    @property
    def mapping(self):
        """(address, size) of the file's bytes in memory (the mapping of a
        file, or the borrowed buffer), found from a zero-copy pointer.  None
        when the file has no image or raw tensor to find it from (format 1)."""
        if self._r.keep is not None:
            return self._r.keep.ctypes.data, self._r.keep.nbytes
        chunks = self.chunks
        im = self._image()
        if im is not None and self.format[0] >= 2:
            ci = self.metadata["raiiaf_metadata"]["image"]["chunk"]
            return im[0] - (chunks[ci].offset + 64), self.file_size
        for t in self.metadata["raiiaf_metadata"].get("tensors", []) if self.format[0] >= 2 else []:
            if t["codec"] == "raw" and "reference" not in t and chunks[t["chunk"]].raw_size:
                ptr = ctypes.c_void_p()
                if lib.raiiaf_reader_tensor_data(self._h, self._index(t["name"]), ctypes.byref(ptr)) == 0:
                    return ptr.value - (chunks[t["chunk"]].offset + 64), self.file_size
        return None

    # -- environment
    @property
    def env_json(self):
        """The stored environment record's JSON text, or None."""
        p, n = ctypes.c_void_p(), ctypes.c_size_t()
        rc = lib.raiiaf_reader_env_record(self._h, ctypes.byref(p), ctypes.byref(n))
        if rc == errors.E_NOT_FOUND:
            return None
        self._r.check(rc, "env")
        return ctypes.string_at(p, n.value).decode("utf-8")

    @property
    def env(self):
        """The environment record as {id: canonical string}, in id order
        ({} when the file holds none)."""
        h = ctypes.c_void_p()
        rc = lib.raiiaf_reader_env(self._h, ctypes.byref(h))
        if rc == errors.E_NOT_FOUND:
            return {}
        try:
            self._r.check(rc, "env")
            return _env_components(h)
        finally:
            lib.raiiaf_env_free(h)

    @property
    def drift(self):
        """How the current environment (the library's capture plus this
        Python's python/numpy/torch/diffusers) differs from the file's: a
        list of DriftItem(id, kind, file, current), sorted by id; kind is
        "added" (only now), "removed" (only in the file), "changed" or
        "unchecked" (only in the file, and nothing here can say: a component
        of your own, or torch/diffusers installed but not imported; a torch,
        cuda, cudnn or diffusers component whose module is not installed here
        at all is "removed").  Import torch before asking to compare it."""
        cur = _env_from_components(python_components())
        d = ctypes.c_void_p()
        try:
            rc = lib.raiiaf_reader_drift(self._h, cur, ctypes.byref(d))
            if rc == errors.E_NOT_FOUND:
                return []
            self._r.check(rc, "env")
            out, item = [], _lib.DriftItem()
            for i in range(lib.raiiaf_drift_count(d)):
                self._r.check(lib.raiiaf_drift_item_get(d, i, ctypes.byref(item)), "env")
                kind = DRIFT_KINDS.get(item.kind, str(item.kind))
                cid = s(item.id)
                if kind == "unchecked" and cid in _PY_MODULES and not _installed(_PY_MODULES[cid]):
                    kind = "removed"  # e.g. the file was made with torch, and there is none here
                out.append(DriftItem(cid, kind, s(item.file_canonical), s(item.current_canonical)))
            return out
        finally:
            lib.raiiaf_drift_free(d)
            lib.raiiaf_env_free(cur)

    # -- versions and signatures (raiiaf._trust)
    @property
    def version(self):
        """The manifest version this File shows (1 for an unedited file)."""
        return lib.raiiaf_reader_manifest_version(self._h)

    @property
    def latest_version(self):
        return lib.raiiaf_reader_latest_version(self._h)

    @property
    def trailing_bytes(self):
        """Bytes after the newest complete version (an interrupted edit)."""
        return lib.raiiaf_reader_trailing_bytes(self._h)

    def history(self):
        """Every manifest version, oldest first: [Version(version, offset, manifest)]."""
        from . import _trust
        return _trust.history(self)

    def signature(self, pubkey=None):
        """Signature(state, key_id, signed_version, message) of the newest
        signature; state is "unsigned", "valid", "edited" or "invalid"."""
        from . import _trust
        return _trust.signature(self, pubkey)

    # -- interop (raiiaf._interop)
    def export(self, path, format=None):
        """Writes the stored image, never re-encoded, with its generation
        record (A1111 `parameters` text and the whole manifest) to `path`;
        the format from the extension unless given, and it must be the
        stored image's.  Warns (ExportWarning) when a JPEG's EXIF segment
        could hold only the parameters text."""
        from . import _interop
        flags = _interop.export_file(self, path, format)
        if flags & _interop.EXPORT_MANIFEST_OMITTED:
            warnings.warn("raiiaf: %s: the manifest does not fit in a JPEG EXIF segment; only the parameters "
                          "text was exported" % path, _interop.ExportWarning, stacklevel=2)
        return path

    def export_bytes(self, format=None):
        """As export(), returning the bytes."""
        from . import _interop
        return _interop.export_bytes(self, format)[0]

    @property
    def parameters(self):
        """The A1111-style parameters text of the generation record."""
        from . import _interop
        return _interop.parameters(self)

    def save_tensor(self, name, path):
        """Writes tensor `name` to `path`: .safetensors (with the generation
        record as __metadata__) or .npy."""
        from . import _interop
        return _interop.save_tensor(self, name, path)

    # -- verification
    def verify(self, pubkey=None):
        """Checks everything (every byte, CRC, SHA-256, the image, the
        schema) and, with `pubkey` (a public key file), that the newest
        version carries a valid signature by that key.  Raises the library's
        error for the first problem, with every problem's message; warnings
        become VerifyWarning.  Returns the list of warning messages."""
        problems, warns = [], []

        def report(ctx, status, message):
            (problems if status else warns).append((status, s(message)))

        cb = _lib.PROBLEM_FN(report)
        rc = lib.raiiaf_reader_verify(self._h, cb, None)
        for _, msg in warns:
            warnings.warn(msg, VerifyWarning, stacklevel=2)
        if rc:
            msgs = [m for _, m in problems] or [s(lib.raiiaf_reader_errmsg(self._h))]
            raise errors.make(rc, "; ".join(msgs), self.path, errors.part_of(msgs[0]))
        if pubkey is not None:
            sig = self.signature(pubkey)
            if sig.state != "valid":
                why = {"unsigned": "the file is not signed",
                       "edited": "signed version %d, edited since" % sig.signed_version}.get(sig.state, sig.message)
                raise errors.make(errors.E_DIGEST, "signature: %s" % why, self.path, "chunk")
        return [m for _, m in warns]


def max_decode_bytes(max_decode=None, decode_limit=None):
    """The budget of decoded bytes a reader gets: `max_decode` (an int, or
    a str such as "2G" as the CLI's --max-decode takes), else
    `decode_limit` (its older name), else the environment variable
    RAIIAF_MAX_DECODE, else None: the library's default, 64 MiB + 64 x the
    file size.  0 means no limit."""
    v = max_decode if max_decode is not None else decode_limit
    if v is None:
        v = os.environ.get("RAIIAF_MAX_DECODE") or None
        if v is None:
            return None
    if isinstance(v, str):
        m = re.fullmatch(r"([0-9]+)(?:([KMGTkmgt])(iB|B)?)?", v)
        if not m:
            raise ValueError("raiiaf: max_decode %r is not a size in bytes (a number, optionally with K, M, G or T; 0: no limit)" % v)
        return int(m.group(1)) << (10 * ("KMGT".index(m.group(2).upper()) + 1) if m.group(2) else 0)
    v = int(v)
    if v < 0:
        raise ValueError("raiiaf: max_decode must be >= 0 (0: no limit)")
    return v


def open(source, digests=True, version=None, decode_limit=None, max_decode=None):  # noqa: A001 - raiiaf.open, like gzip.open
    """Opens a RAIIAF file (format 1 or 2) by path, or from bytes in memory;
    `version` (a path only) opens an older manifest version (1 = the first);
    `max_decode` sets the reader's budget of decoded bytes before anything
    is read: every payload decoded, each recipe regenerated and each
    manifest's JSON text (counted 4 times) count against it, and past it
    reading fails with LimitError.  Bytes (int) or a size such as "2G";
    0: none; default RAIIAF_MAX_DECODE from the environment, else 64 MiB +
    64 x the file size.  `decode_limit` is its older name."""
    return File(source, digests, version, decode_limit, max_decode)


# ---- raw structures, for the drop-in's header dict --------------------------------

SIGNATURE2 = b"\x89RAIIAF\r\n\x1a\n\x00"


def read_header(path):
    """The container header as a dict in the original package's shape
    (magic, version_major, version_minor, flags, chunk_table_offset,
    chunk_table_size, chunk_count, file_size, reserved).  For format 2,
    chunk_table_* are the manifest chunk's offset and stored size (from the
    footer), chunk_count the number of payload chunks."""
    with io.open(path, "rb") as fh:
        head = fh.read(64)
        fh.seek(0, 2)
        size = fh.tell()
        if head[:6] == b"raiiaf":
            magic, ma, mi, flags, off, length, count, fsize, res = struct.unpack("<6sBBBIIIQI", head[:33])
            return {"magic": magic, "version_major": ma, "version_minor": mi, "flags": flags,
                    "chunk_table_offset": off, "chunk_table_size": length, "chunk_count": count,
                    "file_size": fsize, "reserved": res}
        ma, mi, flags = struct.unpack("<HHI", head[12:20])
        fh.seek(size - 64)
        foot = fh.read(64)
        moff = struct.unpack("<Q", foot[8:16])[0]
        fh.seek(moff)
        mh = fh.read(64)
        count, stored = struct.unpack("<I", mh[8:12])[0], struct.unpack("<Q", mh[16:24])[0]
        return {"magic": head[:12], "version_major": ma, "version_minor": mi, "flags": flags,
                "chunk_table_offset": moff, "chunk_table_size": stored, "chunk_count": count,
                "file_size": size, "reserved": 0}
