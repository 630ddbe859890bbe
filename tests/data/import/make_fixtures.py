#!/usr/bin/python3
"""Builds the import fixtures under tests/data/import/<source>/ and their
X.ext.expected.json files (the convention tests/cli_import_accuracy.py
reads).

Each fixture is a small 64x64 image carrying its generator's record the
way that generator writes it: the same chunk names, encodings and JSON
shapes (PIL's PngInfo is what the Python generators use themselves; EXIF
is built as piexif builds it: a big-endian TIFF whose UserComment is
"UNICODE\\0" + UTF-16BE).  The expected values are written here, beside
the records, and never come from raiiaf.  Run it again only to change the
fixtures:  /usr/bin/python3 tests/data/import/make_fixtures.py

MIT licence, ours (see README.md in each folder).
"""

import json
import os
import struct

from PIL import Image
from PIL.PngImagePlugin import PngInfo

HERE = os.path.dirname(os.path.abspath(__file__))


def pixels(seed):
    im = Image.new("RGB", (64, 64))
    im.putdata([((x * 4 + seed * 37) % 256, (y * 4) % 256, (x * y + seed) % 256) for y in range(64) for x in range(64)])
    return im


def png(path, chunks, seed=1):
    """chunks: [(keyword, text, kind)] kind "t" tEXt, "i" iTXt, "z" zTXt iTXt."""
    info = PngInfo()
    for k, v, kind in chunks:
        if kind == "t":
            info.add_text(k, v)
        elif kind == "i":
            info.add_itxt(k, v)
        else:
            info.add_itxt(k, v, zip=True)
    pixels(seed).save(path, pnginfo=info)


def tiff_usercomment(text):
    """A big-endian TIFF with an Exif IFD holding UserComment, as piexif
    dumps piexif.helper.UserComment.dump(text, encoding="unicode")."""
    uc = b"UNICODE\0" + text.encode("utf-16-be")
    ifd0_off = 8
    exif_off = ifd0_off + 2 + 12 + 4
    data_off = exif_off + 2 + 12 + 4
    out = b"MM\0*" + struct.pack(">I", ifd0_off)
    out += struct.pack(">H", 1) + struct.pack(">HHII", 0x8769, 4, 1, exif_off) + struct.pack(">I", 0)
    out += struct.pack(">H", 1) + struct.pack(">HHII", 0x9286, 7, len(uc), data_off) + struct.pack(">I", 0)
    return out + uc


def jpeg(path, usercomment, seed=1):
    pixels(seed).save(path, "JPEG", quality=90, exif=b"Exif\0\0" + tiff_usercomment(usercomment))


