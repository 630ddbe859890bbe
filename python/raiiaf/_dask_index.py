"""raiiaf.dask.index: `raiiaf index` with the reading done on a Dask cluster.

The client (this process) lists the files -- local folders walked as
`raiiaf index` walks them, fsspec URLs listed through fsspec -- and asks the
database which rows are current (same size and mtime).  Only the paths of
new and changed files travel to the workers, in batches; each worker makes
each file's row with the library (raiiaf_index_row_json(): the code
`raiiaf index` itself stores rows with) and sends back JSON text.  The
client writes the batches in path order, one transaction per batch, with
raiiaf_index_put_row_json(), so the database ends up as `raiiaf index` would
leave it: same rows, same ids on a fresh database.  At most `window`
batches are in flight, so the client never holds more than window * batch
rows, whatever the number of files.

Remote files (s3://, gs://, any fsspec filesystem but http) are read by
range requests on the worker (raiiaf._remote: footer, manifest, header;
the whole file only when it cannot be read by parts), written into a sparse
temporary file of the same size there, and that file is indexed; the row
then gets the URL, and the size and modification time of the listing.
"""

import ctypes
import json
import os
import stat as _stat
import sys
import tempfile
import time
import urllib.parse

from . import errors

DEFAULT_BATCH = 256
MAX_DEPTH = 64  # as raiiaf index: folders deeper than this are not walked
MAX_PROBLEMS_KEPT = 1000


class IndexResult:
    """What one run did.  The counts are those of `raiiaf index`'s summary;
    ``computed`` is how many files were sent to the workers (new, changed
    or unreadable: an unchanged file costs nothing there); ``problems`` the
    first 1000 (path, message) pairs of files that could not be indexed;
    ``folders`` the (path, message) of folders that could not be read (not
    counted, as raiiaf index does not count them)."""

    __slots__ = ("seen", "added", "updated", "unchanged", "removed", "failed", "computed", "seconds", "problems",
                 "folders")

    def __init__(self):
        for k in self.__slots__:
            setattr(self, k, 0)
        self.problems, self.folders = [], []

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        return "IndexResult(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__
                                             if k not in ("problems", "folders"))


# ---- listing (on the client) ---------------------------------------------------

def _is_url(s):
    return "://" in s and urllib.parse.urlsplit(s).scheme not in ("", "file")


