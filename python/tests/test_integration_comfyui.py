"""The ComfyUI node pack (python/raiiaf/integrations/comfyui), loaded and run
the way ComfyUI does it.  ComfyUI cannot be installed here; the harness below
follows its published source (comfyanonymous/ComfyUI):

- nodes.py, load_custom_node: the folder in custom_nodes/ is imported with
  importlib.util.spec_from_file_location(module_name, <folder>/__init__.py),
  registered in sys.modules under the folder's name, executed, and its
  NODE_CLASS_MAPPINGS / NODE_DISPLAY_NAME_MAPPINGS read;
- execution.py, get_input_data + map_node_over_list: every input is wrapped
  in a list, hidden inputs are filled ("PROMPT" -> the prompt graph,
  "EXTRA_PNGINFO" -> extra_data.get("extra_pnginfo")), and
  getattr(obj, obj.FUNCTION)(**{name: value[0]}) is called;
- folder_paths: get_output_directory(), get_input_directory().
Tensors use ComfyUI's layouts: IMAGE [B, H, W, C] float 0..1 and LATENT
{"samples": [B, C, H/8, W/8]}, made by the tiny sampler of sampling.py."""

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

import raiiaf

torch = pytest.importorskip("torch", reason="PyTorch is not installed (python3-torch)")
pytest.importorskip("PIL", reason="Pillow is not installed (python3-pil)")
import sampling  # noqa: E402

PACK = os.path.join(os.path.dirname(raiiaf.__file__), "integrations", "comfyui")

# An API-format prompt graph as ComfyUI's queue sends it (node id -> class_type, inputs; links [id, slot]).
PROMPT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny_v1.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 2}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in snow", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 123456, "steps": 6, "cfg": 6.5, "sampler_name": "euler",
                                               "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                                               "positive": ["6", 0], "negative": ["7", 0],
                                               "latent_image": ["5", 0]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveRaiiaf", "inputs": {"filename_prefix": "run/fox", "images": ["8", 0],
                                                 "latent": ["3", 0]}},
}
WORKFLOW = {"last_node_id": 9, "nodes": [{"id": 9, "type": "SaveRaiiaf"}], "links": [], "version": 0.4}


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    out, inp = tmp_path / "output", tmp_path / "input"
    out.mkdir()
    inp.mkdir()
    fp = types.ModuleType("folder_paths")
    fp.get_output_directory = lambda: str(out)
    fp.get_input_directory = lambda: str(inp)
    monkeypatch.setitem(sys.modules, "folder_paths", fp)
    custom = tmp_path / "custom_nodes" / "raiiaf_nodes"
    shutil.copytree(PACK, custom, ignore=shutil.ignore_patterns("__pycache__"))
    spec = importlib.util.spec_from_file_location("raiiaf_nodes", str(custom / "__init__.py"))
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "raiiaf_nodes", module)
    spec.loader.exec_module(module)
    return types.SimpleNamespace(module=module, out=out, inp=inp)


def execute(node_cls, inputs, prompt=None, extra_data=None):
    """One node run as execution.py runs it."""
    valid = node_cls.INPUT_TYPES()
    data = {k: [v] for k, v in inputs.items()}
    for name, kind in valid.get("hidden", {}).items():
        if kind == "PROMPT":
            data[name] = [prompt if prompt is not None else {}]
        if kind == "EXTRA_PNGINFO":
            data[name] = [(extra_data or {}).get("extra_pnginfo", None)]
    obj = node_cls()
    return getattr(obj, node_cls.FUNCTION)(**{k: v[0] for k, v in data.items()})


def generate(batch=2):
    """A KSampler + VAEDecode stand-in: LATENT [B,4,8,8] and IMAGE [B,64,64,3] in 0..1."""
    net = sampling.tiny_unet()
    lat = torch.cat([sampling.euler(net, torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(s)) * 14.6, 4)
                     for s in range(batch)])
    img = torch.nn.functional.interpolate(lat[:, :3], scale_factor=8).clamp(-1, 1).add(1).div(2)
    return {"samples": lat}, img.permute(0, 2, 3, 1).contiguous()


