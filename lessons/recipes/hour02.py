"""Hour 2's default experiment: the pretrained backbone frozen, only a new head trains.

The page runs the head-only model next to the same run with every group trainable, so the
frozen backbone's zero drift and its cheaper steps show side by side.
"""

from __future__ import annotations

import statistics

from engine.core.config import TrainConfig
from engine.models.registry import build_model
from engine.train import strategies

PAGE = "hour02"
FEATURE = "feature extraction (head only)"
FINETUNE = "full fine-tune (for comparison)"
KNOBS = ["head", "shots", "lr", "steps", "seed"]  # the widgets the page shows

BASE = TrainConfig(
    strategy="feature",  # every backbone group frozen; the new head is the only thing that learns
    head="linear",  # a linear classifier on the 128 pretrained features
    shots=5,  # few labels: where a fixed feature extractor shines
    lr=1e-3,  # Adam on the head alone
    steps=200,
    seed=0,
)

# What the default experiment shows; tests/test_notice_hour02.py checks each one.
NOTICE = [
    "In the head-only run the drift of **every backbone group stays exactly 0** (grey bars): only the head moves.",
    ("The head-only run trains **1,290 of 242,474 parameters** (about 0.5%) and computes no gradient for the "
     "backbone, so each step needs **roughly half the compute** of a full fine-tuning step: on a CPU compare the "
     "steps per second in the table after the runs. (On a GPU a network this small is limited by how fast Python "
     "hands it work, not by arithmetic, so there the two run at nearly the same speed.)"),
    ("With only 5 labels per class the head alone reaches **over 90% test accuracy** (chance is 10%), and its "
     "validation accuracy **levels off early**: at its first check after the start (step 50) it is already within a "
     "few points of where it ends, because the features it reads cannot change."),
]


def configs(base: TrainConfig = BASE) -> dict[str, TrainConfig]:
    """{label: config}: the head-only run and the same run with the whole network trainable."""
    return {FEATURE: base, FINETUNE: base.replace(strategy="finetune", unfreeze=None)}


def default_configs(**overrides) -> dict[str, TrainConfig]:
    """The page's default experiment, with any settings changed (tests use fewer steps)."""
    return configs(BASE.replace(**overrides))


def param_counts(config: TrainConfig) -> tuple[int, int]:
    """(trainable, total) parameters of `config`'s model at the start of training."""
    built = build_model(config.backbone, "scratch", config.n_classes, config.head, config.dropout, config.seed)
    groups = built.model.layer_groups()
    flags = strategies.trainable_flags(config, len(groups), step=0)
    trainable = sum(p.numel() for (_, m), on in zip(groups, flags) if on for p in m.parameters())
    total = sum(p.numel() for p in built.model.parameters())
    return trainable, total


def speed_table(snaps: dict[str, dict]) -> list[dict]:
    """One row per run that has started: parameters it trains and its typical steps per second.

    The speed is the median of the live steps/s series (what the progress bar shows), so one slow
    evaluation step does not drag it down."""
    rows = []
    for label, snap in snaps.items():
        rate = (snap.get("series") or {}).get("steps_per_second")
        results = snap.get("results") or {}
        cfg = snap.get("config") or {}
        if not rate or not cfg:
            continue
        trainable, total = results.get("trainable_params"), results.get("total_params")
        if trainable is None:
            trainable, total = param_counts(TrainConfig.from_dict(cfg))
        rows.append({
            "run": label,
            "trainable parameters": trainable,
            "total parameters": total,
            "trainable share": f"{trainable / total:.1%}",
            "steps per second": round(statistics.median(rate[1]), 1),
        })
    return rows
