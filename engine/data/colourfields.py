"""Colour fields: the unrelated source task of Hour 8 (smooth random colour patterns, no strokes, no shapes).

Each class is a fixed 4x4 grid of random colours blown up to the image size; each sample is that pattern
rolled a few pixels with pixel noise. glyphnet_unrelated (engine.models.unrelated) is pretrained on it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

N_CLASSES = 100  # colour-field classes of the unrelated source task
GRID = 4  # each class pattern is a GRID x GRID grid of random colours, smoothly upsampled
NOISE = 0.15  # pixel noise std on each sample
MAX_SHIFT = 4  # pixels a sample's pattern is rolled by, each axis


def colour_fields(n_per_class: int, generator: torch.Generator, size: int = 32, noise: float = NOISE,
                  max_shift: int = MAX_SHIFT) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, size, size) images in [0, 1] and labels (N,): shifted, noisy copies of each class's pattern."""
    protos = torch.rand(N_CLASSES, 3, GRID, GRID, generator=generator)
    protos = F.interpolate(protos, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)  # (K, 3, H, W)
    y = torch.arange(N_CLASSES).repeat_interleave(n_per_class)
    x = protos[y].clone()
    shifts = torch.randint(-max_shift, max_shift + 1, (len(y), 2), generator=generator)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        x[i] = torch.roll(x[i], shifts=(dy, dx), dims=(1, 2))
    x = (x + noise * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    return x, y
