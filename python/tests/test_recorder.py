"""raiiaf.Recorder inside real torch sampling loops (DDIM and Euler over a tiny
conv net with fixed random weights, tests/sampling.py): the file verifies with
the CLI, reads back bit for bit, keeps seeded noise as a recipe and the
trajectory as a delta chain, and nothing is written when the loop raises."""

import io
import os
import subprocess

import numpy as np
import pytest

import raiiaf

torch = pytest.importorskip("torch", reason="PyTorch is not installed (python3-torch)")
import sampling  # noqa: E402  (python/tests/sampling.py)

SHAPE = (1, 4, 16, 16)


def bits(t):
    a = t.detach().cpu().contiguous().numpy()
    return a.view({4: np.uint32, 2: np.uint16, 8: np.uint64}[a.itemsize])


def run_cli(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True)


def record_ddim(path, seed=42, steps=10, **kw):
    net = sampling.tiny_unet()
    seen = {}
    with raiiaf.Recorder(path, model="tiny-ddim", prompt="a test", negative_prompt="blur", sampler="ddim",
                         cfg_scale=1.0, model_hash=net, **kw) as rec:
        x = rec.initial_noise(torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed)), seed=seed)
        seen["noise"] = x.clone()

        def cb(i, t, x):
            seen[i] = x.clone()
            rec.step(i, t, x)
            return x
        x = sampling.ddim(net, x, steps, cb)
        rec.latent("final", x)
        rec.image(sampling.to_pil(x))
    return rec, seen, net


def test_ddim_loop_recorded_and_verified(tmp_path, cli):
    path = str(tmp_path / "ddim.raiiaf")
    rec, seen, net = record_ddim(path)
    assert rec.written == path and os.path.exists(path)
    assert rec.noise_recipe is True  # CPU torch.randn with that seed: 32 bytes
    r = run_cli(cli, "verify", path)
    assert r.returncode == 0, r.stdout + r.stderr
    info = run_cli(cli, "info", path)
    assert info.returncode == 0, info.stderr
    assert "recipe (torch.randn/cpu seed 42" in info.stdout
    assert "tiny-ddim" in info.stdout
    with raiiaf.open(path) as f:
        assert f.format == (2, 1)
        names = f.names
        assert names[0] == "initial_noise" and names[-1] == "final"
        assert names[1:-1] == ["step_%04d" % i for i in range(10)]
        assert np.array_equal(bits(torch.from_numpy(np.array(f.latents["initial_noise"]))), bits(seen["noise"]))
        for i in range(10):
            assert np.array_equal(np.asarray(f.latents["step_%04d" % i]).view(np.uint32), bits(seen[i])), i
        # the trajectory is a delta chain: each step after the first relative to the one before
        refs = [f.tensor_info("step_%04d" % i).reference for i in range(1, 10)]
        assert refs == ["step_%04d" % i for i in range(9)]
        gs = f.metadata["raiiaf_metadata"]["model_info"]["generation_settings"]
        assert gs["seed"] == 42 and gs["steps"] == 10 and gs["sampler"] == "ddim"
        ext = f.metadata["raiiaf_metadata"]["extensions"]["org.raiiaf.recorder"]
        assert ext["timesteps"] == sampling.ddim_timesteps(10) and ext["kept_steps"] == list(range(10))
        env = f.env
        assert env["torch"].startswith("name=torch;version=%s" % torch.__version__)
        assert "cuda" in env
        assert env["model"] == "name=model;id=tiny-ddim;sha256=%s" % raiiaf.module_hash(net)
        from PIL import Image
        img = Image.open(io.BytesIO(f.image_bytes))
        assert img.size == (16, 16)
        assert np.array_equal(np.asarray(img), np.asarray(sampling.to_pil(seen[9])))


def test_module_hash_is_of_the_weights():
    a, b, c = sampling.tiny_unet(seed=0), sampling.tiny_unet(seed=0), sampling.tiny_unet(seed=1)
    assert raiiaf.module_hash(a) == raiiaf.module_hash(b) != raiiaf.module_hash(c)
    import hashlib
    h = hashlib.sha256()
    for name, t in a.state_dict().items():
        h.update(("%s|%s|%s\n" % (name, t.dtype, tuple(t.shape))).encode())
        h.update(t.numpy().tobytes())
    assert raiiaf.module_hash(a) == h.hexdigest()