def expect(path, tool, family, model_info, gs):
    with open(path + ".expected.json", "w", encoding="utf-8") as f:
        json.dump({"tool": tool, "family": family, "model_info": model_info, "generation_settings": gs}, f,
                  ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


def d(*parts):
    p = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def cj(o):
    """ComfyUI writes its graphs with json.dumps (ASCII, ", " and ": ")."""
    return json.dumps(o)


# ---------------------------------------------------------------------------
# ComfyUI + an image-saver node: placeholder `parameters`, real `prompt` graph
# ---------------------------------------------------------------------------
def comfy_image_saver():
    g = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8.safetensors"}},
        "10": {"class_type": "LoraLoader", "inputs": {"lora_name": "fox_style.safetensors", "strength_model": 0.8,
                                                       "strength_clip": 1.0, "model": ["4", 0], "clip": ["4", 1]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in the snow, winter", "clip": ["10", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, lowres", "clip": ["10", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 123456789012, "steps": 28, "cfg": 6.5,
                                                   "sampler_name": "euler_ancestral", "scheduler": "karras",
                                                   "denoise": 1.0, "model": ["10", 0], "positive": ["6", 0],
                                                   "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "Image Saver", "inputs": {
            "filename": "%time_%seed", "path": "", "extension": "png", "steps": 20, "cfg": 7.0,
            "modelname": "unknown", "sampler_name": "euler", "scheduler": "normal", "positive": "unknown",
            "negative": "unknown", "seed_value": 0, "width": 512, "height": 512, "lossless_webp": True,
            "quality_jpeg_or_webp": 100, "counter": 0, "time_format": "%Y-%m-%d-%H%M%S", "images": ["8", 0]}},
    }
    # comfy-image-saver's text, from its unwired defaults
    params = ("unknown\nNegative prompt: unknown\nSteps: 20, Sampler: euler, CFG scale: 7.0, Seed: 0, "
              "Size: 512x512, Model hash: unknown, Model: unknown, Version: ComfyUI")
    p = d("comfyui-image-saver", "image-saver.png")
    png(p, [("parameters", params, "t"), ("prompt", cj(g), "t")], 2)
    expect(p, "ComfyUI", "ComfyUI",
           {"prompt": "a red fox in the snow, winter", "negative_prompt": "blurry, lowres", "model_name": "dreamshaper_8",
            "adapters": [{"name": "fox_style", "type": "lora", "weight": 0.8}]},
           {"seed": 123456789012, "steps": 28, "cfg_scale": 6.5, "sampler": "euler_ancestral", "scheduler": "karras",
            "width": 512, "height": 768})


# ---------------------------------------------------------------------------
# ComfyUI: regional prompts, a Comfyroll resolution node, a hires pass,
# node ids of a flattened subgraph ("57:3")
# ---------------------------------------------------------------------------
def comfy_regional():
    g = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl/juggernautXL_v9.safetensors"}},
        "57:2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a castle on a hill", "clip": ["1", 1]}},
        "57:3": {"class_type": "ConditioningSetArea", "inputs": {"width": 448, "height": 1152, "x": 0, "y": 0,
                                                                 "strength": 1.0, "conditioning": ["57:2", 0]}},
        "57:4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a dragon in the sky", "clip": ["1", 1]}},
        "57:5": {"class_type": "ConditioningSetArea", "inputs": {"width": 448, "height": 1152, "x": 448, "y": 0,
                                                                 "strength": 0.9, "conditioning": ["57:4", 0]}},
        "57:6": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["57:3", 0],
                                                                 "conditioning_2": ["57:5", 0]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "ugly, watermark", "clip": ["1", 1]}},
        "20": {"class_type": "CLIPTextEncode", "inputs": {"text": "detailed face", "clip": ["1", 1]}},
        "30": {"class_type": "CR SDXL Aspect Ratio", "inputs": {"width": 1024, "height": 1024,
                                                               "aspect_ratio": "3:4 portrait 896x1152",
                                                               "swap_dimensions": "Off", "upscale_factor": 1.5,
                                                               "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 8675309, "steps": 30, "cfg": 5.5, "sampler_name": "dpmpp_2m",
                                                   "scheduler": "karras", "denoise": 1.0, "model": ["1", 0],
                                                   "positive": ["57:6", 0], "negative": ["7", 0],
                                                   "latent_image": ["30", 4]}},
        "11": {"class_type": "LatentUpscaleBy", "inputs": {"upscale_method": "nearest-exact", "scale_by": 1.5,
                                                           "samples": ["3", 0]}},
        "12": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 15, "cfg": 5.5, "sampler_name": "euler",
                                                    "scheduler": "normal", "denoise": 0.5, "model": ["1", 0],
                                                    "positive": ["57:6", 0], "negative": ["7", 0],
                                                    "latent_image": ["11", 0]}},
    }
    workflow = {"last_node_id": 57, "nodes": [{"id": 57, "type": "a1b2c3d4-0000-4000-8000-000000000057"}],
                "definitions": {"subgraphs": [{"id": "a1b2c3d4-0000-4000-8000-000000000057", "name": "Regions",
                                               "nodes": [{"id": 2, "type": "CLIPTextEncode",
                                                          "widgets_values": ["a castle on a hill"]},
                                                         {"id": 4, "type": "CLIPTextEncode",
                                                          "widgets_values": ["a dragon in the sky"]}]}]}}
    p = d("comfyui-regional", "regional.png")
    png(p, [("prompt", cj(g), "t"), ("workflow", cj(workflow), "t")], 3)
    expect(p, "ComfyUI", "ComfyUI",
           {"prompt": "a castle on a hill", "negative_prompt": "ugly, watermark", "model_name": "sdxl/juggernautXL_v9"},
           {"seed": 8675309, "steps": 30, "cfg_scale": 5.5, "sampler": "dpmpp_2m", "scheduler": "karras",
            "width": 896, "height": 1152})


