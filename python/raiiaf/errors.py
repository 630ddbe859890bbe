"""Exceptions.

Two hierarchies meet here:

* the original Python package's (raiiaf 1.x), kept so that old ``except``
  clauses keep working: ``raiiafDecodeError`` with ``raiiafCorruptHeader``,
  ``raiiafMetadataError`` and ``raiiafChunkError``, and under the latter
  ``raiiafLatentError``, ``raiiafImageError`` and ``raiiafEnvChunkError``;
* this package's, one class per family of libraiiaf status codes under
  ``raiiaf.Error``, each carrying the library's message (which names the byte
  offset, chunk or JSON path) and the status code.

Each ``raiiaf.Error`` class that describes bad input also inherits from the
matching original class (``CorruptError`` is a ``raiiafDecodeError``,
``SchemaError`` a ``raiiafMetadataError``, ...).  When the library's message
places the failure in one part of the file (the header, the manifest, a
latent, the image, the environment record), the exception raised is a
subclass that also inherits from that part's original class: a CRC mismatch
in a tensor chunk raises ``CorruptError`` that is also a ``raiiafLatentError``.
"""

import re

# ---- the original package's classes ----------------------------------------


class raiiafDecodeError(Exception):
    """Base class of every decoding error (as in raiiaf 1.x)."""


class raiiafCorruptHeader(raiiafDecodeError):
    """The file header is damaged or not a RAIIAF header."""


class raiiafMetadataError(raiiafDecodeError):
    """The manifest (metadata) is damaged or invalid."""


class raiiafChunkError(raiiafDecodeError):
    """A chunk is damaged or invalid."""


class raiiafLatentError(raiiafChunkError):
    """A latent chunk is damaged or invalid."""


class raiiafImageError(raiiafChunkError):
    """The image chunk is damaged or invalid."""


class raiiafEnvChunkError(raiiafChunkError):
    """The environment chunk is damaged or invalid."""


class LatentInputError(raiiafLatentError, ValueError):
    """A latent given to the drop-in's file_encoder is not one the original
    package accepted (not 4-D, not float16/float32, NaN or Inf, empty): the
    original raised raiiafLatentError, so old ``except`` clauses catch it;
    it is also the ValueError this package raised before."""


# ---- status codes -----------------------------------------------------------

OK = 0
E_ARG, E_NOMEM, E_IO, E_NOT_RAIIAF, E_VERSION, E_TRUNCATED, E_CORRUPT, E_CHECKSUM, E_DIGEST, \
    E_LIMIT, E_JSON, E_SCHEMA, E_IMAGE, E_CODEC, E_NOT_FOUND, E_EXISTS, E_STATE, E_BUFFER, E_BUSY = range(1, 20)

STATUS_NAMES = {
    0: "OK", 1: "ARG", 2: "NOMEM", 3: "IO", 4: "NOT_RAIIAF", 5: "VERSION", 6: "TRUNCATED",
    7: "CORRUPT", 8: "CHECKSUM", 9: "DIGEST", 10: "LIMIT", 11: "JSON", 12: "SCHEMA",
    13: "IMAGE", 14: "CODEC", 15: "NOT_FOUND", 16: "EXISTS", 17: "STATE", 18: "BUFFER", 19: "BUSY",
}


class Error(Exception):
    """A libraiiaf failure.  ``status`` is the RAIIAF_E_* code, ``status_name``
    its name ("CHECKSUM"), ``message`` the library's message, ``path`` the
    file concerned (or None)."""

    def __init__(self, message, status=None, path=None):
        self.message = message
        self.status = status
        self.status_name = STATUS_NAMES.get(status, str(status)) if status is not None else None
        self.path = path
        # The library names the file itself in some messages ("x: cannot
        # open"): said once, not "x: x: cannot open" (as the CLI does).
        said = path and (message == path or message.startswith(str(path) + ":"))
        super().__init__(("%s: %s" % (path, message)) if path and not said else message)


class ArgumentError(Error, ValueError):
    """RAIIAF_E_ARG, E_EXISTS, E_BUFFER: invalid argument or API misuse."""


class NoMemoryError(Error, MemoryError):
    """RAIIAF_E_NOMEM."""


class IOError(Error, OSError):  # noqa: A001 - raiiaf.IOError, distinct from the builtin
    """RAIIAF_E_IO: the operating system reported an I/O error; RAIIAF_E_BUSY:
    another writer kept the file locked."""


