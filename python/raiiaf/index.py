"""The index database of a library of .raiiaf files, through libraiiaf
(src/index/, the same code ``raiiaf index`` and ``raiiaf search`` run).

    stats = raiiaf.index(["~/pictures"], "library.sqlite", threads=2)
    rows = raiiaf.search("library.sqlite", words=["fox"], model="sdxl", tags=["cat"])
    row = raiiaf.index_row_json(path)           # one file's row (a dict)
    raiiaf.index_put_rows("other.sqlite", rows)  # rows made elsewhere, one transaction

Rows are dicts with the keys of ``raiiaf_index_search()`` (include/raiiaf.h):
id, path, size, mtime_ns, format, model, model_hash, prompt, negative_prompt,
seed, steps, sampler, scheduler, cfg_scale, width, height, image_format,
tool, digest, signature, signature_key, created, indexed_at, tags, tensors
(signature: "none", "valid", "edited" or "invalid" as the file was when
indexed; docs/INDEX.md).
"""

import ctypes
import json
import os

from . import _lib, errors
from ._lib import lib, b, s

INDEX_READONLY = 1
HAS_TENSORS = 1
NEWEST_FIRST = 2


class _Index:
    """An open raiiaf_index handle (closed on leaving the with block)."""

    def __init__(self, db, flags):
        self.h = ctypes.c_void_p()
        rc = lib.raiiaf_index_open(b(os.fspath(db)), flags, ctypes.byref(self.h))
        if rc:
            msg = s(lib.raiiaf_index_errmsg(self.h)) if self.h else ""
            lib.raiiaf_index_free(self.h)
            raise errors.make(rc, msg or s(lib.raiiaf_strerror(rc)), os.fspath(db))

    def check(self, rc):
        if rc:
            raise errors.make(rc, s(lib.raiiaf_index_errmsg(self.h)) or s(lib.raiiaf_strerror(rc)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        lib.raiiaf_index_free(self.h)
        self.h = None


def _strings(items):
    arr = (ctypes.c_char_p * max(len(items), 1))(*[b(x) for x in items])
    return ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p)), arr


def index(dirs, db, threads=None, problems=None):
    """Indexes every .raiiaf file under the folders ``dirs`` (a path or a
    list) into the SQLite database ``db`` (created when missing), as
    ``raiiaf index`` does: unchanged files are skipped, gone ones removed.
    ``threads``: how many threads parse files (None: the CPUs this process
    may use).  ``problems``: called as problems(path, message) for each file
    or folder that could not be read (they do not fail the run).  Returns
    a dict: seen, added, updated, unchanged, removed, failed, seconds.
    (raiiaf_index_run)"""
    if isinstance(dirs, (str, bytes, os.PathLike)):
        dirs = [dirs]
    dirs = [os.fspath(d) for d in dirs]
    st = _lib.IndexStats()
    with _Index(db, 0) as idx:
        if threads is not None:
            idx.check(lib.raiiaf_index_set_threads(idx.h, int(threads)))
        cb = None
        if problems is not None:
            def cb_fn(_user, path, _status, message):
                problems(s(path), s(message))
            cb = _lib.INDEX_PROBLEM_FN(cb_fn)
            lib.raiiaf_index_set_problems(idx.h, cb, None)
        ptr, _keep = _strings(dirs)
        idx.check(lib.raiiaf_index_run(idx.h, ptr, len(dirs), ctypes.byref(st)))
    return {name: getattr(st, name) for name, _ in st._fields_}


def search(db, words=(), model=None, seed=None, tags=(), has_tensors=False, newest_first=False, limit=None,
           offset=0, fields=None, signature=None):
    """The rows of the index ``db`` matching every condition given, as a
    list of dicts (raiiaf_index_search): ``words`` all occur in the prompt
    or negative prompt (a word ending in * matches as a prefix), the model
    name contains ``model`` (case-insensitive), exactly ``seed``, every tag
    of ``tags``, ``has_tensors``: at least one tensor.  Sorted by path, or
    newest first; at most ``limit`` rows after skipping ``offset``.
    ``fields``: the keys wanted (None: all).  ``signature``: the indexed
    signature state ("none", "valid", "edited", "invalid", or "signed" for
    any of the last three)."""
    if isinstance(words, str):
        words = words.split()
    if isinstance(tags, str):
        tags = [tags]
    words, tags = list(words), list(tags)
    wp, _kw = _strings(words)
    tp, _kt = _strings(tags)
    q = _lib.IndexQuery(words=wp, nwords=len(words), model=b(model) if model is not None else None,
                        has_seed=seed is not None, seed=int(seed) if seed is not None else 0, tags=tp,
                        ntags=len(tags), flags=(HAS_TENSORS if has_tensors else 0) | (NEWEST_FIRST if newest_first else 0),
                        limit=-1 if limit is None else int(limit), offset=int(offset),
                        fields=b(",".join(fields)) if fields is not None else None,
                        signature=b(signature) if signature is not None else None)
    rows = []

    def on_row(_user, text, size):
        rows.append(json.loads(ctypes.string_at(text, size).decode("utf-8")))
        return 0

    cb = _lib.INDEX_ROW_FN(on_row)
    with _Index(db, INDEX_READONLY) as idx:
        idx.check(lib.raiiaf_index_search(idx.h, ctypes.byref(q), cb, None, None))
    return rows


def row_json(path):
    """The row the index would store for the file at ``path``, as a dict
    (raiiaf_index_row_json)."""
    out, size = ctypes.c_void_p(), ctypes.c_size_t()
    err = ctypes.create_string_buffer(1024)
    rc = lib.raiiaf_index_row_json(b(os.fspath(path)), ctypes.byref(out), ctypes.byref(size), err, len(err))
    if rc:
        raise errors.make(rc, err.value.decode("utf-8", "surrogateescape"), os.fspath(path))
    try:
        return json.loads(ctypes.string_at(out, size.value).decode("utf-8"))
    finally:
        lib.raiiaf_free(out)


def put_rows(db, rows):
    """Stores rows made by row_json() (dicts or JSON text) into the index
    ``db`` in one transaction, replacing rows of the same paths
    (raiiaf_index_put_row_json)."""
    with _Index(db, 0) as idx:
        idx.check(lib.raiiaf_index_begin(idx.h))
        try:
            for r in rows:
                text = r if isinstance(r, (bytes, str)) else json.dumps(r, ensure_ascii=False)
                data = text.encode("utf-8") if isinstance(text, str) else text
                idx.check(lib.raiiaf_index_put_row_json(idx.h, data, len(data)))
        except BaseException:
            lib.raiiaf_index_rollback(idx.h)
            raise
        idx.check(lib.raiiaf_index_commit(idx.h))
