"""Loading libraiiaf and declaring its functions for ctypes.

The shared library is looked for, in this order:

1. the path in the environment variable ``RAIIAF_LIBRARY``;
2. a copy bundled next to this package (``raiiaf/libraiiaf.so*``, put there
   by ``setup.py`` when it finds a build of the library);
3. the system: ``ctypes.util.find_library("raiiaf")``, then ``libraiiaf.so.0``
   (after ``make install``).

Functions added to the C library after 0.1.0 (format 1, the environment
record, seed recipes, relative tensors) are declared only when the loaded library exports
them; ``has(name)`` says whether it does, so this package runs against older
libraries too.
"""

import ctypes
import ctypes.util
import glob
import os

c_int, c_uint, c_size_t, c_double = ctypes.c_int, ctypes.c_uint, ctypes.c_size_t, ctypes.c_double
c_char_p, c_void_p, c_uint32, c_uint64 = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64
P = ctypes.POINTER

MAX_RANK = 8


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("dtype", c_int), ("rank", c_uint),
                ("shape", c_uint64 * MAX_RANK), ("codec", c_int),
                ("stored_size", c_uint64), ("raw_size", c_uint64),
                ("tolerance", c_double), ("max_error", c_double),
                ("reference", c_char_p)]  # must mirror raiiaf_tensor_info exactly


class ChunkInfo(ctypes.Structure):
    _fields_ = [("type", ctypes.c_char * 5), ("index", c_uint), ("codec", c_int),
                ("offset", c_uint64), ("stored_size", c_uint64), ("raw_size", c_uint64)]


class Recipe(ctypes.Structure):
    _fields_ = [("generator", c_char_p), ("generator_version", c_uint), ("kernel", c_char_p),
                ("seed", c_uint64)]


class DriftItem(ctypes.Structure):
    _fields_ = [("id", c_char_p), ("kind", c_int),
                ("file_canonical", c_char_p), ("current_canonical", c_char_p)]


PROBLEM_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)