def _walk(root, out, problem, depth=0):
    """Regular *.raiiaf files below `root` as (path, size, mtime_ns), the
    way raiiaf index walks: symbolic links are neither followed nor indexed."""
    if depth > MAX_DEPTH:
        return
    try:
        it = os.scandir(root)
    except OSError as e:
        problem(root, "cannot read folder: %s" % e.strerror)
        return
    with it:
        for e in it:
            p = os.path.join(root, e.name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if _stat.S_ISDIR(st.st_mode):
                _walk(p, out, problem, depth + 1)
            elif _stat.S_ISREG(st.st_mode) and e.name.endswith(".raiiaf"):
                out.append((p, st.st_size, st.st_mtime_ns))


def _mtime_ns(info):
    """A modification time in ns from an fsspec listing entry, or None:
    filesystems name it differently (local: mtime in s; s3: LastModified;
    gcs: updated; others: last_modified, modified, created)."""
    import datetime
    for k in ("mtime", "LastModified", "last_modified", "updated", "modified", "mtime_ns"):
        v = info.get(k)
        if v is None:
            continue
        if k == "mtime_ns" and isinstance(v, int):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return int(round(v * 1e9))
        if isinstance(v, str):
            try:
                v = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                continue
        if isinstance(v, datetime.datetime):
            if v.tzinfo is None:
                v = v.replace(tzinfo=datetime.timezone.utc)
            return int(v.timestamp()) * 1000000000 + v.microsecond * 1000
    return None


def _list_url(url, storage_options, out):
    """Files an fsspec URL names (a folder: every *.raiiaf below it; a glob;
    one file) as (url, size, mtime_ns or None).  Returns the folder prefix
    whose vanished rows are removed, or None for globs and single files."""
    import fsspec
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    scheme = urllib.parse.urlsplit(url).scheme

    def back(p):  # the listing's path as a URL of the scheme the user gave
        return "%s://%s" % (scheme, p if p.startswith("/") else p.lstrip("/"))

    if any(c in path for c in "*?["):
        found, prefix = fs.glob(path, detail=True), None
    elif fs.isdir(path):
        found = {p: i for p, i in fs.find(path, detail=True).items() if p.endswith(".raiiaf")}
        prefix = back(path.rstrip("/")) + "/"
    else:
        found, prefix = {path: fs.info(path)}, None
    for p, info in found.items():
        if info.get("type", "file") == "file":
            out.append((back(p), int(info.get("size") or 0), _mtime_ns(info)))
    return prefix


def _list(sources, storage_options, problem):
    """Every file to index, sorted by path (as bytes, as raiiaf index sorts),
    and the prefixes under which a row whose file was not found is removed."""
    found, prefixes = [], []
    for s in sources:
        s = os.fspath(s)
        if _is_url(s):
            pre = _list_url(s, storage_options, found)
            if pre:
                prefixes.append(pre)
            continue
        if s.startswith("file://"):
            s = urllib.parse.unquote(urllib.parse.urlsplit(s).path)
        try:
            root = os.path.realpath(os.path.expanduser(s), strict=True)
        except TypeError:  # Python < 3.10: no strict
            root = os.path.realpath(os.path.expanduser(s))
            if not os.path.exists(root):
                raise FileNotFoundError(2, "No such file or directory", s) from None
        if os.path.isdir(root):
            _walk(root, found, problem)
            prefixes.append(root.rstrip("/") + "/")
        else:
            st = os.lstat(root)
            found.append((root, st.st_size, st.st_mtime_ns))
    found.sort(key=lambda f: os.fsencode(f[0]))
    dedup = []
    for f in found:
        if not dedup or dedup[-1][0] != f[0]:
            dedup.append(f)
    return dedup, prefixes


# ---- the rows (on the workers) -------------------------------------------------

def _row_json_file(path):
    """raiiaf_index_row_json() of a local file: (json text, None) or (None, message)."""
    _lib = _L()
    out, n = ctypes.c_void_p(), ctypes.c_size_t()
    err = ctypes.create_string_buffer(1024)
    rc = _lib.lib.raiiaf_index_row_json(os.fsencode(path), ctypes.byref(out), ctypes.byref(n), err, len(err))
    if rc:
        return None, _lib.s(err.value) or _lib.s(_lib.lib.raiiaf_strerror(rc))
    try:
        return ctypes.string_at(out, n.value).decode("utf-8"), None
    finally:
        _lib.lib.raiiaf_free(out)


def _row_json_url(url, size, mtime_ns, storage_options):
    """The row of a remote file: its metadata fetched by ranges into a sparse
    temporary file of the file's size, indexed there, then given the URL."""
    from . import _remote
    with _remote.RemoteFile(url, digests=False, storage_options=storage_options) as rf:
        fd, tmp = tempfile.mkstemp(prefix="raiiaf-dask-", suffix=".raiiaf")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.truncate(rf.size)  # sparse: only the fetched ranges take space
                for a, b in rf.have:
                    fh.seek(a)
                    fh.write(rf.buf[a:b].tobytes())
            text, msg = _row_json_file(tmp)
        finally:
            os.unlink(tmp)
        listed_size = rf.size
    if text is None:
        return None, msg.replace(tmp, url)
    row = json.loads(text)
    row["path"], row["size"] = url, listed_size
    row["mtime_ns"] = mtime_ns if mtime_ns is not None else 0
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")), None


def _rows(items, storage_options=None):
    """A batch on a worker: [(path, size, mtime_ns)] -> [(path, json or None,
    message or None)].  A file that cannot be read gives its message; it does
    not fail the batch."""
    out = []
    for path, size, mtime_ns in items:
        try:
            if _is_url(path):
                text, msg = _row_json_url(path, size, mtime_ns, storage_options)
            else:
                text, msg = _row_json_file(path)
        except errors.Error as e:
            text, msg = None, str(e)
        except (OSError, ValueError) as e:
            text, msg = None, "%s: %s" % (path, e)
        out.append((path, text, msg))
    return out


def _L():
    """_lib, loaded on first use (on a worker: with its first batch)."""
    from . import _lib
    return _lib


# ---- the database (on the client) ----------------------------------------------

class _Index:
    """A raiiaf_index handle for writing (library calls only)."""

    def __init__(self, db):
        _lib = _L()
        self.L, self.db = _lib, db
        h = ctypes.c_void_p()
        rc = _lib.lib.raiiaf_index_open(os.fsencode(db), 0, ctypes.byref(h))
        self.h = h
        if rc:
            msg = self.msg(rc)
            self.close()
            raise errors.make(rc, msg, db)

    def msg(self, rc):
        m = self.L.s(self.L.lib.raiiaf_index_errmsg(self.h)) if self.h else ""
        return m or self.L.s(self.L.lib.raiiaf_strerror(rc))

    def check(self, rc):
        if rc:
            raise errors.make(rc, self.msg(rc), self.db)

    def begin(self):
        self.check(self.L.lib.raiiaf_index_begin(self.h))

    def commit(self):
        self.check(self.L.lib.raiiaf_index_commit(self.h))

    def rollback(self):
        self.L.lib.raiiaf_index_rollback(self.h)

    def put(self, text):
        data = text.encode("utf-8")
        self.check(self.L.lib.raiiaf_index_put_row_json(self.h, data, len(data)))

    def remove(self, path):
        removed = ctypes.c_int()
        self.check(self.L.lib.raiiaf_index_remove_path(self.h, os.fsencode(path), ctypes.byref(removed)))
        return bool(removed.value)

    def current(self):
        """{path: (size, mtime_ns)} of every row, through raiiaf_index_search()."""
        L = self.L
        rows, failed = {}, []

        @L.INDEX_ROW_FN
        def each(_user, text, n):
            try:  # an exception cannot cross the C frames: keep it, stop the search
                r = json.loads(ctypes.string_at(text, n).decode("utf-8", "surrogateescape"))
                rows[r["path"]] = (r["size"], r["mtime_ns"])
                return 0
            except Exception as e:  # noqa: BLE001
                failed.append(e)
                return 1

        q = L.IndexQuery()
        q.limit = -1
        q.fields = b"path,size,mtime_ns"
        self.check(L.lib.raiiaf_index_search(self.h, ctypes.byref(q), each, None, None))
        if failed:
            raise failed[0]
        return rows

    def close(self):
        if self.h:
            self.L.lib.raiiaf_index_free(self.h)
            self.h = ctypes.c_void_p()


# ---- the run -------------------------------------------------------------------

def _client_for(scheduler, timeout):
    """(client, whether we made it): a distributed.Client, an address, or
    None for the current default client."""
    import distributed
    if scheduler is None:
        return distributed.default_client(), False
    if isinstance(scheduler, distributed.Client):
        return scheduler, False
    return distributed.Client(scheduler, timeout=timeout, set_as_default=False), True


def index(sources, db, scheduler=None, batch=DEFAULT_BATCH, window=None, storage_options=None, on_problem=None,
          on_progress=None, timeout=30):
    """Indexes `sources` (folders, files, fsspec URLs and globs; one or a
    list) into the index database `db` as `raiiaf index` does, reading the
    files on a Dask cluster: `scheduler` is a distributed.Client, a scheduler
    address ("tcp://host:8786"), or None for the current default client.
    Incremental like `raiiaf index`: files with the size and mtime of their
    row are not sent to the workers; rows of files gone from the folders
    (local or fsspec) given are removed; a file that cannot be read is
    counted in ``failed``, passed to on_problem(path, message), and its old
    row removed.  `batch` files go to a worker at a time and are committed
    together; at most `window` batches (default: twice the cluster's
    threads, at least 4) are in flight.  on_progress(done, total) is called
    after each batch is written (total: the files sent to the workers).
    storage_options go to fsspec, here and (with each task) on the workers.
    Returns an IndexResult."""
    if isinstance(sources, (str, bytes, os.PathLike)):
        sources = [sources]
    batch = int(batch)
    if batch < 1:
        raise ValueError("raiiaf.dask.index: batch must be at least 1, not %d" % batch)
    t0 = time.monotonic()
    res = IndexResult()

    def problem(path, msg):
        if len(res.problems) < MAX_PROBLEMS_KEPT:
            res.problems.append((path, msg))
        if on_problem:
            on_problem(path, msg)

    files, prefixes = _list(sources, storage_options, lambda p, m: res.folders.append((p, m)))
    res.seen = len(files)
    idx = _Index(db)
    client = None
    made = False
    try:
        known = idx.current()
        todo = []
        for path, size, mtime in files:
            old = known.get(path)
            if old is not None and mtime is not None and old == (size, mtime):
                res.unchanged += 1
            else:
                todo.append((path, size, mtime))
        walked = {f[0] for f in files}
        gone = sorted((p for p in known if p not in walked and any(p.startswith(pre) for pre in prefixes)),
                      key=os.fsencode)
        del walked
        res.computed = len(todo)
        if todo:
            client, made = _client_for(scheduler, timeout)
            if window is None:
                window = max(4, 2 * sum(client.nthreads().values()))
            _run(client, idx, todo, known, batch, int(window), storage_options, res, problem, on_progress)
        if gone:
            idx.begin()
            try:
                for p in gone:
                    res.removed += idx.remove(p)
                idx.commit()
            except BaseException:
                idx.rollback()
                raise
    finally:
        idx.close()
        if made:
            client.close()
    res.seconds = time.monotonic() - t0
    return res


def _run(client, idx, todo, known, batch, window, storage_options, res, problem, on_progress):
    """Sends the batches, at most `window` in flight, and writes each one as
    it comes back, in order (so rows get their ids in path order)."""
    from collections import deque
    batches = (todo[i:i + batch] for i in range(0, len(todo), batch))
    inflight = deque()
    done = 0
    try:
        for b in batches:
            inflight.append(client.submit(_rows, b, storage_options, pure=False))
            if len(inflight) >= window:
                done += _write(idx, inflight.popleft(), known, res, problem)
                if on_progress:
                    on_progress(done, len(todo))
        while inflight:
            done += _write(idx, inflight.popleft(), known, res, problem)
            if on_progress:
                on_progress(done, len(todo))
    finally:
        for f in inflight:
            f.cancel()


def _write(idx, future, known, res, problem):
    try:
        rows = future.result()
    except ImportError as e:  # raised on a worker, brought back by distributed
        raise ImportError("a Dask worker cannot import raiiaf (every worker needs the raiiaf Python package "
                          "and libraiiaf installed, and fsspec's s3fs/gcsfs for such URLs): %s" % e) from e
    future.release()
    idx.begin()
    try:
        for path, text, msg in rows:
            if text is None:
                res.failed += 1
                problem(path, msg)
                if path in known and idx.remove(path):
                    res.removed += 1
                continue
            idx.put(text)
            if path in known:
                res.updated += 1
            else:
                res.added += 1
        idx.commit()
    except BaseException:
        idx.rollback()
        raise
    return len(rows)


# ---- python3 -m raiiaf.dask index ... (what `raiiaf index --dask` runs) --------

EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_SYSTEM, EXIT_BUSY, EXIT_MISSING = 0, 2, 3, 4, 5, 6

USAGE = """usage: python3 -m raiiaf.dask index --scheduler ADDRESS --db LIBRARY.sqlite [-q] [--batch N] SOURCE...

What `raiiaf index --dask ADDRESS --db LIBRARY.sqlite DIR...` runs: indexes every
.raiiaf file under the folders (or fsspec URLs: s3://bucket/prefix, globs) into the
database, reading the files on the Dask cluster whose scheduler is at ADDRESS
("tcp://host:8786").  Same database, rows and incremental rules as `raiiaf index`.
  --scheduler ADDR   the Dask scheduler
  --db FILE          the database
  --batch N          files per task and per transaction (default 256)
  --timeout S        seconds to wait for the scheduler (default 30)
  -q, --quiet        no per-file messages, no summary
Exit status: 0 done, 2 usage, 3 some files could not be read (or a folder is
missing), 4 the database or the cluster failed, 5 the database stayed locked,
6 dask.distributed (or fsspec for URLs) is not installed.
"""


def _safe(s):
    """Text made harmless for a terminal, as the CLI's cli_safe() does."""
    out = []
    for ch in str(s):
        o = ord(ch)
        if o < 0x20 and ch != "\t" or o == 0x7F:
            out.append("\\x%02x" % o)
        elif 0x80 <= o < 0xA0 or 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069 or 0xDC80 <= o <= 0xDCFF:
            out.append("\\u%04x" % o if o > 0xFF or o < 0xDC80 else "\\x%02x" % (o - 0xDC00))
        else:
            out.append(ch)
    return "".join(out)


def _say(msg):
    sys.stderr.write("raiiaf: %s\n" % _safe(msg))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return EXIT_OK if argv else EXIT_USAGE
    if argv[0] != "index":
        _say("raiiaf.dask: unknown command '%s' (only: index)" % argv[0])
        return EXIT_USAGE
    opts = {"--scheduler": None, "--db": None, "--batch": str(DEFAULT_BATCH), "--timeout": "30"}
    quiet, sources = False, []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return EXIT_OK
        if a in ("-q", "--quiet"):
            quiet = True
        elif a.split("=", 1)[0] in opts:
            k, eq, v = a.partition("=")
            if not eq:
                i += 1
                if i == len(argv):
                    _say("index --dask: %s needs a value" % k)
                    return EXIT_USAGE
                v = argv[i]
            opts[k] = v
        elif a.startswith("-") and len(a) > 1:
            _say("index --dask: unknown option '%s' (see raiiaf index --help)" % a)
            return EXIT_USAGE
        else:
            sources.append(a)
        i += 1
    if not opts["--scheduler"] or not opts["--db"] or not sources:
        _say("index --dask: %s" % ("no scheduler given (--dask ADDRESS)" if not opts["--scheduler"] else
                                   "no database given (--db LIBRARY.sqlite)" if not opts["--db"] else
                                   "no folder given"))
        return EXIT_USAGE
    try:
        batch, timeout = int(opts["--batch"]), float(opts["--timeout"])
        if batch < 1 or timeout <= 0:
            raise ValueError
    except ValueError:
        _say("index --dask: --batch needs a whole number >= 1 and --timeout a number of seconds > 0")
        return EXIT_USAGE
    try:
        import distributed  # noqa: F401
    except ImportError as e:
        _say("index --dask: dask.distributed is not installed here (%s); install it (Debian: apt install "
             "python3-distributed; pip: pip install distributed) or index without --dask" % e)
        return EXIT_MISSING
    if any(_is_url(s) for s in sources):
        try:
            import fsspec  # noqa: F401
        except ImportError:
            _say("index --dask: URLs need fsspec (Debian: python3-fsspec), and s3fs/gcsfs for s3:// and gs://")
            return EXIT_MISSING

    def problem(path, msg):
        if not quiet and msg is not None:
            prefix = path + ": "
            _say("%s: skipped: %s" % (path, msg[len(prefix):] if msg.startswith(prefix) else msg))

    db = opts["--db"]
    try:
        r = index(sources, db, scheduler=opts["--scheduler"], batch=batch, on_problem=problem, timeout=timeout)
    except FileNotFoundError as e:
        _say("%s: %s" % (e.filename, e.strerror))
        return EXIT_INPUT
    except ImportError as e:  # an fsspec filesystem (s3fs, gcsfs) missing here
        _say("index --dask: %s" % e)
        return EXIT_MISSING
    except errors.Error as e:
        _say(str(e))
        return EXIT_BUSY if e.status == errors.E_BUSY else EXIT_SYSTEM
    except OSError as e:  # the scheduler cannot be reached, a listing failed
        _say("index --dask: %s: %s" % (opts["--scheduler"], e))
        return EXIT_SYSTEM
    if not quiet:
        for path, msg in r.folders:
            _say("%s: %s" % (path, msg))
        print("%s: %d files seen: %d added, %d updated, %d unchanged, %d removed, %d unreadable (%.2f s, %.0f files/s, "
              "%d read on the cluster)" % (db, r.seen, r.added, r.updated, r.unchanged, r.removed, r.failed, r.seconds,
                                           r.seen / r.seconds if r.seconds > 0 else 0.0, r.computed))
    return EXIT_INPUT if r.failed else EXIT_OK
