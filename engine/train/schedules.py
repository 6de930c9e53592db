"""LR schedules as pure functions of the step: factor(step) multiplies each group's base LR.

They match torch.optim.lr_scheduler step for step (tests use torch's schedulers as the oracle),
and because they are pure, a page can draw the curve before anything trains.
"""

from __future__ import annotations

import math

from engine.core.config import SCHEDULES, ConfigError

STEP_GAMMA = 0.1  # step schedule: multiply by this...
STEP_EVERY_FRACTION = 1 / 3  # ...every third of the run (StepLR with step_size = steps // 3)
WARMUP_START = 0.01  # warm-up starts at 1% of the LR (LinearLR start_factor)
ONECYCLE_PCT = 0.3  # one-cycle: fraction of steps spent rising (OneCycleLR pct_start)
ONECYCLE_DIV = 25.0  # starts at max / 25 (div_factor)
ONECYCLE_FINAL_DIV = 1e4  # ends at start / 1e4 (final_div_factor)


def factor(schedule: str, step: int, total: int, warmup: int = 20) -> float:
    """Multiplier of the base LR at optimizer step `step` (0-based) of `total`."""
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        every = max(1, int(total * STEP_EVERY_FRACTION))
        return STEP_GAMMA ** (step // every)
    if schedule == "cosine":  # CosineAnnealingLR(T_max=total, eta_min=0)
        return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    if schedule == "warmup":  # LinearLR(start_factor=WARMUP_START, total_iters=warmup), then flat
        w = max(1, warmup)
        return WARMUP_START + (1 - WARMUP_START) * min(step, w) / w
    if schedule == "onecycle":
        return _onecycle(step, total)
    raise ConfigError(f"unknown schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}.")


def _onecycle(step: int, total: int) -> float:
    """OneCycleLR with cosine annealing (two phases), as a fraction of max_lr."""
    start, peak = 1 / ONECYCLE_DIV, 1.0
    end = start / ONECYCLE_FINAL_DIV
    up_end = float(ONECYCLE_PCT * total) - 1
    down_end = float(total - 1)
    if step <= up_end:
        pct, a, b = step / up_end, start, peak
    else:
        pct, a, b = (step - up_end) / (down_end - up_end), peak, end
    return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)


def curve(schedule: str, total: int, warmup: int = 20) -> list[float]:
    """The factor at every step, for drawing the schedule before training."""
    return [factor(schedule, s, total, warmup) for s in range(total)]


def lr_finder_lr(step: int, total: int, start: float = 1e-6, end: float = 1.0) -> float:
    """The LR range test's exponential sweep from `start` to `end` over `total` steps."""
    return start * (end / start) ** (step / max(1, total - 1))