def comfy_rgthree():
    g = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "animagineXL_v31.safetensors"}},
        "15": {"class_type": "PrimitiveNode", "inputs": {"value": 5550123}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "1girl, library, sunlight", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres, bad hands", "clip": ["4", 1]}},
        "13": {"class_type": "SDXL Empty Latent Image (rgthree)", "inputs": {"dimensions": " 832 x 1216  (portrait)",
                                                                            "clip_scale": 2.0, "batch_size": 1}},
        "3": {"class_type": "KSamplerAdvanced", "inputs": {"add_noise": "enable", "noise_seed": ["15", 0], "steps": 28,
                                                           "cfg": 7.0, "sampler_name": "euler_ancestral",
                                                           "scheduler": "normal", "start_at_step": 0,
                                                           "end_at_step": 10000, "return_with_leftover_noise": "disable",
                                                           "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                                                           "latent_image": ["13", 0]}},
    }
    p = d("comfyui-regional", "rgthree-latent.png")
    png(p, [("prompt", cj(g), "t")], 4)
    expect(p, "ComfyUI", "ComfyUI",
           {"prompt": "1girl, library, sunlight", "negative_prompt": "lowres, bad hands", "model_name": "animagineXL_v31"},
           {"seed": 5550123, "steps": 28, "cfg_scale": 7, "sampler": "euler_ancestral", "scheduler": "normal",
            "width": 832, "height": 1216})


def comfy_workflow_subgraph():
    """Only the editor's `workflow` (no `prompt` graph), the prompts inside a
    subgraph (definitions.subgraphs; origin -10 / target -20 are the
    subgraph's inputs and outputs), KSampler widgets listed as inputs the
    way the current editor writes them, the seed followed by its
    control_after_generate value."""
    sg_id = "5f1c0e2a-3b4d-4c5e-8f60-718293a4b5c6"
    w = lambda n: {"name": n, "widget": {"name": n}, "link": None}  # noqa: E731
    wf = {
        "id": "0b7c6f5e-0000-4000-8000-000000000001", "revision": 0, "last_node_id": 10, "last_link_id": 5,
        "nodes": [
            {"id": 4, "type": "CheckpointLoaderSimple", "mode": 0, "inputs": [],
             "outputs": [{"name": "MODEL", "links": [2]}, {"name": "CLIP", "links": [1]}, {"name": "VAE", "links": []}],
             "widgets_values": ["realisticVision_v60.safetensors"]},
            {"id": 5, "type": "EmptyLatentImage", "mode": 0, "inputs": [], "outputs": [{"name": "LATENT", "links": [5]}],
             "widgets_values": [640, 896, 1]},
            {"id": 10, "type": sg_id, "mode": 0, "inputs": [{"name": "clip", "type": "CLIP", "link": 1}],
             "outputs": [{"name": "positive", "links": [3]}, {"name": "negative", "links": [4]}]},
            {"id": 3, "type": "KSampler", "mode": 0,
             "inputs": [{"name": "model", "link": 2}, {"name": "positive", "link": 3}, {"name": "negative", "link": 4},
                        {"name": "latent_image", "link": 5}, w("seed"), w("steps"), w("cfg"), w("sampler_name"),
                        w("scheduler"), w("denoise")],
             "outputs": [{"name": "LATENT", "links": []}],
             "widgets_values": [777001, "fixed", 22, 4.5, "dpmpp_2m_sde", "karras", 1]},
            {"id": 9, "type": "CLIPTextEncode", "mode": 4, "inputs": [{"name": "clip", "link": None}, w("text")],
             "widgets_values": ["a bypassed prompt"]},
        ],
        "links": [[1, 4, 1, 10, 0, "CLIP"], [2, 4, 0, 3, 0, "MODEL"], [3, 10, 0, 3, 1, "CONDITIONING"],
                  [4, 10, 1, 3, 2, "CONDITIONING"], [5, 5, 0, 3, 3, "LATENT"]],
        "definitions": {"subgraphs": [{
            "id": sg_id, "name": "Prompts", "version": 1,
            "inputs": [{"name": "clip", "type": "CLIP", "linkIds": [11, 12]}],
            "outputs": [{"name": "positive", "type": "CONDITIONING", "linkIds": [13]},
                        {"name": "negative", "type": "CONDITIONING", "linkIds": [14]}],
            "nodes": [
                {"id": 1, "type": "CLIPTextEncode", "mode": 0, "inputs": [{"name": "clip", "link": 11}, w("text")],
                 "widgets_values": ["a portrait of an old sailor, rim light"]},
                {"id": 2, "type": "CLIPTextEncode", "mode": 0, "inputs": [{"name": "clip", "link": 12}, w("text")],
                 "widgets_values": ["cartoon, painting"]}],
            "links": [{"id": 11, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "CLIP"},
                      {"id": 12, "origin_id": -10, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "CLIP"},
                      {"id": 13, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0,
                       "type": "CONDITIONING"},
                      {"id": 14, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 1,
                       "type": "CONDITIONING"}]}]},
        "version": 0.4,
    }
    p = d("comfyui-regional", "workflow-subgraph.png")
    png(p, [("workflow", cj(wf), "t")], 20)
    expect(p, "ComfyUI", "ComfyUI",
           {"prompt": "a portrait of an old sailor, rim light", "negative_prompt": "cartoon, painting",
            "model_name": "realisticVision_v60"},
           {"seed": 777001, "steps": 22, "cfg_scale": 4.5, "sampler": "dpmpp_2m_sde", "scheduler": "karras",
            "width": 640, "height": 896})


def comfy_flux_and_efficiency():
    """Flux through SamplerCustomAdvanced (noise, guider, sampler and
    sigmas nodes; CLIPTextEncodeFlux's t5xxl/clip_l; EmptySD3LatentImage),
    and the Efficiency nodes' loader that holds both prompts, the clip
    skip and the latent size itself."""
    flux = {
        "12": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}},
        "11": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "t5xxl_fp16.safetensors",
                                                         "clip_name2": "clip_l.safetensors", "type": "flux"}},
        "6": {"class_type": "CLIPTextEncodeFlux", "inputs": {"clip_l": "a neon sign that says hello",
                                                             "t5xxl": "a neon sign that says hello, rainy street",
                                                             "guidance": 3.5, "clip": ["11", 0]}},
        "26": {"class_type": "FluxGuidance", "inputs": {"guidance": 3.5, "conditioning": ["6", 0]}},
        "22": {"class_type": "BasicGuider", "inputs": {"model": ["12", 0], "conditioning": ["26", 0]}},
        "25": {"class_type": "RandomNoise", "inputs": {"noise_seed": 918273645}},
        "16": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "17": {"class_type": "BasicScheduler", "inputs": {"scheduler": "simple", "steps": 20, "denoise": 1.0,
                                                          "model": ["12", 0]}},
        "27": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 1216, "height": 832, "batch_size": 1}},
        "13": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["25", 0], "guider": ["22", 0],
                                                                 "sampler": ["16", 0], "sigmas": ["17", 0],
                                                                 "latent_image": ["27", 0]}},
    }
    p = d("comfyui-regional", "flux-custom-sampler.png")
    png(p, [("prompt", cj(flux), "t")], 21)
    expect(p, "ComfyUI", "ComfyUI",
           {"prompt": "a neon sign that says hello, rainy street", "model_name": "flux1-dev"},
           {"seed": 918273645, "steps": 20, "sampler": "euler", "scheduler": "simple", "width": 1216, "height": 832})

    eff = {
        "1": {"class_type": "Efficient Loader", "inputs": {
            "ckpt_name": "epicrealism_naturalSinRC1VAE.safetensors", "vae_name": "Baked VAE", "clip_skip": -2,
            "lora_name": "None", "lora_model_strength": 1.0, "lora_clip_strength": 1.0,
            "positive": "a photo of a bakery at dawn", "negative": "cartoon, 3d, lowres",
            "token_normalization": "none", "weight_interpretation": "comfy", "empty_latent_width": 512,
            "empty_latent_height": 704, "batch_size": 1}},
        "2": {"class_type": "KSampler (Efficient)", "inputs": {
            "seed": 4242, "steps": 30, "cfg": 5.0, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0,
            "preview_method": "auto", "vae_decode": "true", "model": ["1", 0], "positive": ["1", 1],
            "negative": ["1", 2], "latent_image": ["1", 3], "optional_vae": ["1", 4]}},
    }
    # a style string joined to the prompt by the core StringConcatenate node
    eff["5"] = {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "golden hour, 35mm"}}
    eff["6"] = {"class_type": "StringConcatenate", "inputs": {"string_a": "a photo of a bakery at dawn",
                                                              "string_b": ["5", 0], "delimiter": ", "}}
    eff["1"]["inputs"]["positive"] = ["6", 0]
    p = d("comfyui-regional", "efficiency-nodes.png")
    png(p, [("prompt", cj(eff), "t")], 22)
    expect(p, "ComfyUI", "ComfyUI",
           {"prompt": "a photo of a bakery at dawn, golden hour, 35mm", "negative_prompt": "cartoon, 3d, lowres",
            "model_name": "epicrealism_naturalSinRC1VAE"},
           {"seed": 4242, "steps": 30, "cfg_scale": 5, "sampler": "dpmpp_2m", "scheduler": "karras", "width": 512,
            "height": 704, "clip_skip": 2})


