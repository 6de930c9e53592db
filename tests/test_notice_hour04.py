"""Hour 4's "What to notice": what CLAIMS (lessons/recipes/hour04.py, tests/test_claims.py) does not check.

Drift ratios, the forgetting meter, the join steps and the Try this runs hold over five draws at 200 steps in
CLAIMS; here the LR profile and unfreezing plan the page draws (no training, or a few steps), and its defaults.
"""

import pytest

from engine.train.experiment import make_trainer
from lessons.recipes import hour04

BODY = ["stem", "block1", "block2", "block3"]


def test_the_default_experiment():
    cfgs = hour04.default_configs()
    decayed, flat = cfgs[hour04.DECAYED], cfgs[hour04.FLAT]
    assert (decayed.layer_decay, decayed.gradual_unfreeze, decayed.lr, decayed.steps) == (0.7, 25, 1e-3, 200)
    assert flat == decayed.replace(layer_decay=1.0, lr_range=None)  # the same unfreezing: only the LR profile differs
    runs = hour04.CLAIMS.runs(1)
    assert runs[hour04.DECAYED] == decayed.replace(seed=1) and runs[hour04.FLAT] == flat.replace(seed=1)
    assert runs[hour04.DECAYED_ALL] == decayed.replace(seed=1, gradual_unfreeze=0)
    assert runs[hour04.FLAT_ALL] == flat.replace(seed=1, gradual_unfreeze=0)
    assert runs[hour04.RANGED] == decayed.replace(seed=1, lr_range=hour04.RANGE)
    # Try this "Set the layer decay to 1": the two runs are then the same config, so the same run
    same = hour04.configs(hour04.BASE.replace(layer_decay=1.0))
    assert same[hour04.DECAYED] == same[hour04.FLAT]


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
    # a discriminative range replaces the decay: log-spaced from the first group to the head ("100 times")
    ranged = hour04.lr_profile(hour04.BASE.replace(lr_range=hour04.RANGE))
    assert list(ranged.values()) == pytest.approx([1e-5, 10**-4.5, 1e-4, 10**-3.5, 1e-3])
    # the quiz's ULMFiT arithmetic
    assert hour04.lr_profile(hour04.BASE.replace(layer_decay=1 / 2.6))["stem"] == pytest.approx(2.2e-5, rel=0.02)


def test_the_run_reads_the_lrs_the_chart_shows_and_the_planned_timeline():
    cfg = hour04.BASE.replace(steps=50, eval_every=50, gradual_unfreeze=10)  # the stem joins at 40
    trainer = make_trainer(cfg)
    trainer.fit()
    series = trainer.log.snapshot()
    for group, lr in hour04.lr_profile(cfg).items():
        assert series[f"lr/{group}"][1][-1] == pytest.approx(lr)  # constant schedule: the live LR is the base LR
    plan = hour04.trainable_plan(cfg)
    for group in hour04.group_names(cfg):
        assert series[f"trainable/{group}"] == plan[group]  # the drawn timeline is the run's


def test_gradual_unfreezing_plan():
    assert hour04.joins_at(hour04.BASE) == {"stem": 100, "block1": 75, "block2": 50, "block3": 25, "head": 0}
    cfg = hour04.BASE.replace(gradual_unfreeze=0, steps=20)
    assert set(hour04.joins_at(cfg).values()) == {0}
    assert all(set(v) == {1.0} for _, v in hour04.trainable_plan(cfg).values())
