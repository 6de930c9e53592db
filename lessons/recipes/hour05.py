"""Hour 5's recipe: optimizers on one seed, the LR range test, and the comparison table read from their series.

Configs, texts and measurements only (no streamlit, no figures: the LR range test's chart is lessons._charts.finder_figure).
"""

from __future__ import annotations

import itertools
import math
import statistics

from engine.core.config import OPTIMIZERS, TrainConfig
from engine.train.lr_finder import SERIES_LOSS, SERIES_LR, finder_config

PAGE = "hour05"
FINDER_PAGE = "hour05-finder"
KNOBS = ["batch_size", "schedule", "steps", "seed"]  # shared by every optimizer's run
SHOWN = ("sgd", "momentum", "adam")  # the optimizers overlaid by default

# Each optimizer starts at the LR people usually try first with it. Plain SGD and momentum share one,
# so the only difference between them is the momentum term; the adaptive methods take 1e-3.
USUAL_LR = {"sgd": 1e-2, "momentum": 1e-2, "nesterov": 1e-2, "adagrad": 1e-2, "rmsprop": 1e-3, "adam": 1e-3, "adamw": 1e-3}
assert set(USUAL_LR) == set(OPTIMIZERS)

BASE = TrainConfig(
    strategy="finetune",  # every group learns, so the optimizer has the whole network to move
    shots=20,  # 200 training images: enough that a step's batch is a real sample, not the whole set
    steps=100,
    batch_size=32,
    eval_every=20,
    seed=0,  # one seed for every optimizer: the same start and the same batches
)

FINDER_STEPS = 100  # steps of the LR range test
FINDER_START, FINDER_END = 1e-6, 10.0  # wide enough that every optimizer's loss blows up inside it
SPEED_LOSS = 0.5  # "speed" = steps until the smoothed training loss first drops below this
SMOOTHING = 0.9  # the same bias-corrected moving average the LR finder uses


def default_configs(optimizers=SHOWN, **overrides) -> dict[str, TrainConfig]:
    """{optimizer: config}: the same run with each optimizer at its usual LR."""
    return {name: BASE.replace(optimizer=name, lr=USUAL_LR[name], **overrides) for name in optimizers}


def finder_configs(optimizers=SHOWN, steps: int = FINDER_STEPS, **overrides) -> dict[str, TrainConfig]:
    """{"<optimizer> LR range test": config}: one sweep per optimizer, LR from 1e-6 to 10."""
    overrides.pop("steps", None)
    overrides.pop("schedule", None)  # the sweep is the schedule
    return {f"{name} LR range test": finder_config(BASE.replace(optimizer=name, **overrides), steps, FINDER_START, FINDER_END)
            for name in optimizers}


# ---- measurements on a run's series ------------------------------------------------------------


