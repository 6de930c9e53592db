"""Hour 4's default experiment: layer-wise LR decay with gradual unfreezing, beside the same run with one flat LR.

Also the two pictures the page draws before training, as plain data: each group's LR (the
LR profile) and the planned timeline of which groups train (gradual unfreezing).
"""

from __future__ import annotations

import itertools

from engine.core.config import TrainConfig
from engine.models.registry import get_spec
from engine.train import strategies
from lessons.recipes import _claims

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

# What the default experiment shows; CLAIMS (the end of this file) checks each one over five students' draws.
# Measured (CPU, seeds 0-4, 200 steps), decayed / flat drift per group: stem 0.38-0.42, block1 0.49-0.52, block2
# 0.67, block3 0.84-0.85; meter at the end decayed 67.5-70.5%, flat 57.5-62.5% (6.5 to 10.5 points higher).
# Earlier figures, with the 200-class backbone shipped before: stem 0.45-0.49, block1 0.51-0.52, block2
# 0.67-0.69, block3 0.83-0.84 (without gradual unfreezing 0.39-0.42, 0.49-0.51, 0.66-0.67, 0.88-0.89); the flat
# run's stem drifts 0.034-0.039 against 0.19-0.21 for the blocks. Forgetting meter at the end: decayed 69-77%, flat
# 65-71% (decayed 3 to 7 points higher); without gradual unfreezing 61-71% and 50-56% (10 to 18 points); gradual
# unfreezing alone (flat runs) 11 to 17 points; the 1e-5..1e-3 range 79-85%, 5 to 14 points above decay 0.7.
# Target test accuracy: decayed and flat within 1 point.
NOTICE = [
    ("**The LR profile:** with decay 0.7 each group learns at 0.7 times the rate of the group above it, so the stem gets "
     "about a quarter of the head's LR (the bar chart above)."),
    ("**Read drift between the runs, not within one.** In *both* runs the stem drifts least, less than half as far as "
     "any block, even in the flat run where every group has the same LR: the stem joined last (it trains only the "
     "last 100 of the 200 steps) and its weights are the largest (Hour 3). What the LR profile does shows in the ratio between the two "
     "runs, which share the unfreezing: every body group drifts less in the decayed run, and the lower groups (whose "
     "LR was cut most) by the larger factor: the stem about 0.4 times as far as in the flat run, block1 about half, "
     "block2 and block3 two thirds to 0.85 of it."),
    ("**It forgets less:** at the end the forgetting meter (held-out source-task accuracy) is higher in the decayed "
     "run than in the flat one, by several points (6 to 11 on the draws we measured), while the target test accuracies "
     "stay within 3 points of each other."),
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


BODY = ("stem", "block1", "block2", "block3")
DECAYED_ALL = "decay 0.7, no gradual unfreezing"  # Try this: gradual unfreezing 0 (the page's pair, both at 0)
FLAT_ALL = "flat, no gradual unfreezing"
RANGE = (1e-5, 1e-3)  # Try this: discriminative LRs
RANGED = "LR range 1e-5 to 1e-3"


def _claim_runs(seed: int) -> dict[str, TrainConfig]:
    """The page's pair with and without gradual unfreezing (a 2 x 2: LR profile x unfreezing) and the LR range."""
    base = BASE.replace(seed=seed)
    pair = configs(base)
    without = configs(base.replace(gradual_unfreeze=0))
    return {**pair, DECAYED_ALL: without[DECAYED], FLAT_ALL: without[FLAT], RANGED: base.replace(lr_range=RANGE)}


def _ratios(o, decayed: str, flat: str) -> list[float]:
    """Each body group's drift in `decayed` over its drift in `flat`, stem first."""
    return [o[decayed].results["drift"][g] / o[flat].results["drift"][g] for g in BODY]


def _src(o, label: str) -> float:
    return o[label].results["source_accuracy"]


def _late_joins(o) -> int:
    """Groups of the decayed run that move before they join, or stay still after."""
    bad = 0
    for group, start in joins_at(BASE).items():
        steps, drift = o[DECAYED].series[f"drift/{group}"]
        bad += any(v != 0.0 for s, v in zip(steps, drift) if s <= start)
        bad += any(v == 0.0 for s, v in zip(steps, drift) if s > start)
    return bad


def _sorted_margin(values: list[float]) -> float:
    """The smallest rise from one value to the next (> 0: strictly increasing)."""
    return min(b - a for a, b in itertools.pairwise(values))


CLAIMS = _claims.PageClaims(
    page=PAGE,
    runs=_claim_runs,
    claims=(
        _claims.Claim("both runs, flat too: stem drift under half of any block's",
                      lambda o: min(min(o[k].results["drift"][g] for g in BODY[1:]) / 2 - o[k].results["drift"]["stem"]
                                    for k in (DECAYED, FLAT)), "drift"),
        _claims.Claim("every body group drifts less than in the flat run (ratio < 1)",
                      lambda o: 1 - max(_ratios(o, DECAYED, FLAT)), "ratio"),
        _claims.Claim("lower groups cut more: stem, block1 ratios below block2, block3's",
                      lambda o: min(_ratios(o, DECAYED, FLAT)[2:]) - max(_ratios(o, DECAYED, FLAT)[:2]), "ratio"),
        _claims.Claim("stem about 0.4 (ratio 0.3 to 0.5), block1 about half (0.4 to 0.6)",
                      lambda o: min(min(r - lo, lo + 0.2 - r) for r, lo in zip(_ratios(o, DECAYED, FLAT)[:2], (0.3, 0.4))),
                      "ratio"),
        _claims.Claim("block2 and block3 two thirds to 0.85 (ratio 0.6 to 0.9)",
                      lambda o: min(min(r - 0.6, 0.9 - r) for r in _ratios(o, DECAYED, FLAT)[2:]), "ratio"),
        _claims.Claim("decayed run forgets less (meter higher at the end)",
                      lambda o: _src(o, DECAYED) - _src(o, FLAT)),
        _claims.Claim("target test accuracies within 3 points",
                      lambda o: 0.03 - abs(o[DECAYED].results["test_accuracy"] - o[FLAT].results["test_accuracy"])),
        _claims.Claim("each group's drift exactly 0 until it joins, > 0 after",
                      lambda o: 0.5 - _late_joins(o), "groups"),
        _claims.Claim("Try this, no unfreezing: stem drifts from the first log",
                      lambda o: o[DECAYED_ALL].at("drift/stem", BASE.log_every), "drift"),
        _claims.Claim("Try this, no unfreezing: ratio rises stem < block1 < block2 < block3",
                      lambda o: _sorted_margin(_ratios(o, DECAYED_ALL, FLAT_ALL)), "ratio"),
        _claims.Claim("Try this, no unfreezing: decay's meter lead > 8 points",
                      lambda o: _src(o, DECAYED_ALL) - _src(o, FLAT_ALL) - 0.08),
        _claims.Claim("Try this, no unfreezing: decay's lead larger than with unfreezing",
                      lambda o: (_src(o, DECAYED_ALL) - _src(o, FLAT_ALL)) - (_src(o, DECAYED) - _src(o, FLAT))),
        _claims.Claim("gradual unfreezing alone (flat runs): meter > 8 points higher",
                      lambda o: _src(o, FLAT) - _src(o, FLAT_ALL) - 0.08),
        _claims.Claim("Try this, range 1e-5..1e-3: stem drift under 0.005",
                      lambda o: 0.005 - o[RANGED].results["drift"]["stem"], "drift"),
        _claims.Claim("Try this, range 1e-5..1e-3: meter > 2 points above decay 0.7",
                      lambda o: _src(o, RANGED) - _src(o, DECAYED) - 0.02),
    ),
)
