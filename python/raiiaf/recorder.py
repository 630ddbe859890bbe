"""raiiaf.Recorder: record a generation from inside any PyTorch sampling loop.

    with raiiaf.Recorder("out.raiiaf", model="SDXL", prompt=p, seed=s) as rec:
        x = rec.initial_noise(torch.randn(shape, generator=g), seed=s)
        for i, t in enumerate(timesteps):
            x = step(x, t); rec.step(i, t, x)
        rec.image(pil_image)

Everything is kept in memory until the block ends cleanly, then written with
one raiiaf.write() call (atomic: a temporary file renamed into place), so a
block that raises leaves no file at all.  The initial noise goes through the
library's seed-recipe check (stored as 32 bytes when it is exactly
torch.randn on the CPU with that seed), the trajectory through its relative
tensors (each kept step stored as the XOR with the one before when smaller).
"""

import hashlib
import sys
import warnings

from . import _core

STEP_FORMAT = "step_%04d"   # step names sort in sampling order
EXTENSION = "org.raiiaf.recorder"


def _torch():
    return sys.modules.get("torch")


class _Pending:
    """One tensor on its way to host memory.  CUDA tensors are copied with
    non_blocking=True into pinned memory and an event recorded on the current
    stream, so the sampling loop is not stalled; the copy is waited for only
    when the file is written.  Other tensors are copied (cloned) at once: the
    loop may update its tensor in place after step() returns."""

    def __init__(self, value):
        torch = _torch()
        self.event = None
        if torch is not None and isinstance(value, torch.Tensor):
            t = value.detach()
            if t.device.type == "cuda":
                host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
                host.copy_(t, non_blocking=True)
                self.event = torch.cuda.Event()
                self.event.record()
                self.value = host
            elif t.device.type == "cpu":
                self.value = t.clone(memory_format=torch.contiguous_format)
            else:  # MPS, XPU, ...: no pinned-memory path in torch; one synchronous copy
                self.value = t.to("cpu")
        else:
            import numpy as np
            self.value = np.array(value, copy=True)

    def get(self):
        if self.event is not None:
            self.event.synchronize()
            self.event = None
        return self.value


def _scalar(t):
    """A timestep (python number, numpy scalar or 0-d/1-element tensor) as a JSON number."""
    if hasattr(t, "item"):
        t = t.item()
    if isinstance(t, float) and t.is_integer():
        return int(t)
    return t


