"""The backbone registry: TransferNet, BackboneSpec, register / get_spec / build_model, heads and init.

Each backbone is a list of named layer groups, input to output; the head is last.

Freezing, per-group learning rates, gradual unfreezing and the drift panel all read these groups,
so no code elsewhere hard-codes a layer index.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from engine.core.config import ConfigError


class TransferNet(nn.Module):
    """Backbone groups (the last one ends in a flat feature vector) followed by a new head."""

    def __init__(self, groups: list[tuple[str, nn.Module]], feature_dim: int, head: nn.Module):
        super().__init__()
        self.body = nn.Sequential(OrderedDict(groups))
        self.feature_dim = feature_dim
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, n_classes)

    def layer_groups(self) -> list[tuple[str, nn.Module]]:
        """Ordered (name, module) pairs, input to output, head last."""
        return [*self.body.named_children(), ("head", self.head)]

    def __repr__(self) -> str:
        parts = []
        for name, m in self.layer_groups():
            n = sum(p.numel() for p in m.parameters())
            parts.append(f"{name}({n:,} params)")
        return f"TransferNet[{' -> '.join(parts)}]"


class SeededDropout(nn.Dropout):
    """nn.Dropout drawing its masks from the run's own generator (`self.generator`, set by the trainer), so a
    run's dropout does not depend on what else the server drew from torch's one global generator before it
    or on another thread meanwhile. Without a generator it is plain nn.Dropout."""

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or self.generator is None:
            return super().forward(x)
        keep = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=torch.float32) >= self.p
        return x * keep / (1 - self.p)


def make_head(feature_dim: int, n_classes: int, kind: str = "linear", dropout: float = 0.0) -> nn.Module:
    """A new classifier: linear, or a small MLP; dropout sits before the last linear layer."""
    if kind == "linear":
        return nn.Sequential(SeededDropout(dropout), nn.Linear(feature_dim, n_classes))
    if kind == "mlp":
        return nn.Sequential(nn.Linear(feature_dim, 128), nn.ReLU(), SeededDropout(dropout), nn.Linear(128, n_classes))
    raise ConfigError(f"unknown head {kind!r}; choose linear or mlp.")


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """torch's default init (kaiming-uniform with a=sqrt(5)), drawn from `generator` so runs in
    different threads never share a random stream."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                fan_in = m.weight[0].numel()
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.reset_parameters()


@dataclass
class BackboneSpec:
    """How to build one backbone and where its pretrained weights come from."""

    name: str
    build: Callable[[], tuple[list[tuple[str, nn.Module]], int]]  # -> (groups, feature_dim)
    weights: tuple[str, ...]  # the `weights` values it accepts besides scratch
    image_size: int
    description: str
    # (groups-model with a source head) -> loads pretrained weights, returns the source head or None
    load_pretrained: Callable[[TransferNet, str], nn.Module | None] | None = None
    source_classes: int = 0
    # the input normalisation its weights expect, as data: (mean, std) per RGB channel for images in [0, 1];
    # None = images in [0, 1] as they are. Applied where the trainer is built (engine.train.build).
    input_norm: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    extra: dict = field(default_factory=dict)


BACKBONES: dict[str, BackboneSpec] = {}


def register(spec: BackboneSpec) -> BackboneSpec:
    BACKBONES[spec.name] = spec
    return spec


def get_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:  # backbones register themselves when engine.models is imported
        raise ConfigError(f"unknown backbone {name!r}; known backbones: {', '.join(sorted(BACKBONES))}.")
    return BACKBONES[name]


@dataclass
class Built:
    """A model ready for the target task, plus what the metrics need from pretraining."""

    model: TransferNet
    source_head: nn.Module | None  # the pretrained head, for the forgetting meter
    spec: BackboneSpec


def build_model(name: str, weights: str, n_classes: int, head: str = "linear", dropout: float = 0.0, seed: int = 0) -> Built:
    """Build `name` with `weights` (scratch or a pretrained kind) and a new head for `n_classes`."""
    spec = get_spec(name)
    if weights != "scratch" and weights not in spec.weights:
        allowed = ", ".join(("scratch", *spec.weights))
        raise ConfigError(f"backbone {name!r} has no {weights!r} weights; choose one of: {allowed}.")
    g = torch.Generator().manual_seed(seed)
    groups, dim = spec.build()
    model = TransferNet(groups, dim, nn.Identity())
    source_head = None
    if weights == "scratch":
        init_weights(model.body, g)
    else:
        assert spec.load_pretrained is not None
        source_head = spec.load_pretrained(model, weights)
    model.head = make_head(dim, n_classes, head, dropout)
    init_weights(model.head, g)
    return Built(model, source_head, spec)
