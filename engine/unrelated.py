"""glyphnet_unrelated: glyphnet's architecture pretrained on a task that has nothing to do with glyphs.

Hour 8 needs a source that is *not* related to the target. This backbone is the same small CNN
as glyphnet, but pretrained on "colour fields": each class is a fixed, smooth random colour
pattern (a 4x4 grid of random colours, blown up to the image size), and each sample is that
pattern shifted a little with pixel noise. No strokes, no shapes, grey-on-black never appears:
a different domain and a different task. Its weights are genuinely trained (not random), so
whatever it does to a glyph target is transfer from an unrelated source.

`python -m engine.unrelated` rebuilds assets/glyphnet_unrelated.pt (about a minute on 2 cores).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine import models
from engine.config import ConfigError

UNRELATED_FILE = models.ASSETS / "glyphnet_unrelated.pt"
UNRELATED_SHA256_FILE = models.ASSETS / "glyphnet_unrelated.sha256"
N_CLASSES = 100  # colour-field classes of the unrelated source task
GRID = 4  # each class pattern is a GRID x GRID grid of random colours, smoothly upsampled


@dataclass
class UnrelatedRecipe:
    seed: int = 0  # class patterns, init and batch order
    per_class: int = 60  # training samples per class (6,000 images)
    steps: int = 500  # AdamW steps
    batch_size: int = 64
    lr: float = 2e-3  # peak LR of a one-cycle schedule
    weight_decay: float = 1e-4
    noise: float = 0.15  # pixel noise std on each sample
    max_shift: int = 4  # pixels a sample's pattern is rolled by, each axis
    threads: int = 1  # fixed so the file is the same bit-for-bit on any CPU


def colour_fields(n_per_class: int, generator: torch.Generator, size: int = 32, recipe: UnrelatedRecipe | None = None):
    """(N, 3, size, size) images in [0, 1] and labels (N,): shifted, noisy copies of each class's pattern."""
    recipe = recipe or UnrelatedRecipe()
    protos = torch.rand(N_CLASSES, 3, GRID, GRID, generator=generator)
    protos = F.interpolate(protos, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)  # (K, 3, H, W)
    y = torch.arange(N_CLASSES).repeat_interleave(n_per_class)
    x = protos[y].clone()
    shifts = torch.randint(-recipe.max_shift, recipe.max_shift + 1, (len(y), 2), generator=generator)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        x[i] = torch.roll(x[i], shifts=(dy, dx), dims=(1, 2))
    x = (x + recipe.noise * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    return x, y


def pretrain_unrelated(recipe: UnrelatedRecipe | None = None, out: Path | None = UNRELATED_FILE, log=print) -> dict:
    """Train glyphnet on colour fields, report held-out accuracy, write state dict + checksum + card."""
    recipe = recipe or UnrelatedRecipe()
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(recipe.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _pretrain(recipe, out, log)
    finally:  # leave the process as it was (tests and the app share it)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _pretrain(recipe: UnrelatedRecipe, out: Path | None, log) -> dict:
    t0 = time.time()
    g = torch.Generator().manual_seed(recipe.seed)
    x, y = colour_fields(recipe.per_class + 5, g, recipe=recipe)
    hold = torch.arange(len(y)) % (recipe.per_class + 5) >= recipe.per_class  # last 5 of each class held out
    train_x, train_y, hold_x, hold_y = x[~hold], y[~hold], x[hold], y[hold]
    groups, dim = models.glyphnet_groups()
    model = models.TransferNet(groups, dim, nn.Linear(dim, N_CLASSES))
    models.init_weights(model, g)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.steps)
    model.train()
    for step in range(recipe.steps):
        idx = torch.randint(0, len(train_y), (recipe.batch_size,), generator=g)
        loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == recipe.steps - 1:
            log(f"step {step:4d}  loss {loss.item():.3f}  {time.time() - t0:.0f}s")
    model.eval()
    with torch.no_grad():
        acc = float((model(hold_x).argmax(1) == hold_y).float().mean())
    card = {
        "task": "colour fields (unrelated to glyphs)",
        "source_accuracy": round(acc, 4),
        "source_classes": N_CLASSES,
        "holdout_images": len(hold_y),
        "seconds": round(time.time() - t0, 1),
        "recipe": asdict(recipe),
        "torch": torch.__version__,
    }
    log(f"colour-field accuracy on {len(hold_y)} held-out images: {acc:.3f}")
    if out is not None:
        from engine.pretrain import write_checkpoint

        write_checkpoint(model, out, card, log)
    return card


def load_unrelated(model: models.TransferNet, weights: str) -> nn.Module | None:
    """Load the shipped unrelated checkpoint (checksum checked, weights_only). No source head is
    returned: the forgetting meter measures the glyph source task, which this backbone never learnt."""
    rebuild = "rebuild it with `python -m engine.unrelated`"
    if not UNRELATED_FILE.exists():
        raise ConfigError(f"the unrelated backbone {UNRELATED_FILE.name} is missing from assets/: {rebuild}.")
    if UNRELATED_SHA256_FILE.exists():
        expected = UNRELATED_SHA256_FILE.read_text().split()[0]
        if models.file_sha256(UNRELATED_FILE) != expected:
            raise ConfigError(f"assets/{UNRELATED_FILE.name} does not match its checksum (the file is corrupt or changed): {rebuild}.")
    state = torch.load(UNRELATED_FILE, map_location="cpu", weights_only=True)
    model.head = nn.Linear(state["head.weight"].shape[1], state["head.weight"].shape[0])
    model.load_state_dict(state)
    return None


models.register(
    models.BackboneSpec(
        name="glyphnet_unrelated",
        build=models.glyphnet_groups,
        weights=("pretrained",),
        image_size=32,
        description="glyphnet's CNN pretrained on 100 classes of smooth colour fields: a source unrelated to glyphs",
        load_pretrained=load_unrelated,
        source_classes=N_CLASSES,
    )
)


if __name__ == "__main__":
    pretrain_unrelated()
