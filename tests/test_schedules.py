"""Schedules are pure functions of the step; torch's own schedulers are the reference."""

import pytest
import torch

from engine.core.config import ConfigError
from engine.train import schedules

TOTAL = 50
BASE = 0.1


def torch_lrs(make_scheduler, total=TOTAL):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=BASE)
    sched = make_scheduler(opt)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize(
    "name, make",
    [
        ("constant", lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1.0)),
        ("step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=TOTAL // 3, gamma=0.1)),
        ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=TOTAL)),
        ("warmup", lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.01, total_iters=20)),
        ("onecycle", lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=BASE, total_steps=TOTAL, cycle_momentum=False)),
    ],
)
def test_schedule_matches_torch(name, make):
    ours = [BASE * f for f in schedules.curve(name, TOTAL, warmup=20)]
    assert ours == pytest.approx(torch_lrs(make), rel=1e-9, abs=1e-12)


def test_unknown_schedule_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown schedule 'sawtooth'; choose one of: constant, step, cosine, warmup, onecycle\."):
        schedules.factor("sawtooth", 0, 10)


def test_lr_finder_sweep_is_exponential():
    lrs = [schedules.lr_finder_lr(s, 5, 1e-4, 1.0) for s in range(5)]
    assert lrs == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
