"""The recipes that made the shipped backbones, on one pretraining loop.

`python -m engine pretrain` rebuilds assets/glyphnet.pt (glyphnet on the 200-class glyph source task, a few
minutes on two cores); `python -m engine pretrain unrelated` rebuilds assets/glyphnet_unrelated.pt (the same
network on colour fields, about a minute). Both are bit-for-bit repeatable on a CPU (same seed, same thread
count) and each writes its state dict, checksum and card (engine.models.checkpoints.write_checkpoint).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.core.config import ConfigError
from engine.data import colourfields, glyphs
from engine.data import tasks as data
from engine.models.checkpoints import write_checkpoint
from engine.models.glyphnet import GLYPHNET_FILE, glyphnet_groups
from engine.models.registry import TransferNet, init_weights
from engine.models.unrelated import UNRELATED_FILE


@dataclass
class PretrainRecipe:
    """glyphnet on the glyph source task: the N_SOURCE_CLASSES glyph classes the lessons' forgetting meter reads,
    and `character_classes` character-like classes beside them (engine.data.glyphs.character_prototype), each
    sample drawn in one of `styles` in turn. The defaults are the source the lessons' backbone had before (200
    classes in the plain look, GLYPHS_ONLY); SHIPPED is the recipe of the backbone in assets/."""

    seed: int = 0  # init and batch order
    per_class: int = 100  # training samples per source class (20,000 images)
    steps: int = 1800  # Adam steps
    batch_size: int = 128
    lr: float = 2e-3  # peak LR of a one-cycle schedule
    weight_decay: float = 1e-4
    threads: int = 2  # fixed so the result is bit-for-bit the same on any CPU machine's run
    sample_stream: int = 7  # glyph render stream for the training samples (holdout uses 4)
    character_classes: int = 0  # character-like classes after the glyph classes (labels 200, 201, ...)
    styles: tuple[str, ...] = ("plain",)  # glyph styles (engine.data.glyphs.STYLES), taken in turn per sample


# The shipped backbone's recipe (assets/glyphnet.pt): the 200 glyph classes the lessons' forgetting meter reads and
# 800 character-like classes beside them, every other sample drawn by hand (pen pressure, bends, slant, scan blur
# and sampling), 160 images a class (160,000), 4,000 steps on one thread (~13 min on a laptop-class CPU). Chosen on
# real handwriting (`python -m engine realcheck`, BENCHMARKS.md): its frozen features beat training from scratch on
# the digits (the earlier 200-class plain source, GLYPHS_ONLY, fell 3 points below), and fine-tuning with the
# course's recipe gains over 3 points; 40 images a class (the source shipped before) gave +3.0 and +1.9.
SHIPPED = PretrainRecipe(per_class=160, steps=4000, threads=1, character_classes=800, styles=("plain", "hand"))
GLYPHS_ONLY = PretrainRecipe()  # the backbone the lessons had before: 200 glyph classes, plain look, 1,800 steps
RECIPES = {"shipped": lambda: replace(SHIPPED), "glyphs": lambda: replace(GLYPHS_ONLY)}  # copies: --steps changes one


@dataclass
class UnrelatedRecipe:
    """glyphnet's architecture on colour fields (engine.data.colourfields), the unrelated source of Hour 8."""

    seed: int = 0  # class patterns, init and batch order
    per_class: int = 60  # training samples per class (6,000 images)
    steps: int = 500  # AdamW steps
    batch_size: int = 64
    lr: float = 2e-3  # peak LR of a one-cycle schedule
    weight_decay: float = 1e-4
    noise: float = colourfields.NOISE  # pixel noise std on each sample
    max_shift: int = colourfields.MAX_SHIFT  # pixels a sample's pattern is rolled by, each axis
    threads: int = 1  # fixed so the file is the same bit-for-bit on any CPU


def pretrain(recipe: PretrainRecipe | None = None, out: Path | None = GLYPHNET_FILE, log=print) -> dict:
    """glyphnet on the glyph source task: train, score the held-out source split, write the checkpoint.

    The card's source_accuracy is measured on the held-out images of the N_SOURCE_CLASSES glyph classes in the plain
    look (the split the forgetting meter reads the first image of each class from), among those classes' outputs
    only, as the meter scores them (engine.train.trainer.Trainer.source_accuracy);
    with a wider source the card adds wider_source_accuracy, on held-out images of every class in the recipe's styles."""
    recipe = recipe or replace(SHIPPED)
    bad = [s for s in recipe.styles if s not in glyphs.STYLES]
    if bad or not recipe.styles:
        said = f"unknown glyph style {bad[0]!r}" if bad else "no glyph style given"
        raise ConfigError(f"{said}; choose one of: {', '.join(glyphs.STYLES)}.")
    if recipe.character_classes < 0:
        raise ConfigError("character_classes must be 0 or more.")
    wider = recipe.character_classes > 0 or tuple(recipe.styles) != ("plain",)
    n_classes = data.N_SOURCE_CLASSES + recipe.character_classes

    def make(log):
        t0 = time.time()
        train = pretrain_split(recipe, recipe.per_class, recipe.sample_stream)  # the old source bit for bit when not wider
        log(f"rendered {len(train)} training images of {n_classes} classes in {time.time() - t0:.1f}s")
        return train, data.source_split(data.SOURCE_HOLDOUT_PER_CLASS, 4), torch.Generator().manual_seed(recipe.seed)

    extra = (lambda model: {"wider_source_accuracy": round(evaluate(model, pretrain_split(
        recipe, data.SOURCE_HOLDOUT_PER_CLASS, 4)), 4)}) if wider else None
    return _run(recipe, make, n_classes, {}, 200, out, log, "source-task", extra, scored=data.N_SOURCE_CLASSES)


