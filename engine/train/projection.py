"""A 2-D picture of a feature space: PCA of a backbone's features, for the feature-extraction lesson."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.core.config import ConfigError, TrainConfig
from engine.data.tasks import load_task
from engine.models.registry import build_model


def pca_2d(features: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, list[float]]:
    """Project (N, D) features on their top-k principal axes: -> ((N, k) coordinates, explained share per axis).

    Centre the rows, take the SVD X = U S V^T; the axes are the first k rows of V^T and the share
    of variance an axis explains is s_i^2 / sum_j s_j^2. Each axis' sign is fixed so that its
    largest loading is positive, so the picture does not flip between two calls.
    """
    if features.dim() != 2 or features.shape[0] < 2:
        raise ConfigError(f"a projection needs at least 2 feature vectors (got shape {tuple(features.shape)}).")
    x = features.detach().to(torch.float64)
    x = x - x.mean(0, keepdim=True)  # (N, D)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)  # s: (r,), vh: (r, D), r = min(N, D)
    k = min(k, vh.shape[0])
    axes = vh[:k]  # (k, D)
    signs = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))  # (k, 1)
    axes = axes * torch.where(signs == 0, torch.ones_like(signs), signs)
    coords = x @ axes.T  # (N, k)
    var = s.pow(2)
    total = float(var.sum())
    explained = [float(v) / total if total > 0 else 0.0 for v in var[:k]]
    return coords.to(torch.float32), explained


@torch.no_grad()
def features_of(model: nn.Module, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """model.features(x) in eval mode, in chunks: (N, 3, H, W) -> (N, D). The model's mode is restored."""
    was = model.training
    model.eval()
    try:
        return torch.cat([model.features(x[i : i + batch]) for i in range(0, x.shape[0], batch)])
    finally:
        model.train(was)


def nearest_centroid_accuracy(features: torch.Tensor, y: torch.Tensor) -> float:
    """Share of points whose own class mean is the nearest class mean: how well classes separate, before any training."""
    classes = torch.unique(y)
    centroids = torch.stack([features[y == c].mean(0) for c in classes])  # (C, D)
    nearest = torch.cdist(features.float(), centroids.float()).argmin(1)  # (N,)
    return float((classes[nearest] == y).float().mean())


@dataclass
class Projection:
    """Target images placed in a backbone's feature space, ready to plot."""

    coords: torch.Tensor  # (N, 2) float32, PCA coordinates
    labels: torch.Tensor  # (N,) int64 class index
    classes: list[str]  # class names, indexed by label
    explained: list[float]  # share of the feature variance each axis shows
    separation: float  # nearest-centroid accuracy in the full feature space
    weights: str  # which backbone weights made the features
    feature_dim: int

    def rows(self) -> list[dict]:
        """One dict per image (x, y, class): what a plotting library wants."""
        return [
            {"x": float(a), "y": float(b), "class": self.classes[int(c)]}
            for (a, b), c in zip(self.coords.tolist(), self.labels.tolist())
        ]


def project_target(config: TrainConfig, split: str = "test", weights: str | None = None) -> Projection:
    """The target's `split` images through the backbone `config` names (before any training), in 2-D."""
    if split not in ("train", "val", "test"):
        raise ConfigError(f"unknown split {split!r}; choose train, val or test.")
    config = config.validate()
    weights = weights or config.weights
    task = load_task(config)
    data = getattr(task, split)
    built = build_model(config.backbone, weights, task.n_classes, seed=config.seed)
    feats = features_of(built.model, data.x)  # (N, D)
    coords, explained = pca_2d(feats)
    return Projection(
        coords=coords,
        labels=data.y.clone(),
        classes=list(task.classes),
        explained=explained,
        separation=nearest_centroid_accuracy(feats, data.y),
        weights=weights,
        feature_dim=int(feats.shape[1]),
    )
