"""Reading RAIIAF files over HTTP(S) and fsspec with range requests.

The format is footer-first: the last 64 bytes point to the manifest, which
lists every chunk's offset and size.  So a remote file opens with a suffix
range (the last 16 KiB: footer and, usually, the whole manifest; the
response's Content-Range gives the file size), one more read when the
manifest starts earlier, and the 64-byte header; a tensor or the image then
costs one read of its chunk (and of the chunks of its reference chain).

The bytes land in a sparse, file-sized buffer (numpy zeros: pages are
allocated only where written) that libraiiaf opens with
raiiaf_reader_open_buffer(); the library checks exactly what it checks on a
local file (header and footer CRCs, the manifest, each payload's CRC-32C and
SHA-256 when read), because the bytes at every offset it reads are the
file's.  Anything the sparse view cannot explain (a format 1 file, a damaged
footer, a torn append) is fetched whole, up to `whole_limit` bytes, and
opened like a local file, so remote files fail with the same errors as
local ones.
"""

import http.client
import os
import struct
import urllib.parse

import numpy as np

from . import _core, errors

TAIL = 16384  # footer + a typical manifest (1-4 KiB compressed) with room to spare
FOOTER_MAGIC = b"RAIIAFft"
WHOLE_LIMIT = 1 << 30
MANIFEST_MAX = (16 << 20) + 128  # SPEC 11 step 16: a manifest chunk stores at most 16 MiB
MAX_SIZE = 1 << 40  # the largest file size a server may claim (address space for the sparse view)
MERGE_GAP = 65536  # ranges closer than this are fetched in one request


def _io_error(url, what):
    return errors.make(errors.E_IO, "%s: cannot open: %s" % (url, what), url)


class Connections:
    """Keep-alive HTTP(S) connections by (scheme, host, port), for one
    process: after a fork the child starts with none of the parent's."""

    def __init__(self, timeout=60):
        self.timeout = timeout
        self.pid = os.getpid()
        self.conns = {}

    def get(self, key):
        if self.pid != os.getpid():
            self.pid, self.conns = os.getpid(), {}  # the parent's sockets are not ours to use
        conn = self.conns.get(key)
        if conn is None:
            scheme, host, port = key
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = self.conns[key] = cls(host, port, timeout=self.timeout)
        return conn

    def drop(self, key):
        conn = self.conns.pop(key, None)
        if conn is not None:
            conn.close()

    def close(self):
        for key in list(self.conns):
            self.drop(key)