# ---------------------------------------------------------------------------
# Fooocus: its own JSON scheme and its A1111 scheme
# ---------------------------------------------------------------------------
HASH_JUGG = "aeb7e9e6897a1e58b10494bd989d001e3d4bc9b634633cd7b559838f612c2867"


def fooocus():
    meta = {
        "adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion",
        "base_model_hash": HASH_JUGG, "clip_skip": 2,
        "full_negative_prompt": ["(worst quality, low quality:1.4)"],
        "full_prompt": ["a lighthouse at dusk ", "cinematic, dramatic lighting"],
        "guidance_scale": 4, "lora_combined_1": "sd_xl_offset_example-lora_1.0 : 0.1",
        "loras": [["sd_xl_offset_example-lora_1.0", 0.1, "4852686128"]], "metadata_scheme": "fooocus",
        "negative_prompt": "", "performance": "Speed", "prompt": "a lighthouse at dusk ", "refiner_model": "None",
        "refiner_switch": 0.5, "resolution": "(1152, 896)", "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras",
        "seed": "6952411511246973023", "sharpness": 2, "steps": 30, "styles": "['Fooocus V2', 'Fooocus Enhance']",
        "vae": "Default (model)", "version": "Fooocus v2.5.5",
    }
    p = d("fooocus", "fooocus.png")
    png(p, [("parameters", json.dumps(meta, sort_keys=True), "t"), ("fooocus_scheme", "fooocus", "t")], 5)
    expect(p, "Fooocus", "Fooocus",
           {"prompt": "a lighthouse at dusk ", "model_name": "juggernautXL_v8Rundiffusion",
            "model_hash": "sha256:" + HASH_JUGG,
            "adapters": [{"name": "sd_xl_offset_example-lora_1.0", "type": "lora", "weight": 0.1, "hash": "4852686128"}]},
           {"seed": 6952411511246973023, "steps": 30, "cfg_scale": 4, "sampler": "dpmpp_2m_sde_gpu",
            "scheduler": "karras", "width": 1152, "height": 896, "clip_skip": 2})

    # A1111 scheme: the text's prompts are the style-expanded ones; what the
    # user typed is in "Raw prompt" / "Raw negative prompt".
    params = ("a lighthouse at dusk, cinematic, dramatic lighting\n"
              "Negative prompt: lowres, (worst quality, low quality:1.4)\n"
              'Raw prompt: a lighthouse at dusk, Raw negative prompt: lowres, Steps: 30, Sampler: DPM++ 2M SDE, '
              'Seed: 1234567890123456789, Size: 1152x896, CFG scale: 4, Sharpness: 2, ADM Guidance: "(1.5, 0.8, 0.3)", '
              'Model: juggernautXL_v8Rundiffusion, Model hash: aeb7e9e689, Performance: Speed, Scheduler: karras, '
              'VAE: Default (model), Styles: "[\'Fooocus V2\', \'Fooocus Enhance\']", Version: Fooocus v2.5.5')
    p = d("fooocus", "fooocus-a1111.png")
    png(p, [("parameters", params, "t"), ("fooocus_scheme", "a1111", "t")], 6)
    expect(p, "Fooocus", "Fooocus",
           {"prompt": "a lighthouse at dusk", "negative_prompt": "lowres", "model_name": "juggernautXL_v8Rundiffusion",
            "model_hash": "autov2:aeb7e9e689"},
           {"seed": 1234567890123456789, "steps": 30, "cfg_scale": 4, "sampler": "DPM++ 2M SDE", "scheduler": "karras",
            "width": 1152, "height": 896})


