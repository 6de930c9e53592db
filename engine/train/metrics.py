"""Metric maths: drift, update ratio, accuracy, predictions in batches, confusion matrix, per-class report."""

from __future__ import annotations

import torch
from torch import nn

from engine.core.device import to_device


def flat_params(module: nn.Module) -> list[torch.Tensor]:
    return [p for p in module.parameters()]


@torch.no_grad()
def relative_distances(groups: list[list[torch.Tensor]], refs: list[list[torch.Tensor]]) -> list[float]:
    """||W - W_ref|| / ||W_ref|| of each group, over all its tensors together (0 when W_ref is all zero).

    All groups at once: a few fused (foreach) operations over all tensors, read back
    in one transfer. On a GPU, a loop of small operations per tensor and a read per group would each cost a
    launch or a wait, and would slow a small network's training by a third."""
    params = [p for ps in groups for p in ps]
    if not params:
        return [0.0] * len(groups)
    anchors = [r for rs in refs for r in rs]
    owner = to_device(torch.tensor([g for g, ps in enumerate(groups) for _ in ps]), params[0].device)
    diff = torch.stack(torch._foreach_norm(torch._foreach_sub(params, anchors))).float()
    size = torch.stack(torch._foreach_norm(anchors)).float()
    zero = torch.zeros(len(groups), device=params[0].device)
    num = zero.index_add(0, owner, diff * diff)
    den = zero.index_add(0, owner, size * size)
    return torch.where(den > 0, (num / den).sqrt(), zero).tolist()


EVAL_BATCH = {"cpu": 64}  # a CPU scores small batches fastest (they stay in cache); a GPU wants large ones
EVAL_BATCH_DEFAULT = 512


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """Logits for `x` in eval mode, batch by batch; restores the model's train/eval flags."""
    batch = batch or EVAL_BATCH.get(x.device.type, EVAL_BATCH_DEFAULT)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    out = torch.cat([model(x[i : i + batch]) for i in range(0, x.shape[0], batch)]) if x.shape[0] else torch.zeros(0)
    for m, tr in modes:
        m.training = tr
    return out


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean()) if y.numel() else 0.0


def confusion_matrix(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> list[list[int]]:
    """rows = true class, columns = predicted class."""
    cm = torch.bincount(y.cpu() * n_classes + pred.cpu(), minlength=n_classes * n_classes)
    return cm.view(n_classes, n_classes).tolist()


def per_class_report(cm: list[list[int]]) -> list[dict[str, float]]:
    """Precision, recall, F1 and support per class, from a confusion matrix."""
    t = torch.tensor(cm, dtype=torch.float64)
    tp = t.diag()
    precision = tp / t.sum(0).clamp(min=1)
    recall = tp / t.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return [
        {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for p, r, f, s in zip(precision, recall, f1, t.sum(1))
    ]
