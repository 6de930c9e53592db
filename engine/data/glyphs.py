"""The glyph world: procedural classes of strokes, rendered with jitter, deterministic from a seed.

Each class is a prototype of 2-4 random quadratic strokes. A sample is that prototype with its
control points jittered, then rotated, scaled, shifted and drawn with a random stroke width and
pixel noise. Rendering is a vectorised distance-to-segment field, thousands of images a second.

`style="hand"` draws the same prototypes as if written by hand and scanned: each sample has its own writer
(slant, letter width, pen width), its strokes bend smoothly, the pen's pressure thickens and darkens the middle
of a stroke and thins where it lands and lifts, and a scanner blurs, samples the page on a coarse grid, adds
sensor noise and quantises the grey levels before the image is brought back to `size`. The default,
`style="plain"`, is the original look, drawn bit for bit as before.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

WORLD_SEED = 20261125  # fixes every class prototype; changing it makes a different world
MAX_STROKES = 4
JITTER = 0.15  # std of the control-point jitter: how different two samples of a class look
NOISE = 0.05  # pixel noise std
SOURCE_ROTATION_DEG = 25.0  # rotation range of the source look
POINTS_PER_STROKE = 5  # each quadratic stroke is drawn as 4 straight segments
STYLES = ("plain", "hand")
CHARACTER_CLASS_BASE = 1_000_000  # ids from here on are character-like classes (the backbone's wider pretraining)
CHARACTER_BOX = (0.5, 0.7)  # half-width and half-height of a character's box: taller than wide
CHARACTER_PEN_LIFT = 0.25  # chance that a stroke starts anew instead of where the pen stopped

# style="hand": the writer, the pen and the scanner (lengths in the [-1, 1] frame unless said otherwise)
HAND_POINTS_PER_STROKE = 9  # 8 segments per stroke, so a bend stays smooth
HAND_BEND = 0.07  # std of the smooth sideways bend of a stroke (its first two sine modes)
HAND_SLANT = 0.35  # shear range of a writer's slant, each way
HAND_ASPECT = (0.8, 1.1)  # a writer's letter width, relative to its height
HAND_WIDTH = (0.06, 0.14)  # a writer's pen half-width at full pressure
HAND_PRESSURE_ENDS = (0.35, 1.0)  # pressure where the pen lands and lifts (1 = full)
HAND_PRESSURE_HUMP = 0.5  # up to this much more pressure mid-stroke
HAND_INK = 0.55  # ink darkness at zero pressure; full pressure is 1
HAND_BLUR_PX = (0.2, 0.9)  # the scanner's optical blur, Gaussian sigma in pixels of a 32-pixel image
HAND_SCAN_GRIDS = (10, 11, 12, 14, 16, 20, 24, 32)  # the page is sampled on a grid this many cells across (for size 32)
HAND_LEVELS = 16  # grey levels the scan is quantised to (rounded down)


def class_prototype(class_id: int) -> torch.Tensor:
    """Control points of class `class_id`: (MAX_STROKES, 3, 2) in [-0.75, 0.75]^2. Ids from CHARACTER_CLASS_BASE
    on are character-like (character_prototype); below it, 2-4 strokes placed independently (a scribble)."""
    if class_id >= CHARACTER_CLASS_BASE:
        return character_prototype(class_id)
    g = torch.Generator().manual_seed(WORLD_SEED * 1_000_003 + class_id)
    n = int(torch.randint(2, MAX_STROKES + 1, (1,), generator=g))
    pts = torch.rand(MAX_STROKES, 3, 2, generator=g) * 1.5 - 0.75
    # Pad with copies of the first strokes: a repeated segment does not change the drawing.
    return torch.cat([pts[:n], pts[:n].repeat(MAX_STROKES, 1, 1)])[:MAX_STROKES]


def character_prototype(class_id: int) -> torch.Tensor:
    """A character-like class: 2-4 quadratic strokes written mostly as one pen path (each stroke starts where the
    last one ended, unless the pen lifts, with chance CHARACTER_PEN_LIFT) inside a box taller than it is wide, as
    letters and digits are. (MAX_STROKES, 3, 2); the renderer draws it like any class, in either style."""
    g = torch.Generator().manual_seed(WORLD_SEED * 1_000_003 + class_id)
    n = int(torch.randint(2, MAX_STROKES + 1, (1,), generator=g))
    pts = torch.rand(MAX_STROKES, 3, 2, generator=g) * 2 - 1
    pts = pts * torch.tensor(CHARACTER_BOX)
    lift = torch.rand(MAX_STROKES, generator=g) < CHARACTER_PEN_LIFT
    for s in range(1, MAX_STROKES):
        if not lift[s]:
            pts[s, 0] = pts[s - 1, 2]
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
    style: str = "plain",
) -> torch.Tensor:
    """Draw one sample per entry of `class_ids` (N,): returns (N, 1, size, size) in [0, 1].

    style: "plain" (the default look) or "hand" (written by hand and scanned: see the module's docstring)."""
    if style not in STYLES:
        raise ValueError(f"unknown glyph style {style!r}; known: {', '.join(STYLES)}")
    jitter = JITTER if jitter is None else jitter
    noise = NOISE if noise is None else noise
    n = class_ids.shape[0]
    protos = torch.stack([_prototype_cached(int(c)) for c in class_ids]) if n else torch.zeros(0, MAX_STROKES, 3, 2)
    if style == "hand":
        return _render_hand(protos, generator, size, rotation_deg, jitter, noise)
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


def _render_hand(protos: torch.Tensor, g: torch.Generator, size: int, rotation_deg: float, jitter: float,
                 noise: float) -> torch.Tensor:
    """style="hand": (N, MAX_STROKES, 3, 2) prototypes -> (N, 1, size, size) in [0, 1]."""
    n, s_ = protos.shape[0], MAX_STROKES
    if n == 0:
        return torch.zeros(0, 1, size, size)
    ctrl = protos + jitter * torch.randn(protos.shape, generator=g)
    # the writer: slant (a shear), letter width, pen width; then the same pose as the plain look
    slant = (torch.rand(n, generator=g) * 2 - 1) * HAND_SLANT
    aspect = HAND_ASPECT[0] + (HAND_ASPECT[1] - HAND_ASPECT[0]) * torch.rand(n, generator=g)
    pen = HAND_WIDTH[0] + (HAND_WIDTH[1] - HAND_WIDTH[0]) * torch.rand(n, generator=g)
    angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(rotation_deg)
    scale = 0.85 + 0.25 * torch.rand(n, generator=g)
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * 0.12
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (N, 2, 2)
    writer = torch.zeros(n, 2, 2)
    writer[:, 0, 0], writer[:, 0, 1], writer[:, 1, 1] = aspect, -slant, 1.0  # x' = aspect * x - slant * y (y points down)
    ctrl = torch.einsum("nij,nskj->nski", rot @ writer * scale.view(-1, 1, 1), ctrl) + shift.view(-1, 1, 1, 2)

    # the strokes: quadratic curves, bent sideways by two smooth modes that vanish at the ends
    t = torch.linspace(0, 1, HAND_POINTS_PER_STROKE).view(1, 1, -1, 1)  # (1, 1, T, 1)
    p0, p1, p2 = ctrl[:, :, 0:1], ctrl[:, :, 1:2], ctrl[:, :, 2:3]
    curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2  # (N, S, T, 2)
    tangent = 2 * (1 - t) * (p1 - p0) + 2 * t * (p2 - p1)
    normal = torch.stack([-tangent[..., 1], tangent[..., 0]], -1) / (tangent.norm(dim=-1, keepdim=True) + 1e-6)
    modes = torch.cat([torch.sin(math.pi * t), torch.sin(2 * math.pi * t)], -1)  # (1, 1, T, 2)
    bend = (modes * HAND_BEND * torch.randn(n, s_, 1, 2, generator=g)).sum(-1, keepdim=True)  # (N, S, T, 1)
    curve = curve + bend * normal
    # the pen: pressure from landing to lifting, with a hump mid-stroke; it sets the width and the ink
    lo, hi = HAND_PRESSURE_ENDS
    start = lo + (hi - lo) * torch.rand(n, s_, 1, generator=g)
    end = lo + (hi - lo) * torch.rand(n, s_, 1, generator=g)
    hump = HAND_PRESSURE_HUMP * torch.rand(n, s_, 1, generator=g)
    tt = t.view(1, 1, -1)
    pressure = ((1 - tt) * start + tt * end + hump * torch.sin(math.pi * tt)).clamp(max=1.0)  # (N, S, T)
    width = pen.view(-1, 1, 1) * pressure
    ink = HAND_INK + (1 - HAND_INK) * pressure
    a = curve[:, :, :-1].reshape(n, -1, 2)
    b = curve[:, :, 1:].reshape(n, -1, 2)  # (N, M, 2)
    wa, wb = width[:, :, :-1].reshape(n, -1), width[:, :, 1:].reshape(n, -1)  # (N, M)
    ia, ib = ink[:, :, :-1].reshape(n, -1), ink[:, :, 1:].reshape(n, -1)

    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    pix = torch.stack([xx.flatten(), yy.flatten()], -1)  # (P, 2)
    px = 2.0 / size
    out = torch.empty(n, size * size)
    for i in range(0, n, 128):
        sa, sb = a[i : i + 128], b[i : i + 128]
        ab = sb - sa  # (C, M, 2)
        ap = pix.view(1, 1, -1, 2) - sa.unsqueeze(2)  # (C, M, P, 2)
        u = ((ap * ab.unsqueeze(2)).sum(-1) / (ab.pow(2).sum(-1, keepdim=True) + 1e-8)).clamp(0, 1)  # (C, M, P)
        d = (ap - u.unsqueeze(-1) * ab.unsqueeze(2)).norm(dim=-1)
        w = wa[i : i + 128].unsqueeze(-1) + u * (wb - wa)[i : i + 128].unsqueeze(-1)
        k = ia[i : i + 128].unsqueeze(-1) + u * (ib - ia)[i : i + 128].unsqueeze(-1)
        out[i : i + 128] = (k * ((w - d) / px + 0.5).clamp(0, 1)).amax(1)
    img = out.view(n, 1, size, size)

    # the scanner: optical blur, a coarse sampling grid with sensor noise and few grey levels, back to `size`
    sigma = (HAND_BLUR_PX[0] + (HAND_BLUR_PX[1] - HAND_BLUR_PX[0]) * torch.rand(n, generator=g)) * size / 32
    img = _blur_each(img, sigma)
    grid = torch.tensor(HAND_SCAN_GRIDS)[torch.randint(0, len(HAND_SCAN_GRIDS), (n,), generator=g)]
    grid = (grid.float() * size / 32).round().clamp(4, size).long()
    sensor = torch.randn(n, 1, size, size, generator=g)  # drawn at full size, used on each image's grid
    out_img = torch.empty_like(img)
    for cells in grid.unique().tolist():
        sel = (grid == cells).nonzero().flatten()
        scan = F.interpolate(img[sel], size=(cells, cells), mode="area")
        if noise > 0:
            scan = scan + noise * sensor[sel, :, :cells, :cells]
        scan = (scan.clamp(0, 1) * HAND_LEVELS).floor() / HAND_LEVELS  # faint noise on blank paper reads as 0
        out_img[sel] = scan if cells == size else F.interpolate(scan, size=(size, size), mode="bilinear", align_corners=False)
    return out_img.clamp(0, 1)


def _blur_each(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) blurred with a Gaussian of its own `sigma` (N,) pixels (separable, edges replicated)."""
    n, _, h, w = x.shape
    radius = max(1, math.ceil(2 * float(sigma.max()))) if n else 1
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(r.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
    k = k / k.sum(1, keepdim=True)  # (N, K)
    y = x.view(1, n, h, w)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), k.view(n, 1, 1, -1), groups=n)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), k.view(n, 1, -1, 1), groups=n)
    return y.view(n, 1, h, w)


_PROTOS: dict[int, torch.Tensor] = {}


def _prototype_cached(class_id: int) -> torch.Tensor:
    p = _PROTOS.get(class_id)
    if p is None:
        p = _PROTOS[class_id] = class_prototype(class_id)
    return p
