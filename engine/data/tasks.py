"""Tasks: the target's train/val/test splits and the held-out source split, as in-memory tensors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

import engine.data.glyphs as glyphs
import engine.data.shift as shift
from engine.core.config import ConfigError, TrainConfig

N_SOURCE_CLASSES = 200  # glyph classes the shipped backbone was pretrained on
TARGET_CLASS_BASE = 100_000  # target class ids start here: never seen in pretraining
VAL_PER_CLASS = 10
TEST_PER_CLASS = 30
SOURCE_HOLDOUT_PER_CLASS = 3  # held out of pretraining: 600 images, the shipped backbone's source accuracy
FORGETTING_PER_CLASS = 1  # the forgetting meter reads the first of those per class (200 images) at every evaluation
TARGET_NAMES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class Split:
    """Images (N, 3, H, W) float32, ready for the model, and labels (N,) int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class Task:
    """A target task and what the lessons show about it."""

    name: str
    classes: list[str]
    train: Split
    val: Split
    test: Split
    source: Split | None = None  # held-out source-task images for the forgetting meter
    to_display: Callable[[torch.Tensor], torch.Tensor] = lambda x: x  # model input -> [0, 1] RGB
    warnings: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


# A dataset loader takes (config, name-after-the-colon) and returns a Task. engine.data.realdata adds more.
DATASETS: dict[str, Callable[[TrainConfig, str], Task]] = {}


def register_dataset(name: str):
    def deco(fn):
        DATASETS[name] = fn
        return fn

    return deco


def load_task(config: TrainConfig) -> Task:
    """The task a config asks for; an unknown dataset is an error naming the known ones."""
    kind, _, arg = config.dataset.partition(":")
    if kind not in DATASETS:  # datasets register themselves when engine.data is imported
        raise ConfigError(f"unknown dataset {config.dataset!r}; known: {', '.join(sorted(DATASETS))} (folder takes folder:PATH).")
    return DATASETS[kind](config, arg)


_cache: dict[tuple, Split] = {}
_lock = threading.Lock()


def _glyph_split(class_ids: list[int], per_class: int, stream: int, amount: float, size: int) -> Split:
    """Render `per_class` samples of each class; cached, since runs of a class reuse them."""
    key = (tuple(class_ids), per_class, stream, round(amount, 4), size)
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    g = torch.Generator().manual_seed(stream)
    ids = torch.tensor(class_ids).repeat_interleave(per_class)
    grey = glyphs.render(ids, g, size=size, rotation_deg=glyphs.SOURCE_ROTATION_DEG + shift.extra_rotation(amount))
    x = shift.apply_shift(grey, amount, g)
    y = torch.arange(len(class_ids)).repeat_interleave(per_class)
    split = Split(x, y)
    with _lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = split
    return split


def source_split(per_class: int, stream: int, size: int = 32, n_classes: int = N_SOURCE_CLASSES) -> Split:
    """Samples of the source task (the pretraining classes), unshifted."""
    return _glyph_split(list(range(n_classes)), per_class, stream, 0.0, size)


def forgetting_split(size: int = 32) -> Split:
    """The forgetting meter's images: the first FORGETTING_PER_CLASS of each class's held-out source images
    (a subset of the split the shipped backbone's source accuracy was measured on)."""
    key = ("forgetting", size)
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    full = source_split(SOURCE_HOLDOUT_PER_CLASS, 4, size)
    keep = (torch.arange(len(full)) % SOURCE_HOLDOUT_PER_CLASS) < FORGETTING_PER_CLASS
    split = Split(full.x[keep].contiguous(), full.y[keep].contiguous())
    with _lock:
        _cache[key] = split
    return split


def target_class_ids(n_classes: int) -> list[int]:
    return [TARGET_CLASS_BASE + k for k in range(n_classes)]


@register_dataset("glyphs")
def glyph_task(config: TrainConfig, _arg: str = "") -> Task:
    """New glyph classes, `shots` labels each; val and test are the same for every seed."""
    if config.n_classes > len(TARGET_NAMES):
        raise ConfigError(f"the glyph target has at most {len(TARGET_NAMES)} classes (got {config.n_classes}).")
    ids = target_class_ids(config.n_classes)
    amount, size = config.domain_shift, config.image_size
    task = Task(
        name=f"glyphs ({config.n_classes} new classes, shift {amount:g})",
        classes=[f"glyph {TARGET_NAMES[k]}" for k in range(config.n_classes)],
        train=_glyph_split(ids, config.shots, 1_000 + config.seed, amount, size),
        val=_glyph_split(ids, VAL_PER_CLASS, 2, amount, size),
        test=_glyph_split(ids, TEST_PER_CLASS, 3, amount, size),
        source=forgetting_split(size),
    )
    return task


def sample_grid(amounts: list[float], per_class: int = 1, n_classes: int = 6, size: int = 32) -> dict[float, torch.Tensor]:
    """Target samples at each dial position (same strokes, only the look changes): {amount: (N,3,H,W)}."""
    return {a: _glyph_split(target_class_ids(n_classes), per_class, 5, a, size).x for a in amounts}
