"""Drop-in replacement for the original package's interface (raiiaf 1.x):
``from raiiaf.main import raiiafFileHandler``.

Same class, methods, parameters, defaults, return shapes and exception
classes; what changed underneath:

* files are written in format 2 by default (``format=1`` writes the original
  layout where the loaded libraiiaf can); both formats are read;
* the defaults work: ``convert_float16=True`` converts float32 latents to
  float16 and stores them;
* every payload's SHA-256 is checked when read; a failure raises the original
  exception classes (through raiiaf.Error subclasses carrying the library's
  message: offset, chunk, JSON path);
* environment drift is reported as ``raiiaf.DriftWarning`` warnings, one per
  component, sorted by component id.

Byte fields of the dict file_encoder returns, for format 2: ``header`` = the
64-byte file header, ``latent_chunks`` = one bytes per tensor (chunk header +
stored payload, in file order), ``metadata_chunk`` = the MANI chunk (header +
zstd-compressed manifest), ``image_chunk`` = the IMAG chunk (header + the
image bytes), ``env_chunk`` = the ENVR chunk (added key).  For format 1 they
are the 33-byte header and each record's stored bytes, as the original did.
"""

import io
import os
import warnings

import numpy as np

from . import _core, errors
from .errors import (raiiafChunkError, raiiafCorruptHeader, raiiafDecodeError,  # noqa: F401 (re-exported)
                     raiiafEnvChunkError, raiiafImageError, raiiafLatentError, raiiafMetadataError)

__all__ = ["raiiafFileHandler", "EnvChunk", "raiiafDecodeError", "raiiafCorruptHeader", "raiiafMetadataError",
           "raiiafChunkError", "raiiafLatentError", "raiiafImageError", "raiiafEnvChunkError"]

# The component ids format 1 files record (their ENVC chunk).
_FORMAT1_ENV_IDS = {"torch", "numpy", "python", "cuda", "os", "gpu"}
# The components this package adds (raiiaf.python_components()).
_PYTHON_IDS = {"python", "numpy", "torch", "cuda", "cudnn", "diffusers"}


