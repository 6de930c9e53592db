"""Transfer strategies over layer groups: what trains, at which LR, and how batch norm behaves."""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.core.config import TrainConfig

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# The course's fine-tuning recipe (Hours 3-5), the settings it changes from TrainConfig's defaults: every group
# trains in the end, each group's LR 0.7x the one above it (Hour 4: with glyphnet's 1e-3 head, the stem at
# 0.7^4 = 0.24x), unfrozen one group every 10 steps from the top (block3 joins at step 10, the stem at 40), so the
# new head has settled before the pretrained layers move. Hour 10's grid and `python -m engine realcheck` use it.
COURSE_FINE_TUNE = {"strategy": "finetune", "unfreeze": None, "layer_decay": 0.7, "gradual_unfreeze": 10}


def trainable_body_groups(config: TrainConfig, n_body: int, step: int | None = None) -> int:
    """How many backbone groups (counted down from the head) train at `step`.

    feature = 0; finetune = `unfreeze` (None = all). With gradual unfreezing, one more group
    joins every `gradual_unfreeze` steps, head first, until that target is reached.
    """
    target = 0 if config.strategy == "feature" else (n_body if config.unfreeze is None else min(config.unfreeze, n_body))
    if config.gradual_unfreeze and step is not None:
        return min(target, step // config.gradual_unfreeze)
    return target


def trainable_flags(config: TrainConfig, n_groups: int, step: int | None = None) -> list[bool]:
    """One flag per group, input to output; the head (last) always trains."""
    k = trainable_body_groups(config, n_groups - 1, step)
    return [i >= n_groups - 1 - k for i in range(n_groups)]


def base_lrs(config: TrainConfig, n_groups: int) -> list[float]:
    """Each group's LR before the schedule, input to output.

    lr_range (lo, hi): log-spaced from lo (first group) to hi (head), as discriminative LRs.
    Otherwise layer-wise decay: the head gets `lr`, each group below the one above x `layer_decay`.
    """
    if config.lr_range is not None:
        lo, hi = config.lr_range
        if n_groups == 1:
            return [hi]
        return [math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (n_groups - 1)) for i in range(n_groups)]
    return [config.lr * config.layer_decay ** (n_groups - 1 - i) for i in range(n_groups)]


def set_trainable(groups: list[tuple[str, nn.Module]], flags: list[bool]) -> None:
    for (_, module), on in zip(groups, flags):
        for p in module.parameters():
            p.requires_grad_(on)


def set_train_mode(model: nn.Module, groups: list[tuple[str, nn.Module]], flags: list[bool], bn_mode: str) -> None:
    """model.train(), then batch norm back to eval (fixed statistics) where it must not learn:
    in every frozen group, and everywhere when bn_mode is frozen or reestimate."""
    model.train()
    for (_, module), on in zip(groups, flags):
        if not on or bn_mode != "train":
            for m in module.modules():
                if isinstance(m, BN_TYPES):
                    m.eval()


@torch.no_grad()
def reestimate_bn(model: nn.Module, x: torch.Tensor, batch: int = 256) -> None:
    """Replace every BN layer's running statistics with those of `x` (the target): the average of the
    per-batch statistics, which is the exact mean of `x` when the batches are of equal size."""
    bns = [m for m in model.modules() if isinstance(m, BN_TYPES)]
    saved = [(m.momentum, m.training) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
        m.train()
    was = model.training
    for i in range(0, x.shape[0], batch):
        model(x[i : i + batch])
    for m, (mom, tr) in zip(bns, saved):
        m.momentum = mom
        m.train(tr)
    model.train(was)


def make_optimizer(config: TrainConfig, groups: list[tuple[str, nn.Module]], lrs: list[float],
                   fused: bool = False) -> torch.optim.Optimizer:
    """One torch.optim parameter group per layer group, in the same order.

    fused (for a GPU): SGD, Adam and AdamW update each group in one kernel. With one group per layer group,
    the default (foreach) update launches about five times the kernels of a one-group loop, and a small
    network on a GPU is limited by launches."""
    param_groups = [{"params": list(m.parameters()), "lr": lr, "name": name} for (name, m), lr in zip(groups, lrs)]
    wd = config.weight_decay
    fast = {"fused": True} if fused else {}
    match config.optimizer:
        case "sgd":
            return torch.optim.SGD(param_groups, lr=lrs[-1], weight_decay=wd, **fast)
        case "momentum":
            return torch.optim.SGD(param_groups, lr=lrs[-1], momentum=0.9, weight_decay=wd, **fast)
        case "nesterov":
            return torch.optim.SGD(param_groups, lr=lrs[-1], momentum=0.9, nesterov=True, weight_decay=wd, **fast)
        case "adagrad":
            return torch.optim.Adagrad(param_groups, lr=lrs[-1], weight_decay=wd)
        case "rmsprop":
            return torch.optim.RMSprop(param_groups, lr=lrs[-1], weight_decay=wd)
        case "adam":
            return torch.optim.Adam(param_groups, lr=lrs[-1], weight_decay=wd, **fast)
        case "adamw":
            return torch.optim.AdamW(param_groups, lr=lrs[-1], weight_decay=wd, **fast)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def l2sp_penalty(params: list[nn.Parameter], anchors: list[torch.Tensor]) -> torch.Tensor:
    """sum ||W - W0||^2 over the backbone's trainable weights (L2-SP, Li et al. 2018)."""
    total = torch.zeros((), device=anchors[0].device if anchors else "cpu")
    for p, p0 in zip(params, anchors):
        if p.requires_grad:
            total = total + (p - p0).pow(2).sum()
    return total
