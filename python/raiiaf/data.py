"""raiiaf.data: RAIIAF files as a map-style dataset for training.

    ds = raiiaf.data.Dataset("~/outputs", fields=["prompt", "seed"], latents=["final"], image="tensor")
    loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=4)

`source` is a folder (every *.raiiaf below it), a glob ("runs/**/*.raiiaf"),
a path, a URL (http://, https://, file://, and s3://, gs://, ... when fsspec
has that filesystem), a list of any of these, or an index database made by
``raiiaf index`` (a .sqlite/.db file) with ``query=`` (FTS5 words over the
prompts, all must occur), ``model=``, ``seed=``, ``tags=``, as ``raiiaf
search`` selects.  The list of files is made once, in the constructor; each
item is opened when it is asked for, in the process that asks (a DataLoader
worker), and closed before __getitem__ returns, so no handle crosses a fork.
Remote files are read by HTTP range requests (raiiaf._remote): metadata costs
two or three small reads, each tensor one more; never the whole file unless
it cannot be read otherwise (format 1, a damaged ending).

Each item is a dict: "path"; each field; each latent as a torch tensor
(numpy without torch); "image" as bytes, a PIL image (RGB) or a uint8 tensor
[C, H, W] (image="bytes"|"pil"|"tensor").  A field is a JSON Pointer into the
manifest ("/raiiaf_metadata/model_info/prompt") or a name looked up in
model_info and then model_info/generation_settings ("prompt", "seed");
missing fields are None (give ``default=`` for batches: torch's collate
refuses None).
"""

import glob as _glob
import os
import sqlite3
import urllib.parse

import numpy as np

from . import _core, _remote

IMAGE_KINDS = (False, None, "bytes", "pil", "tensor")
_MISSING = object()


def _is_url(s):
    return "://" in s and urllib.parse.urlsplit(s).scheme not in ("", "file")


def _local(s):
    if s.startswith("file://"):
        return urllib.parse.unquote(urllib.parse.urlsplit(s).path)
    return os.path.expanduser(s)


def _is_index(path):
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def index_paths(db, query=None, model=None, seed=None, tags=()):
    """Paths in an index database (``raiiaf index``; schema in docs/INDEX.md)
    selected as ``raiiaf search`` selects them: every word of `query` in the
    prompt or negative prompt (FTS5), `model` a case-insensitive substring of
    the model name, `seed` exactly, every tag of `tags`; sorted by path."""
    sql = ["SELECT f.path FROM files f"]
    where, args = [], []
    if query:
        words = [w for w in str(query).split() if w]
        # each word quoted as an FTS5 string, keeping a trailing * as a prefix match
        expr = " ".join('"%s"%s' % (w.rstrip("*").replace('"', '""'), "*" if w.endswith("*") else "")
                        for w in words)
        sql.append("JOIN prompts p ON p.rowid = f.id")
        where.append("prompts MATCH ?")
        args.append(expr)
    if model is not None:
        where.append("instr(lower(f.model), lower(?)) > 0")
        args.append(str(model))
    if seed is not None:
        where.append("f.seed = ?")
        args.append(int(seed))
    for t in tags or ():
        where.append("EXISTS (SELECT 1 FROM tags t WHERE t.file_id = f.id AND t.tag = ?)")
        args.append(str(t))
    if where:
        sql.append("WHERE " + " AND ".join(where))
    sql.append("ORDER BY f.path")
    con = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(db)), uri=True)
    try:
        return [r[0] for r in con.execute(" ".join(sql), args)]
    finally:
        con.close()


def _fsspec_glob(url, storage_options):
    import fsspec
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    proto = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    if any(c in path for c in "*?["):
        found = fs.glob(path)
    elif fs.isdir(path):
        found = [p for p in fs.find(path) if p.endswith(".raiiaf")]
    else:
        return [url]
    return ["%s://%s" % (proto, p.lstrip("/") if proto not in ("file", "local") else p) for p in sorted(found)]