def pretrain_split(recipe: PretrainRecipe, per_class: int, stream: int, size: int = 32) -> data.Split:
    """`per_class` samples of every class of the recipe's source (the glyph classes, then its character-like
    ones), sample i of a class drawn in style styles[i % len(styles)], unshifted grey images as 3 channels (not
    cached: pretraining draws them once)."""
    ids = list(range(data.N_SOURCE_CLASSES)) + [glyphs.CHARACTER_CLASS_BASE + k for k in range(recipe.character_classes)]
    labels = torch.arange(len(ids)).repeat_interleave(per_class)
    class_ids = torch.tensor(ids).repeat_interleave(per_class)
    sample = torch.arange(per_class).repeat(len(ids))
    g = torch.Generator().manual_seed(stream)
    x = torch.empty(len(labels), 1, size, size)
    for k, style in enumerate(recipe.styles):
        pick = (sample % len(recipe.styles) == k).nonzero().flatten()
        x[pick] = glyphs.render(class_ids[pick], g, size=size, rotation_deg=glyphs.SOURCE_ROTATION_DEG, style=style)
    return data.Split(x.expand(-1, 3, -1, -1).contiguous(), labels)


def pretrain_unrelated(recipe: UnrelatedRecipe | None = None, out: Path | None = UNRELATED_FILE, log=print) -> dict:
    """glyphnet on colour fields: train, score the last 5 of each class held out, write the checkpoint."""
    recipe = recipe or UnrelatedRecipe()

    def make(log):
        g = torch.Generator().manual_seed(recipe.seed)
        x, y = colourfields.colour_fields(recipe.per_class + 5, g, noise=recipe.noise, max_shift=recipe.max_shift)
        hold = torch.arange(len(y)) % (recipe.per_class + 5) >= recipe.per_class  # last 5 of each class held out
        return data.Split(x[~hold], y[~hold]), data.Split(x[hold], y[hold]), g

    card = {"task": "colour fields (unrelated to glyphs)"}
    return _run(recipe, make, colourfields.N_CLASSES, card, 100, out, log, "colour-field")


def _run(recipe, make, n_classes: int, card: dict, log_every: int, out: Path | None, log, what: str, extra=None,
         scored: int | None = None) -> dict:
    """Pin the thread count and deterministic algorithms for the recipe, then restore them (tests and the app
    share the process). The card's accuracy reads the head's first `scored` outputs (None: all of them)."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(recipe.threads)
    torch.use_deterministic_algorithms(True)
    try:
        t0 = time.time()
        train, holdout, g = make(log)
        model = fit_source(train, n_classes, recipe, g, log_every, log)
        acc = evaluate(model, holdout, classes=scored)
        card = {**card, "source_accuracy": round(acc, 4), "source_classes": n_classes, "holdout_images": len(holdout),
                **(extra(model) if extra else {}),
                "seconds": round(time.time() - t0, 1), "recipe": asdict(recipe), "torch": torch.__version__}
        log(f"{what} accuracy on {len(holdout)} held-out images: {acc:.3f}")
        if out is not None:
            write_checkpoint(model, out, card, log)
        return card
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def fit_source(train: data.Split, n_classes: int, recipe, g: torch.Generator, log_every: int = 200, log=print) -> TransferNet:
    """The one pretraining loop: glyphnet with a source head, AdamW with a one-cycle LR, random batches from `g`."""
    t0 = time.time()
    groups, dim = glyphnet_groups()
    model = TransferNet(groups, dim, nn.Linear(dim, n_classes))
    init_weights(model, g)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.steps)
    model.train()
    for step in range(recipe.steps):
        idx = torch.randint(0, len(train), (recipe.batch_size,), generator=g)
        loss = F.cross_entropy(model(train.x[idx]), train.y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == recipe.steps - 1:
            log(f"step {step:5d}  loss {loss.item():.3f}  {time.time() - t0:.0f}s")
    return model


@torch.no_grad()
def evaluate(model: nn.Module, split: data.Split, batch: int = 500, classes: int | None = None) -> float:
    """Accuracy on `split`, among the head's first `classes` outputs (None: all)."""
    model.eval()
    correct = 0
    for i in range(0, len(split), batch):
        correct += (model(split.x[i : i + batch])[:, :classes].argmax(1) == split.y[i : i + batch]).sum().item()
    model.train()
    return correct / len(split)
