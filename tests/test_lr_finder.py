"""The LR range test: the sweep's LRs, its smoothing, its stop rule and its suggestions, exactly."""

import math

import pytest
import torch

from engine.core.config import TrainConfig
from engine.data.tasks import Split, Task
from engine.train import lr_finder
from engine.train.callbacks import default_callbacks
from engine.train.experiment import make_trainer
from engine.train.lr_finder import LRFinder, finder_config, suggest
from engine.train.schedules import lr_finder_lr
from engine.train.trainer import Callback, Trainer


def tiny_task(n_classes: int = 3, per_class: int = 4) -> Task:
    """Random images, no rendering: a few milliseconds per step."""
    g = torch.Generator().manual_seed(0)

    def split(k: int) -> Split:
        return Split(torch.rand(n_classes * k, 3, 32, 32, generator=g), torch.arange(n_classes).repeat_interleave(k))

    return Task("tiny", [f"c{i}" for i in range(n_classes)], split(per_class), split(2), split(2))


def tiny_config(**kw) -> TrainConfig:
    base = TrainConfig(weights="scratch", n_classes=3, batch_size=6, optimizer="sgd", log_every=1)
    return finder_config(base, **kw)


def trainer_for(config: TrainConfig, extra: list[Callback] | None = None) -> Trainer:
    return make_trainer(config, extra, task=tiny_task())


class RecordLRs(Callback):
    order = 0  # before_step after the finder (-5): sees the LRs the step will use

    def __init__(self):
        self.seen: list[list[float]] = []

    def before_step(self, t):
        self.seen.append([pg["lr"] for pg in t.optimizer.param_groups])


def test_finder_config_turns_on_the_listener_and_turns_off_what_would_fight_it():
    base = TrainConfig(schedule="cosine", early_stopping=3, gradual_unfreeze=10, extras={"note": "x"})
    cfg = finder_config(base, steps=40, start=1e-5, end=10.0)
    assert (cfg.steps, cfg.schedule, cfg.early_stopping, cfg.gradual_unfreeze, cfg.eval_every) == (40, "constant", 0, 0, 40)
    assert cfg.extras == {"note": "x", "lr_finder": {"start": 1e-5, "end": 10.0}}
    finders = [cb for cb in default_callbacks(cfg) if isinstance(cb, LRFinder)]
    assert len(finders) == 1 and (finders[0].start, finders[0].end) == (1e-5, 10.0)
    assert not any(isinstance(cb, LRFinder) for cb in default_callbacks(base))


def test_every_step_uses_the_exponential_sweep_and_groups_keep_their_ratios():
    cfg = tiny_config(steps=8, start=1e-4, end=1e-2).replace(layer_decay=0.5)
    rec = RecordLRs()
    t = trainer_for(cfg, [rec])
    t.fit()
    assert t.step == 8 and t.status == "finished"
    for step, lrs in enumerate(rec.seen):
        head = lr_finder_lr(step, 8, 1e-4, 1e-2)
        assert lrs == pytest.approx([head * 0.5**4, head * 0.5**3, head * 0.5**2, head * 0.5, head])
    assert rec.seen[0][-1] == pytest.approx(1e-4) and rec.seen[-1][-1] == pytest.approx(1e-2)
    # the metric log holds the same sweep, one point per step
    steps, lrs = t.log.snapshot()[lr_finder.SERIES_LR]
    assert steps == list(range(1, 9))
    assert lrs == pytest.approx([lr_finder_lr(s, 8, 1e-4, 1e-2) for s in range(8)])


def test_recorded_loss_is_the_bias_corrected_moving_average_of_the_raw_loss():
    t = trainer_for(tiny_config(steps=6, start=1e-5, end=1e-4))
    t.fit()
    raw = t.log.snapshot()["train_loss"][1]
    avg, expected = 0.0, []
    for n, loss in enumerate(raw, start=1):
        avg = 0.9 * avg + 0.1 * loss
        expected.append(avg / (1 - 0.9**n))
    assert t.results["lr_finder"]["losses"] == pytest.approx(expected, rel=1e-6)
    assert t.log.snapshot()[lr_finder.SERIES_LOSS][1] == pytest.approx(expected, rel=1e-6)
    assert expected[0] == pytest.approx(raw[0])  # bias correction: the first point is the loss itself


def test_sweep_stops_once_the_loss_passes_four_times_its_best_and_the_run_is_not_called_diverged():
    t = trainer_for(tiny_config(steps=20, start=1e-2, end=1e4))
    t.fit()
    curve = t.results["lr_finder"]
    assert t.status == "finished"  # the blow-up is the measurement, not a failure
    assert t.step < 20
    assert t.message.startswith("LR range test done: ")
    last, best = curve["losses"][-1], min(curve["losses"])
    if "infinite" not in t.message:
        assert last > 4 * best
        assert all(v <= 4 * min(curve["losses"][: i + 1]) for i, v in enumerate(curve["losses"][:-1]))
    # the step that tripped the rule is recorded (an infinite loss is not) but never taken
    assert len(curve["lrs"]) == len(curve["losses"]) == t.step + (0 if "infinite" in t.message else 1)


def test_suggest_on_a_curve_with_a_known_valley():
    lrs = [10.0**e for e in (-6, -5, -4, -3, -2, -1, 0)]
    losses = [2.3, 2.2, 1.9, 1.0, 0.6, 0.5, 3.0]
    s = suggest(lrs, losses)
    assert s["min_lr"] == 0.1
    assert s["suggested_lr"] == pytest.approx(0.01)
    # central slopes per decade: (1.9-2.3)/2, (1.0-2.2)/2, (0.6-1.9)/2, (0.5-1.0)/2 -> steepest at 1e-3
    assert s["steepest_lr"] == 1e-3


def test_suggest_needs_three_points():
    assert suggest([1e-3, 1e-2], [2.0, 1.0]) == {"min_lr": None, "steepest_lr": None, "suggested_lr": None}


def test_listener_reads_its_settings_from_extras():
    assert lr_finder.from_config(TrainConfig()) is None
    f = lr_finder.from_config(TrainConfig(extras={"lr_finder": True}))
    assert (f.start, f.end, f.blowup) == (1e-6, 1.0, 4.0)
    assert repr(f) == "LRFinder(1e-06 -> 1, stop at 4x the best loss)"
    assert math.isclose(lr_finder_lr(99, 100), 1.0)
