"""raiiaf.integrations.diffusers, called exactly as a diffusers pipeline calls
it.  diffusers cannot be installed here, so MiniPipeline below reproduces the
parts of diffusers' StableDiffusionPipeline.__call__ that touch the callback
(src/diffusers/pipelines/stable_diffusion/pipeline_stable_diffusion.py in
huggingface/diffusers, the "7. Denoising loop"): latents prepared from the
generator unless given, for each timestep a classifier-free-guided noise
prediction and scheduler.step(...).prev_sample, then

    if callback_on_step_end is not None:
        callback_kwargs = {}
        for k in callback_on_step_end_tensor_inputs:
            callback_kwargs[k] = locals()[k]
        callback_outputs = callback_on_step_end(self, i, t, callback_kwargs)
        latents = callback_outputs.pop("latents", latents)

and an output object with .images (PIL by default, numpy for output_type="np",
the latents for "latent").  The network is the tiny conv net of sampling.py."""

import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

import raiiaf

torch = pytest.importorskip("torch", reason="PyTorch is not installed (python3-torch)")
import sampling  # noqa: E402
from raiiaf.integrations.diffusers import DiffusersRecorder, pipeline_settings, record_pipeline  # noqa: E402


class DDIMScheduler:
    """DDIM (eta 0) with diffusers' scheduler interface: timesteps, step().prev_sample, config."""
    order = 1

    def __init__(self):
        self.config = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02,
                       "beta_schedule": "linear", "prediction_type": "epsilon"}
        self.abar = sampling.alphas_cumprod()

    def set_timesteps(self, n, device=None):
        self.timesteps = torch.tensor(sampling.ddim_timesteps(n))

    def step(self, eps, t, x):
        ts = self.timesteps.tolist()
        k = ts.index(int(t))
        a_t = self.abar[int(t)]
        a_p = self.abar[ts[k + 1]] if k + 1 < len(ts) else torch.tensor(1.0)
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        return SimpleNamespace(prev_sample=a_p.sqrt() * x0 + (1 - a_p).sqrt() * eps)


class MiniPipeline:
    name_or_path = "tiny/mini-sd"

    def __init__(self):
        self.unet = sampling.tiny_unet()
        self.scheduler = DDIMScheduler()

    def __call__(self, prompt=None, negative_prompt=None, height=16, width=16, num_inference_steps=5,
                 guidance_scale=7.5, generator=None, latents=None, output_type="pil",
                 callback_on_step_end=None, callback_on_step_end_tensor_inputs=["latents"]):
        prompt_embeds = torch.ones(1)  # what the text encoder would give; unused by the tiny net
        self.scheduler.set_timesteps(num_inference_steps)
        timesteps = self.scheduler.timesteps
        if latents is None:
            latents = torch.randn((1, 4, height, width), generator=generator)
        with torch.no_grad():
            for i, t in enumerate(timesteps):
                latent_model_input = torch.cat([latents] * 2)
                noise_pred = torch.cat([self.unet(latent_model_input[k:k + 1], t) * (1.0 + 0.01 * k)
                                        for k in range(2)])
                noise_pred_uncond, noise_pred_text = noise_pred.chunk(2)
                noise_pred = noise_pred_uncond + guidance_scale * (noise_pred_text - noise_pred_uncond)
                latents = self.scheduler.step(noise_pred, t, latents).prev_sample
                if callback_on_step_end is not None:
                    callback_kwargs = {}
                    for k in callback_on_step_end_tensor_inputs:
                        callback_kwargs[k] = locals()[k]
                    callback_outputs = callback_on_step_end(self, i, t, callback_kwargs)
                    latents = callback_outputs.pop("latents", latents)
                    prompt_embeds = callback_outputs.pop("prompt_embeds", prompt_embeds)
        if output_type == "latent":
            return SimpleNamespace(images=latents)
        image = (latents[:, :3].clamp(-1, 1) / 2 + 0.5).permute(0, 2, 3, 1).float().numpy()
        if output_type == "pil":
            from PIL import Image
            image = [Image.fromarray((im * 255).round().astype("uint8")) for im in image]
        return SimpleNamespace(images=image, nsfw_content_detected=None)


