"""Hour 3's "What to notice", checked on its default experiment (fixed seed, fewer steps)."""

import pytest

from engine.train.experiment import make_trainer
from lessons.recipes import hour03

STEPS = 120  # the claims already hold here; the page runs 200


@pytest.fixture(scope="module")
def runs():
    out = {}
    for label, cfg in hour03.default_configs(steps=STEPS).items():
        trainer = make_trainer(cfg)
        results = trainer.fit()
        out[label] = (results, trainer.log.snapshot())
    return out


def test_the_default_runs_differ_only_in_lr():
    cfgs = hour03.default_configs()
    careful, large = cfgs[hour03.CAREFUL], cfgs[hour03.TOO_LARGE]
    assert (careful.lr, large.lr) == (1e-4, hour03.TOO_LARGE_LR)
    assert careful.replace(lr=large.lr) == large
    assert careful.unfreeze == 3 and careful.strategy == "finetune"


def test_only_unfrozen_groups_drift(runs):
    for results, series in runs.values():
        assert results["status"] == "finished"
        assert results["trainable"] == {"stem": False, "block1": True, "block2": True, "block3": True, "head": True}
        assert set(series["drift/stem"][1]) == {0.0}  # exactly zero at every logged step
        for group in ("block1", "block2", "block3", "head"):
            assert results["drift"][group] > 0.01


def test_too_large_lr_moves_early_layers_far(runs):
    careful, _ = runs[hour03.CAREFUL]
    large, _ = runs[hour03.TOO_LARGE]
    assert large["drift"]["block1"] > 6 * careful["drift"]["block1"]  # "roughly ten times"
    assert large["drift"]["block1"] > 0.3


def test_forgetting_meter(runs):
    careful, _ = runs[hour03.CAREFUL]
    large, _ = runs[hour03.TOO_LARGE]
    assert careful["source_accuracy_start"] == large["source_accuracy_start"]
    assert 0.82 <= careful["source_accuracy_start"] <= 0.9  # "starts near 86%"
    assert careful["source_accuracy"] > 0.6
    assert large["source_accuracy"] < 0.1


def test_target_accuracy_hides_the_damage(runs):
    careful, _ = runs[hour03.CAREFUL]
    large, _ = runs[hour03.TOO_LARGE]
    assert abs(careful["test_accuracy"] - large["test_accuracy"]) <= 0.05
