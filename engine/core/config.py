"""TrainConfig: everything one experiment needs, with a comment on every default."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "warmup", "onecycle")
STRATEGIES = ("feature", "finetune")
BN_MODES = ("train", "frozen", "reestimate")
HEADS = ("linear", "mlp")
WEIGHTS = ("pretrained", "scratch", "imagenet")


class ConfigError(ValueError):
    """A bad setting, said in one sentence that names it and what to do."""


@dataclass
class TrainConfig:
    """One experiment. Pages build it from widgets; the CLI builds it from flags."""

    backbone: str = "glyphnet"  # a name from engine.models.registry.BACKBONES
    weights: str = "pretrained"  # pretrained (shipped glyph weights) | scratch | imagenet
    dataset: str = "glyphs"  # glyphs | cifar10 | fashionmnist | folder:PATH
    n_classes: int = 10  # target classes (glyph world)
    shots: int = 5  # labels per class in the target training set
    domain_shift: float = 0.0  # 0 = the source's look; 1 = far (inverted, blurred, tinted...)
    strategy: str = "finetune"  # feature = head only; finetune = top `unfreeze` groups + head
    unfreeze: int | None = None  # backbone groups trained under the head; None = all of them
    head: str = "linear"  # linear | mlp (a small hidden layer)
    dropout: float = 0.0  # dropout before the head's last linear layer
    optimizer: str = "adam"  # one of OPTIMIZERS
    lr: float = 1e-3  # the head's learning rate (the base LR)
    layer_decay: float = 1.0  # each group below the head gets the LR of the one above x this
    lr_range: tuple[float, float] | None = None  # discriminative LRs: (first group, head), log-spaced
    schedule: str = "constant"  # one of SCHEDULES, a multiplier of each group's LR by step
    warmup_steps: int = 20  # linear warm-up length for schedule=warmup
    gradual_unfreeze: int = 0  # unfreeze one more group every N steps, head first (0 = off)
    bn_mode: str = "train"  # train | frozen (running stats fixed) | reestimate (on target, then fixed)
    l2sp: float = 0.0  # strength alpha of the L2-SP penalty alpha/2 * ||W - W0||^2
    weight_decay: float = 0.0  # decoupled for adamw, L2 for the others (torch.optim's meaning)
    augment: bool = False  # random small rotation, shift, scale and noise on training images
    early_stopping: int = 0  # patience in evaluations without a better val loss (0 = off)
    batch_size: int = 32  # images per step (clamped to the training set, with a warning)
    steps: int = 200  # optimizer steps
    eval_every: int = 50  # validation + forgetting meter every N steps (each check costs ~5% of 50 steps on a CPU)
    log_every: int = 5  # drift, update ratio and LR every N steps
    seed: int = 0  # same seed, same device: the same loss series
    device: str = "auto"  # auto | cpu | cuda | mps
    image_size: int = 32  # pixels per side fed to the backbone
    extras: dict = field(default_factory=dict)  # free-form notes a page wants kept with the run

    def __post_init__(self) -> None:
        if isinstance(self.lr_range, list):
            self.lr_range = tuple(self.lr_range)

    def validate(self) -> TrainConfig:
        """Raise ConfigError with one clear sentence for the first bad setting."""
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("strategy", self.strategy, STRATEGIES)
        _choice("bn_mode", self.bn_mode, BN_MODES)
        _choice("head", self.head, HEADS)
        _choice("weights", self.weights, WEIGHTS)
        _choice("device", self.device, ("auto", "cpu", "cuda", "mps"))
        if self.shots < 1:
            raise ConfigError(f"labels per class must be at least 1 (got {self.shots}): every class needs one example to learn from.")
        if self.n_classes < 2:
            raise ConfigError(f"the target needs at least 2 classes (got {self.n_classes}).")
        if self.steps < 1:
            raise ConfigError(f"steps must be at least 1 (got {self.steps}).")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1 (got {self.batch_size}).")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"the learning rate must be a positive number (got {self.lr}).")
        if not 0.0 <= self.domain_shift <= 1.0:
            raise ConfigError(f"domain shift must be between 0 and 1 (got {self.domain_shift}).")
        if not 0.0 < self.layer_decay <= 1.0:
            raise ConfigError(f"layer decay must be in (0, 1] (got {self.layer_decay}): 1 means one flat LR.")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1) (got {self.dropout}).")
        if self.lr_range is not None:
            lo, hi = self.lr_range
            if not (lo > 0 and hi > 0 and lo <= hi):
                raise ConfigError(f"the LR range must be two positive numbers, low then high (got {self.lr_range}).")
        if self.unfreeze is not None and self.unfreeze < 0:
            raise ConfigError(f"unfreeze must be 0 or more groups (got {self.unfreeze}).")
        for name in ("weight_decay", "l2sp", "gradual_unfreeze", "early_stopping"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more (got {getattr(self, name)}).")
        if not 16 <= self.image_size <= 512:
            raise ConfigError(f"image size must be between 16 and 512 pixels (got {self.image_size}).")
        if self.eval_every < 1 or self.log_every < 1:
            raise ConfigError("eval_every and log_every must be at least 1.")
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["lr_range"] is not None:
            d["lr_range"] = list(d["lr_range"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r}; known settings: {', '.join(sorted(known))}.")
        return cls(**d)

    def replace(self, **changes) -> TrainConfig:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r}.")
        return dataclasses.replace(self, **changes)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}.")
