"""A real, tiny denoising setup for the Recorder and integration tests: a
small convolutional noise predictor with fixed random weights (no download)
and DDIM / Euler samplers over DDPM's linear beta schedule, written from the
papers' update rules (DDIM: Song et al. 2020, eq. 12 with eta 0; Euler:
Karras et al. 2022, Algorithm 2 without churn)."""

import numpy as np

torch = None
try:
    import torch
    import torch.nn as nn
except ImportError:  # pragma: no cover - the tests that need torch skip
    nn = None


def tiny_unet(channels=4, seed=0):
    """eps_theta(x, t): two 3x3 convolutions with a timestep embedding."""
    g = torch.Generator().manual_seed(seed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(channels, 16, 3, padding=1)
            self.c2 = nn.Conv2d(16, channels, 3, padding=1)
            self.temb = nn.Linear(1, 16)
            with torch.no_grad():
                for p in self.parameters():
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)

        def forward(self, x, t):
            tt = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(1, 1) / 1000.0
            h = torch.nn.functional.silu(self.c1(x) + self.temb(tt).reshape(1, -1, 1, 1))
            return self.c2(h)

    return Net().eval()


def alphas_cumprod(n=1000):
    betas = torch.linspace(1e-4, 0.02, n, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, 0).to(torch.float32)


def ddim_timesteps(steps, n=1000):
    return list(range(n - 1, -1, -(n // steps)))[:steps]


def ddim(net, x, steps, callback=None):
    """DDIM sampling (eta 0); callback(i, t, x) after each step."""
    abar = alphas_cumprod()
    ts = ddim_timesteps(steps)
    with torch.no_grad():
        for i, t in enumerate(ts):
            prev = ts[i + 1] if i + 1 < len(ts) else -1
            a_t = abar[t].to(x.device)
            a_p = (abar[prev] if prev >= 0 else torch.tensor(1.0)).to(x.device)
            eps = net(x, t)
            x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
            x = a_p.sqrt() * x0 + (1 - a_p).sqrt() * eps
            if callback is not None:
                x = callback(i, torch.tensor(t), x)
    return x


def euler(net, x, steps, callback=None):
    """Euler sampling in sigma space (x starts as noise * sigma_max)."""
    abar = alphas_cumprod()
    sig = ((1 - abar) / abar).sqrt()
    ts = ddim_timesteps(steps)
    sigmas = [float(sig[t]) for t in ts] + [0.0]
    with torch.no_grad():
        for i, t in enumerate(ts):
            s, s_next = sigmas[i], sigmas[i + 1]
            c_in = 1.0 / (s * s + 1) ** 0.5
            eps = net(x * c_in, t)
            x = x + (s_next - s) * eps  # d = (x - denoised) / sigma = eps
            if callback is not None:
                x = callback(i, torch.tensor(t), x)
    return x


def to_pil(x):
    """The first 3 channels of a latent as an 8-bit RGB PIL image."""
    from PIL import Image
    a = x[0, :3].clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(a), "RGB")