class raiiafFileHandler:
    """Encodes and decodes .raiiaf files (the original package's interface)."""

    def __init__(self, max_file_size=None, max_chunk_size=None):
        self.max_file_size = max_file_size
        self.max_chunk_size = max_chunk_size

    # -- encoding ---------------------------------------------------------------
    def file_encoder(self, filename, latent, chunk_records, model_name, model_version, prompt, tags,
                     img_binary, should_compress=True, convert_float16=True, generation_settings=None,
                     hardware_info=None, extra_image=None, *, format=2):
        """Writes `filename` (must end in .raiiaf) holding the latents (a dict
        name -> 4-D float16/float32 array without NaN or Inf, in that order),
        the image bytes `img_binary` and the generation record.  Appends the
        manifest's chunk records to `chunk_records` when it is a list.
        Returns {"header", "latent_chunks", "metadata_chunk", "image_chunk",
        "env_chunk"} (bytes; see the module documentation)."""
        if not isinstance(filename, (str, os.PathLike)) or not os.fspath(filename).endswith(".raiiaf"):
            raise ValueError("filename must end with .raiiaf: %r" % (filename,))
        if not isinstance(latent, dict):
            raise TypeError("latent must be a dict of name -> 4-D float16/float32 array")
        bad = errors.LatentInputError  # the original's raiiafLatentError (and a ValueError)
        # extra_image: in the original, a dict of extra fields for the image
        # record; bytes here are an extra image chunk of its own (format 2).
        image_extra = dict(extra_image) if isinstance(extra_image, dict) else None
        if image_extra is not None:
            extra_image = None
        if format == 1 and extra_image is not None:
            raise ValueError("format 1 has no place for an extra image chunk (give a dict: the image record's fields)")
        arrays = {}
        for name, value in latent.items():
            if _core._is_torch_tensor(value):
                value = value.detach().to("cpu").float().numpy() if str(value.dtype) == "torch.bfloat16" \
                    else value.detach().to("cpu").numpy()
            arr = np.asarray(value)
            if arr.ndim != 4:
                raise bad("latent %r must be 4-D (N, C, H, W), not %d-D" % (name, arr.ndim))
            if arr.dtype not in (np.float16, np.float32):
                raise bad("latent %r must be float16 or float32, not %s" % (name, arr.dtype))
            if not np.isfinite(arr).all():
                raise bad("latent %r contains NaN or Inf" % (name,))
            if convert_float16 and arr.dtype == np.float32:
                with np.errstate(over="ignore"):
                    arr = arr.astype(np.float16)
                if not np.isfinite(arr).all():
                    raise bad("latent %r has values outside float16's range; pass "
                                     "convert_float16=False" % (name,))
            arrays[name] = arr
        if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
            raise TypeError("tags must be a list of strings")
        codec = "auto" if should_compress else "raw"
        extra = {}
        if extra_image is not None:
            extra_image = bytes(extra_image)
        extensions = {}
        if extra_image is not None:
            extensions["org.raiiaf.python"] = {"extra_image_chunk": "XIMG"}
        if image_extra is not None:  # the DATA record's "extra" in format 1; kept here by convert too
            extensions["org.raiiaf.format1"] = {"image_extra": image_extra}
        _core.write(filename, image=img_binary, latents=arrays, model=model_name,
                    model_version=model_version, prompt=prompt, tags=list(tags),
                    generation_settings=generation_settings, hardware_info=hardware_info,
                    codec=codec, format=format,
                    chunks={"XIMG": extra_image} if extra_image is not None else None,
                    extensions=extensions or None, extra=extra)
        with _core.open(filename) as f:
            records = f.metadata["raiiaf_metadata"].get("chunks", [])
            if isinstance(chunk_records, list):
                chunk_records.extend(records)
            return _chunk_bytes(filename, f, records)

    # -- decoding ---------------------------------------------------------------
    def file_decoder(self, filename):
        """Reads `filename` (format 1 or 2): {"header": {...}, "chunks":
        {"latent": [arrays in file order], "image": bytes or None, "env":
        dict or None}, "metadata": the manifest dict}.  Every payload's CRC
        and SHA-256 is checked; environment drift becomes DriftWarning."""
        filename = os.fspath(filename)
        if not os.path.exists(filename):
            raise FileNotFoundError(filename)
        size = os.path.getsize(filename)
        if self.max_file_size is not None and size > self.max_file_size:
            raise errors.LimitError("file is %d bytes, more than max_file_size %d" % (size, self.max_file_size),
                                    errors.E_LIMIT, filename)
        with _core.open(filename) as f:
            header = _core.read_header(filename)  # after the library has checked the structures
            if self.max_chunk_size is not None:
                for c in f.chunks:
                    if max(c.stored_size, c.raw_size) > self.max_chunk_size:
                        raise errors.refined(errors.LimitError, "chunk")(
                            "chunk %d (%s) is %d bytes, more than max_chunk_size %d"
                            % (c.index, c.type, max(c.stored_size, c.raw_size), self.max_chunk_size),
                            errors.E_LIMIT, filename)
            latents = [np.array(f.latents[name]) for name in f.names]  # own, writable copies
            chunks = {"latent": latents}
            image = f.image_bytes
            if image is not None:  # the original sets "image" only when the file has one
                chunks["image"] = image
            env_text = f.env_json
            if env_text is not None:
                chunks["env"] = EnvChunk.from_json(env_text)
            metadata = f.metadata
            if env_text is not None:
                _warn_drift(f, filename)
        return {"header": header, "chunks": chunks, "metadata": metadata}

    # -- images -------------------------------------------------------------------
    @staticmethod
    def png_to_bytes(img_path):
        """Opens an image with Pillow and returns it re-encoded as an RGBA PNG (bytes)."""
        Image = _pil()
        with Image.open(img_path) as im:
            buf = io.BytesIO()
            im.convert("RGBA").save(buf, format="PNG")
            return buf.getvalue()

    @staticmethod
    def bytes_to_png(img_bytes):
        """Opens image bytes with Pillow: a PIL image."""
        Image = _pil()
        try:
            im = Image.open(io.BytesIO(bytes(img_bytes)))
            im.load()
        except Exception as e:
            raise errors.ImageError("cannot decode the image bytes: %s" % e, errors.E_IMAGE) from e
        return im