# ---------------------------------------------------------------------------
# Stability Matrix: parameters (A1111 text), parameters-json, smproj, prompt
# ---------------------------------------------------------------------------
def stability_matrix():
    pj = {"PositivePrompt": "a bowl of ramen, studio photo", "NegativePrompt": "text, watermark", "Steps": 24,
          "Sampler": "dpmpp_2m", "CfgScale": 6.0, "Seed": 3923441001, "Height": 1216, "Width": 832,
          "ModelHash": "31e35c80fc", "ModelName": "sd_xl_base_1.0.safetensors", "FrameCount": 0, "MotionBucketId": 0,
          "VideoQuality": 0, "Lossless": False, "Fps": 0, "OutputFps": 0, "MinCfg": 0, "AugmentationLevel": 0,
          "VideoOutputMethod": None, "ModelVersionId": 128078}
    text = ("a bowl of ramen, studio photo\nNegative prompt: text, watermark\n"
            "Steps: 24, Sampler: DPM++ 2M Karras, CFG scale: 6, Seed: 3923441001, Size: 832x1216, "
            "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Denoising strength: 0.4, Hires upscale: 1.5, "
            "Hires steps: 10, Hires upscaler: 4x-UltraSharp")
    smproj = {"Version": 2, "ProjectType": "TextToImage", "State": {"Seed": {"Seed": 3923441001}}}
    g = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a bowl of ramen, studio photo", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 832, "height": 1216, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {"seed": 3923441001, "steps": 24, "cfg": 6.0, "sampler_name": "dpmpp_2m",
                                                   "scheduler": "karras", "denoise": 1.0, "model": ["1", 0],
                                                   "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0]}},
    }
    p = d("stability-matrix", "inference.png")
    png(p, [("parameters", text, "t"), ("parameters-json", json.dumps(pj), "t"), ("smproj", json.dumps(smproj), "t"),
            ("prompt", cj(g), "t")], 7)
    expect(p, "Stability Matrix", "ComfyUI",
           {"prompt": "a bowl of ramen, studio photo", "negative_prompt": "text, watermark", "model_name": "sd_xl_base_1.0",
            "model_hash": "autov2:31e35c80fc"},
           {"seed": 3923441001, "steps": 24, "cfg_scale": 6, "sampler": "dpmpp_2m", "scheduler": "karras",
            "width": 832, "height": 1216})