def module_hash(module):
    """SHA-256 (hex) of a torch module's parameters and buffers: every
    state_dict entry in key order, its name, dtype, shape and bytes.  Two
    modules with the same weights give the same hash wherever they live."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        t = t.detach().to("cpu").contiguous()
        h.update(("%s|%s|%s\n" % (name, t.dtype, tuple(t.shape))).encode())
        arr, _ = _core.as_tensor_bytes(t)
        h.update(arr.tobytes())
    return h.hexdigest()


class Recorder:
    """Collects one generation and writes it as a RAIIAF file when the
    ``with`` block ends without an exception (nothing is written otherwise).

    path            the file to write (atomically), or None: ``rec.data``
                    holds the file's bytes after the block
    every           keep every Nth step (i % every == 0); 1 keeps all
    steps           False: keep no trajectory at all (step() only counts)
    model_hash      the model's identity for the environment record: a hex
                    string, or a torch.nn.Module (hashed with module_hash())
    model, prompt, negative_prompt, seed, sampler, cfg_scale, scheduler,
    model_version, tags, generation_settings, extensions, codec, ...
                    passed to raiiaf.write() (see its help)
    """

    def __init__(self, path, *, every=1, steps=True, model_hash=None, **write_args):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError("raiiaf.Recorder: every must be an int >= 1, got %r" % (every,))
        for key in ("latents", "image", "relative", "noise_seed"):
            if key in write_args:
                raise TypeError("raiiaf.Recorder: %s= is set by the recorder (initial_noise(), step(), "
                                "latent(), image())" % key)
        self.path = path
        self.every = every
        self.keep_steps = bool(steps)
        self.write_args = write_args
        self.model_hash = model_hash
        self.data = None          # the file's bytes when path is None
        self.written = None       # the path written, once written
        self.noise_recipe = None  # after writing: True when initial_noise was stored as a seed recipe
        self._noise = None        # (_Pending, seed)
        self._steps = []          # (index, timestep, name, _Pending)
        self._latents = {}        # further named latents: name -> _Pending
        self._image = None
        self._count = 0
        self._timesteps = []
        self._open = False

    # -- the with block ------------------------------------------------------------

    def __enter__(self):
        self._open = True
        return self

    def __exit__(self, exc_type, exc, tb):
        self._open = False
        if exc_type is None:
            self.save()
        else:
            self._discard()
        return False

    def _check_open(self):
        if not self._open:
            raise RuntimeError("raiiaf.Recorder: use it in a with block (or call save() after recording)")

    def _discard(self):
        self._noise, self._steps, self._latents, self._image = None, [], {}, None

    # -- recording -----------------------------------------------------------------

    def initial_noise(self, noise, seed=None):
        """Records the initial noise and returns it unchanged.  With `seed`,
        the library regenerates torch.randn(shape, dtype=dtype,
        generator=torch.Generator().manual_seed(seed)) and stores a 32-byte
        seed recipe when every byte matches (else the values, losslessly:
        CUDA generators and other samplers give other values)."""
        self._check_open()
        if seed is not None:
            seed = _core._seed_value(seed, "seed")
        self._noise = (_Pending(noise), seed)
        return noise

    def step(self, i, t, x):
        """Records step `i` (timestep `t`) with latent `x`, when steps are
        kept and i % every == 0.  Returns x unchanged."""
        self._check_open()
        self._count += 1
        self._timesteps.append(_scalar(t))
        if self.keep_steps and int(i) % self.every == 0:
            self._steps.append((int(i), _scalar(t), STEP_FORMAT % int(i), _Pending(x)))
        return x

    def latent(self, name, x):
        """Records a further latent (for example "final") under `name`."""
        self._check_open()
        if name == _core.NOISE_LATENT or name.startswith("step_"):
            raise ValueError("raiiaf.Recorder: the name %r is the recorder's own (initial_noise(), step())" % name)
        self._latents[name] = _Pending(x)
        return x

    def image(self, image):
        """Records the image: a PIL image (stored as PNG), bytes (PNG, JPEG or
        WebP, stored byte for byte) or a path."""
        self._check_open()
        self._image = _core._image_bytes(image)

    # -- writing -----------------------------------------------------------------------

    def _env_components(self):
        comps = dict(self.write_args.pop("env_components", None) or {})
        mh = self.model_hash
        if mh is not None:
            torch = _torch()
            if torch is not None and isinstance(mh, torch.nn.Module):
                mh = module_hash(mh)
            mh = str(mh)
            name = self.write_args.get("model")
            canon = "name=model;sha256=%s" % _core._clean(mh)
            if name is not None:
                canon = "name=model;id=%s;sha256=%s" % (_core._clean(name), _core._clean(mh))
            comps.setdefault("model", canon)
        return comps

    def save(self):
        """Writes the file (called by the with block on a clean exit)."""
        args = dict(self.write_args)
        self.write_args = args
        comps = self._env_components()
        latents, noise_seed = {}, None  # None: the generation seed is tried quietly
        if self._noise is not None:
            value, seed = self._noise
            latents[_core.NOISE_LATENT] = value.get()
            if seed is not None:
                noise_seed = {_core.NOISE_LATENT: seed}
                args.setdefault("seed", seed)
        for _, _, name, pending in self._steps:
            latents[name] = pending.get()
        for name, pending in self._latents.items():
            latents[name] = pending.get()
        gs = dict(args.pop("generation_settings", None) or {})
        if "steps" not in args and self._count:
            args["steps"] = self._count
        ext = dict(args.pop("extensions", None) or {})
        ext[EXTENSION] = {"every": self.every if self.keep_steps else None,
                          "timesteps": self._timesteps,
                          "kept_steps": [i for i, _, _, _ in self._steps]}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", _core.RecipeWarning)
            out = _core.write(self.path, image=self._image, latents=latents, noise_seed=noise_seed,
                              relative="chain",
                              generation_settings=gs or None, extensions=ext, env_components=comps or None,
                              **args)
        notes = [str(w.message) for w in caught if issubclass(w.category, _core.RecipeWarning)]
        self.recipe_note = "; ".join(notes) or None  # why the noise was stored as values
        if _core.NOISE_LATENT in latents:
            with _core.open(out) as f:  # header, footer and manifest: cheap
                self.noise_recipe = f.recipe(_core.NOISE_LATENT) is not None
        for w in caught:
            if not issubclass(w.category, _core.RecipeWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if self.path is None:
            self.data = out
        else:
            self.written = out
        self._discard()
        return out
