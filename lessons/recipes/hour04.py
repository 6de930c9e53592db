"""Hour 4's default experiment: layer-wise LR decay with gradual unfreezing, beside the same run with one flat LR.

Also the two pictures the page draws before training, as plain data: each group's LR (the
LR profile) and the planned timeline of which groups train (gradual unfreezing).
"""

from __future__ import annotations

from engine.core.config import TrainConfig
from engine.models.registry import get_spec
from engine.train import strategies

PAGE = "hour04"
DECAYED = "your settings"
FLAT = "same, one flat LR"
KNOBS = ["layer_decay", "lr_range", "gradual_unfreeze", "lr", "steps", "seed"]

BASE = TrainConfig(
    strategy="finetune",
    unfreeze=None,  # all four body groups end up training
    lr=1e-3,  # the head's LR; the groups below get less
    layer_decay=0.7,  # stem gets 0.7^4 = 0.24 x the head's LR (five groups, so a stronger factor than 0.9)
    gradual_unfreeze=25,  # head alone first; block3 joins at step 25, block2 at 50, block1 at 75, stem at 100
    steps=200,
    seed=0,
)

# What the default experiment shows; tests/test_notice_hour04.py checks each one.
NOTICE = [
    ("**The LR profile:** with decay 0.7 each group learns at 0.7 times the rate of the group above it, so the stem gets "
     "about a quarter of the head's LR (the bar chart above)."),
    ("**The drift profile follows it:** in the decayed run drift grows from the stem up to block3, and every body "
     "group drifts less than in the flat run, the lower groups (whose LR was cut most) by the largest factor."),
    ("**It forgets less:** at the end the forgetting meter (held-out source-task accuracy) is at least 5 points higher "
     "in the decayed run than in the flat one, while the target test accuracy stays within a couple of points."),
    ("**Gradual unfreezing:** the timeline shows the head training alone, then block3 joining at step 25, block2 at "
     "50, block1 at 75 and the stem at 100; each group's drift is exactly 0 until it joins."),
]


def configs(base: TrainConfig = BASE) -> dict[str, TrainConfig]:
    """{label: config}: the chosen run and the same run with one flat LR (no decay, no LR range)."""
    return {DECAYED: base, FLAT: base.replace(layer_decay=1.0, lr_range=None)}


def default_configs(**overrides) -> dict[str, TrainConfig]:
    """The page's default experiment, with any settings changed (tests use fewer steps)."""
    return configs(BASE.replace(**overrides))


def group_names(config: TrainConfig) -> list[str]:
    """The model's layer groups, input to output, head last."""
    groups, _ = get_spec(config.backbone).build()
    return [name for name, _ in groups] + ["head"]


def lr_profile(config: TrainConfig) -> dict[str, float]:
    """{group: LR before any schedule}, input to output: what the optimizer's parameter groups start with."""
    names = group_names(config)
    return dict(zip(names, strategies.base_lrs(config, len(names))))


def trainable_plan(config: TrainConfig) -> dict[str, tuple[list[int], list[float]]]:
    """{group: (steps, 1.0 trains / 0.0 frozen)} sampled like the run's trainable/<group> series.

    The value logged after step s is the flag the step was taken with, i.e. the one set before it
    (when s - 1 steps were done); step 0 is the start.
    """
    names = group_names(config)
    steps = [0, *range(config.log_every, config.steps + 1, config.log_every)]
    flags = [strategies.trainable_flags(config, len(names), max(s - 1, 0)) for s in steps]
    return {g: (steps, [float(f[i]) for f in flags]) for i, g in enumerate(names)}


def joins_at(config: TrainConfig) -> dict[str, int | None]:
    """{group: the number of steps after which it starts training} (0 = from the start, None = never)."""
    names = group_names(config)
    out: dict[str, int | None] = {}
    for i, g in enumerate(names):
        out[g] = next((s for s in range(config.steps) if strategies.trainable_flags(config, len(names), s)[i]), None)
    return out
