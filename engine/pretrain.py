"""The recipe that made assets/glyphnet.pt: pretrain glyphnet on the 200-class glyph source task.

`python -m engine pretrain` rebuilds the shipped file bit-for-bit on a CPU (same seed, same
thread count), in a few minutes on two cores.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine import data, models


@dataclass
class PretrainRecipe:
    seed: int = 0  # init and batch order
    per_class: int = 100  # training samples per source class (20,000 images)
    steps: int = 1800  # Adam steps
    batch_size: int = 128
    lr: float = 2e-3  # peak LR of a one-cycle schedule
    weight_decay: float = 1e-4
    threads: int = 2  # fixed so the result is bit-for-bit the same on any CPU machine's run
    sample_stream: int = 7  # glyph render stream for the training samples (holdout uses 4)


def pretrain(recipe: PretrainRecipe | None = None, out: Path | None = models.GLYPHNET_FILE, log=print) -> dict:
    """Train, evaluate on the held-out source split, write the state dict, checksum and card."""
    recipe = recipe or PretrainRecipe()
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(recipe.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _pretrain(recipe, out, log)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _pretrain(recipe: PretrainRecipe, out: Path | None, log) -> dict:
    t0 = time.time()
    train = data.source_split(recipe.per_class, recipe.sample_stream)
    holdout = data.source_split(data.SOURCE_HOLDOUT_PER_CLASS, 4)
    log(f"rendered {len(train)} training images in {time.time() - t0:.1f}s")

    g = torch.Generator().manual_seed(recipe.seed)
    groups, dim = models.glyphnet_groups()
    model = models.TransferNet(groups, dim, nn.Linear(dim, data.N_SOURCE_CLASSES))
    models.init_weights(model, g)
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
        if step % 200 == 0 or step == recipe.steps - 1:
            log(f"step {step:5d}  loss {loss.item():.3f}  {time.time() - t0:.0f}s")
    acc = evaluate(model, holdout)
    card = {
        "source_accuracy": round(acc, 4),
        "source_classes": data.N_SOURCE_CLASSES,
        "holdout_images": len(holdout),
        "seconds": round(time.time() - t0, 1),
        "recipe": asdict(recipe),
        "torch": torch.__version__,
    }
    log(f"source-task accuracy on {len(holdout)} held-out images: {acc:.3f}")
    if out is not None:
        write_checkpoint(model, out, card, log)
    return card


def write_checkpoint(model: nn.Module, out: Path, card: dict, log=print) -> None:
    """Save a shipped backbone: the state dict, its sha256 file and its card (adds card['sha256'])."""
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    card["sha256"] = models.file_sha256(out)
    out.with_suffix(".sha256").write_text(f"{card['sha256']}  {out.name}\n")
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    log(f"wrote {out.name} ({out.stat().st_size / 1e6:.2f} MB), sha256 {card['sha256'][:16]}...")


@torch.no_grad()
def evaluate(model: nn.Module, split: data.Split, batch: int = 500) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(split), batch):
        correct += (model(split.x[i : i + batch]).argmax(1) == split.y[i : i + batch]).sum().item()
    model.train()
    return correct / len(split)
