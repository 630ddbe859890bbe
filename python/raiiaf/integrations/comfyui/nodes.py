"""The RAIIAF nodes for ComfyUI.

Written against ComfyUI's own conventions (comfyanonymous/ComfyUI):
- nodes.py, SaveImage.save_images: each image of the IMAGE batch
  ([B, H, W, C] float 0..1) becomes ``255 * image`` clipped to uint8, saved as
  PNG with a text chunk "prompt" = json.dumps(prompt) and one text chunk per
  key of extra_pnginfo (the UI's "workflow") = json.dumps(value); files are
  named ``{prefix}_{counter:05}_`` in the output folder;
- nodes.py, LoadImage.load_image: an IMAGE is
  ``torch.from_numpy(np.array(rgb).astype(np.float32) / 255.0)[None,]``;
  a LATENT is ``{"samples": tensor [B, C, H/8, W/8]}``;
- execution.py, get_input_data: hidden inputs "PROMPT" and "EXTRA_PNGINFO"
  are filled with the prompt graph and ``extra_data.get("extra_pnginfo")``,
  and FUNCTION is called with one value per input.

So a Save RAIIAF file holds the same PNG SaveImage would have written (the
workflow can be dragged back into ComfyUI from an exported PNG), the
generation record the library reads from that graph (model, prompts, seed,
steps, sampler, cfg, LoRAs), and the latent.
"""

import hashlib
import io
import json
import os

import numpy as np

import raiiaf

CATEGORY = "raiiaf"
LATENT_NAME = "latent"   # what Save RAIIAF calls the LATENT it stores
SUFFIX = ".raiiaf"


def _folder_paths():
    """ComfyUI's folder_paths module (None outside ComfyUI)."""
    try:
        import folder_paths
    except ImportError:
        return None
    return folder_paths


def output_directory():
    fp = _folder_paths()
    if fp is not None:
        return fp.get_output_directory()
    return os.environ.get("RAIIAF_COMFY_OUTPUT", os.path.join(os.getcwd(), "output"))


def input_directory():
    fp = _folder_paths()
    if fp is not None:
        return fp.get_input_directory()
    return os.environ.get("RAIIAF_COMFY_INPUT", os.path.join(os.getcwd(), "input"))


def _inside(base, path):
    base = os.path.realpath(base)
    return os.path.commonpath([base, os.path.realpath(path)]) == base


def _input_path(name):
    path = os.path.join(input_directory(), name)
    if not _inside(input_directory(), path):
        raise ValueError("raiiaf: %r is outside ComfyUI's input folder" % name)
    return path


