"""raiiaf: RAIIAF files (an AI-generated image, its latent tensors and the
generation record in one file) from Python, through libraiiaf.

Native API::

    import raiiaf
    raiiaf.write("cat.raiiaf", image="cat.png", latents={"initial_noise": noise},
                 model="SDXL", prompt="a cat", seed=42, steps=30)
    with raiiaf.open("cat.raiiaf") as f:
        f.metadata, f.image_bytes, f.latents["initial_noise"], f.env, f.drift
        f.verify()
        f.recipe("initial_noise")  # {"generator": "torch.randn/cpu", ..., "seed": 42} or None

Noise that is exactly torch.randn(shape, dtype=dtype,
generator=torch.Generator().manual_seed(S)) on the CPU is stored as a 32-byte
seed recipe (format 2.1): ``write(..., noise_seed=S)``, or tried quietly for
"initial_noise" from ``seed=``; ``noise_seed=False`` stores values always.

A denoising trajectory stores each step as the XOR of its bits with the step
before when that codes smaller (format 2.1): ``write(..., relative="chain")``,
or ``relative={"step_01": "step_00"}``; ``f.tensor_info(name).reference``.

Everything the CLI does, from Python (the same library calls)::

    imp = raiiaf.import_image("a1111.png")     # imp.tool, imp.model_info, imp.save("a.raiiaf")
    f.export("out.png"); f.parameters           # the image with its record, A1111 text
    raiiaf.convert("old.raiiaf", "new.raiiaf")  # format 1 <-> 2
    raiiaf.edit("a.raiiaf", set={"/raiiaf_metadata/model_info/prompt": "..."}, add_tags=["x"])
    f.history(); raiiaf.open(p, version=1)
    raiiaf.keygen("me.key"); raiiaf.sign(p, "me.key"); f.verify(pubkey="me.key.pub")
    raiiaf.compact(p); raiiaf.recover("damaged.raiiaf", "saved.raiiaf")
    raiiaf.noise(42, (1, 4, 64, 64))            # torch.randn's values, bit for bit, without torch
    raiiaf.load_safetensors(p); raiiaf.save_safetensors(p, "latent", arr); raiiaf.load_npy(p)

Recording a generation from a PyTorch sampling loop (raiiaf.recorder)::

    with raiiaf.Recorder("out.raiiaf", model="SDXL", prompt=p, seed=s) as rec:
        x = rec.initial_noise(torch.randn(shape, generator=g), seed=s)
        for i, t in enumerate(timesteps):
            x = step(x, t); rec.step(i, t, x)
        rec.image(pil_image)

Training data: ``raiiaf.data.Dataset(source, fields=, latents=, image=)`` over
folders, globs, lists, index databases and http(s)/fsspec URLs (range reads).

Drop-in for the original package (raiiaf 1.x)::

    from raiiaf import raiiafFileHandler      # or: from raiiaf.main import raiiafFileHandler
"""

from . import _lib
from ._core import (ChunkInfo, DriftItem, DriftWarning, File, LatentMap, RecipeWarning, RelativeWarning,
                    TensorInfo, VerifyWarning, as_tensor_bytes, current_env, open, python_components, read_header, write)
from ._core import HAS_ENV, HAS_FORMAT1_READ, HAS_FORMAT1_WRITE, HAS_RECIPE, HAS_RELATIVE
from .errors import (ArgumentError, CodecError, CorruptError, Error, ImageError, IOError, JSONError,
                     LimitError, NoMemoryError, NotFoundError, NotRaiiafError, SchemaError, StateError,
                     VersionError, raiiafChunkError, raiiafCorruptHeader, raiiafDecodeError,
                     raiiafEnvChunkError, raiiafImageError, raiiafLatentError, raiiafMetadataError)
from ._interop import (Converted, ExportWarning, Import, convert, import_image, load_npy, load_safetensors, noise,
                       read_tensor_file, safetensors_bytes, safetensors_names, save_npy, save_safetensors)
from ._trust import Edit, Signature, Version, compact, edit, keygen, recover, sign
from .main import raiiafFileHandler
from .recorder import Recorder, module_hash
from . import data  # raiiaf.data.Dataset
# The index database (src/index/).  raiiaf.index is the function; the
# module's other functions are here under index_ names.
from .index import index, search, row_json as index_row_json, put_rows as index_put_rows

__version__ = "2.1.0"
library_version = _lib.version   # the loaded libraiiaf's version
library_path = _lib.path         # where it was loaded from
library_version_number = _lib.version_number  # MAJOR * 10000 + MINOR * 100 + PATCH

__all__ = [
    "write", "open", "File", "LatentMap", "TensorInfo", "ChunkInfo", "DriftItem", "DriftWarning",
    "VerifyWarning", "RecipeWarning", "RelativeWarning", "current_env", "python_components", "as_tensor_bytes", "read_header",
    "raiiafFileHandler", "Recorder", "module_hash", "data", "index", "search",
    "index_row_json", "index_put_rows",
    "import_image", "Import", "convert", "Converted", "ExportWarning", "noise", "load_npy", "save_npy",
    "read_tensor_file", "load_safetensors", "save_safetensors", "safetensors_bytes", "safetensors_names",
    "Edit", "edit", "Version", "Signature", "keygen", "sign", "compact", "recover",
    "Error", "ArgumentError", "NoMemoryError", "IOError", "CorruptError", "NotRaiiafError",
    "VersionError", "LimitError", "JSONError", "SchemaError", "ImageError", "CodecError",
    "NotFoundError", "StateError",
    "raiiafDecodeError", "raiiafCorruptHeader", "raiiafMetadataError", "raiiafChunkError",
    "raiiafLatentError", "raiiafImageError", "raiiafEnvChunkError",
    "HAS_ENV", "HAS_FORMAT1_READ", "HAS_FORMAT1_WRITE", "HAS_RECIPE", "HAS_RELATIVE",
    "library_version", "library_path", "library_version_number",
]