class HTTPRanges:
    """Range reads of one http(s) URL, over a keep-alive connection from
    `pool` (a Connections; a Dataset keeps one per process)."""

    def __init__(self, url, pool=None):
        self.url = url
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("raiiaf: not an http(s) URL: %r" % url)
        self.key = (u.scheme, u.hostname, u.port)
        self.target = (u.path or "/") + ("?" + u.query if u.query else "")
        self.pool = pool if pool is not None else Connections()
        self.etag = None
        self.requests = 0
        self.bytes = 0

    def _get(self, rng, want):
        """(response, body) for a GET with header Range: rng, of which `want`
        bytes are expected; a body (declared or sent) longer than that and
        than WHOLE_LIMIT is refused before it is read into memory."""
        for attempt in (0, 1):  # a kept-alive connection the server closed: one fresh try
            conn = self.pool.get(self.key)
            try:
                conn.request("GET", self.target, headers={"Range": rng})
                resp = conn.getresponse()
                if resp.status not in (200, 206):  # an error page: read (a little of) it, say the status
                    body = resp.read(65536)
                    if not resp.isclosed():
                        self.pool.drop(self.key)
                    break
                declared = resp.getheader("Content-Length")
                cap = max(want, WHOLE_LIMIT) if resp.status == 200 else want
                if declared is not None and declared.isdigit() and int(declared) > cap:
                    self.pool.drop(self.key)
                    raise errors.make(errors.E_LIMIT, "%s: the server sends %s bytes for %s (status %d); at most "
                                      "%d accepted" % (self.url, declared, rng, resp.status, cap), self.url)
                body = resp.read(cap + 1)
                if len(body) > cap or not resp.isclosed() and resp.length:
                    self.pool.drop(self.key)
                    raise errors.make(errors.E_LIMIT, "%s: the server sends more than %d bytes for %s"
                                      % (self.url, cap, rng), self.url)
                break
            except (http.client.HTTPException, ConnectionError) as e:
                self.pool.drop(self.key)
                if attempt:
                    raise _io_error(self.url, "HTTP request failed (%s)" % e) from None
            except OSError as e:
                self.pool.drop(self.key)
                raise _io_error(self.url, "HTTP request failed (%s)" % e) from None
        self.requests += 1
        self.bytes += len(body)
        if resp.status not in (200, 206):
            raise _io_error(self.url, "HTTP %d %s" % (resp.status, resp.reason))
        etag = resp.getheader("ETag")
        if etag and self.etag and etag != self.etag:
            raise _io_error(self.url, "the file changed on the server while it was read (ETag %s, was %s)"
                            % (etag, self.etag))
        self.etag = self.etag or etag
        return resp, body

    def tail(self, n):
        """(file size, offset of the bytes, bytes): the last n bytes (all of a smaller file)."""
        resp, body = self._get("bytes=-%d" % n, n)
        if resp.status == 200:  # the server ignores ranges: we have the whole file
            return len(body), 0, body
        total = self._total(resp)
        return total, total - len(body), body

    def read(self, start, end):
        """Bytes [start, end)."""
        if end <= start:
            return b""
        resp, body = self._get("bytes=%d-%d" % (start, end - 1), end - start)
        if resp.status == 200:
            body = body[start:end]
        if len(body) != end - start:
            raise _io_error(self.url, "asked for bytes %d..%d, got %d bytes (file shorter than it said?)"
                            % (start, end - 1, len(body)))
        return body

    def _total(self, resp):
        cr = resp.getheader("Content-Range") or ""
        try:
            return int(cr.rsplit("/", 1)[1])
        except (IndexError, ValueError):
            raise _io_error(self.url, "the server's Content-Range %r gives no size" % cr) from None


class FsspecRanges:
    """Range reads through an fsspec filesystem (s3://, gs://, memory://, ...)."""

    def __init__(self, url, storage_options=None):
        import fsspec
        self.url = url
        self.fs, self.path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.requests = 0
        self.bytes = 0

    def tail(self, n):
        try:
            size = int(self.fs.size(self.path))
        except FileNotFoundError:
            raise _io_error(self.url, "No such file or directory") from None
        self.requests += 1
        start = max(0, size - n)
        return size, start, self.read(start, size)

    def read(self, start, end):
        if end <= start:
            return b""
        try:
            data = self.fs.cat_file(self.path, start=start, end=end)
        except FileNotFoundError:
            raise _io_error(self.url, "No such file or directory") from None
        self.requests += 1
        self.bytes += len(data)
        if len(data) != end - start:
            raise _io_error(self.url, "asked for bytes %d..%d, got %d bytes" % (start, end - 1, len(data)))
        return data


def ranges_for(url, storage_options=None, pool=None):
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in ("http", "https"):
        return HTTPRanges(url, pool)
    return FsspecRanges(url, storage_options)