def _png_like_save_image(image, prompt, extra_pnginfo):
    """One [H, W, C] IMAGE as the PNG bytes SaveImage writes."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo
    arr = 255.0 * image.detach().cpu().float().numpy()
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8).squeeze())
    meta = PngInfo()
    if prompt is not None:
        meta.add_text("prompt", json.dumps(prompt))
    if extra_pnginfo is not None:
        for key in extra_pnginfo:
            meta.add_text(key, json.dumps(extra_pnginfo[key]))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=meta, compress_level=4)
    return buf.getvalue()


def _next_counter(folder, stem):
    n = 0
    for f in os.listdir(folder) if os.path.isdir(folder) else ():
        if f.startswith(stem + "_") and f.endswith("_" + SUFFIX):
            digits = f[len(stem) + 1:-len(SUFFIX) - 1]
            if digits.isdigit():
                n = max(n, int(digits))
    return n + 1


class SaveRaiiaf:
    """IMAGE (+ optional LATENT) -> one .raiiaf file per image in the output folder."""

    def __init__(self):
        self.output_dir = output_directory()
        self.type = "output"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",),
                             "filename_prefix": ("STRING", {"default": "ComfyUI"})},
                "optional": {"latent": ("LATENT",)},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    RETURN_TYPES = ()
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = CATEGORY

    def save(self, images, filename_prefix="ComfyUI", latent=None, prompt=None, extra_pnginfo=None):
        sub, stem = os.path.split(os.path.normpath(filename_prefix))
        folder = os.path.join(self.output_dir, sub)
        if not _inside(self.output_dir, folder) or not stem or stem in (".", ".."):
            raise ValueError("raiiaf: filename_prefix %r would save outside ComfyUI's output folder"
                             % filename_prefix)
        os.makedirs(folder, exist_ok=True)
        samples = None if latent is None else latent["samples"]
        if samples is not None and samples.shape[0] not in (1, len(images)):
            raise ValueError("raiiaf: the LATENT has a batch of %d and the IMAGE a batch of %d"
                             % (samples.shape[0], len(images)))
        counter = _next_counter(folder, stem)
        results = []
        for b, image in enumerate(images):
            png = _png_like_save_image(image, prompt, extra_pnginfo)
            imp = raiiaf.import_image(png)  # the library reads the graph: model, prompts, seed, ...
            latents = {}
            if samples is not None:
                k = b if samples.shape[0] == len(images) else 0
                latents[LATENT_NAME] = samples[k:k + 1]
            name = "%s_%05d_%s" % (stem, counter, SUFFIX)
            imp.save(os.path.join(folder, name), latents=latents, env=True)
            results.append({"filename": name, "subfolder": sub, "type": self.type})
            counter += 1
        return {"ui": {"raiiaf": results}}


def _list_inputs():
    d = input_directory()
    if not os.path.isdir(d):
        return []
    return sorted(f for f in os.listdir(d) if f.endswith(SUFFIX) and os.path.isfile(os.path.join(d, f)))


def _file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _validate(file):
    try:
        path = _input_path(file)
    except ValueError as e:
        return str(e)
    if not os.path.isfile(path):
        return "Invalid RAIIAF file: %s" % file
    return True


def _pick_latent(f, name, file):
    if name:
        if name not in f.names:
            raise ValueError("raiiaf: %s has no latent %r (it has: %s)" % (file, name, ", ".join(f.names) or "none"))
        return name
    for cand in (LATENT_NAME, "final"):
        if cand in f.names:
            return cand
    return f.names[-1] if f.names else None


def _latent_dict(f, name):
    import torch
    t = f.latent(name).to(torch.float32)
    if t.dim() == 3:
        t = t[None]
    return {"samples": t.contiguous()}


class LoadRaiiaf:
    """A .raiiaf file from the input folder -> IMAGE, LATENT, prompt, seed."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"file": (_list_inputs(),)},
                "optional": {"latent_name": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("IMAGE", "LATENT", "STRING", "INT")
    RETURN_NAMES = ("image", "latent", "prompt", "seed")
    FUNCTION = "load"
    CATEGORY = CATEGORY

    def load(self, file, latent_name=""):
        import torch
        from PIL import Image
        with raiiaf.open(_input_path(file)) as f:
            if not f.has_image:
                raise ValueError("raiiaf: %s holds no image (use Load latent from RAIIAF)" % file)
            img = Image.open(io.BytesIO(f.image_bytes)).convert("RGB")
            image = torch.from_numpy(np.array(img).astype(np.float32) / 255.0)[None,]
            name = _pick_latent(f, latent_name, file)
            if name is not None:
                latent = _latent_dict(f, name)
            else:  # like EmptyLatentImage: 4 channels at 1/8 of the image size
                latent = {"samples": torch.zeros([1, 4, img.height // 8, img.width // 8])}
            mi = f.metadata["raiiaf_metadata"].get("model_info", {})
            seed = mi.get("generation_settings", {}).get("seed", 0)
            return (image, latent, str(mi.get("prompt", "")), int(seed) if isinstance(seed, int) else 0)

    @classmethod
    def IS_CHANGED(cls, file, latent_name=""):
        return _file_hash(_input_path(file))

    @classmethod
    def VALIDATE_INPUTS(cls, file, latent_name=""):
        return _validate(file)


class LoadRaiiafLatent:
    """One latent of a .raiiaf file from the input folder -> LATENT."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"file": (_list_inputs(),), "latent_name": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "load"
    CATEGORY = CATEGORY

    def load(self, file, latent_name=""):
        with raiiaf.open(_input_path(file)) as f:
            name = _pick_latent(f, latent_name, file)
            if name is None:
                raise ValueError("raiiaf: %s holds no latent" % file)
            return (_latent_dict(f, name),)

    @classmethod
    def IS_CHANGED(cls, file, latent_name=""):
        return _file_hash(_input_path(file))

    @classmethod
    def VALIDATE_INPUTS(cls, file, latent_name=""):
        return _validate(file)


NODE_CLASS_MAPPINGS = {"SaveRaiiaf": SaveRaiiaf, "LoadRaiiaf": LoadRaiiaf, "LoadRaiiafLatent": LoadRaiiafLatent}
NODE_DISPLAY_NAME_MAPPINGS = {"SaveRaiiaf": "Save RAIIAF", "LoadRaiiaf": "Load RAIIAF",
                              "LoadRaiiafLatent": "Load latent from RAIIAF"}
