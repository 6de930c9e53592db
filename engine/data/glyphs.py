"""The glyph world: procedural classes of strokes, rendered with jitter, deterministic from a seed.

Each class is a prototype of 2-4 random quadratic strokes. A sample is that prototype with its
control points jittered, then rotated, scaled, shifted and drawn with a random stroke width and
pixel noise. Rendering is a vectorised distance-to-segment field, thousands of images a second.
"""

from __future__ import annotations

import math

import torch

WORLD_SEED = 20261125  # fixes every class prototype; changing it makes a different world
MAX_STROKES = 4
JITTER = 0.15  # std of the control-point jitter: how different two samples of a class look
NOISE = 0.05  # pixel noise std
SOURCE_ROTATION_DEG = 25.0  # rotation range of the source look
POINTS_PER_STROKE = 5  # each quadratic stroke is drawn as 4 straight segments


def class_prototype(class_id: int) -> torch.Tensor:
    """Control points of class `class_id`: (MAX_STROKES, 3, 2) in [-0.75, 0.75]^2."""
    g = torch.Generator().manual_seed(WORLD_SEED * 1_000_003 + class_id)
    n = int(torch.randint(2, MAX_STROKES + 1, (1,), generator=g))
    pts = torch.rand(MAX_STROKES, 3, 2, generator=g) * 1.5 - 0.75
    # Pad with copies of the first strokes: a repeated segment does not change the drawing.
    return torch.cat([pts[:n], pts[:n].repeat(MAX_STROKES, 1, 1)])[:MAX_STROKES]


def _bezier_segments(ctrl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, S, 3, 2) quadratic control points -> segment starts and ends, each (B, S*4, 2)."""
    t = torch.linspace(0, 1, POINTS_PER_STROKE).view(1, 1, -1, 1)  # (1, 1, T, 1)
    p0, p1, p2 = ctrl[:, :, 0:1], ctrl[:, :, 1:2], ctrl[:, :, 2:3]
    curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2  # (B, S, T, 2)
    a = curve[:, :, :-1].reshape(ctrl.shape[0], -1, 2)
    b = curve[:, :, 1:].reshape(ctrl.shape[0], -1, 2)
    return a, b


def render(
    class_ids: torch.Tensor,
    generator: torch.Generator,
    size: int = 32,
    rotation_deg: float = SOURCE_ROTATION_DEG,
    jitter: float | None = None,
    noise: float | None = None,
) -> torch.Tensor:
    """Draw one sample per entry of `class_ids` (N,): returns (N, 1, size, size) in [0, 1]."""
    jitter = JITTER if jitter is None else jitter
    noise = NOISE if noise is None else noise
    n = class_ids.shape[0]
    protos = torch.stack([_prototype_cached(int(c)) for c in class_ids]) if n else torch.zeros(0, MAX_STROKES, 3, 2)
    ctrl = protos + jitter * torch.randn(protos.shape, generator=generator)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(rotation_deg)
    scale = 0.85 + 0.25 * torch.rand(n, generator=generator)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * 0.12
    width = 0.07 + 0.05 * torch.rand(n, generator=generator)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (N, 2, 2)
    ctrl = torch.einsum("nij,nskj->nski", rot * scale.view(-1, 1, 1), ctrl) + shift.view(-1, 1, 1, 2)
    a, b = _bezier_segments(ctrl)  # (N, M, 2)

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    pix = torch.stack([xx.flatten(), yy.flatten()], -1)  # (P, 2)
    out = torch.empty(n, size * size)
    for i in range(0, n, 256):  # chunks keep the (chunk, M, P) field small
        sa, sb = a[i : i + 256], b[i : i + 256]
        ab = sb - sa  # (C, M, 2)
        ap = pix.view(1, 1, -1, 2) - sa.unsqueeze(2)  # (C, M, P, 2)
        t = ((ap * ab.unsqueeze(2)).sum(-1) / (ab.pow(2).sum(-1, keepdim=True) + 1e-8)).clamp(0, 1)
        d = (ap - t.unsqueeze(-1) * ab.unsqueeze(2)).norm(dim=-1).amin(1)  # (C, P)
        px = 2.0 / size
        out[i : i + 256] = ((width[i : i + 256].view(-1, 1) - d) / px + 0.5).clamp(0, 1)
    img = out.view(n, 1, size, size)
    if noise > 0:
        img = (img + noise * torch.randn(img.shape, generator=generator)).clamp(0, 1)
    return img


_PROTOS: dict[int, torch.Tensor] = {}


def _prototype_cached(class_id: int) -> torch.Tensor:
    p = _PROTOS.get(class_id)
    if p is None:
        p = _PROTOS[class_id] = class_prototype(class_id)
    return p
