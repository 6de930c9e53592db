"""Hour 4's "What to notice", checked on its default experiment (fixed seed, fewer steps)."""

import pytest

from engine.train.experiment import make_trainer
from lessons.recipes import hour04

STEPS = 120  # every group has joined by step 100; the page runs 200
BODY = ["stem", "block1", "block2", "block3"]


@pytest.fixture(scope="module")
def runs():
    out = {}
    for label, cfg in hour04.default_configs(steps=STEPS).items():
        trainer = make_trainer(cfg)
        results = trainer.fit()
        out[label] = (results, trainer.log.snapshot(), cfg)
        print(label, results["test_accuracy"], results["source_accuracy"], results["drift"])
    return out


def test_lr_profile():
    profile = hour04.lr_profile(hour04.BASE)
    assert list(profile) == [*BODY, "head"]
    assert profile["head"] == pytest.approx(1e-3)
    assert profile["stem"] == pytest.approx(1e-3 * 0.7**4)  # "about a quarter of the head's LR"
    assert 0.2 < profile["stem"] / profile["head"] < 0.3
    for lower, upper in zip(profile.values(), list(profile.values())[1:]):
        assert lower == pytest.approx(0.7 * upper)
    flat = hour04.lr_profile(hour04.configs()[hour04.FLAT])
    assert set(flat.values()) == {1e-3}
    # a discriminative range replaces the decay: log-spaced from the first group to the head
    ranged = hour04.lr_profile(hour04.BASE.replace(lr_range=(1e-5, 1e-3)))
    assert list(ranged.values()) == pytest.approx([1e-5, 10**-4.5, 1e-4, 10**-3.5, 1e-3])


def test_the_runs_read_the_lrs_the_chart_shows(runs):
    _results, series, cfg = runs[hour04.DECAYED]
    for group, lr in hour04.lr_profile(cfg).items():
        assert series[f"lr/{group}"][1][-1] == pytest.approx(lr)  # constant schedule: the live LR is the base LR


def test_drift_follows_the_lr_profile(runs):
    decayed, _, _ = runs[hour04.DECAYED]
    flat, _, _ = runs[hour04.FLAT]
    d = [decayed["drift"][g] for g in BODY]
    assert d == sorted(d) and d[0] < d[-1] / 3  # early groups move least
    shrink = [decayed["drift"][g] / flat["drift"][g] for g in BODY]
    assert all(s < 1 for s in shrink)  # every body group drifts less than with one flat LR
    assert shrink == sorted(shrink)  # and the lower the group, the more its drift shrinks


def test_decayed_run_forgets_less(runs):
    decayed, _, _ = runs[hour04.DECAYED]
    flat, _, _ = runs[hour04.FLAT]
    assert decayed["source_accuracy"] >= flat["source_accuracy"] + 0.05
    assert decayed["test_accuracy"] >= flat["test_accuracy"] - 0.02


def test_gradual_unfreezing_timeline(runs):
    assert hour04.joins_at(hour04.BASE) == {"stem": 100, "block1": 75, "block2": 50, "block3": 25, "head": 0}
    for _results, series, cfg in runs.values():
        plan = hour04.trainable_plan(cfg)
        for group, start in hour04.joins_at(cfg).items():
            assert series[f"trainable/{group}"] == plan[group]  # the drawn timeline is the run's
            steps, drift = series[f"drift/{group}"]
            before = [v for s, v in zip(steps, drift) if s <= start]
            after = [v for s, v in zip(steps, drift) if s > start]
            assert set(before) == {0.0}, group  # exactly still until it joins
            assert min(after) > 0, group


def test_without_gradual_unfreezing_everything_trains_from_the_start():
    cfg = hour04.BASE.replace(gradual_unfreeze=0, steps=20)
    assert set(hour04.joins_at(cfg).values()) == {0}
    assert all(set(v) == {1.0} for _, v in hour04.trainable_plan(cfg).values())