class EnvChunk(dict):
    """chunks["env"] as the original package gave it (its EnvChunk):
    ``env.env_version`` and ``env.components``, a list of dicts with
    ``component_id``, ``cononical_str`` (that package's spelling) and
    ``component_sha256_digest`` as 32 bytes.  Format 2 records (``id``,
    ``canonical``, ``sha256`` hex) get those three keys added.  Also the
    dict the record was stored as: ``env["components"]``, ``env["env_version"]``."""

    @classmethod
    def from_json(cls, text):
        import hashlib
        import json
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raw = {"components": []}
        comps = []
        for c in raw.get("components") or []:
            if not isinstance(c, dict):
                continue
            c = dict(c)
            if "component_id" not in c and "id" in c:  # format 2
                c["component_id"] = c["id"]
                c["cononical_str"] = c.get("canonical")
                digest = c.get("sha256")
                if not isinstance(digest, str) and isinstance(c["cononical_str"], str):
                    digest = hashlib.sha256(c["cononical_str"].encode("utf-8")).hexdigest()
                c["component_sha256_digest"] = digest
            d = c.get("component_sha256_digest")
            if isinstance(d, str) and len(d) == 64:  # hex in the file, bytes in memory (as the original)
                try:
                    c["component_sha256_digest"] = bytes.fromhex(d)
                except ValueError:
                    pass
            comps.append(c)
        env = cls(raw)
        env["components"] = comps
        return env

    @property
    def env_version(self):
        return self.get("env_version")

    @property
    def components(self):
        return self.get("components", [])


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("raiiaf: png_to_bytes/bytes_to_png need Pillow (Debian: apt-get install "
                          "python3-pil)") from None
    return Image


def _warn_drift(f, filename):
    try:
        items = f.drift
    except errors.Error as e:
        warnings.warn("raiiaf: %s: cannot compare environments: %s" % (filename, e.message),
                      _core.DriftWarning, stacklevel=3)
        return
    fmt1 = f.format[0] == 1
    for it in items:  # sorted by id: a stable order
        if it.kind == "changed":
            msg = "component %s differs: file %s, current %s" % (it.id, it.file, it.current)
        elif it.kind == "removed":
            msg = "component %s missing in the current system (file: %s)" % (it.id, it.file)
        elif it.kind == "added":
            if fmt1 and it.id not in _FORMAT1_ENV_IDS:
                continue  # format 1 never recorded it
            if not fmt1 and it.id in _PYTHON_IDS:
                continue  # written outside Python (the CLI, C): nothing to compare with
            msg = "component %s missing in file (current: %s)" % (it.id, it.current)
        else:  # unchecked: only in the file, and nothing here can capture it
            continue
        warnings.warn("raiiaf: %s: environment drift: %s" % (os.path.basename(filename), msg),
                      _core.DriftWarning, stacklevel=3)


def _chunk_bytes(filename, f, records):
    """The byte fields file_encoder returns."""
    with open(filename, "rb") as fh:
        data = fh.read()
    out = {"header": None, "latent_chunks": [], "metadata_chunk": None, "image_chunk": None, "env_chunk": None}
    if f.format[0] == 1:
        head = _core.read_header(filename)
        out["header"] = data[:33]
        for r in records:
            piece = data[r["offset"]:r["offset"] + r["compressed_size"]]
            key = {"LATN": "latent_chunks", "DATA": "image_chunk", "ENVC": "env_chunk"}.get(r["type"])
            if key == "latent_chunks":
                out[key].append(piece)
            elif key:
                out[key] = piece
        out["metadata_chunk"] = data[head["chunk_table_offset"]:head["chunk_table_offset"] + head["chunk_table_size"]]
        return out
    out["header"] = data[:64]
    for c in f.chunks:
        piece = data[c.offset:c.offset + 64 + c.stored_size]
        if c.type == "TENS":
            out["latent_chunks"].append(piece)
        elif c.type == "IMAG":
            out["image_chunk"] = piece
        elif c.type == "ENVR":
            out["env_chunk"] = piece
    head = _core.read_header(filename)
    moff = head["chunk_table_offset"]
    out["metadata_chunk"] = data[moff:moff + 64 + head["chunk_table_size"]]
    return out
