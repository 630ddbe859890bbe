"""torch tensors in and out, bfloat16 included.  Skipped, saying so, where
PyTorch is not installed (Debian's python3-torch is not a dependency)."""

import numpy as np
import pytest

import raiiaf

torch = pytest.importorskip("torch", reason="PyTorch is not installed (python3-torch): torch "
                            "tensors in/out and bfloat16 round trips are not tested here")

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.uint8,
          torch.int16, torch.int32, torch.int64, torch.bool]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("codec", ["raw", "auto"])
def test_torch_round_trip(tmp_path, dtype, codec):
    g = torch.Generator().manual_seed(0)
    t = (torch.randn(1, 4, 8, 8, generator=g) * 50).to(dtype)
    out = str(tmp_path / "t.raiiaf")
    raiiaf.write(out, latents={"x": t}, codec=codec)
    with raiiaf.open(out) as f:
        back = f.latent("x")
        assert back.dtype == dtype and back.shape == t.shape
        assert torch.equal(back, t)  # bit for bit, bfloat16 included
        back[0, 0, 0, 0] = 0  # the tensor owns its memory


def test_bfloat16_numpy_side_is_the_bits(tmp_path):
    t = torch.tensor([1.0, -2.5, 3.140625], dtype=torch.bfloat16)
    out = str(tmp_path / "b.raiiaf")
    raiiaf.write(out, latents={"b": t})
    with raiiaf.open(out) as f:
        assert f.tensor_info("b").dtype == "bfloat16"
        arr = f.latents["b"]
        bits = t.view(torch.int16).numpy().view(np.uint16)
        np.testing.assert_array_equal(arr.view(np.uint16), bits)


def test_non_contiguous_and_grad_tensors(tmp_path):
    t = torch.randn(4, 6, requires_grad=True)
    out = str(tmp_path / "n.raiiaf")
    raiiaf.write(out, latents={"t": t.T, "s": t[:, ::2]})
    with raiiaf.open(out) as f:
        assert torch.equal(f.latent("t"), t.detach().T)
        assert torch.equal(f.latent("s"), t.detach()[:, ::2])


def test_device_and_dtype_arguments(tmp_path):
    out = str(tmp_path / "d.raiiaf")
    raiiaf.write(out, latents={"x": torch.ones(2, 2)})
    with raiiaf.open(out) as f:
        assert f.latent("x", dtype=torch.float16).dtype == torch.float16
        if torch.cuda.is_available():
            assert f.latent("x", device="cuda").device.type == "cuda"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: GPU tensors not tested")
def test_cuda_tensor_in(tmp_path):
    t = torch.randn(1, 4, 8, 8, device="cuda", dtype=torch.bfloat16)
    out = str(tmp_path / "c.raiiaf")
    raiiaf.write(out, latents={"x": t})
    with raiiaf.open(out) as f:
        assert torch.equal(f.latent("x", device="cuda"), t)


def test_env_records_torch(tmp_path):
    if not raiiaf.HAS_ENV:
        pytest.skip("the loaded libraiiaf has no environment API")
    out = str(tmp_path / "e.raiiaf")
    raiiaf.write(out, latents={"x": torch.ones(1)})
    with raiiaf.open(out) as f:
        assert f.env["torch"].startswith("name=torch;version=%s;cuda=" % torch.__version__)
        assert "cuda" in f.env


def test_dropin_accepts_torch(tmp_path):
    from raiiaf import raiiafFileHandler
    t = torch.randn(1, 4, 8, 8)
    out = str(tmp_path / "d.raiiaf")
    raiiafFileHandler().file_encoder(out, {"x": t}, [], "m", "1", "p", ["t"], None, convert_float16=False)
    np.testing.assert_array_equal(raiiafFileHandler().file_decoder(out)["chunks"]["latent"][0], t.numpy())