# name: (restype, argtypes).  The first group is the 0.1.0 API; the rest is
# optional (declared when exported).
_PROTOS = {
    "raiiaf_strerror": (c_char_p, [c_int]),
    "raiiaf_version_string": (c_char_p, []),
    "raiiaf_dtype_name": (c_char_p, [c_int]),
    "raiiaf_dtype_from_name": (c_int, [c_char_p]),
    "raiiaf_dtype_size": (c_size_t, [c_int]),
    "raiiaf_codec_name": (c_char_p, [c_int]),
    "raiiaf_codec_from_name": (c_int, [c_char_p, P(c_int)]),
    "raiiaf_writer_new": (c_int, [c_char_p, P(c_void_p)]),
    "raiiaf_writer_free": (None, [c_void_p]),
    "raiiaf_writer_errmsg": (c_char_p, [c_void_p]),
    "raiiaf_writer_add_image": (c_int, [c_void_p, c_void_p, c_size_t]),
    "raiiaf_writer_add_tensor": (c_int, [c_void_p, c_char_p, c_int, c_uint, P(c_uint64),
                                         c_void_p, c_size_t, c_int, c_double]),
    "raiiaf_writer_begin_tensor": (c_int, [c_void_p, c_char_p, c_int, c_uint, P(c_uint64), c_int, c_double]),
    "raiiaf_writer_write_tensor": (c_int, [c_void_p, c_void_p, c_size_t]),
    "raiiaf_writer_end_tensor": (c_int, [c_void_p]),
    "raiiaf_writer_add_chunk": (c_int, [c_void_p, c_char_p, c_void_p, c_size_t]),
    "raiiaf_writer_set_json": (c_int, [c_void_p, c_char_p, c_char_p]),
    "raiiaf_writer_set_string": (c_int, [c_void_p, c_char_p, c_char_p]),
    "raiiaf_writer_merge_json": (c_int, [c_void_p, c_char_p]),
    "raiiaf_writer_finish": (c_int, [c_void_p]),
    "raiiaf_reader_open_file": (c_int, [c_char_p, c_uint, P(c_void_p)]),
    "raiiaf_reader_open_memory": (c_int, [c_void_p, c_size_t, c_uint, P(c_void_p)]),
    "raiiaf_reader_free": (None, [c_void_p]),
    "raiiaf_reader_errmsg": (c_char_p, [c_void_p]),
    "raiiaf_reader_format": (None, [c_void_p, P(c_uint), P(c_uint)]),
    "raiiaf_reader_manifest": (c_void_p, [c_void_p, P(c_size_t)]),
    "raiiaf_reader_file_size": (c_uint64, [c_void_p]),
    "raiiaf_reader_tensor_count": (c_size_t, [c_void_p]),
    "raiiaf_reader_tensor_info": (c_int, [c_void_p, c_size_t, P(TensorInfo)]),
    "raiiaf_reader_find_tensor": (c_int, [c_void_p, c_char_p, P(c_size_t)]),
    "raiiaf_reader_read_tensor": (c_int, [c_void_p, c_size_t, c_void_p, c_size_t]),
    "raiiaf_reader_tensor_data": (c_int, [c_void_p, c_size_t, P(c_void_p)]),
    "raiiaf_reader_image": (c_int, [c_void_p, P(c_void_p), P(c_size_t), P(c_char_p),
                                    P(c_uint32), P(c_uint32)]),
    "raiiaf_reader_chunk_count": (c_size_t, [c_void_p]),
    "raiiaf_reader_chunk_info": (c_int, [c_void_p, c_size_t, P(ChunkInfo)]),
    "raiiaf_reader_verify": (c_int, [c_void_p, PROBLEM_FN, c_void_p]),
    "raiiaf_schema_text": (c_char_p, []),
    "raiiaf_validate_manifest": (c_int, [c_char_p, c_size_t, c_char_p, c_size_t]),
    # -- optional: format 1 ------------------------------------------------
    "raiiaf_writer_set_format": (c_int, [c_void_p, c_uint]),
    "raiiaf_writer_set_format1_env": (c_int, [c_void_p, c_char_p, c_size_t]),
    "raiiaf_reader_env_json": (c_int, [c_void_p, P(c_void_p), P(c_size_t)]),
    # -- optional: environment record and drift ---------------------------
    "raiiaf_env_capture": (c_int, [c_uint, P(c_void_p)]),
    "raiiaf_env_new": (c_int, [P(c_void_p)]),
    "raiiaf_env_from_json": (c_int, [c_char_p, c_size_t, P(c_void_p)]),
    "raiiaf_env_free": (None, [c_void_p]),
    "raiiaf_env_errmsg": (c_char_p, [c_void_p]),
    "raiiaf_env_add_component": (c_int, [c_void_p, c_char_p, c_char_p]),
    "raiiaf_env_count": (c_size_t, [c_void_p]),
    "raiiaf_env_component": (c_int, [c_void_p, c_size_t, P(c_char_p), P(c_char_p), P(c_char_p)]),
    "raiiaf_env_find": (c_char_p, [c_void_p, c_char_p]),
    "raiiaf_env_json": (c_char_p, [c_void_p]),
    "raiiaf_env_check_canonical": (c_int, [c_char_p, c_char_p, c_size_t]),
    "raiiaf_writer_set_env": (c_int, [c_void_p, c_uint]),
    "raiiaf_writer_add_env_component": (c_int, [c_void_p, c_char_p, c_char_p]),
    "raiiaf_reader_env_record": (c_int, [c_void_p, P(c_void_p), P(c_size_t)]),
    "raiiaf_reader_env": (c_int, [c_void_p, P(c_void_p)]),
    "raiiaf_drift_compare": (c_int, [c_void_p, c_void_p, P(c_void_p)]),
    "raiiaf_reader_drift": (c_int, [c_void_p, c_void_p, P(c_void_p)]),
    "raiiaf_drift_count": (c_size_t, [c_void_p]),
    "raiiaf_drift_count_kind": (c_size_t, [c_void_p, c_int]),
    "raiiaf_drift_differences": (c_size_t, [c_void_p]),
    "raiiaf_drift_item_get": (c_int, [c_void_p, c_size_t, P(DriftItem)]),
    "raiiaf_drift_free": (None, [c_void_p]),
    # -- optional: seed recipes (format 2.1) ------------------------------
    "raiiaf_writer_add_noise_tensor": (c_int, [c_void_p, c_char_p, c_int, c_uint, P(c_uint64),
                                               c_void_p, c_size_t, c_uint64, c_int, P(c_int)]),
    "raiiaf_reader_tensor_recipe": (c_int, [c_void_p, c_size_t, P(Recipe)]),
    # -- optional: relative tensors (format 2.1) --------------------------
    "raiiaf_writer_add_tensor_relative": (c_int, [c_void_p, c_char_p, c_int, c_uint, P(c_uint64),
                                                  c_void_p, c_size_t, c_char_p, c_void_p, c_int, P(c_int)]),
}

_REQUIRED_UNTIL = "raiiaf_validate_manifest"  # every entry up to this one must exist


def _candidates():
    env = os.environ.get("RAIIAF_LIBRARY")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(here, "libraiiaf.so*")), key=len)
    sys_lib = ctypes.util.find_library("raiiaf")
    if sys_lib:
        found.append(sys_lib)
    found.append("libraiiaf.so.0")
    return found, False


def _load():
    paths, explicit = _candidates()
    errors = []
    for path in paths:
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append("%s: %s" % (path, e))
            if explicit:
                break
    raise ImportError(
        "raiiaf: cannot load libraiiaf.so (looked at RAIIAF_LIBRARY, a copy next to the "
        "package, then the system library path). Build it (cmake -S . -B build && cmake "
        "--build build), then set RAIIAF_LIBRARY=build/libraiiaf.so, reinstall the package "
        "from a tree that has the build, or `make install`.\n  " + "\n  ".join(errors))


lib, path = _load()
_present = set()
for _name, (_res, _args) in _PROTOS.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        if _name in list(_PROTOS)[:list(_PROTOS).index(_REQUIRED_UNTIL) + 1]:
            raise ImportError("raiiaf: %s (%s) does not export %s: too old" % (path, _name, _name))
        continue
    _f.restype = _res
    _f.argtypes = _args
    _present.add(_name)


def has(name):
    """Whether the loaded library exports the function `name`."""
    return name in _present


def s(b):
    """C string (bytes or None) to str."""
    return None if b is None else b.decode("utf-8", "surrogateescape")


def b(text):
    """str to UTF-8 bytes for the C API."""
    if isinstance(text, bytes):
        return text
    return str(text).encode("utf-8")


version = s(lib.raiiaf_version_string())