class CorruptError(Error, raiiafDecodeError):
    """RAIIAF_E_CORRUPT, E_CHECKSUM, E_DIGEST, E_TRUNCATED, E_NOT_RAIIAF: damaged data."""


class NotRaiiafError(CorruptError, raiiafCorruptHeader):
    """RAIIAF_E_NOT_RAIIAF: the data does not start with a RAIIAF signature."""


class VersionError(Error, raiiafCorruptHeader):
    """RAIIAF_E_VERSION: a format version or flag this library cannot read."""


class LimitError(Error, raiiafDecodeError):
    """RAIIAF_E_LIMIT: a declared size or count exceeds a safety limit."""


class JSONError(Error, raiiafMetadataError):
    """RAIIAF_E_JSON: malformed JSON."""


class SchemaError(Error, raiiafMetadataError):
    """RAIIAF_E_SCHEMA: the manifest violates the schema (the message names the JSON path)."""


class ImageError(Error, raiiafImageError):
    """RAIIAF_E_IMAGE: image bytes are not a valid PNG, JPEG or WebP."""


class CodecError(Error, raiiafChunkError):
    """RAIIAF_E_CODEC: a codec cannot encode or decode this data."""


class NotFoundError(Error, LookupError):
    """RAIIAF_E_NOT_FOUND: no tensor, image or field of that name."""


class StateError(Error):
    """RAIIAF_E_STATE: the call is not valid in the handle's current state."""


_BY_STATUS = {
    E_ARG: ArgumentError, E_EXISTS: ArgumentError, E_BUFFER: ArgumentError,
    E_NOMEM: NoMemoryError, E_IO: IOError, E_BUSY: IOError,
    E_NOT_RAIIAF: NotRaiiafError, E_VERSION: VersionError,
    E_TRUNCATED: CorruptError, E_CORRUPT: CorruptError, E_CHECKSUM: CorruptError, E_DIGEST: CorruptError,
    E_LIMIT: LimitError, E_JSON: JSONError, E_SCHEMA: SchemaError, E_IMAGE: ImageError,
    E_CODEC: CodecError, E_NOT_FOUND: NotFoundError, E_STATE: StateError,
}

# Part of the file -> the original class that names it.
_PARTS = {
    "header": raiiafCorruptHeader,
    "metadata": raiiafMetadataError,
    "chunk": raiiafChunkError,
    "latent": raiiafLatentError,
    "image": raiiafImageError,
    "env": raiiafEnvChunkError,
}

_refined = {}


def refined(cls, part):
    """``cls`` made also a subclass of the original class for ``part``
    ("header", "metadata", "chunk", "latent", "image", "env"); one class per
    pair, created once.  Returns ``cls`` itself when it already is one."""
    base = _PARTS.get(part)
    if base is None or issubclass(cls, base) or not issubclass(cls, raiiafDecodeError):
        return cls
    key = (cls, part)
    if key not in _refined:
        _refined[key] = type(cls.__name__, (cls, base), {
            "__module__": __name__, "__qualname__": "%s[%s]" % (cls.__name__, part),
            "__doc__": "%s in the %s." % (cls.__name__, part), "part": part})
    return _refined[key]


# What the library's messages say, mapped to a part.  Checked in order.
_PART_PATTERNS = [
    (re.compile(r"\((TENS|LATN)\b|\btensor\b|\blatent\b", re.I), "latent"),
    (re.compile(r"\((IMAG|DATA)\b|\bimage\b", re.I), "image"),
    (re.compile(r"\((ENVR|ENVC)\b|\benvironment\b", re.I), "env"),
    (re.compile(r"\((MANI|META)\b|\bmanifest\b|^/|\bmetadata\b|\bJSON\b"), "metadata"),
    (re.compile(r"\b(file )?header\b|\bsignature\b|\bfooter\b|\bformat version\b", re.I), "header"),
    (re.compile(r"\bchunk\b", re.I), "chunk"),
]


def part_of(message):
    """The part of the file a library message is about, or None."""
    for rx, part in _PART_PATTERNS:
        if rx.search(message or ""):
            return part
    return None


def make(status, message, path=None, part=None):
    """The exception for a library status and message.  `part` forces the
    part; otherwise it is read from the message."""
    cls = _BY_STATUS.get(status, Error)
    if part is None:
        part = part_of(message)
    if part is not None:
        cls = refined(cls, part)
    return cls(message, status, path)
