"""raiiaf.dask: RAIIAF records from many files on a Dask cluster.

    from distributed import Client
    import raiiaf.dask
    client = Client("tcp://scheduler:8786")              # or a LocalCluster
    bag = raiiaf.dask.records("s3://bucket/runs/**/*.raiiaf", npartitions=256)
    foxes = bag.filter(lambda r: r["seed"] is not None and "fox" in (r["prompt"] or ""))
    rows = foxes.compute()

A record is what ``raiiaf index`` stores for a file (docs/INDEX.md): the
``files`` columns (path, size, mtime_ns, format, model, model_hash, prompt,
negative_prompt, seed, steps, sampler, scheduler, cfg_scale, width, height,
image_format, tool, digest, signature, signature_key, created) plus ``tags`` (a list) and ``tensors``
(a list of {name, dtype, shape, codec, raw_size, stored_size}).  Each worker
opens its files itself (metadata only: header, footer and manifest; remote
files by range requests), so only paths travel to the cluster and records
come back.  ``latents=[names]`` adds those latents (numpy arrays) to each
record.  ``dataframe()`` gives the same as a Dask dataframe (needs pandas).

``index(sources, db, scheduler)`` is ``raiiaf index`` with the files read on
the cluster (python/raiiaf/_dask_index.py); ``python3 -m raiiaf.dask index
--scheduler ADDR --db DB DIR...`` runs it, and is what ``raiiaf index --dask
ADDR`` runs.  Imports inside this package are relative and Dask's are
absolute, so this module's name does not hide the ``dask`` package.
"""

import hashlib
import json
import os

from . import _core, _remote, data
from ._dask_index import IndexResult, index, main  # noqa: F401 - raiiaf.dask.index, .main

COLUMNS = ("path", "size", "mtime_ns", "format", "model", "model_hash", "prompt", "negative_prompt", "seed",
           "steps", "sampler", "scheduler", "cfg_scale", "width", "height", "image_format", "tool", "digest",
           "signature", "signature_key", "created")


def _str(v):
    return v if isinstance(v, str) else None


def _int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _signature(f):
    """The index's signature state and key id (index_row.c): "none" for
    unsigned, and a check that cannot run counts as "invalid"."""
    try:
        sg = f.signature()
    except Exception:  # noqa: BLE001 - as the index: an unreadable older version
        return "invalid", None
    return ("none" if sg.state == "unsigned" else sg.state), sg.key_id


def _created(meta, mi):
    """file_info.created, else model_info.date; None beyond 64 bytes (index_row.c)."""
    fi = meta.get("file_info") if isinstance(meta.get("file_info"), dict) else {}
    v = fi.get("created")
    if not isinstance(v, str):
        v = mi.get("date")
    ok = isinstance(v, str) and len(v.encode("utf-8", "surrogatepass")) <= 64
    return v.split("\0", 1)[0] if ok else None  # cut at a NUL, as C strings are


