"""Hour 3's default experiment: fine-tune the top groups with a small LR, beside the same run with a too-large LR.

The forgetting meter (the source task, read through the original pretrained head) shows what a
big step does to pretrained weights, even where the target's own accuracy hardly moves.
"""

from __future__ import annotations

from engine.core.config import TrainConfig
from engine.models.registry import get_spec
from engine.train import strategies

PAGE = "hour03"
TOO_LARGE_LR = 1e-2  # fine for a new head, ruinous for pretrained convolutions
CAREFUL = "your settings"
TOO_LARGE = f"same, LR {TOO_LARGE_LR:g} (too large)"
KNOBS = ["unfreeze", "lr", "steps", "seed"]

BASE = TrainConfig(
    strategy="finetune",
    unfreeze=3,  # block1, block2, block3 and the head train; the stem stays frozen
    lr=1e-4,  # small: nudge the pretrained weights, do not overwrite them
    steps=200,
    seed=0,
)

# What the default experiment shows; tests/test_notice_hour03.py checks each one.
NOTICE = [
    ("**Only the unfrozen groups drift.** With 3 trainable groups the stem is frozen: its drift is exactly 0 in both "
     "runs, while block1, block2 and block3 move."),
    (f"**With the too-large LR ({TOO_LARGE_LR:g}) the early layers drift far:** block1, the lowest trainable group, ends "
     "roughly ten times further from its pretrained weights than with 1e-4 (the heatmap shows when it happens)."),
    ("**The forgetting meter collapses.** Accuracy on held-out source-task images starts near 86%; with the small LR it "
     "stays above 60%, with the too-large LR it falls below 10%: the pretrained features are destroyed."),
    ("**The target accuracy hides it:** both runs end within a few points of each other on the target test set. Only "
     "the source task shows what was lost."),
]


def configs(base: TrainConfig = BASE) -> dict[str, TrainConfig]:
    """{label: config}: the chosen run and the same run at TOO_LARGE_LR."""
    return {CAREFUL: base, TOO_LARGE: base.replace(lr=TOO_LARGE_LR)}


def default_configs(**overrides) -> dict[str, TrainConfig]:
    """The page's default experiment, with any settings changed (tests use fewer steps)."""
    return configs(BASE.replace(**overrides))


def trainable_groups(config: TrainConfig) -> dict[str, bool]:
    """{group: trains?}, input to output, head last: what the unfreeze slider means for this backbone."""
    groups, _ = get_spec(config.backbone).build()
    names = [name for name, _ in groups] + ["head"]
    return dict(zip(names, strategies.trainable_flags(config, len(names), step=0)))
