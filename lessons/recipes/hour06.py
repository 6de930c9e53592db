"""Hour 6 - overfitting and regularization: a few labels of a far-shifted target, trained with no help and
with each remedy on its own (augmentation, dropout, weight decay), plus early stopping (no streamlit here).
"""

from __future__ import annotations

import math

from engine.core.config import TrainConfig

PAGE = "hour06"
EARLY_PAGE = "hour06-early"
NO_HELP = "no help"
AUGMENT = "augmentation"
DROPOUT = "dropout"
DECAY = "weight decay"
EARLY = "early stopping"
KNOBS = ["dropout", "weight_decay", "steps", "seed"]  # the remedies' strengths, shared run length and seed
EARLY_KNOBS = ["early_stopping"]

# Three labels per class of a target drawn far from the source (partly inverted, blurred, tinted): little to
# learn from and features that fit poorly, so memorising the training images is the easy way down.
BASE = TrainConfig(
    strategy="finetune",
    shots=3,
    domain_shift=0.6,
    optimizer="adam",
    lr=1e-3,
    steps=120,  # the validation loss bottoms out by step 20 and climbs for the rest
    eval_every=20,
    seed=0,
)
DROPOUT_P = 0.5
WEIGHT_DECAY = 0.01  # Adam's L2 penalty (coupled, added to the gradient)
PATIENCE = 3  # evaluations without a better validation loss before early stopping ends the run

# The values the page's remedy knobs start at (the no-help run ignores them).
PAGE_BASE = BASE.replace(dropout=DROPOUT_P, weight_decay=WEIGHT_DECAY, early_stopping=PATIENCE)


def default_configs(**overrides) -> dict[str, TrainConfig]:
    """{label: config}: no help, then each remedy alone. `dropout` and `weight_decay` set those remedies'
    strength; other overrides (steps, seed...) apply to every run."""
    p = overrides.pop("dropout", DROPOUT_P)
    wd = overrides.pop("weight_decay", WEIGHT_DECAY)
    overrides.pop("early_stopping", None)
    base = BASE.replace(**overrides)
    return {
        NO_HELP: base,
        AUGMENT: base.replace(augment=True),
        DROPOUT: base.replace(dropout=p),
        DECAY: base.replace(weight_decay=wd),
    }


def early_configs(**overrides) -> dict[str, TrainConfig]:
    """{label: config}: the no-help run with early stopping (patience in evaluations)."""
    patience = overrides.pop("early_stopping", PATIENCE)
    for name in ("dropout", "weight_decay"):
        overrides.pop(name, None)
    return {EARLY: BASE.replace(early_stopping=patience, **overrides)}


def gap(snap: dict) -> float:
    """Validation loss minus training loss at the end (training loss = mean of the last 10 steps)."""
    series = snap.get("series") or {}
    train = series.get("train_loss", ([], []))[1][-10:]
    val = series.get("val_loss", ([], []))[1]
    if not train or not val:
        return math.nan
    return val[-1] - sum(train) / len(train)


def turn(snap: dict) -> dict[str, float | int | None]:
    """Where the validation loss bottomed out and how far it climbed back afterwards."""
    steps, val = (snap.get("series") or {}).get("val_loss", ([], []))
    if not val:
        return {"best step": None, "best val loss": math.nan, "val loss now": math.nan, "climbed": math.nan}
    i = min(range(len(val)), key=val.__getitem__)
    return {"best step": steps[i], "best val loss": val[i], "val loss now": val[-1], "climbed": val[-1] - val[i]}


def gap_table(snaps: dict[str, dict]):
    """One row per run: final train and validation loss, their gap, and the validation loss's turn (pandas)."""
    import pandas as pd

    rows = {}
    for label, s in snaps.items():
        series = s.get("series") or {}
        train = series.get("train_loss", ([], []))[1][-10:]
        if not train or not series.get("val_loss"):
            continue
        rows[label] = {"train loss": sum(train) / len(train), **turn(s), "gap (val - train)": gap(s),
                       "test accuracy": (s.get("results") or {}).get("test_accuracy")}
    return pd.DataFrame.from_dict(rows, orient="index") if rows else pd.DataFrame()


# "What to notice" on the page; tests/test_notice_hour06.py checks each claim on these defaults.
NOTICE = [
    "**Without help, the validation loss turns up while the training loss keeps falling**: it is lowest at step 20 "
    "and climbs at every evaluation after step 40, while the training loss falls to under 0.01.",
    "**Weight decay narrows the gap**: its validation loss never turns up, and it ends at least 0.3 below the "
    "no-help run's, with the gap narrower by as much.",
    "**Not every remedy fits every problem.** Dropout (0.5, before the head) leaves the gap about where it was, and "
    "augmentation even widens it: small rotations, shifts and noise look nothing like what makes this target hard "
    "(inverted, blurred, tinted images), so they add variety the validation images do not have.",
    "**Early stopping** (patience 3) ends the run at step 80, marks step 20 as the best and restores it: the run's "
    "final validation loss is exactly the best one, and its test accuracy is that of step 20.",
]