def _record_from(path, f, size, mtime_ns, latents, numpy_latent):
    text = f.manifest_json
    m = json.loads(text)
    meta = m.get("raiiaf_metadata", m) if isinstance(m, dict) else {}
    meta = meta if isinstance(meta, dict) else {}  # format 1 keeps model_info at the top
    mi = meta.get("model_info") if isinstance(meta.get("model_info"), dict) else {}
    g = mi.get("generation_settings") if isinstance(mi.get("generation_settings"), dict) else {}
    img = meta.get("image") if isinstance(meta.get("image"), dict) else {}
    ext = meta.get("extensions") if isinstance(meta.get("extensions"), dict) else {}
    imp = ext.get("org.raiiaf.import") if isinstance(ext.get("org.raiiaf.import"), dict) else {}
    major, minor = f.format
    rec = {"path": path, "size": size, "mtime_ns": mtime_ns, "format": "%d.%d" % (major, minor),
           "model": _str(mi.get("model_name")), "model_hash": _str(mi.get("model_hash")),
           "prompt": _str(mi.get("prompt")), "negative_prompt": _str(mi.get("negative_prompt")),
           "seed": _int(g.get("seed")), "steps": _int(g.get("steps")), "sampler": _str(g.get("sampler")),
           "scheduler": _str(g.get("scheduler")), "cfg_scale": _num(g.get("cfg_scale")),
           "width": _int(img.get("width")), "height": _int(img.get("height")),
           "image_format": _str(img.get("format")), "tool": _str(imp.get("tool")),
           "digest": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    rec["signature"], rec["signature_key"] = _signature(f)
    rec["created"] = _created(meta, mi)
    tags = mi.get("tags") if isinstance(mi.get("tags"), list) else []
    rec["tags"] = sorted({t for t in tags if isinstance(t, str)})
    rec["tensors"] = [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "codec": t.codec,
                       "raw_size": t.raw_size, "stored_size": t.stored_size}
                      for t in (f.tensor_info(n) for n in f.names)]
    for name in latents or ():
        rec[name] = numpy_latent(name)
    return rec


def record(path, latents=(), digests=True, storage_options=None):
    """The record of one file (a path or a URL)."""
    if data._is_url(path):
        with _remote.RemoteFile(path, digests, storage_options) as rf:
            return _record_from(path, rf.f, rf.size, None, latents, lambda n: rf.latent(n, numpy=True))
    local = data._local(path)
    st = os.stat(local)
    import numpy as np
    with _core.open(local, digests) as f:
        return _record_from(path, f, st.st_size, st.st_mtime_ns, latents, lambda n: np.array(f.latents[n]))


def _partition(paths, latents, digests, storage_options, errors):
    out = []
    for p in paths:
        try:
            out.append(record(p, latents, digests, storage_options))
        except Exception as e:  # noqa: BLE001 - one bad file must not lose the partition
            if errors == "raise":
                raise
            out.append({"path": p, "error": "%s: %s" % (type(e).__name__, e)})
    return out


def records(source, latents=(), npartitions=None, partition_size=256, digests=True, storage_options=None,
            errors="raise", **index_query):
    """A dask.bag of records for `source` (anything raiiaf.data.Dataset
    takes: folders, globs, lists, URLs, an index database with query=...).
    The list of files is made here; each partition of `partition_size`
    paths (or `npartitions` partitions) is read on a worker.  errors="keep"
    turns a file that cannot be read into {"path", "error"} instead of failing."""
    import dask.bag as db
    if errors not in ("raise", "keep"):
        raise ValueError("raiiaf.dask: errors must be \"raise\" or \"keep\", not %r" % (errors,))
    paths = source if isinstance(source, (list, tuple)) and all(isinstance(p, str) and (data._is_url(p) or
                                                                                         p.endswith(".raiiaf"))
                                                                 for p in source) else \
        data.resolve(source, storage_options, **index_query)
    if not paths:
        return db.from_sequence([], npartitions=1)
    if npartitions is None:
        npartitions = max(1, -(-len(paths) // int(partition_size)))
    chunks = db.from_sequence(paths, npartitions=npartitions)
    return chunks.map_partitions(_partition, list(latents or ()), digests, storage_options, errors)


def dataframe(source, **kw):
    """The records' ``files`` columns (and tags as a comma-joined string) as
    a Dask dataframe.  Needs pandas (Debian: python3-pandas)."""
    import pandas as pd

    def flat(r):
        row = {c: r.get(c) for c in COLUMNS}
        row["tags"] = ",".join(r.get("tags", []))
        return row

    meta = pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS + ("tags",)})
    return records(source, **kw).map(flat).to_dataframe(meta=meta)


if __name__ == "__main__":  # python3 -m raiiaf.dask index ...
    import sys
    # Run the copy imported as raiiaf.dask, not this __main__ one, so that what
    # is sent to the workers is named by its importable module.
    from raiiaf.dask import main as _main
    sys.exit(_main())