def test_euler_every_n_and_no_steps(tmp_path, cli):
    net = sampling.tiny_unet()
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(7)) * 14.6
    kept = {}
    path = str(tmp_path / "euler.raiiaf")
    with raiiaf.Recorder(path, model="tiny-euler", sampler="euler", every=3) as rec:
        x = rec.initial_noise(noise, seed=7)  # scaled by sigma_max: not torch.randn(7) any more

        def cb(i, t, x):
            if i % 3 == 0:
                kept[i] = x.clone()
            rec.step(i, t, x)
            return x
        sampling.euler(net, x, 8, cb)
    assert rec.noise_recipe is False and "torch.randn" in rec.recipe_note
    assert run_cli(cli, "verify", path).returncode == 0
    with raiiaf.open(path) as f:
        assert f.names == ["initial_noise", "step_0000", "step_0003", "step_0006"]
        assert f.tensor_info("initial_noise").codec != "recipe"
        assert np.array_equal(np.asarray(f.latents["initial_noise"]).view(np.uint32), bits(noise))
        for i, v in kept.items():
            assert np.array_equal(np.asarray(f.latents["step_%04d" % i]).view(np.uint32), bits(v))
        assert f.metadata["raiiaf_metadata"]["model_info"]["generation_settings"]["steps"] == 8

    path2 = str(tmp_path / "nosteps.raiiaf")
    with raiiaf.Recorder(path2, model="tiny-euler", steps=False) as rec:
        x = rec.initial_noise(torch.randn(SHAPE, generator=torch.Generator().manual_seed(3)), seed=3)
        x = sampling.euler(net, x, 4, lambda i, t, x: rec.step(i, t, x))
        rec.latent("final", x)
    with raiiaf.open(path2) as f:
        assert f.names == ["initial_noise", "final"]
        assert f.tensor_info("initial_noise").codec == "recipe"
        assert np.array_equal(np.asarray(f.latents["final"]).view(np.uint32), bits(x))


def test_in_place_updates_after_step_do_not_change_the_record(tmp_path):
    path = str(tmp_path / "inplace.raiiaf")
    x = torch.zeros(SHAPE)
    with raiiaf.Recorder(path, model="m") as rec:
        for i in range(3):
            x.add_(1.0)  # samplers often update in place
            rec.step(i, i, x)
    with raiiaf.open(path) as f:
        for i in range(3):
            assert float(np.asarray(f.latents["step_%04d" % i]).max()) == i + 1


def test_nothing_written_when_the_loop_raises(tmp_path):
    path = tmp_path / "never.raiiaf"
    net = sampling.tiny_unet()
    with pytest.raises(ZeroDivisionError):
        with raiiaf.Recorder(str(path), model="m") as rec:
            x = rec.initial_noise(torch.randn(SHAPE, generator=torch.Generator().manual_seed(1)), seed=1)

            def cb(i, t, x):
                rec.step(i, t, x)
                if i == 2:
                    1 / 0
                return x
            sampling.ddim(net, x, 5, cb)
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left behind
    # an existing file at the path is left as it was
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with raiiaf.Recorder(str(path), model="m") as rec:
            rec.step(0, 0, torch.ones(2))
            raise KeyboardInterrupt
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["never.raiiaf"]


def test_in_memory_and_image_kinds(tmp_path, png, png_path):
    for img in (png, png_path):
        with raiiaf.Recorder(None, model="m", prompt="p") as rec:
            rec.image(img)
            rec.step(0, torch.tensor(999), torch.ones(1, 4, 2, 2, dtype=torch.bfloat16))
        with raiiaf.open(rec.data) as f:
            assert f.image_bytes == png
            back = f.latent("step_0000")
            assert back.dtype == torch.bfloat16 and torch.equal(back, torch.ones(1, 4, 2, 2, dtype=torch.bfloat16))
            ext = f.metadata["raiiaf_metadata"]["extensions"]["org.raiiaf.recorder"]
            assert ext["timesteps"] == [999]


def test_bad_arguments():
    with pytest.raises(ValueError, match="every"):
        raiiaf.Recorder("x.raiiaf", every=0)
    with pytest.raises(TypeError, match="latents"):
        raiiaf.Recorder("x.raiiaf", latents={})
    rec = raiiaf.Recorder("x.raiiaf")
    with pytest.raises(RuntimeError, match="with block"):
        rec.step(0, 0, torch.ones(1))
    with raiiaf.Recorder(None) as rec:
        with pytest.raises(ValueError, match="recorder's own"):
            rec.latent("step_0001", torch.ones(1))
        with pytest.raises(ValueError, match="2\\*\\*64"):
            rec.initial_noise(torch.ones(1), seed=-1)


def test_cuda_tensors_copied_asynchronously(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the pinned-memory non_blocking copy path is not exercised here")
    net = sampling.tiny_unet().cuda()
    g = torch.Generator(device="cuda").manual_seed(5)
    path = str(tmp_path / "cuda.raiiaf")
    seen = {}
    with raiiaf.Recorder(path, model="m") as rec:
        x = rec.initial_noise(torch.randn(SHAPE, generator=g, device="cuda"), seed=5)

        def cb(i, t, x):
            seen[i] = x.cpu()
            rec.step(i, t, x)
            pending = rec._steps[-1][3]
            assert pending.event is not None and pending.value.is_pinned()  # copy in flight, pinned
            return x
        sampling.ddim(net, x, 4, cb)
    assert rec.noise_recipe is False  # a CUDA generator's noise is not the CPU recipe's
    with raiiaf.open(path) as f:
        for i, v in seen.items():
            assert np.array_equal(np.asarray(f.latents["step_%04d" % i]).view(np.uint32), bits(v))
