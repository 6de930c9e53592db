"""Augmentations suited to glyphs: small rotation, shift and scale, plus pixel noise, on a batch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.core.device import to_device

ROTATION_DEG = 15.0
SHIFT = 0.1  # fraction of the image
SCALE = (0.9, 1.1)
NOISE = 0.05


def random_affine_noise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, C, H, W) -> the same batch, each image moved a little; randomness from `generator`."""
    b = x.shape[0]

    def r(*shape: int) -> torch.Tensor:
        return to_device(torch.rand(*shape, generator=generator), x.device)

    angle = (r(b) * 2 - 1) * math.radians(ROTATION_DEG)
    scale = SCALE[0] + (SCALE[1] - SCALE[0]) * r(b)
    shift = (r(b, 2) * 2 - 1) * SHIFT * 2  # affine_grid works in [-1, 1] units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, align_corners=False, padding_mode="border")
    noise = to_device(torch.randn(x.shape, generator=generator), x.device) * NOISE
    # clamp to the batch's own range: [0, 1] for glyphs, the normalised range for ImageNet inputs
    return torch.clamp(out + noise, x.min(), x.max())  # tensor bounds: no wait for a GPU
