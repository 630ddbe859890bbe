"""Loading libraiiaf and declaring its functions for ctypes.

The shared library is looked for, in this order:

1. the path in the environment variable ``RAIIAF_LIBRARY``;
2. a copy bundled next to this package (``raiiaf/libraiiaf.so*``, put there
   by ``setup.py``, which builds the library with CMake or copies RAIIAF_LIBRARY);
3. the system: ``ctypes.util.find_library("raiiaf")``, then ``libraiiaf.so.0``
   (after ``make install``).

Every public function of ``include/raiiaf.h`` is declared here with its
argument and return types (``python/tests/test_bindings.py`` parses the
header and fails when one disagrees).  The package needs a library at least
as new as ``REQUIRED_VERSION`` and checks ``raiiaf_version_number()`` once at
load time instead of probing for each function.
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


class SignatureInfo(ctypes.Structure):
    _fields_ = [("state", c_int), ("key_id", ctypes.c_char * 17), ("signed_version", c_uint32),
                ("message", ctypes.c_char * 256)]


class Array(ctypes.Structure):
    _fields_ = [("dtype", c_int), ("rank", c_uint), ("shape", c_uint64 * MAX_RANK),
                ("data", c_void_p), ("size", c_size_t), ("owned_", c_void_p)]


class IndexStats(ctypes.Structure):
    _fields_ = [("seen", c_uint64), ("added", c_uint64), ("updated", c_uint64), ("unchanged", c_uint64),
                ("removed", c_uint64), ("failed", c_uint64), ("seconds", c_double)]  # raiiaf_index_stats


class IndexQuery(ctypes.Structure):
    _fields_ = [("words", P(c_char_p)), ("nwords", c_size_t), ("model", c_char_p), ("has_seed", c_int),
                ("seed", c_uint64), ("tags", P(c_char_p)), ("ntags", c_size_t), ("flags", c_uint),
                ("limit", ctypes.c_int64), ("offset", c_uint64), ("fields", c_char_p),
                ("sampler", c_char_p), ("mtime_min_ns", ctypes.c_int64), ("mtime_max_ns", ctypes.c_int64),
                ("signature", c_char_p)]  # raiiaf_index_query


PROBLEM_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)
INDEX_PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_uint64, c_uint64)
INDEX_PROBLEM_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p, c_int, c_char_p)
INDEX_ROW_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)  # the row's bytes, with their length
NOTE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)

REQUIRED_VERSION = 300  # libraiiaf 0.3.0: MAJOR * 10000 + MINOR * 100 + PATCH

# name: (restype, argtypes), grouped as the header is.
_PROTOS = {
    "raiiaf_version_number": (c_uint, []),
    "raiiaf_free": (None, [c_void_p]),
    "raiiaf_write_file": (c_int, [c_char_p, c_void_p, c_size_t, c_char_p, c_size_t]),
    "raiiaf_strerror": (c_char_p, [c_int]),
    "raiiaf_version_string": (c_char_p, []),
    "raiiaf_dtype_name": (c_char_p, [c_int]),
    "raiiaf_dtype_from_name": (c_int, [c_char_p]),
    "raiiaf_dtype_size": (c_size_t, [c_int]),
    "raiiaf_codec_name": (c_char_p, [c_int]),
    "raiiaf_codec_from_name": (c_int, [c_char_p, P(c_int)]),
    "raiiaf_writer_new": (c_int, [c_char_p, P(c_void_p)]),
    "raiiaf_writer_free": (None, [c_void_p]),
    "raiiaf_writer_new_memory": (c_int, [P(c_void_p)]),
    "raiiaf_writer_memory": (c_int, [c_void_p, P(c_void_p), P(c_size_t)]),
    "raiiaf_writer_errmsg": (c_char_p, [c_void_p]),
    "raiiaf_writer_add_image": (c_int, [c_void_p, c_void_p, c_size_t]),
    "raiiaf_writer_set_threads": (c_int, [c_void_p, c_uint]),
    "raiiaf_writer_add_tensor": (c_int, [c_void_p, c_char_p, c_int, c_uint, P(c_uint64),
                                         c_void_p, c_size_t, c_int, c_double]),
    "raiiaf_writer_begin_tensor": (c_int, [c_void_p, c_char_p, c_int, c_uint, P(c_uint64), c_int, c_double]),
    "raiiaf_writer_write_tensor": (c_int, [c_void_p, c_void_p, c_size_t]),
    "raiiaf_writer_end_tensor": (c_int, [c_void_p]),
    "raiiaf_writer_add_chunk": (c_int, [c_void_p, c_char_p, c_void_p, c_size_t]),
    "raiiaf_writer_set_json": (c_int, [c_void_p, c_char_p, c_char_p]),
    "raiiaf_writer_set_string": (c_int, [c_void_p, c_char_p, c_char_p]),
    "raiiaf_writer_merge_json": (c_int, [c_void_p, c_char_p]),
    "raiiaf_writer_add_tag": (c_int, [c_void_p, c_char_p]),
    "raiiaf_writer_finish": (c_int, [c_void_p]),
    "raiiaf_reader_open_file": (c_int, [c_char_p, c_uint, P(c_void_p)]),
    "raiiaf_reader_open_memory": (c_int, [c_void_p, c_size_t, c_uint, P(c_void_p)]),
    "raiiaf_reader_new": (c_int, [c_uint, P(c_void_p)]),
    "raiiaf_reader_open": (c_int, [c_void_p, c_char_p]),
    "raiiaf_reader_open_buffer": (c_int, [c_void_p, c_void_p, c_size_t]),
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
    "raiiaf_reader_chunk_data": (c_int, [c_void_p, c_size_t, P(c_void_p), P(c_size_t)]),
    "raiiaf_reader_verify": (c_int, [c_void_p, PROBLEM_FN, c_void_p]),
    "raiiaf_reader_set_decode_limit": (c_int, [c_void_p, c_uint64]),
    "raiiaf_reader_set_threads": (c_int, [c_void_p, c_uint]),
    "raiiaf_decode_limit_default": (c_uint64, [c_uint64]),
    "raiiaf_reader_set_version": (c_int, [c_void_p, c_uint32]),
    "raiiaf_schema_text": (c_char_p, []),
    "raiiaf_validate_manifest": (c_int, [c_char_p, c_size_t, c_char_p, c_size_t]),
    # -- format 1 ------------------------------------------------------------
    "raiiaf_writer_set_format": (c_int, [c_void_p, c_uint]),
    "raiiaf_writer_set_format1_env": (c_int, [c_void_p, c_char_p, c_size_t]),
    "raiiaf_reader_env_json": (c_int, [c_void_p, P(c_void_p), P(c_size_t)]),
    # -- environment record and drift ---------------------------------------
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
    # -- seed recipes (format 2.1) --------------------------------------------
    "raiiaf_writer_add_noise_tensor": (c_int, [c_void_p, c_char_p, c_int, c_uint, P(c_uint64),
                                               c_void_p, c_size_t, c_uint64, c_int, P(c_int)]),
    "raiiaf_reader_tensor_recipe": (c_int, [c_void_p, c_size_t, P(Recipe)]),
    # -- relative tensors (format 2.1) ---------------------------------------
    "raiiaf_writer_add_tensor_relative": (c_int, [c_void_p, c_char_p, c_int, c_uint, P(c_uint64),
                                                  c_void_p, c_size_t, c_char_p, c_void_p, c_int, P(c_int)]),
    # -- versions, edits, signatures, recovery --------------------------------
    "raiiaf_reader_open_version": (c_int, [c_char_p, c_uint, c_uint32, P(c_void_p)]),
    "raiiaf_reader_manifest_version": (c_uint32, [c_void_p]),
    "raiiaf_reader_latest_version": (c_uint32, [c_void_p]),
    "raiiaf_reader_trailing_bytes": (c_uint64, [c_void_p]),
    "raiiaf_reader_manifest_at": (c_int, [c_void_p, c_uint32, P(c_void_p), P(c_size_t), P(c_uint64)]),
    "raiiaf_set_lock_timeout": (None, [c_int]),
    "raiiaf_get_lock_timeout": (c_int, []),
    "raiiaf_edit_open": (c_int, [c_char_p, P(c_void_p)]),
    "raiiaf_edit_free": (None, [c_void_p]),
    "raiiaf_edit_errmsg": (c_char_p, [c_void_p]),
    "raiiaf_edit_set_json": (c_int, [c_void_p, c_char_p, c_char_p]),
    "raiiaf_edit_remove": (c_int, [c_void_p, c_char_p]),
    "raiiaf_edit_add_tag": (c_int, [c_void_p, c_char_p]),
    "raiiaf_edit_remove_tag": (c_int, [c_void_p, c_char_p]),
    "raiiaf_edit_add_chunk": (c_int, [c_void_p, c_char_p, c_void_p, c_size_t]),
    "raiiaf_edit_new_version": (c_uint32, [c_void_p]),
    "raiiaf_edit_commit": (c_int, [c_void_p]),
    "raiiaf_compact": (c_int, [c_char_p, c_char_p, c_char_p, c_size_t]),
    "raiiaf_keygen": (c_int, [c_char_p, c_char_p, c_size_t]),
    "raiiaf_sign": (c_int, [c_char_p, c_char_p, c_char_p, c_char_p, c_size_t]),
    "raiiaf_reader_signature": (c_int, [c_void_p, c_char_p, P(SignatureInfo)]),
    "raiiaf_recover": (c_int, [c_char_p, c_char_p, PROBLEM_FN, c_void_p]),
    "raiiaf_recover_limited": (c_int, [c_char_p, c_char_p, c_uint64, PROBLEM_FN, c_void_p]),
    "raiiaf_torch_randn": (c_int, [c_uint64, c_int, c_uint, P(c_uint64), c_char_p, c_void_p, c_size_t]),
    # -- interop: tensors -------------------------------------------------------
    "raiiaf_array_free": (None, [P(Array)]),
    "raiiaf_npy_parse": (c_int, [c_void_p, c_size_t, P(Array), c_char_p, c_size_t]),
    "raiiaf_npy_read_file": (c_int, [c_char_p, P(Array), c_char_p, c_size_t]),
    "raiiaf_npy_build": (c_int, [c_int, c_uint, P(c_uint64), c_void_p, c_size_t, P(c_void_p), P(c_size_t)]),
    "raiiaf_npy_write_file": (c_int, [c_char_p, c_int, c_uint, P(c_uint64), c_void_p, c_size_t, c_char_p, c_size_t]),
    "raiiaf_safetensors_parse": (c_int, [c_void_p, c_size_t, c_char_p, P(Array), c_char_p, c_size_t]),
    "raiiaf_safetensors_names": (c_int, [c_void_p, c_size_t, P(c_void_p), c_char_p, c_size_t]),
    "raiiaf_safetensors_build": (c_int, [c_char_p, c_int, c_uint, P(c_uint64), c_void_p, c_size_t, c_char_p,
                                         P(c_void_p), P(c_size_t), c_char_p, c_size_t]),
    "raiiaf_tensor_file_read": (c_int, [c_char_p, P(Array), c_char_p, c_size_t]),
    "raiiaf_tensor_file_write": (c_int, [c_void_p, c_char_p, c_char_p, c_int, c_uint, P(c_uint64), c_void_p,
                                         c_size_t, c_char_p, c_size_t]),
    # -- interop: import, export, convert ---------------------------------------
    "raiiaf_import_image": (c_int, [c_void_p, c_size_t, P(c_void_p)]),
    "raiiaf_import_image_file": (c_int, [c_char_p, P(c_void_p)]),
    "raiiaf_import_free": (None, [c_void_p]),
    "raiiaf_import_errmsg": (c_char_p, [c_void_p]),
    "raiiaf_import_tool": (c_char_p, [c_void_p]),
    "raiiaf_import_format": (c_char_p, [c_void_p]),
    "raiiaf_import_metadata": (c_void_p, [c_void_p, P(c_size_t)]),
    "raiiaf_import_field_count": (c_size_t, [c_void_p]),
    "raiiaf_import_record_count": (c_size_t, [c_void_p]),
    "raiiaf_import_note_count": (c_size_t, [c_void_p]),
    "raiiaf_import_note": (c_char_p, [c_void_p, c_size_t]),
    "raiiaf_import_add_tag": (c_int, [c_void_p, c_char_p]),
    "raiiaf_import_to_writer": (c_int, [c_void_p, c_void_p]),
    "raiiaf_export": (c_int, [c_void_p, c_char_p, P(c_void_p), P(c_size_t), P(c_uint), c_char_p, c_size_t]),
    "raiiaf_export_file": (c_int, [c_void_p, c_char_p, c_char_p, P(c_uint), c_char_p, c_size_t]),
    "raiiaf_export_parameters": (c_int, [c_void_p, P(c_void_p), c_char_p, c_size_t]),
    "raiiaf_convert": (c_int, [c_char_p, c_char_p, c_uint, c_int, NOTE_FN, c_void_p, P(c_size_t), P(c_int),
                               c_char_p, c_size_t]),
    # -- the index database (Since 0.3.0; src/index/) -------------------------
    "raiiaf_index_open": (c_int, [c_char_p, c_uint, P(c_void_p)]),
    "raiiaf_index_free": (None, [c_void_p]),
    "raiiaf_index_errmsg": (c_char_p, [c_void_p]),
    "raiiaf_index_set_threads": (c_int, [c_void_p, c_uint]),
    "raiiaf_index_set_progress": (None, [c_void_p, INDEX_PROGRESS_FN, c_void_p]),
    "raiiaf_index_set_problems": (None, [c_void_p, INDEX_PROBLEM_FN, c_void_p]),
    "raiiaf_index_run": (c_int, [c_void_p, P(c_char_p), c_size_t, P(IndexStats)]),
    "raiiaf_index_row_json": (c_int, [c_char_p, P(c_void_p), P(c_size_t), c_char_p, c_size_t]),
    "raiiaf_index_put_row_json": (c_int, [c_void_p, c_char_p, c_size_t]),
    "raiiaf_index_begin": (c_int, [c_void_p]),
    "raiiaf_index_commit": (c_int, [c_void_p]),
    "raiiaf_index_rollback": (c_int, [c_void_p]),
    "raiiaf_index_search": (c_int, [c_void_p, P(IndexQuery), INDEX_ROW_FN, c_void_p, P(c_uint64)]),
    # -- previews for viewers (Since 0.3.0; src/serve/) -----------------------
    "raiiaf_thumbnail": (c_int, [c_void_p, c_size_t, c_uint32, P(c_void_p), P(c_uint32), P(c_uint32),
                                 c_char_p, c_size_t]),
    "raiiaf_latent_preview": (c_int, [c_void_p, c_uint, c_uint32, c_uint32, c_char_p, c_void_p, c_size_t]),
    "raiiaf_latent_channel_gray": (c_int, [c_void_p, c_uint, c_uint32, c_uint32, c_uint, c_void_p, c_size_t]),
    "raiiaf_latent_family_guess": (c_char_p, [c_char_p, c_uint]),
    "raiiaf_api_handle": (c_int, [c_char_p, c_char_p, c_char_p, P(c_int), P(c_char_p), P(c_void_p), P(c_size_t)]),
    "raiiaf_api_etag": (c_int, [c_char_p, c_char_p, c_char_p, c_char_p]),
    "raiiaf_server_start": (c_int, [c_char_p, c_char_p, c_uint, c_uint, P(c_void_p), c_char_p, c_size_t]),
    "raiiaf_server_port": (c_uint, [c_void_p]),
    "raiiaf_server_stop": (None, [c_void_p]),
    # the index, written by raiiaf.dask (python/raiiaf/_dask_index.py)
    "raiiaf_index_remove_path": (c_int, [c_void_p, c_char_p, P(c_int)]),

    "raiiaf_api_open": (c_int, [c_char_p, c_uint, P(c_void_p)]),
    "raiiaf_api_free": (None, [c_void_p]),
    "raiiaf_api_request": (c_int, [c_void_p, c_char_p, c_char_p, c_char_p, P(c_int), P(c_char_p), P(c_void_p),
                                   P(c_size_t)]),
    "raiiaf_server_start_flags": (c_int, [c_char_p, c_char_p, c_uint, c_uint, c_uint, P(c_void_p), c_char_p,
                                          c_size_t]),
    "raiiaf_server_url": (c_char_p, [c_void_p]),
    "raiiaf_server_token": (c_char_p, [c_void_p]),
    "raiiaf_reader_history": (c_int, [c_void_p, P(c_void_p), P(c_size_t)]),
}

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
        "--build build), then set RAIIAF_LIBRARY=build/libraiiaf.so; or `pip install ./python`, "
        "which builds and bundles it; or `make install`.\n  " + "\n  ".join(errors))


lib, path = _load()
try:
    lib.raiiaf_version_number.restype = c_uint
    lib.raiiaf_version_number.argtypes = []
    version_number = lib.raiiaf_version_number()
except AttributeError:
    version_number = 0  # 0.1.x had no version number
if version_number < REQUIRED_VERSION:
    raise ImportError("raiiaf: %s is libraiiaf %s; this package needs %d.%d.%d or newer (rebuild the "
                      "library from this tree, or set RAIIAF_LIBRARY to a newer build)"
                      % (path, "0.1" if not version_number else version_number, REQUIRED_VERSION // 10000,
                         REQUIRED_VERSION // 100 % 100, REQUIRED_VERSION % 100))
for _name, (_res, _args) in _PROTOS.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        raise ImportError("raiiaf: %s (libraiiaf %d) does not export %s" % (path, version_number, _name)) from None
    _f.restype = _res
    _f.argtypes = _args


def has(name):
    """Whether the package declares the library function `name` (every
    function of the header, once the version check above has passed)."""
    return name in _PROTOS


def s(b):
    """C string (bytes or None) to str."""
    return None if b is None else b.decode("utf-8", "surrogateescape")


def b(text):
    """str to UTF-8 bytes for the C API."""
    if isinstance(text, bytes):
        return text
    return str(text).encode("utf-8")


version = s(lib.raiiaf_version_string())
