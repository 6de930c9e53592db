"""The LR range test (Smith 2017): raise the LR exponentially step by step and watch the loss.

A listener, not a loop: `LRFinder` overrides every group's LR before each step (after the
schedule has set it), records (LR, smoothed loss), and ends the run once the loss has blown
up. The curve's valley says which LRs learn fastest; `suggest` picks one from it.

A run becomes a range test when its config carries `extras["lr_finder"]` (see `finder_config`);
`engine.train.callbacks.default_callbacks` then adds the listener, so pages and the run manager need
nothing special.
"""

from __future__ import annotations

import math

from engine.core.config import TrainConfig
from engine.train.schedules import lr_finder_lr
from engine.train.trainer import Callback, CancelFit, Trainer

START_LR = 1e-6  # the sweep's first LR
END_LR = 1.0  # the sweep's last LR (reached at the last step if nothing blows up first)
SMOOTHING = 0.9  # beta of the bias-corrected moving average of the loss
BLOWUP = 4.0  # stop when the smoothed loss passes this multiple of its best
SERIES_LR = "finder/lr"  # the metric-log series it writes, one point per step
SERIES_LOSS = "finder/loss"


def finder_config(base: TrainConfig, steps: int = 100, start: float = START_LR, end: float = END_LR) -> TrainConfig:
    """`base` turned into a range test over `steps` steps: constant schedule, no early stopping,
    validation only at the start and the end (the sweep's own loss is the measurement)."""
    extras = {**base.extras, "lr_finder": {"start": start, "end": end}}
    return base.replace(steps=steps, schedule="constant", early_stopping=0, gradual_unfreeze=0, eval_every=steps, extras=extras)


def suggest(lrs: list[float], losses: list[float]) -> dict[str, float | None]:
    """Two readings of a range-test curve (LRs rising, smoothed losses):

    - min_lr: the LR where the smoothed loss is lowest; training at it is usually already too hot,
      so the classic advice is min_lr / 10 (`suggested_lr`).
    - steepest_lr: where the loss falls fastest per decade of LR, before the minimum.
    """
    if len(lrs) < 3:
        return {"min_lr": None, "steepest_lr": None, "suggested_lr": None}
    i_min = min(range(len(losses)), key=losses.__getitem__)
    logs = [math.log10(lr) for lr in lrs]
    slopes = [(losses[i + 1] - losses[i - 1]) / (logs[i + 1] - logs[i - 1]) for i in range(1, max(2, i_min))]
    i_steep = 1 + min(range(len(slopes)), key=slopes.__getitem__)
    return {"min_lr": lrs[i_min], "steepest_lr": lrs[i_steep], "suggested_lr": lrs[i_min] / 10}


class LRFinder(Callback):
    """Sweeps the LR from `start` to `end` over the run's steps, log-spaced; stops at the blow-up.

    Groups keep their LR ratios (layer decay, discriminative LRs): the head follows the sweep and
    every other group gets the sweep x its base LR / the head's base LR.
    """

    order = -5  # before_step after ScheduleLR (-10), so the sweep's LR is the one used;
    # after_loss before LossReader (100), so an infinite loss ends the sweep, not the run

    def __init__(self, start: float = START_LR, end: float = END_LR, beta: float = SMOOTHING, blowup: float = BLOWUP):
        self.start, self.end, self.beta, self.blowup = start, end, beta, blowup

    def before_fit(self, t: Trainer) -> None:
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.avg, self.best, self.lr = 0.0, math.inf, self.start
        head = t.base_lrs[-1]
        self.ratios = [b / head for b in t.base_lrs]

    def before_step(self, t: Trainer) -> None:
        self.lr = lr_finder_lr(t.step, t.config.steps, self.start, self.end)
        for pg, ratio in zip(t.optimizer.param_groups, self.ratios):
            pg["lr"] = self.lr * ratio

    def after_loss(self, t: Trainer) -> None:
        loss = float(t.loss.detach())
        if not math.isfinite(loss):
            raise CancelFit(self._ended(f"the loss became infinite at LR {self.lr:.3g}"))
        n = len(self.losses) + 1
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        smooth = self.avg / (1 - self.beta**n)
        self.lrs.append(self.lr)
        self.losses.append(smooth)
        t.log.add_many(t.step + 1, {SERIES_LR: self.lr, SERIES_LOSS: smooth})
        self.best = min(self.best, smooth)
        if n > 1 and smooth > self.blowup * self.best:
            raise CancelFit(self._ended(f"the loss passed {self.blowup:g}x its best at LR {self.lr:.3g}"))

    def after_fit(self, t: Trainer) -> None:
        t.results["lr_finder"] = {"lrs": list(self.lrs), "losses": list(self.losses), **suggest(self.lrs, self.losses)}

    def _ended(self, why: str) -> str:
        return f"LR range test done: {why}."

    def __repr__(self) -> str:
        return f"LRFinder({self.start:g} -> {self.end:g}, stop at {self.blowup:g}x the best loss)"


def from_config(config: TrainConfig) -> LRFinder | None:
    """The listener a config asks for through extras["lr_finder"], or None."""
    spec = config.extras.get("lr_finder") if isinstance(config.extras, dict) else None
    if not spec:
        return None
    spec = spec if isinstance(spec, dict) else {}
    return LRFinder(start=float(spec.get("start", START_LR)), end=float(spec.get("end", END_LR)))