class RemoteFile:
    """A RAIIAF file read by ranges: ``metadata``, ``names``, ``latent(name)``
    (numpy, or torch with device/dtype like File.latent), ``image_bytes``,
    ``tensor_info(name)``; ``requests`` and ``bytes_read`` count the traffic."""

    def __init__(self, url, digests=True, storage_options=None, whole_limit=WHOLE_LIMIT, pool=None):
        self.url = url
        self.src = ranges_for(url, storage_options, pool)
        self.digests = digests
        size, off, tail = self.src.tail(TAIL)
        self.size = size
        if size > MAX_SIZE:
            raise errors.make(errors.E_LIMIT, "%s: the server gives the file's size as %d bytes, more than the "
                              "%d this reader accepts" % (url, size, MAX_SIZE), url)
        try:
            self.buf = np.zeros(size, dtype=np.uint8)  # sparse: pages are allocated where written
        except MemoryError:
            raise errors.make(errors.E_NOMEM, "%s: no address space for a sparse view of %d bytes"
                              % (url, size), url) from None
        self.have = []  # fetched [start, end) ranges
        self._put(off, tail)
        self.f = None
        if off > 0:
            m = self._manifest_offset(tail)
            if m is None:
                self._whole(whole_limit)
            else:
                if off - MANIFEST_MAX <= m < off:  # else the footer is wrong: the library will say so
                    self._fetch([(m, off)])
                self._fetch([(0, min(64, size))])
        self._open(whole_limit)

    # -- bytes ------------------------------------------------------------------------

    def _put(self, start, data):
        self.buf[start:start + len(data)] = np.frombuffer(data, dtype=np.uint8)
        self.have.append((start, start + len(data)))

    def _missing(self, start, end):
        """The parts of [start, end) not fetched yet."""
        todo = [(start, end)]
        for a, b in self.have:
            nxt = []
            for s, e in todo:
                if b <= s or a >= e:
                    nxt.append((s, e))
                    continue
                if s < a:
                    nxt.append((s, a))
                if b < e:
                    nxt.append((b, e))
            todo = nxt
        return todo

    def _fetch(self, want):
        todo = sorted(r for s, e in want for r in self._missing(s, e))
        merged = []
        for s, e in todo:
            if merged and s - merged[-1][1] <= MERGE_GAP:
                merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
            else:
                merged.append((s, e))
        for s, e in merged:
            self._put(s, self.src.read(s, e))

    def _manifest_offset(self, tail):
        if self.size % 64 or len(tail) < 64 or tail[-64:-56] != FOOTER_MAGIC:
            return None  # not a plain format 2 ending: let the library judge the whole file
        m = struct.unpack_from("<Q", tail, len(tail) - 56)[0]
        if m % 64 or m < 64 or m > self.size - 128:
            return None
        return m

    def _whole(self, limit):
        if self.size > limit:
            raise _io_error(self.url, "%d bytes, and this file cannot be read by ranges (format 1, or a "
                            "damaged or torn ending); fetching it whole is limited to %d bytes"
                            % (self.size, limit))
        self._fetch([(0, self.size)])

    def _open(self, whole_limit):
        try:
            self.f = _core.File(self.buf, self.digests)
        except errors.Error as e:
            if self._missing(0, self.size) and self.size <= whole_limit:
                self._fetch([(0, self.size)])  # the exact local behaviour (and message)
                self._open(whole_limit)
                return
            raise self._named(e) from None

    def _named(self, e):
        """The library's error on the buffer, naming the URL as a local open names the path."""
        return e if e.path else type(e)(e.message, e.status, self.url)

    @property
    def requests(self):
        return self.src.requests

    @property
    def bytes_read(self):
        return self.src.bytes

    # -- the file ------------------------------------------------------------------------

    @property
    def metadata(self):
        return self.f.metadata

    @property
    def names(self):
        return self.f.names

    def tensor_info(self, name):
        return self.f.tensor_info(name)

    def _chunk_range(self, index):
        c = self.f.metadata["raiiaf_metadata"]["chunks"][index]
        return c["offset"], c["offset"] + 64 + c["stored_size"]

    def _need_tensor(self, name):
        entries = {t["name"]: t for t in self.f.metadata["raiiaf_metadata"].get("tensors", [])}
        want, seen = [], set()
        while name is not None and name in entries and name not in seen:
            seen.add(name)
            want.append(self._chunk_range(entries[name]["chunk"]))
            name = entries[name].get("reference")
        self._fetch(want)

    def latent(self, name, device=None, dtype=None, numpy=False):
        self._need_tensor(name)
        try:
            if numpy:
                return np.array(self.f.latents[name])  # a copy: the buffer belongs to this object
            return self.f.latent(name, device=device, dtype=dtype).clone()
        except errors.Error as e:
            raise self._named(e) from None

    @property
    def has_image(self):
        if self.f.format[0] != 2:  # fetched whole
            return self.f.has_image
        return isinstance(self.f.metadata["raiiaf_metadata"].get("image"), dict)  # File's would read it

    @property
    def image_bytes(self):
        img = self.f.metadata["raiiaf_metadata"].get("image")
        if img is not None and self.f.format[0] == 2:
            self._fetch([self._chunk_range(img["chunk"])])
        try:
            return self.f.image_bytes
        except errors.Error as e:
            raise self._named(e) from None

    def verify(self):
        self._fetch([(0, self.size)])
        return self.f.verify()

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