def cli_check(cli, path):
    v = subprocess.run([cli, "verify", path], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    i = subprocess.run([cli, "info", path], capture_output=True, text=True)
    assert i.returncode == 0, i.stderr
    return i.stdout


def test_pack_registers_three_nodes(comfy):
    m = comfy.module
    assert set(m.NODE_CLASS_MAPPINGS) == {"SaveRaiiaf", "LoadRaiiaf", "LoadRaiiafLatent"}
    assert m.NODE_DISPLAY_NAME_MAPPINGS["SaveRaiiaf"] == "Save RAIIAF"
    assert m.NODE_DISPLAY_NAME_MAPPINGS["LoadRaiiafLatent"] == "Load latent from RAIIAF"
    save = m.NODE_CLASS_MAPPINGS["SaveRaiiaf"]
    assert save.OUTPUT_NODE and save.RETURN_TYPES == ()
    assert save.INPUT_TYPES()["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    assert m.NODE_CLASS_MAPPINGS["LoadRaiiaf"].RETURN_TYPES == ("IMAGE", "LATENT", "STRING", "INT")


def test_save_then_load(comfy, cli):
    from PIL import Image
    m = comfy.module
    latent, images = generate(2)
    res = execute(m.NODE_CLASS_MAPPINGS["SaveRaiiaf"], {"images": images, "filename_prefix": "run/fox",
                                                       "latent": latent},
                  prompt=PROMPT, extra_data={"extra_pnginfo": {"workflow": WORKFLOW}})
    files = res["ui"]["raiiaf"]
    assert [r["filename"] for r in files] == ["fox_00001_.raiiaf", "fox_00002_.raiiaf"]
    assert all(r["subfolder"] == "run" and r["type"] == "output" for r in files)
    for b, r in enumerate(files):
        path = str(comfy.out / "run" / r["filename"])
        info = cli_check(cli, path)
        assert "a red fox in snow" in info
        with raiiaf.open(path) as f:
            mi = f.metadata["raiiaf_metadata"]["model_info"]
            assert mi["prompt"] == "a red fox in snow" and mi["negative_prompt"] == "blurry"
            gs = mi["generation_settings"]
            assert (gs["seed"], gs["steps"], gs["cfg_scale"]) == (123456, 6, 6.5)
            png = Image.open(io.BytesIO(f.image_bytes))
            # the PNG SaveImage would have written: its text chunks hold the graph and the workflow
            assert json.loads(png.text["prompt"]) == PROMPT and json.loads(png.text["workflow"]) == WORKFLOW
            expect = np.clip(255.0 * images[b].numpy(), 0, 255).astype(np.uint8)
            assert np.array_equal(np.asarray(png), expect)
            assert torch.equal(f.latent("latent"), latent["samples"][b:b + 1])
        shutil.copy(path, comfy.inp / r["filename"])
    # a second save continues the counter, like SaveImage
    res = execute(m.NODE_CLASS_MAPPINGS["SaveRaiiaf"], {"images": images[:1], "filename_prefix": "run/fox"},
                  prompt=PROMPT)
    assert res["ui"]["raiiaf"][0]["filename"] == "fox_00003_.raiiaf"

    load = m.NODE_CLASS_MAPPINGS["LoadRaiiaf"]
    assert load.INPUT_TYPES()["required"]["file"][0] == ["fox_00001_.raiiaf", "fox_00002_.raiiaf"]
    assert load.VALIDATE_INPUTS("fox_00002_.raiiaf") is True
    assert load.VALIDATE_INPUTS("nope.raiiaf") != True  # noqa: E712 - ComfyUI shows the string
    image, lat, prompt, seed = execute(load, {"file": "fox_00002_.raiiaf"})
    assert image.shape == (1, 64, 64, 3) and image.dtype == torch.float32
    assert torch.equal(image, torch.from_numpy(np.clip(255.0 * images[1].numpy(), 0, 255).astype(np.uint8)
                                               .astype(np.float32) / 255.0)[None])
    assert torch.equal(lat["samples"], latent["samples"][1:2])
    assert (prompt, seed) == ("a red fox in snow", 123456)
    (lat2,) = execute(m.NODE_CLASS_MAPPINGS["LoadRaiiafLatent"], {"file": "fox_00001_.raiiaf",
                                                                  "latent_name": "latent"})
    assert torch.equal(lat2["samples"], latent["samples"][:1])
    with pytest.raises(ValueError, match="no latent 'final'"):
        execute(m.NODE_CLASS_MAPPINGS["LoadRaiiafLatent"], {"file": "fox_00001_.raiiaf", "latent_name": "final"})
    assert load.IS_CHANGED("fox_00001_.raiiaf") != load.IS_CHANGED("fox_00002_.raiiaf")


def test_recorder_file_loads_in_comfy(comfy, tmp_path):
    """A file written by raiiaf.Recorder (no ComfyUI graph) loads: its final latent and seed."""
    m = comfy.module
    with raiiaf.Recorder(str(comfy.inp / "rec.raiiaf"), model="tiny", prompt="p", seed=9) as rec:
        x = rec.initial_noise(torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(9)), seed=9)
        x = sampling.ddim(sampling.tiny_unet(), x, 3, lambda i, t, x: rec.step(i, t, x))
        rec.latent("final", x)
        rec.image(sampling.to_pil(x))
    image, lat, prompt, seed = execute(m.NODE_CLASS_MAPPINGS["LoadRaiiaf"], {"file": "rec.raiiaf"})
    assert image.shape == (1, 8, 8, 3) and torch.equal(lat["samples"], x) and (prompt, seed) == ("p", 9)


def test_save_refuses_paths_outside_output(comfy):
    m = comfy.module
    _, images = generate(1)
    with pytest.raises(ValueError, match="outside"):
        execute(m.NODE_CLASS_MAPPINGS["SaveRaiiaf"], {"images": images, "filename_prefix": "../../evil"})
    with pytest.raises(ValueError, match="outside"):
        execute(m.NODE_CLASS_MAPPINGS["LoadRaiiaf"], {"file": "../secret.raiiaf"})