def resolve(source, storage_options=None, query=None, model=None, seed=None, tags=()):
    """The list of files (paths and URLs) a Dataset source names."""
    if isinstance(source, (list, tuple)):
        out = []
        for s in source:
            out.extend(resolve(s, storage_options))
        return out
    s = os.fspath(source)
    if _is_url(s):
        scheme = urllib.parse.urlsplit(s).scheme
        if scheme in ("http", "https"):
            return [s]  # HTTP has no listing; give file URLs (or a list of them)
        return _fsspec_glob(s, storage_options)
    p = _local(s)
    if _is_index(p):
        return index_paths(p, query, model, seed, tags)
    if any(c in p for c in "*?["):
        return sorted(_glob.glob(p, recursive=True))
    if os.path.isdir(p):
        out = []
        for root, dirs, files in os.walk(p):
            dirs.sort()
            out.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".raiiaf"))
        return out
    return [p]


def _pointer(doc, ptr):
    cur = doc
    for part in ptr.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def field(manifest, name):
    """A field of a manifest: a JSON Pointer, or a model_info (then
    generation_settings) member name; _MISSING when absent."""
    if name.startswith("/"):
        return _pointer(manifest, name)
    mi = manifest.get("raiiaf_metadata", {}).get("model_info", {})
    if name in mi:
        return mi[name]
    return mi.get("generation_settings", {}).get(name, _MISSING)


class Dataset:
    """A map-style dataset of RAIIAF files (see the module's help).

    fields    names or JSON Pointers to return (default: none; "metadata"
              returns the whole manifest)
    latents   names of latents to return ("all": every one; default none);
              a file without one of them raises KeyError naming both
    image     False (default), "bytes", "pil" or "tensor"
    default   the value of a missing field (default None)
    digests   check each payload's SHA-256 (default True; CRCs always)
    query, model, seed, tags    selection in an index database source
    storage_options             passed to fsspec for fsspec URLs
    """

    def __init__(self, source, fields=(), latents=(), image=False, default=None, digests=True,
                 query=None, model=None, seed=None, tags=(), storage_options=None, transform=None):
        if image not in IMAGE_KINDS:
            raise ValueError("raiiaf.data.Dataset: image must be False, \"bytes\", \"pil\" or \"tensor\", "
                             "not %r" % (image,))
        self.files = resolve(source, storage_options, query, model, seed, tags)
        self.fields = [fields] if isinstance(fields, str) else list(fields or ())
        self.latents = latents if latents == "all" else ([latents] if isinstance(latents, str) else
                                                          list(latents or ()))
        self.image = image or False
        self.default = default
        self.digests = digests
        self.storage_options = storage_options
        self.transform = transform
        self._pool = None  # keep-alive HTTP connections of the process using this dataset

    def __getstate__(self):  # to spawned workers: the list and options, never connections
        state = dict(self.__dict__)
        state["_pool"] = None
        return state

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        path = self.files[i]
        if _is_url(path):
            if self._pool is None:
                self._pool = _remote.Connections()  # per process: Connections starts afresh after a fork
            with _remote.RemoteFile(path, self.digests, self.storage_options, pool=self._pool) as f:
                item = self._item(path, f, remote=True)
        else:
            with _core.open(_local(path), self.digests) as f:
                item = self._item(path, f, remote=False)
        return self.transform(item) if self.transform else item

    def _item(self, path, f, remote):
        item = {"path": path}
        manifest = f.metadata
        for name in self.fields:
            if name == "metadata":
                item[name] = manifest
                continue
            v = field(manifest, name)
            item[name] = self.default if v is _MISSING else v
        names = f.names if self.latents == "all" else self.latents
        have = set(f.names)
        torch = _core._torch()
        if torch is None:
            try:
                import torch
            except ImportError:
                torch = None
        for name in names:
            if name not in have:
                raise KeyError("raiiaf.data: %s has no latent %r (it has: %s)"
                               % (path, name, ", ".join(f.names) or "none"))
            if remote:
                item[name] = f.latent(name, numpy=torch is None)
            elif torch is not None:
                item[name] = f.latent(name).clone()  # own memory: the file is closed before returning
            else:
                item[name] = np.array(f.latents[name])
        if self.image:
            if not f.has_image:
                raise KeyError("raiiaf.data: %s has no image" % path)
            data = f.image_bytes
            if self.image == "bytes":
                item["image"] = bytes(data)
            else:
                import io
                from PIL import Image
                img = Image.open(io.BytesIO(data)).convert("RGB")
                if self.image == "pil":
                    item["image"] = img
                else:
                    arr = np.array(img).transpose(2, 0, 1).copy()
                    item["image"] = torch.from_numpy(arr) if torch is not None else arr
        return item
