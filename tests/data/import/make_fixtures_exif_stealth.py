#!/usr/bin/python3
"""Builds the fixture images under tests/data/import/{civitai,novelai,
invokeai,stealth,c2pa}/ exactly as those generators lay out their records
(chunk names, encodings, JSON shapes), each with X.expected.json beside it:
{"tool", "family", "model_info", "generation_settings"} taken from the
values written here, never from raiiaf.  Deterministic: rerun to rebuild.

    /usr/bin/python3 tests/data/import/make_fixtures.py

Only Python's own libraries and PIL (Debian 12 python3-pil).
"""
import gzip
import io
import json
import os
import struct
import zlib

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def picture(mode="RGB", size=64):
    im = Image.new(mode, (size, size))
    px = im.load()
    for x in range(size):
        for y in range(size):
            c = ((x * 4) & 255, (y * 4) & 255, ((x + y) * 2) & 255)
            px[x, y] = c + (255,) if mode == "RGBA" else c
    return im


def png_bytes(im, chunks=()):
    """PNG from PIL, then text/other chunks inserted before the first IDAT."""
    b = io.BytesIO()
    im.save(b, "PNG")
    d = b.getvalue()
    out, pos = bytearray(d[:8]), 8
    done = False
    while pos < len(d):
        n = struct.unpack(">I", d[pos:pos + 4])[0]
        typ = d[pos + 4:pos + 8]
        if typ == b"IDAT" and not done:
            for t, body in chunks:
                out += struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body) & 0xFFFFFFFF)
            done = True
        out += d[pos:pos + 12 + n]
        pos += 12 + n
    return bytes(out)