# ---------------------------------------------------------------------------
# TensorArt: generation_data (NUL-padded, UTF-8 in tEXt) + a graph with ids
# ---------------------------------------------------------------------------
def tensorart():
    gd = {"prompt": "portrait of a knight, ornate armor, café light", "negativePrompt": "deformed, blurry",
          "width": 768, "height": 1152, "imageCount": 1, "seed": "2984772412",
          "steps": 25, "cfgScale": 7, "clipSkip": 2,
          "baseModel": {"modelId": "611399826111234567", "modelFileId": "611399826113331234",
                        "modelFileName": "majicmixRealistic_v7",
                        "hash": "7C819B6D13663ED720C2254F4FE18373107DFEF2448D337913C8FC545640881E"},
          "models": [{"type": "LORA", "modelId": "627121212121212121", "modelFileName": "detail_tweaker",
                      "weight": 0.6}],
          "sdVae": "Automatic"}
    g = {
        "1": {"class_type": "ECHOCheckpointLoaderSimple", "inputs": {"ckpt_name": "EMS-179925-EMS.safetensors"}},
        "2": {"class_type": "LoraLoader", "inputs": {"lora_name": "EMS-88812-EMS.safetensors", "strength_model": 0.6,
                                                     "strength_clip": 1, "model": ["1", 0], "clip": ["8", 0]}},
        "8": {"class_type": "CLIPSetLastLayer", "inputs": {"stop_at_clip_layer": -2, "clip": ["1", 1]}},
        "3": {"class_type": "BNK_CLIPTextEncodeAdvanced", "inputs": {"text": gd["prompt"], "token_normalization": "none",
                                                                     "weight_interpretation": "A1111", "clip": ["2", 1]}},
        "4": {"class_type": "BNK_CLIPTextEncodeAdvanced", "inputs": {"text": "deformed, blurry",
                                                                     "token_normalization": "none",
                                                                     "weight_interpretation": "A1111", "clip": ["2", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 768, "height": 1152, "batch_size": 1}},
        "6": {"class_type": "KSampler", "inputs": {"seed": 2984772412, "steps": 25, "cfg": 7, "sampler_name": "dpmpp_2m",
                                                   "scheduler": "karras", "denoise": 1, "model": ["2", 0],
                                                   "positive": ["3", 0], "negative": ["4", 0], "latent_image": ["5", 0]}},
    }
    p = d("tensorart", "tensorart.png")
    # TensorArt puts UTF-8 in tEXt and pads generation_data with NULs
    info = [("generation_data", json.dumps(gd, ensure_ascii=False) + "\0", "raw"), ("prompt", cj(g), "t")]
    im = pixels(8)
    pi = PngInfo()
    for k, v, kind in info:
        if kind == "raw":
            pi.add(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("utf-8"))
        else:
            pi.add_text(k, v)
    im.save(p, pnginfo=pi)
    expect(p, "TensorArt", "ComfyUI",
           {"prompt": gd["prompt"], "negative_prompt": "deformed, blurry", "model_name": "majicmixRealistic_v7",
            "model_hash": "sha256:" + gd["baseModel"]["hash"].lower(),
            "adapters": [{"name": "detail_tweaker", "type": "lora", "weight": 0.6}]},
           {"seed": 2984772412, "steps": 25, "cfg_scale": 7, "clip_skip": 2, "width": 768, "height": 1152,
            "sampler": "dpmpp_2m", "scheduler": "karras"})


# ---------------------------------------------------------------------------
# Easy Diffusion: one tEXt per field (PNG); JSON in UserComment (JPEG)
# ---------------------------------------------------------------------------
def easy_diffusion():
    fields = [("prompt", "a watercolor fox, autumn leaves"), ("seed", "93172"),
              ("use_stable_diffusion_model", "sd-v1-5-pruned-emaonly"), ("clip_skip", "False"),
              ("use_vae_model", "vae-ft-mse-840000-ema-pruned"), ("sampler_name", "dpmpp_2m"), ("width", "512"),
              ("height", "640"), ("num_inference_steps", "25"), ("guidance_scale", "7.5"),
              ("negative_prompt", "photo, realistic"), ("use_face_correction", "GFPGANv1.4"),
              ("use_upscale", "None"), ("use_lora_model", ""), ("tiling", "None")]
    p = d("easy-diffusion", "easy-diffusion.png")
    png(p, [(k, v, "t") for k, v in fields], 9)
    expect(p, "Easy Diffusion", "Easy Diffusion",
           {"prompt": "a watercolor fox, autumn leaves", "negative_prompt": "photo, realistic",
            "model_name": "sd-v1-5-pruned-emaonly"},
           {"seed": 93172, "steps": 25, "cfg_scale": 7.5, "sampler": "dpmpp_2m", "width": 512, "height": 640})

    meta = {"Prompt": "a lighthouse in a storm, oil painting", "Negative Prompt": "", "Seed": 40501,
            "Stable Diffusion model": "models/stable-diffusion/dreamshaper_8.safetensors", "Clip Skip": True,
            "VAE model": None, "Sampler": "euler_a", "Width": 640, "Height": 448, "Steps": 30, "Guidance Scale": 6,
            "Prompt Strength": None, "LoRA model": None, "Hypernetwork model": None}
    p = d("easy-diffusion", "easy-diffusion.jpg")
    jpeg(p, json.dumps(meta), 10)
    expect(p, "Easy Diffusion", "Easy Diffusion",
           {"prompt": "a lighthouse in a storm, oil painting", "model_name": "dreamshaper_8"},
           {"seed": 40501, "steps": 30, "cfg_scale": 6, "sampler": "euler_a", "width": 640, "height": 448,
            "clip_skip": 2})


# ---------------------------------------------------------------------------
# A Hugging Face Space (Gradio + diffusers): parameters JSON
# ---------------------------------------------------------------------------
def hf_space():
    meta = {"prompt": "1girl, solo, cherry blossoms, masterpiece", "negative_prompt": "nsfw, lowres, bad anatomy",
            "resolution": "832 x 1216", "guidance_scale": 7, "num_inference_steps": 28, "style_preset": "(None)",
            "seed": 1234567, "sampler": "Euler a", "Model": "Animagine XL 3.1", "Model hash": "e3c47aedb0",
            "use_upscaler": None}
    p = d("hf-space", "animagine-space.png")
    png(p, [("parameters", json.dumps(meta), "t")], 11)
    expect(p, "Hugging Face Space", "Diffusers",
           {"prompt": meta["prompt"], "negative_prompt": meta["negative_prompt"], "model_name": "Animagine XL 3.1",
            "model_hash": "autov2:e3c47aedb0"},
           {"seed": 1234567, "steps": 28, "cfg_scale": 7, "sampler": "Euler a", "width": 832, "height": 1216})


# ---------------------------------------------------------------------------
# Draw Things: XMP in an iTXt chunk, the record as JSON in exif:UserComment
# ---------------------------------------------------------------------------
def draw_things():
    rec = {"c": "a cozy cabin in the woods, \"warm\" light & snow", "uc": "people, text", "seed": 3141592,
           "steps": 20, "scale": 5, "sampler": "DPM++ 2M Karras", "model": "sd_xl_base_1.0_f16.ckpt",
           "size": "1024x768", "strength": 1, "seed_mode": "Scale Alike",
           "lora": [{"file": "sdxl_lightning_8_step_lora_f16.ckpt", "weight": 0.75}],
           "v2": {"aestheticScore": 6, "shift": 1, "guidanceScale": 5}}

    def esc(s):
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 6.0.0">\n'
           ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
           '  <rdf:Description rdf:about=""\n'
           '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
           '    xmlns:exif="http://ns.adobe.com/exif/1.0/"\n'
           '    xmlns:xmp="http://ns.adobe.com/xap/1.0/">\n'
           '   <dc:description>\n    <rdf:Alt>\n     <rdf:li xml:lang="x-default">' + esc(rec["c"]) +
           '</rdf:li>\n    </rdf:Alt>\n   </dc:description>\n'
           '   <exif:UserComment>\n    <rdf:Alt>\n     <rdf:li xml:lang="x-default">' + esc(json.dumps(rec)) +
           '</rdf:li>\n    </rdf:Alt>\n   </exif:UserComment>\n'
           '   <xmp:CreatorTool>Draw Things</xmp:CreatorTool>\n'
           '  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n')
    p = d("draw-things", "draw-things.png")
    png(p, [("XML:com.adobe.xmp", xmp, "i")], 12)
    expect(p, "Draw Things", "Draw Things",
           {"prompt": rec["c"], "negative_prompt": "people, text", "model_name": "sd_xl_base_1.0_f16",
            "adapters": [{"name": "sdxl_lightning_8_step_lora_f16", "type": "lora", "weight": 0.75}]},
           {"seed": 3141592, "steps": 20, "cfg_scale": 5, "sampler": "DPM++ 2M Karras", "width": 1024, "height": 768})


