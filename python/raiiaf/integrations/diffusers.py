"""Recording diffusers pipeline runs as RAIIAF files.

    from raiiaf.integrations.diffusers import DiffusersRecorder
    rec = DiffusersRecorder("cat.raiiaf", every=1)
    args = dict(prompt="a cat", negative_prompt="blurry", num_inference_steps=30,
                guidance_scale=7.0, generator=torch.Generator().manual_seed(42))
    out = pipe(**args, callback_on_step_end=rec, callback_on_step_end_tensor_inputs=rec.tensor_inputs)
    rec.save(pipe, args, out)          # prompt, seed, steps, guidance, scheduler, image

The call shape is diffusers' own (src/diffusers/pipelines/stable_diffusion/
pipeline_stable_diffusion.py, the denoising loop): after each scheduler step
the pipeline builds ``callback_kwargs = {k: locals()[k] for k in
callback_on_step_end_tensor_inputs}``, calls ``callback_on_step_end(self, i,
t, callback_kwargs)`` and takes ``latents`` back from the returned dict.  The
callback returns the dict it was given, unchanged.

Pass ``latents=`` (your initial noise) in the call arguments to have the
noise recorded: the pipeline draws its own otherwise, and it is not handed to
callbacks.  Noise that is exactly CPU torch.randn with the generator's seed
is stored as a 32-byte seed recipe.  When the pipeline raises, call
``rec.discard()`` (or simply do not call save()): nothing is written.
"""

import numbers
import sys

from ..recorder import Recorder

EXTENSION = "org.huggingface.diffusers"
_SCALARS = (str, bool, numbers.Integral, numbers.Real, type(None))


def _first(v):
    if isinstance(v, (list, tuple)):
        return v[0] if len(v) == 1 else None
    return v


def _seed(generator):
    """The seed of one torch.Generator (or a list of one), else None."""
    g = _first(generator)
    if g is None or not hasattr(g, "initial_seed"):
        return None
    return int(g.initial_seed())


def _json_scalar_dict(d):
    out = {}
    for k, v in dict(d or {}).items():
        if isinstance(v, _SCALARS):
            out[str(k)] = v
        elif isinstance(v, (list, tuple)) and all(isinstance(x, _SCALARS) for x in v):
            out[str(k)] = list(v)
    return out


def pipeline_settings(pipe, call_kwargs):
    """raiiaf.write() arguments from a pipeline and its call arguments:
    model, prompt, negative_prompt, seed, steps, cfg_scale, scheduler and an
    extension with the pipeline class, scheduler class and config and the
    call's other plain arguments (height, width, eta, ...)."""
    kw = dict(call_kwargs or {})
    args = {}
    name = getattr(pipe, "name_or_path", None)
    if name is None:
        cfg = getattr(pipe, "config", None)
        name = cfg.get("_name_or_path") if hasattr(cfg, "get") else None
    if name:
        args["model"] = str(name)
    for key, arg in (("prompt", "prompt"), ("negative_prompt", "negative_prompt")):
        v = _first(kw.get(key))
        if isinstance(v, str):
            args[arg] = v
    seed = _seed(kw.get("generator"))
    if seed is not None:
        args["seed"] = seed
    if kw.get("num_inference_steps") is not None:
        args["steps"] = int(kw["num_inference_steps"])
    if kw.get("guidance_scale") is not None:
        args["cfg_scale"] = float(kw["guidance_scale"])
    sched = getattr(pipe, "scheduler", None)
    ext = {"pipeline": type(pipe).__name__}
    if sched is not None:
        args["scheduler"] = type(sched).__name__
        ext["scheduler_config"] = _json_scalar_dict(getattr(sched, "config", None))
    ext["call"] = {k: v for k, v in _json_scalar_dict(kw).items()
                   if k not in ("prompt", "negative_prompt", "callback_on_step_end_tensor_inputs")}
    args["extensions"] = {EXTENSION: ext}
    return args


def _output_image(output):
    """(image for Recorder.image or None, latent tensor or None) from a
    pipeline output (…PipelineOutput with .images, or the return_dict=False tuple)."""
    images = getattr(output, "images", None)
    if images is None and isinstance(output, (tuple, list)) and output:
        images = output[0]
    if images is None:
        return None, None
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(images, torch.Tensor):  # output_type="latent" (or "pt")
        if images.dim() == 4 and images.shape[-1] not in (1, 3, 4):
            return None, images
        images = images.permute(0, 2, 3, 1).float().cpu().numpy() if images.dim() == 4 else images
    first = images[0]
    if hasattr(first, "save") and hasattr(first, "mode"):  # PIL (output_type="pil", the default)
        return first, None
    import numpy as np
    arr = np.asarray(first)
    if arr.dtype != np.uint8:  # output_type="np": float in [0, 1], as diffusers' numpy_to_pil converts it
        arr = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    from PIL import Image
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return Image.fromarray(arr), None


class DiffusersRecorder:
    """A diffusers ``callback_on_step_end`` that records the trajectory, and
    ``save(pipe, call_kwargs, output)`` that writes the file.  ``every``,
    ``steps``, ``model_hash`` and raiiaf.write() arguments as for
    raiiaf.Recorder; arguments given here win over those read from the call."""

    tensor_inputs = ["latents"]  # what to pass as callback_on_step_end_tensor_inputs

    def __init__(self, path, **recorder_args):
        self._rec = Recorder(path, **recorder_args)
        self._rec.__enter__()
        self._user = dict(recorder_args)

    def __call__(self, pipe, step, timestep, callback_kwargs):
        latents = callback_kwargs.get("latents")
        if latents is not None:
            self._rec.step(step, timestep, latents)
        return callback_kwargs

    def save(self, pipe, call_kwargs, output):
        """Writes the file: the call's settings, its initial noise when
        `call_kwargs` has ``latents``, the first image of `output` (or, with
        output_type="latent", the final latents).  Returns the path (or the
        bytes when path was None)."""
        rec = self._rec
        settings = pipeline_settings(pipe, call_kwargs)
        for k, v in settings.items():
            if k == "extensions":
                ext = dict(rec.write_args.get("extensions") or {})
                for ns, val in v.items():
                    ext.setdefault(ns, val)
                rec.write_args["extensions"] = ext
            else:
                rec.write_args.setdefault(k, v)
        noise = (call_kwargs or {}).get("latents")
        if noise is not None:
            rec.initial_noise(noise, seed=settings.get("seed"))
        image, latent = _output_image(output)
        if image is not None:
            rec.image(image)
        if latent is not None:
            rec.latent("final", latent)
        rec.__exit__(None, None, None)
        return rec.written if rec.path is not None else rec.data

    def discard(self):
        """Drops what was recorded (the pipeline failed): nothing is written."""
        self._rec.__exit__(RuntimeError, RuntimeError("discarded"), None)


def record_pipeline(path, pipe, call_kwargs, output, **recorder_args):
    """Writes a RAIIAF file for one finished pipeline call without a
    trajectory: settings, initial noise (``latents`` in call_kwargs) and image."""
    return DiffusersRecorder(path, steps=False, **recorder_args).save(pipe, call_kwargs, output)