def smooth(values: list[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average."""
    out, avg = [], 0.0
    for n, v in enumerate(values, start=1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**n))
    return out


def steps_to(steps: list[int], losses: list[float], threshold: float = SPEED_LOSS) -> int | None:
    """The first step at which the smoothed loss is below `threshold` (None: never)."""
    return next((s for s, v in zip(steps, smooth(losses)) if v < threshold), None)


def oscillation(losses: list[float]) -> float:
    """How jumpy the loss is once the first fast drop is over: the standard deviation of the
    step-to-step changes over the second half of the run."""
    half = losses[len(losses) // 2 :]
    diffs = [b - a for a, b in itertools.pairwise(half)]
    return statistics.pstdev(diffs) if len(diffs) > 1 else math.nan


def state_per_weight(optimizer: str) -> float:
    """Numbers the optimizer keeps per trainable weight, measured on torch's own optimizer after one step
    (SGD 0, momentum 1 velocity, Adam 2 moment estimates...)."""
    import torch

    from engine.train import strategies

    probe = torch.nn.Linear(8, 4)
    opt = strategies.make_optimizer(TrainConfig(optimizer=optimizer), [("probe", probe)], [1e-3])
    probe(torch.ones(2, 8)).sum().backward()
    opt.step()
    kept = sum(v.numel() for s in opt.state.values() for k, v in s.items() if torch.is_tensor(v) and k != "step")
    return kept / sum(p.numel() for p in probe.parameters())


def valley(lrs: list[float], losses: list[float]) -> tuple[float, float] | None:
    """The LRs, lowest to highest, at which the range test's smoothed loss has made at least half of its
    total drop: the band of LRs that train well. None when the curve never dropped."""
    if len(losses) < 3:
        return None
    start, best = losses[0], min(losses)
    if best >= start:
        return None
    good = [lr for lr, v in zip(lrs, losses) if v <= start - 0.5 * (start - best)]
    return min(good), max(good)


def valley_decades(lrs: list[float], losses: list[float]) -> float | None:
    """Width of the good band in decades of LR: the wider, the less an optimizer cares which LR you pick."""
    band = valley(lrs, losses)
    return math.log10(band[1] / band[0]) if band else None


def finder_curve(snap: dict) -> tuple[list[float], list[float]]:
    """(LRs, smoothed losses) of an LR range test run, live or ended."""
    series = snap.get("series") or {}
    if SERIES_LR in series and SERIES_LOSS in series:
        return list(series[SERIES_LR][1]), list(series[SERIES_LOSS][1])
    return [], []


def comparison_table(snaps: dict[str, dict], finder_snaps: dict[str, dict] | None = None):
    """One row per optimizer run, every number read from the runs (a pandas DataFrame)."""
    import pandas as pd

    widths = {}
    for snap in (finder_snaps or {}).values():
        lrs, losses = finder_curve(snap)
        widths[snap["config"]["optimizer"]] = valley_decades(lrs, losses)
    rows = []
    for label, snap in snaps.items():
        series, results, cfg = snap.get("series") or {}, snap.get("results") or {}, snap["config"]
        steps, losses = series.get("train_loss", ([], []))
        if not losses:
            continue
        reached = steps_to(steps, losses)
        rows.append({
            "optimizer": label,
            "LR": cfg["lr"],
            f"steps to loss < {SPEED_LOSS:g}": reached,  # None (blank) = not within the run
            "mean train loss": statistics.fmean(losses),
            "steps/s": results.get("steps_per_second"),
            "state per weight": state_per_weight(cfg["optimizer"]),
            "oscillation": oscillation(losses),
            "good-LR band (decades)": widths.get(cfg["optimizer"]),
            "test accuracy": results.get("test_accuracy"),
        })
    return pd.DataFrame(rows).set_index("optimizer") if rows else pd.DataFrame()


TABLE_HELP = {
    f"steps to loss < {SPEED_LOSS:g}": "speed: steps until the smoothed training loss first drops below it (blank: not within the run)",
    "mean train loss": "speed again: the average height of the training-loss curve (lower = got there sooner)",
    "steps/s": "wall-clock speed of one step on this machine",
    "state per weight": "memory: extra numbers the optimizer stores for every weight (measured on torch's optimizer)",
    "oscillation": "noise: standard deviation of the step-to-step change of the training loss over the second half",
    "good-LR band (decades)": "tuning effort: how wide the LR range test's band of good LRs is (wider = easier to tune); "
                              "run the LR range test below to fill it",
}


# "What to notice" on the page; tests/test_notice_hour05.py checks each claim on these defaults.
NOTICE = [
    "**Plain SGD is the slowest**: its smoothed training loss takes more than twice as many steps as momentum's or "
    "Adam's to get under 0.5, and its mean training loss is more than twice theirs.",
    "**Plain SGD is the noisiest, and momentum smooths it**: at the same LR, momentum's oscillation (the jumpiness of "
    "the loss over the second half) is less than a quarter of SGD's.",
    "**Momentum and Adam are the fastest here, neck and neck**: both get under 0.5 within 30 steps, a few steps "
    "apart. Adam gets there at a tenth of momentum's LR, because it divides each weight's step by a running RMS of that weight's recent gradients, so every step is about the LR in size whatever the gradient's scale.",
    "**The LR range test has a clear valley** (for Adam): the loss is flat while the LR is tiny, falls to under a "
    "quarter of where it started, then shoots past 4x its lowest value and the test stops. Its steepest point lies "
    "between 1e-3 and 5e-3, right around Adam's usual LR.",
]
