"""Domain shift on a dial: 0 = the source's look, 1 = far (texture, blur, tint, inversion, rotation).

Each effect has a window on the dial where it ramps from off to full, so turning the dial
adds one effect after another. Pick a subset with `kinds` and each one ramps over the whole dial.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# effect -> (dial where it starts, dial where it is full)
WINDOWS = {
    "rotation": (0.0, 1.0),
    "tint": (0.0, 0.5),
    "texture": (0.2, 0.7),
    "blur": (0.3, 1.0),
    "invert": (0.5, 1.0),
}
KINDS = tuple(WINDOWS)
EXTRA_ROTATION_DEG = 75.0  # rotation range added at full shift, on top of the source's 15 degrees
TINT = torch.tensor([1.0, 0.55, 0.15])  # amber strokes at full tint
TEXTURE_AMPLITUDE = 0.55
BLUR_SIGMA = 1.3  # pixels at full blur


def strengths(amount: float, kinds: tuple[str, ...] = KINDS) -> dict[str, float]:
    """How strong each effect is at this dial position, each in [0, 1]."""
    unknown = [k for k in kinds if k not in WINDOWS]
    if unknown:
        raise ValueError(f"unknown domain shift {unknown[0]!r}; known: {', '.join(KINDS)}")
    out = {}
    for k in KINDS:
        if k not in kinds:
            out[k] = 0.0
            continue
        lo, hi = WINDOWS[k] if set(kinds) == set(KINDS) else (0.0, 1.0)
        out[k] = min(1.0, max(0.0, (amount - lo) / (hi - lo)))
    return out


def extra_rotation(amount: float, kinds: tuple[str, ...] = KINDS) -> float:
    """Degrees of rotation range the renderer adds at this dial position."""
    return EXTRA_ROTATION_DEG * strengths(amount, kinds)["rotation"]


def apply_shift(x: torch.Tensor, amount: float, generator: torch.Generator, kinds: tuple[str, ...] = KINDS) -> torch.Tensor:
    """(N, 1, H, W) grey glyphs in [0, 1] -> (N, 3, H, W) shifted colour images in [0, 1]."""
    s = strengths(amount, kinds)
    n, _, h, w = x.shape
    if s["texture"] > 0:
        x = 1 - (1 - x) * (1 - s["texture"] * _texture(n, h, w, generator))  # screen blend
    if s["blur"] > 0:
        x = _blur(x, BLUR_SIGMA * s["blur"])
    x = x.expand(n, 3, h, w)
    if s["tint"] > 0:
        colour = 1 + s["tint"] * (TINT - 1)  # white -> amber
        x = x * colour.view(1, 3, 1, 1)
    if s["invert"] > 0:  # a fraction s of the images flips (a half-way blend would be flat grey)
        flip = (torch.rand(n, generator=generator) < s["invert"]).view(n, 1, 1, 1)
        x = torch.where(flip, 1 - x, x)
    return x.contiguous().clamp(0, 1)


def _texture(n: int, h: int, w: int, generator: torch.Generator) -> torch.Tensor:
    """A random diagonal grating per image, (N, 1, H, W) in [0, TEXTURE_AMPLITUDE]."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    theta = torch.rand(n, generator=generator) * math.pi
    phase = torch.rand(n, generator=generator) * 2 * math.pi
    freq = 2 * math.pi / 5.0  # one stripe every 5 pixels: stroke-sized, so it really confuses
    proj = xx.view(1, h, w) * torch.cos(theta).view(-1, 1, 1) + yy.view(1, h, w) * torch.sin(theta).view(-1, 1, 1)
    return (TEXTURE_AMPLITUDE * 0.5 * (1 + torch.sin(freq * proj + phase.view(-1, 1, 1)))).unsqueeze(1)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(2 * sigma))
    k = torch.exp(-(torch.arange(-radius, radius + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