# ---------------------------------------------------------------------------
# A1111 forks, told apart by Version / App
# ---------------------------------------------------------------------------
def a1111_forks():
    base = ("a snowy mountain village at night\nNegative prompt: lowres\n"
            "Steps: 25, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6, Seed: 271828, Size: 768x512, "
            "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, ")
    cases = [("forge-neo.png", "Version: neo", "Forge Neo"),
             ("forge-classic.png", "Version: classic", "Forge Classic"),
             ("reforge.png", "Version: f1.7.0-v1.10.1RC-latest-2173-g0b6ba9a7", "reForge"),
             ("sdnext.png", "App: SD.Next, Version: 6a51c04, Operations: txt2img", "SD.Next")]
    for i, (name, tail, tool) in enumerate(cases):
        p = d("a1111-forks", name)
        png(p, [("parameters", base + tail, "t")], 13 + i)
        expect(p, tool, "AUTOMATIC1111",
               {"prompt": "a snowy mountain village at night", "negative_prompt": "lowres",
                "model_name": "v1-5-pruned-emaonly", "model_hash": "autov2:6ce0161689"},
               {"seed": 271828, "steps": 25, "cfg_scale": 6, "sampler": "Euler a", "scheduler": "Automatic",
                "width": 768, "height": 512})


if __name__ == "__main__":
    comfy_image_saver()
    comfy_regional()
    comfy_rgthree()
    comfy_workflow_subgraph()
    comfy_flux_and_efficiency()
    fooocus()
    stability_matrix()
    tensorart()
    easy_diffusion()
    hf_space()
    draw_things()
    a1111_forks()