def cli_ok(cli, path):
    v = subprocess.run([cli, "verify", path], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    i = subprocess.run([cli, "info", path], capture_output=True, text=True)
    assert i.returncode == 0, i.stderr
    return i.stdout


def test_callback_records_the_pipeline_run(tmp_path, cli):
    pipe = MiniPipeline()
    noise = torch.randn((1, 4, 16, 16), generator=torch.Generator().manual_seed(42))
    args = dict(prompt="a cat", negative_prompt="blurry", num_inference_steps=6, guidance_scale=5.0,
                generator=torch.Generator().manual_seed(42), latents=noise)
    seen = []
    rec = DiffusersRecorder(str(tmp_path / "d.raiiaf"), every=2)

    def spy(pipe_, i, t, kw):  # the recorder, plus a copy of what it saw
        seen.append(kw["latents"].clone())
        out = rec(pipe_, i, t, kw)
        assert out is kw  # handed back unchanged, as diffusers expects
        return out
    out = pipe(**args, callback_on_step_end=spy, callback_on_step_end_tensor_inputs=rec.tensor_inputs)
    path = rec.save(pipe, args, out)
    info = cli_ok(cli, path)
    assert "recipe (torch.randn/cpu seed 42" in info and "a cat" in info
    with raiiaf.open(path) as f:
        assert f.names == ["initial_noise", "step_0000", "step_0002", "step_0004"]
        for i in (0, 2, 4):
            assert np.array_equal(np.asarray(f.latents["step_%04d" % i]).view(np.uint32),
                                  seen[i].numpy().view(np.uint32))
        mi = f.metadata["raiiaf_metadata"]["model_info"]
        gs = mi["generation_settings"]
        assert mi["model_name"] == "tiny/mini-sd" and mi["negative_prompt"] == "blurry"
        assert (gs["seed"], gs["steps"], gs["cfg_scale"], gs["scheduler"]) == (42, 6, 5.0, "DDIMScheduler")
        ext = f.metadata["raiiaf_metadata"]["extensions"]["org.huggingface.diffusers"]
        assert ext["pipeline"] == "MiniPipeline" and ext["scheduler_config"]["beta_schedule"] == "linear"
        assert ext["call"]["num_inference_steps"] == 6
        from PIL import Image
        import io
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(f.image_bytes))), np.asarray(out.images[0]))


def test_record_pipeline_without_callback_and_output_types(tmp_path, cli):
    pipe = MiniPipeline()
    args = dict(prompt=["one prompt"], num_inference_steps=3, guidance_scale=1.0,
                generator=torch.Generator().manual_seed(7), output_type="np")
    out = pipe(**args)
    path = record_pipeline(str(tmp_path / "np.raiiaf"), pipe, args, out, tags=["np"])
    cli_ok(cli, path)
    with raiiaf.open(path) as f:
        assert f.names == []  # no latents given to the call: the pipeline's own noise is not seen
        expect = (np.clip(out.images[0], 0, 1) * 255).round().astype(np.uint8)
        from PIL import Image
        import io
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(f.image_bytes))), expect)
        assert f.metadata["raiiaf_metadata"]["model_info"]["prompt"] == "one prompt"
        assert f.metadata["raiiaf_metadata"]["model_info"]["tags"] == ["np"]
    args["output_type"] = "latent"
    out = pipe(**args)
    path = record_pipeline(str(tmp_path / "lat.raiiaf"), pipe, args, out)
    cli_ok(cli, path)
    with raiiaf.open(path) as f:
        assert f.names == ["final"] and not f.has_image
        assert torch.equal(f.latent("final"), out.images)


def test_failed_pipeline_writes_nothing(tmp_path):
    pipe = MiniPipeline()
    rec = DiffusersRecorder(str(tmp_path / "x.raiiaf"))

    def boom(p, i, t, kw):
        rec(p, i, t, kw)
        if i == 1:
            raise RuntimeError("out of memory")
        return kw
    with pytest.raises(RuntimeError):
        pipe(prompt="x", callback_on_step_end=boom)
    rec.discard()
    assert list(tmp_path.iterdir()) == []


def test_settings_from_call():
    s = pipeline_settings(MiniPipeline(), {"prompt": ["a", "b"], "generator": [torch.Generator().manual_seed(3)],
                                           "height": 16, "latents": torch.ones(1)})
    assert "prompt" not in s and s["seed"] == 3 and s["scheduler"] == "DDIMScheduler"
    assert s["extensions"]["org.huggingface.diffusers"]["call"] == {"height": 16}
