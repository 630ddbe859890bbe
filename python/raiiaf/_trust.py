"""Versions, append-only edits, signatures, compaction and recovery through
libraiiaf (SPEC §13, §16).  Each function is a thin call of the library
function its docstring names."""

import collections
import ctypes
import json
import os

from . import _core, _lib, errors
from ._lib import lib, b, s

_ERR = 1024

Version = collections.namedtuple("Version", "version offset manifest")
Signature = collections.namedtuple("Signature", "state key_id signed_version message")
SIG_STATES = {0: "unsigned", 1: "valid", 2: "edited", 3: "invalid"}


def _path(p):
    return os.fsencode(p)


def _check_buf(rc, buf, path, part=None):
    if rc:
        msg = buf.value.decode("utf-8", "surrogateescape")
        raise errors.make(rc, msg or s(lib.raiiaf_strerror(rc)), os.fsdecode(path), part)


class Edit:
    """An append-only edit of a format 2 file (``raiiaf_edit_*``): a new
    manifest version is appended, payloads are never rewritten.  Fields the
    library owns (file_info, chunks, tensors, image, environment) cannot be
    set.  Use as a context manager: the edit is committed when the block
    ends without an exception, and nothing is written otherwise::

        with raiiaf.Edit("cat.raiiaf") as e:
            e.set("/raiiaf_metadata/model_info/prompt", "a cat on a red sofa")
            e.add_tag("red")
    """

    def __init__(self, path):
        self.path = os.fsdecode(path)
        self._h = ctypes.c_void_p()
        rc = lib.raiiaf_edit_open(_path(path), ctypes.byref(self._h))
        if rc:
            msg = s(lib.raiiaf_edit_errmsg(self._h)) if self._h else ""
            self.close()
            raise errors.make(rc, msg or s(lib.raiiaf_strerror(rc)), self.path, "metadata")
        self.committed = None

    def _check(self, rc):
        if rc:
            raise errors.make(rc, s(lib.raiiaf_edit_errmsg(self._h)) or s(lib.raiiaf_strerror(rc)), self.path,
                              "metadata")

    def set(self, pointer, value):
        """Sets the field at JSON Pointer `pointer` to `value` (any JSON-able value)."""
        self._check(lib.raiiaf_edit_set_json(self._h, b(pointer), b(json.dumps(value))))

    def remove(self, pointer):
        self._check(lib.raiiaf_edit_remove(self._h, b(pointer)))

    def add_tag(self, tag):
        self._check(lib.raiiaf_edit_add_tag(self._h, b(tag)))

    def remove_tag(self, tag):
        self._check(lib.raiiaf_edit_remove_tag(self._h, b(tag)))

    @property
    def new_version(self):
        return lib.raiiaf_edit_new_version(self._h)

    def commit(self):
        """Validates the new manifest against the schema, appends it and
        syncs.  Returns the new version number."""
        v = self.new_version
        self._check(lib.raiiaf_edit_commit(self._h))
        self.committed = v
        self.close()
        return v

    def close(self):
        if self._h:
            lib.raiiaf_edit_free(self._h)
            self._h = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None and self._h:
            self.commit()
        self.close()

    def __del__(self):
        self.close()


def edit(path, set=None, remove=(), add_tags=(), remove_tags=()):  # noqa: A002 - mirrors `raiiaf edit --set`
    """One append-only edit: `set` is {JSON Pointer: value}.  Returns the
    new version number."""
    with Edit(path) as e:
        for p, v in (set or {}).items():
            e.set(p, v)
        for p in remove:
            e.remove(p)
        for t in add_tags:
            e.add_tag(t)
        for t in remove_tags:
            e.remove_tag(t)
    return e.committed


def history(f):
    """Every manifest version of open file `f`, oldest first:
    [Version(version, offset, manifest dict)] (``raiiaf_reader_manifest_at``)."""
    out = []
    for v in range(1, lib.raiiaf_reader_latest_version(f._h) + 1):
        text, n, off = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_uint64()
        f._r.check(lib.raiiaf_reader_manifest_at(f._h, v, ctypes.byref(text), ctypes.byref(n), ctypes.byref(off)),
                   "metadata")
        try:
            out.append(Version(v, off.value, json.loads(ctypes.string_at(text, n.value).decode("utf-8"))))
        finally:
            lib.raiiaf_free(text)
    return out


def keygen(key_path):
    """Makes an Ed25519 key pair: `key_path` (PEM, 0600) and `key_path`.pub."""
    err = ctypes.create_string_buffer(_ERR)
    _check_buf(lib.raiiaf_keygen(_path(key_path), err, _ERR), err, key_path)
    return os.fsdecode(key_path), os.fsdecode(key_path) + ".pub"


def sign(path, key_path):
    """Signs the newest version of `path` (appends a SIGN chunk and a
    version; ``raiiaf_sign``).  Returns the key id."""
    err = ctypes.create_string_buffer(_ERR)
    kid = ctypes.create_string_buffer(17)
    _check_buf(lib.raiiaf_sign(_path(path), _path(key_path), kid, err, _ERR), err, path)
    return kid.value.decode("ascii")


def signature(f, pubkey=None):
    """The newest signature of open file `f` (``raiiaf_reader_signature``):
    Signature(state "unsigned"|"valid"|"edited"|"invalid", key_id,
    signed_version, message).  With `pubkey`, a signature by another key is
    "invalid"."""
    info = _lib.SignatureInfo()
    f._r.check(lib.raiiaf_reader_signature(f._h, _path(pubkey) if pubkey else None, ctypes.byref(info)), "chunk")
    return Signature(SIG_STATES.get(info.state, str(info.state)), info.key_id.decode("ascii") or None,
                     info.signed_version, info.message.decode("utf-8", "surrogateescape"))


def compact(path, out=None):
    """Rewrites `path` (over itself, or to `out`) with only the newest
    manifest, as version 1 (``raiiaf_compact``); signatures are dropped."""
    err = ctypes.create_string_buffer(_ERR)
    _check_buf(lib.raiiaf_compact(_path(path), _path(out) if out else None, err, _ERR), err, path)
    return os.fsdecode(out or path)


def recover(damaged, out, max_decode=None):
    """Salvages what survives of `damaged` into a new valid file `out`
    (``raiiaf_recover_limited``).  Returns the report: [(status, message)],
    one per finding (what was kept, what was lost).  `max_decode`: the
    budget of decoded bytes for the whole recovery, as ``raiiaf.open``'s
    (default RAIIAF_MAX_DECODE, else 64 MiB + 64 x the size of `damaged`;
    0: none)."""
    report = []

    def cb(ctx, status, message):
        report.append((status, s(message)))

    fn = _lib.PROBLEM_FN(cb)
    limit = _core.max_decode_bytes(max_decode)
    rc = lib.raiiaf_recover_limited(_path(damaged), _path(out), (1 << 64) - 1 if limit is None else limit, fn, None)
    if rc:
        msgs = [m for st, m in report if st] or [s(lib.raiiaf_strerror(rc))]
        raise errors.make(rc, "; ".join(msgs), os.fsdecode(damaged))
    return report