def text(key, value):  # PIL's PngInfo.add_text: tEXt when Latin-1, else iTXt
    try:
        return (b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return (b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8"))


def tiff(description=None, usercomment=None):
    """A big-endian TIFF block as piexif.dump writes it: IFD0 (ImageDescription,
    ExifIFD pointer), Exif IFD (UserComment = b"UNICODE\\0" + UTF-16BE)."""
    ifd0 = []
    if description is not None:
        ifd0.append((0x010E, 2, description.encode("utf-8") + b"\0"))
    exif = []
    if usercomment is not None:
        exif.append((0x9286, 7, b"UNICODE\0" + usercomment.encode("utf-16-be")))
    n0 = len(ifd0) + 1
    off_exif = 8 + 2 + 12 * n0 + 4
    size_exif = 2 + 12 * len(exif) + 4
    data_at = off_exif + size_exif
    blob = bytearray()

    def ifd(entries, extra=None):
        nonlocal blob
        out = struct.pack(">H", len(entries) + (1 if extra else 0))
        rows = []
        for tag, typ, val in entries:
            if len(val) <= 4:
                rows.append((tag, struct.pack(">HHI", tag, typ, len(val)) + val.ljust(4, b"\0")))
            else:
                rows.append((tag, struct.pack(">HHII", tag, typ, len(val), data_at + len(blob))))
                blob += val + (b"\0" if len(val) & 1 else b"")
        if extra:
            rows.append((0x8769, struct.pack(">HHII", 0x8769, 4, 1, extra)))
        for _, r in sorted(rows):
            out += r
        return out + b"\0\0\0\0"

    head = b"MM\0*" + struct.pack(">I", 8)
    i0 = ifd(ifd0, off_exif)
    ie = ifd(exif)
    return head + i0 + ie + bytes(blob)


def jpeg_bytes(im, tiff_block=None, app11=()):
    b = io.BytesIO()
    kw = {"exif": b"Exif\0\0" + tiff_block} if tiff_block else {}
    im.save(b, "JPEG", quality=80, **kw)
    d = b.getvalue()
    segs = b"".join(b"\xff\xeb" + struct.pack(">H", len(s) + 2) + s for s in app11)
    return d[:2] + segs + d[2:]


def webp_bytes(im, tiff_block=None, extra=()):
    b = io.BytesIO()
    kw = {"exif": tiff_block} if tiff_block else {}
    im.save(b, "WEBP", lossless=True, **kw)
    d = bytearray(b.getvalue())
    for t, body in extra:
        d += t + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")
    d[4:8] = struct.pack("<I", len(d) - 8)
    return bytes(d)


def save(folder, name, data, tool, family, model_info, gs):
    os.makedirs(os.path.join(HERE, folder), exist_ok=True)
    p = os.path.join(HERE, folder, name)
    with open(p, "wb") as f:
        f.write(data)
    with open(p + ".expected.json", "w", encoding="utf-8") as f:
        json.dump({"tool": tool, "family": family, "model_info": model_info, "generation_settings": gs},
                  f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------- Civitai
def civitai():
    pos = "a red fox in a snowy forest, golden hour, detailed fur"
    neg = "blurry, lowres, watermark"
    ckpt = "urn:air:sdxl:checkpoint:civitai:133005@782002"
    lora = "urn:air:sdxl:lora:civitai:122359@135867"
    em = {"prompt": pos, "negativePrompt": neg, "cfgScale": 4.5, "sampler": "Euler a", "clipSkip": 2,
          "steps": 30, "seed": 1780429362, "width": 832, "height": 1216, "baseModel": "SDXL",
          "resources": [{"modelVersionId": 782002, "strength": 1}, {"modelVersionId": 135867, "strength": 0.8}],
          "remixOfId": None}
    graph = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 1780429362, "steps": 30, "cfg": 4.5,
                                                   "sampler_name": "euler_ancestral", "scheduler": "normal",
                                                   "denoise": 1, "model": ["resource-stack-1", 0],
                                                   "positive": ["6", 0], "negative": ["7", 0],
                                                   "latent_image": ["5", 0]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 832, "height": 1216, "batch_size": 1}},
        "6": {"class_type": "smZ CLIPTextEncode", "inputs": {"text": pos, "parser": "A1111",
                                                             "clip": ["resource-stack-1", 1]}},
        "7": {"class_type": "smZ CLIPTextEncode", "inputs": {"text": neg, "parser": "A1111",
                                                             "clip": ["resource-stack-1", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["resource-stack", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
        "resource-stack": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "resource-stack-1": {"class_type": "LoraLoader", "inputs": {"lora_name": lora, "strength_model": 0.8,
                                                                    "strength_clip": 1,
                                                                    "model": ["resource-stack", 0],
                                                                    "clip": ["resource-stack", 1]}},
        "extra": {"airs": [ckpt, lora]},
        "extraMetadata": json.dumps(em),
    }
    uc = json.dumps(graph)
    save("civitai", "civitai-comfy.jpeg", jpeg_bytes(picture(), tiff(usercomment=uc)), "Civitai", "ComfyUI",
         {"prompt": pos, "negative_prompt": neg, "model_name": ckpt,
          "adapters": [{"name": lora, "type": "lora", "weight": 0.8}]},
         {"seed": 1780429362, "steps": 30, "cfg_scale": 4.5, "sampler": "euler_ancestral", "scheduler": "normal",
          "width": 832, "height": 1216, "clip_skip": 2})  # clip skip: only in extraMetadata

    # A1111-style text with a Civitai resources list (the site's A1111 mode)
    res = [{"type": "checkpoint", "modelVersionId": 290640, "modelName": "Pony Diffusion V6 XL",
            "modelVersionName": "V6 (start with this one)"},
           {"type": "lora", "weight": 0.65, "modelVersionId": 371152, "modelName": "Detail Tweaker XL",
            "modelVersionName": "v1.0"}]
    a = ("score_9, score_8_up, 1girl, reading a book in a library\n"
         "Negative prompt: score_4, score_5, lowres\n"
         "Steps: 25, CFG scale: 7, Sampler: DPM++ 2M Karras, Seed: 2412110384, Size: 832x1216, Clip skip: 2, "
         "Created Date: 2024-06-01T12:00:00.0000000Z, Civitai resources: " + json.dumps(res, separators=(",", ":"))
         + ", Civitai metadata: {\"remixOfId\":11223344}")
    mi = {"prompt": "score_9, score_8_up, 1girl, reading a book in a library",
          "negative_prompt": "score_4, score_5, lowres", "model_name": "Pony Diffusion V6 XL",
          "adapters": [{"name": "Detail Tweaker XL", "type": "lora", "weight": 0.65}]}
    g = {"steps": 25, "cfg_scale": 7, "sampler": "DPM++ 2M Karras", "seed": 2412110384, "width": 832,
         "height": 1216, "clip_skip": 2}
    save("civitai", "civitai-a1111.jpeg", jpeg_bytes(picture(), tiff(usercomment=a)), "Civitai", "AUTOMATIC1111", mi, g)
    save("civitai", "civitai-a1111.png", png_bytes(picture(), [text("parameters", a)]), "Civitai", "AUTOMATIC1111", mi, g)


# ---------------------------------------------------------------- NovelAI
NAI_PROMPT = "1girl, solo, silver hair, night sky, stars, very aesthetic, masterpiece"
NAI_UC = "lowres, bad anatomy, bad hands, worst quality"


def nai_comment(with_prompt=True):
    c = {"prompt": NAI_PROMPT, "steps": 28, "height": 1216, "width": 832, "scale": 5.5, "uncond_scale": 1.0,
         "cfg_rescale": 0.0, "seed": 3159462417, "n_samples": 1, "hide_debug_overlay": False,
         "noise_schedule": "karras", "legacy_v3_extend": False, "reference_information_extracted_multiple": [],
         "reference_strength_multiple": [], "sampler": "k_euler_ancestral", "controlnet_strength": 1.0,
         "controlnet_model": None, "dynamic_thresholding": False, "dynamic_thresholding_percentile": 0.999,
         "dynamic_thresholding_mimic_scale": 10.0, "sm": False, "sm_dyn": False, "skip_cfg_above_sigma": None,
         "skip_cfg_below_sigma": 0.0, "lora_unet_weights": None, "lora_clip_weights": None,
         "deliberate_euler_ancestral_bug": False, "prefer_brownian": True, "cfg_sched_eligibility": "enable_for_post_summer_samplers",
         "explike_fine_detail": False, "minimize_sigma_inf": False, "uncond_per_vibe": True, "wonky_vibe_correlation": True,
         "version": 1, "uc": NAI_UC, "request_type": "PromptGenerateRequest", "signed_hash": "c2lnbmVk"}
    if not with_prompt:
        del c["prompt"]
    return c


def nai_chunks(source="NovelAI Diffusion V4.5 4BDE2A90"):
    return {"Title": "NovelAI generated image", "Description": NAI_PROMPT, "Software": "NovelAI",
            "Source": source, "Generation time": "5.12", "Comment": json.dumps(nai_comment())}


def novelai():
    src = "NovelAI Diffusion V4.5 4BDE2A90"
    mi = {"prompt": NAI_PROMPT, "negative_prompt": NAI_UC, "model_name": src}
    g = {"steps": 28, "width": 832, "height": 1216, "cfg_scale": 5.5, "seed": 3159462417,
         "sampler": "k_euler_ancestral", "scheduler": "karras"}
    ch = nai_chunks(src)
    t = tiff(description=NAI_PROMPT, usercomment=json.dumps(ch))
    save("novelai", "novelai.webp", webp_bytes(picture(), t), "NovelAI", "NovelAI", mi, g)
    save("novelai", "novelai.jpeg", jpeg_bytes(picture(), t), "NovelAI", "NovelAI", mi, g)
    # Legacy (2022) PNG: prompt only in Description; Comment without prompt or size.
    legacy = {"steps": 28, "sampler": "k_euler_ancestral", "seed": 2520281537, "strength": 0.7, "noise": 0.2,
              "scale": 11.0, "uc": "lowres, bad anatomy, bad hands, text, error"}
    lprompt = "masterpiece, best quality, 1girl, cherry blossoms, school uniform"
    chunks = [text("Title", "AI generated image"), text("Description", lprompt), text("Software", "NovelAI"),
              text("Source", "Stable Diffusion 1D44365E"), text("Comment", json.dumps(legacy))]
    save("novelai", "novelai-legacy.png", png_bytes(picture(), chunks), "NovelAI", "NovelAI",
         {"prompt": lprompt, "negative_prompt": legacy["uc"], "model_name": "Stable Diffusion 1D44365E"},
         {"steps": 28, "sampler": "k_euler_ancestral", "seed": 2520281537, "cfg_scale": 11.0,
          "denoising_strength": 0.7})
    # V3/V4 PNG whose text chunks were stripped: only the alpha stealth record (gzip JSON).
    im = picture("RGBA", 96)
    stealth_embed(im, json.dumps(ch), "alpha", True)
    save("novelai", "novelai-stealth.png", png_bytes(im), "NovelAI", "NovelAI", mi, g)


# ---------------------------------------------------------------- InvokeAI
def invokeai():
    # 2.x: sd-metadata JSON + Dream command line (PIL PngInfo.add_text -> tEXt)
    sdm = {"model": "stable diffusion", "model_weights": "stable-diffusion-1.5", "model_id": None,
           "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
           "app_id": "invoke-ai/InvokeAI", "app_version": "2.3.5",
           "image": {"prompt": [{"prompt": "a cozy cabin in the snow, warm light [blurry, low quality]", "weight": 1.0}],
                     "steps": 50, "cfg_scale": 7.5, "threshold": 0, "perlin": 0, "height": 512, "width": 512,
                     "seed": 42, "seamless": False, "hires_fix": False, "type": "txt2img", "postprocessing": None,
                     "sampler": "k_lms", "variations": []}}
    dream = '"a cozy cabin in the snow, warm light [blurry, low quality]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms'
    mi = {"prompt": "a cozy cabin in the snow, warm light [blurry, low quality]", "model_name": "stable-diffusion-1.5",
          "model_hash": "sha256:cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516"}
    g = {"steps": 50, "cfg_scale": 7.5, "height": 512, "width": 512, "seed": 42, "sampler": "k_lms"}
    save("invokeai", "invokeai-2.png", png_bytes(picture(), [text("Dream", dream), text("sd-metadata", json.dumps(sdm))]),
         "InvokeAI", "InvokeAI", mi, g)
    # 1.x: the Dream line alone, with img2img flags
    dream1 = ('"portrait of an old sailor, \\"oil painting\\", dramatic light" -s 40 -S 3357757885 -W 512 -H 640 '
              '-C 8.0 -A k_euler_a -I outputs/init.png -f 0.6 --seamless')
    save("invokeai", "invokeai-dream.png", png_bytes(picture(), [text("Dream", dream1)]), "InvokeAI", "InvokeAI",
         {"prompt": 'portrait of an old sailor, "oil painting", dramatic light'},
         {"steps": 40, "seed": 3357757885, "width": 512, "height": 640, "cfg_scale": 8.0, "sampler": "k_euler_a",
          "denoising_strength": 0.6})
    # 3.x: invokeai_graph only (core_metadata node, v3 field names)
    core = {"id": "core_metadata", "type": "core_metadata", "is_intermediate": True, "use_cache": True,
            "generation_mode": "txt2img", "positive_prompt": "a lighthouse on a cliff, stormy sea",
            "negative_prompt": "text, watermark", "width": 768, "height": 512, "seed": 1093814206,
            "rand_device": "cpu", "cfg_scale": 6.5, "steps": 30, "scheduler": "dpmpp_2m_k", "clip_skip": 0,
            "model": {"model_name": "stable-diffusion-v1-5", "base_model": "sd-1", "model_type": "main"},
            "loras": [{"lora": {"model_name": "add_detail", "base_model": "sd-1"}, "weight": 0.6}],
            "vae": {"model_name": "sd-vae-ft-mse", "base_model": "sd-1"}, "app_version": "3.4.0"}
    graph = {"id": "4f0c6a32-3a55-4a4c-9d6e-0d5b2f4b1c11",
             "nodes": {"core_metadata": core,
                       "denoise_latents": {"id": "denoise_latents", "type": "denoise_latents", "steps": 30,
                                           "cfg_scale": 6.5, "scheduler": "dpmpp_2m_k", "denoising_start": 0,
                                           "denoising_end": 1}},
             "edges": []}
    save("invokeai", "invokeai-graph.png", png_bytes(picture(), [text("invokeai_graph", json.dumps(graph))]),
         "InvokeAI", "InvokeAI",
         {"prompt": "a lighthouse on a cliff, stormy sea", "negative_prompt": "text, watermark",
          "model_name": "stable-diffusion-v1-5", "adapters": [{"name": "add_detail", "type": "lora", "weight": 0.6}]},
         {"width": 768, "height": 512, "seed": 1093814206, "cfg_scale": 6.5, "steps": 30, "sampler": "dpmpp_2m_k"})
    # 5.x: invokeai_metadata with v4/v5 names (model/loras as {key, hash, name, base, type})
    h = "blake3:" + "9a" * 32
    lh = "blake3:" + "3c" * 32
    meta = {"generation_mode": "sdxl_txt2img", "positive_prompt": "an astronaut riding a horse, photo",
            "negative_prompt": "cartoon", "width": 1024, "height": 1024, "seed": 4022170533,
            "rand_device": "cpu", "cfg_scale": 5.0, "cfg_rescale_multiplier": 0, "steps": 28,
            "scheduler": "euler_a", "positive_style_prompt": "", "negative_style_prompt": "",
            "model": {"key": "0d1b6f4e-1111-4c2a-9a1b-2b2b2b2b2b2b", "hash": h, "name": "Juggernaut XL v9",
                      "base": "sdxl", "type": "main"},
            "loras": [{"model": {"key": "5e5e5e5e-2222-4c2a-9a1b-3c3c3c3c3c3c", "hash": lh, "name": "detail-tweaker-xl",
                                 "base": "sdxl", "type": "lora"}, "weight": 0.75}],
            "app_version": "5.6.0"}
    save("invokeai", "invokeai-5.png", png_bytes(picture(), [text("invokeai_metadata", json.dumps(meta))]),
         "InvokeAI", "InvokeAI",
         {"prompt": "an astronaut riding a horse, photo", "negative_prompt": "cartoon", "model_name": "Juggernaut XL v9",
          "model_hash": h, "adapters": [{"name": "detail-tweaker-xl", "type": "lora", "weight": 0.75, "hash": lh}]},
         {"width": 1024, "height": 1024, "seed": 4022170533, "cfg_scale": 5.0, "steps": 28, "sampler": "euler_a"})


# ---------------------------------------------------------------- stealth
def stealth_bits(payload_text, mode, compressed):
    sig = "stealth_%s%s" % ("png" if mode == "alpha" else "rgb", "comp" if compressed else "info")
    data = gzip.compress(payload_text.encode("utf-8"), mtime=0) if compressed else payload_text.encode("utf-8")
    bits = "".join(format(b, "08b") for b in sig.encode()) + format(len(data) * 8, "032b")
    return bits + "".join(format(b, "08b") for b in data)


def stealth_embed(im, payload_text, mode, compressed):
    """The extension's writer: x outer, y inner; alpha LSB, or R, G, B LSBs."""
    bits = stealth_bits(payload_text, mode, compressed)
    if mode == "alpha":
        im.putalpha(255)
    w, h = im.size
    px = im.load()
    i = 0
    for x in range(w):
        for y in range(h):
            if i >= len(bits):
                return
            v = list(px[x, y])
            if mode == "alpha":
                v[3] = (v[3] & ~1) | int(bits[i])
                i += 1
            else:
                for c in range(3):
                    if i + c < len(bits):
                        v[c] = (v[c] & ~1) | int(bits[i + c])
                i += 3
            px[x, y] = tuple(v)
    raise ValueError("payload does not fit")


def stealth():
    a = ("a lighthouse at dusk, volumetric light\nNegative prompt: blurry, lowres\n"
         "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1234567, Size: 512x768, "
         "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1")
    mi = {"prompt": "a lighthouse at dusk, volumetric light", "negative_prompt": "blurry, lowres",
          "model_name": "v1-5-pruned-emaonly", "model_hash": "autov2:6ce0161689"}
    g = {"steps": 20, "sampler": "Euler a", "scheduler": "Automatic", "cfg_scale": 7, "seed": 1234567,
         "width": 512, "height": 768}
    for name, mode, comp, im in (("stealth-alpha.png", "alpha", False, picture("RGBA")),
                                 ("stealth-comp.png", "alpha", True, picture("RGBA")),
                                 ("stealth-rgb.png", "rgb", False, picture("RGB")),
                                 ("stealth-rgbcomp.png", "rgb", True, picture("RGB"))):
        stealth_embed(im, a, mode, comp)
        save("stealth", name, png_bytes(im), "AUTOMATIC1111", "AUTOMATIC1111", mi, g)


# ---------------------------------------------------------------- C2PA
def cbor(v):
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        if n < 65536:
            return bytes([major << 5 | 25]) + struct.pack(">H", n)
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, bytes):
        return head(2, len(v)) + v
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(v)


def box(t, body):
    return struct.pack(">I", 8 + len(body)) + t + body


def jumd(uuid4, label):
    return box(b"jumd", uuid4 + bytes.fromhex("0011001080000" + "0aa00389b71") + b"\x03" + label.encode() + b"\0")


def c2pa_store(claim):
    claim_box = box(b"jumb", jumd(b"c2cl", "c2pa.claim") + box(b"cbor", cbor(claim)))
    sig_box = box(b"jumb", jumd(b"c2cs", "c2pa.signature") + box(b"cbor", cbor({"sig": b"\0" * 16})))
    manifest = box(b"jumb", jumd(b"c2ma", "urn:uuid:6fd2a4b0-0000-4000-8000-000000000001") + claim_box + sig_box)
    return box(b"jumb", jumd(b"c2pa", "c2pa") + manifest)


def app11_segments(store, max_body=120):
    """JPEG XT / C2PA: "JP", box instance 1, sequence 1.., the JUMBF; later
    segments repeat the superbox's LBox/TBox (the first 8 bytes)."""
    segs, z, pos = [], 1, 0
    while pos < len(store):
        part = store[pos:pos + max_body]
        pre = b"JP" + struct.pack(">HI", 1, z)
        segs.append(pre + (store[:8] if z > 1 else b"") + part)
        pos += len(part)
        z += 1
    return segs


def c2pa():
    v2 = {"instanceID": "xmp:iid:0b7a1c2d", "claim_generator_info": [{"name": "ChatGPT", "org.cai.c2pa_rs": "0.49.5"}],
          "signature": "self#jumbf=c2pa.signature", "created_assertions": [], "alg": "sha256"}
    v1 = {"claim_generator": "Adobe_Firefly adobe_c2pa/0.12.2 c2pa-rs/0.32.0",
          "claim_generator_info": [{"name": "Adobe_Firefly", "version": "0.12.2"}],
          "signature": "self#jumbf=c2pa.signature", "assertions": [], "dc:format": "image/jpeg",
          "instanceID": "xmp:iid:5e4f3a2b", "alg": "sha256"}
    g = {"claim_generator_info": [{"name": "Google C2PA Core Generator Library", "version": "1.0"}],
         "instanceID": "xmp:iid:77aa", "signature": "self#jumbf=c2pa.signature", "created_assertions": []}
    save("c2pa", "c2pa-chatgpt.png", png_bytes(picture(), [(b"caBX", c2pa_store(v2))]), "ChatGPT", "C2PA", {}, {})
    save("c2pa", "c2pa-firefly.jpeg", jpeg_bytes(picture(), app11=app11_segments(c2pa_store(v1))), "Adobe_Firefly",
         "C2PA", {}, {})
    save("c2pa", "c2pa-gemini.webp", webp_bytes(picture(), extra=[(b"C2PA", c2pa_store(g))]),
         "Google C2PA Core Generator Library", "C2PA", {}, {})


if __name__ == "__main__":
    civitai()
    novelai()
    invokeai()
    stealth()
    c2pa()
