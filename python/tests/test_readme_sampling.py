"""The README's examples for the Recorder, the diffusers callback and
raiiaf.data run as written: each ```python block is taken from README.md and
executed, with the names it leaves to the reader (a prompt, a sampler step,
a pipeline, a folder of outputs) bound to real ones (python/tests/sampling.py
and the MiniPipeline of test_integration_diffusers.py)."""

import os
import re
import subprocess

import numpy as np
import pytest

import raiiaf

torch = pytest.importorskip("torch", reason="PyTorch is not installed (python3-torch)")
import sampling  # noqa: E402

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def blocks(section):
    text = open(README, encoding="utf-8").read()
    start = text.index("## " + section)
    end = text.find("\n## ", start + 3)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def test_recorder_example(tmp_path, monkeypatch, cli):
    cli = os.path.abspath(cli)
    monkeypatch.chdir(tmp_path)
    code = blocks("Recording generations from PyTorch")[0]
    net = sampling.tiny_unet()
    ts = sampling.ddim_timesteps(5)
    abar = sampling.alphas_cumprod()

    def step(x, t):  # one DDIM step of the tiny net
        k = ts.index(t)
        a_t, a_p = abar[t], (abar[ts[k + 1]] if k + 1 < len(ts) else torch.tensor(1.0))
        eps = net(x, t).detach()
        return a_p.sqrt() * (x - (1 - a_t).sqrt() * eps) / a_t.sqrt() + (1 - a_p).sqrt() * eps

    ns = {"p": "a fox", "n": "blurry", "shape": (1, 4, 16, 16), "s": 42, "timesteps": ts, "step": step,
          "unet": net, "pil_image": None}
    code = code.replace("rec.image(pil_image)", "rec.image(sampling.to_pil(x))")
    ns["sampling"] = sampling
    exec(compile(code, "README.md (Recorder)", "exec"), ns)
    assert subprocess.run([cli, "verify", "out.raiiaf"], capture_output=True).returncode == 0
    with raiiaf.open("out.raiiaf") as f:
        assert f.names == ["initial_noise"] + ["step_%04d" % i for i in range(5)] + ["final"]
        assert f.tensor_info("initial_noise").codec == "recipe"
        assert torch.equal(f.latent("final"), ns["x"])
        assert f.env["model"].endswith(raiiaf.module_hash(net))


def test_diffusers_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from test_integration_diffusers import MiniPipeline
    code = blocks("Integrations: diffusers and ComfyUI")[0]
    code = code.replace("(1, 4, 128, 128)", "(1, 4, 16, 16)")  # the tiny pipeline's latent size
    code = code.replace("num_inference_steps=30", "num_inference_steps=4")
    ns = {"torch": torch, "pipe": MiniPipeline()}
    exec(compile(code, "README.md (diffusers)", "exec"), ns)
    with raiiaf.open("cat.raiiaf") as f:
        assert f.names == ["initial_noise"] + ["step_%04d" % i for i in range(4)]
        assert f.metadata["raiiaf_metadata"]["model_info"]["generation_settings"]["seed"] == 42
    with raiiaf.open("cat2.raiiaf") as f:
        assert f.names == ["initial_noise"] and f.has_image


def test_data_example(tmp_path, monkeypatch, png):
    home = tmp_path / "home"
    (home / "outputs").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for k in range(3):
        raiiaf.write(str(home / "outputs" / ("o%d.raiiaf" % k)), image=png,
                     latents={"final": np.full((1, 4, 2, 2), k, np.float32)}, prompt="p%d" % k, seed=k, tags=["x"])
    code = blocks("Training data")[0]
    code = code.replace("num_workers=4", "num_workers=0")
    code = code.replace('for batch in loader: batch["final"], batch["seed"], batch["image"], batch["path"]',
                        'batches = [(batch["final"], batch["seed"], batch["image"], batch["path"]) for batch in loader]')
    ns = {}
    exec(compile(code, "README.md (raiiaf.data)", "exec"), ns)
    (final, seed, image, paths), = ns["batches"]
    assert final.shape == (3, 1, 4, 2, 2) and seed.tolist() == [0, 1, 2] and image.shape == (3, 3, 12, 16)
