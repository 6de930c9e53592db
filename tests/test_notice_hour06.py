"""Hour 6's "What to notice", checked on the page's own default runs (same configs, same seed)."""

import itertools

import pytest

from engine.train.experiment import make_trainer
from lessons.recipes import hour06


def snapshot_of(config) -> dict:
    t = make_trainer(config)
    results = t.fit()
    return {"series": t.log.snapshot(), "results": results, "config": config.to_dict(), "step": t.step}


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    return {label: snapshot_of(cfg) for label, cfg in hour06.default_configs().items()}


@pytest.fixture(scope="module")
def early() -> dict:
    (cfg,) = hour06.early_configs().values()
    return snapshot_of(cfg)


def val(run):
    return run["series"]["val_loss"]


def test_runs_differ_only_in_their_remedy():
    cfgs = hour06.default_configs()
    assert list(cfgs) == [hour06.NO_HELP, hour06.AUGMENT, hour06.DROPOUT, hour06.DECAY]
    assert [(c.augment, c.dropout, c.weight_decay) for c in cfgs.values()] == [
        (False, 0.0, 0.0), (True, 0.0, 0.0), (False, 0.5, 0.0), (False, 0.0, 0.01)]
    assert {(c.shots, c.domain_shift, c.steps, c.seed, c.early_stopping) for c in cfgs.values()} == {(3, 0.6, 120, 0, 0)}
    # the page's knobs set the remedies' strength, and only theirs
    mine = hour06.default_configs(dropout=0.2, weight_decay=1e-3, steps=60)
    assert mine[hour06.DROPOUT].dropout == 0.2 and mine[hour06.DECAY].weight_decay == 1e-3
    assert mine[hour06.NO_HELP].dropout == 0.0 and mine[hour06.NO_HELP].weight_decay == 0.0
    assert {c.steps for c in mine.values()} == {60}


def test_without_help_validation_loss_turns_up_while_training_loss_falls(runs):
    r = runs[hour06.NO_HELP]
    steps, losses = val(r)
    turn = hour06.turn(r)
    assert turn["best step"] == 20
    after = [v for s, v in zip(steps, losses) if s >= 40]
    assert all(b > a for a, b in itertools.pairwise(after))  # climbs at every evaluation after step 40
    assert turn["climbed"] > 0.1
    train_steps, train = r["series"]["train_loss"]
    assert sum(train[-10:]) / 10 < 0.01
    assert sum(train[-10:]) / 10 < min(v for s, v in zip(train_steps, train) if s <= 20)


def test_weight_decay_narrows_the_gap(runs):
    none, wd = runs[hour06.NO_HELP], runs[hour06.DECAY]
    assert hour06.turn(wd)["climbed"] == 0.0  # its lowest validation loss is its last
    assert val(wd)[1][-1] < val(none)[1][-1] - 0.3
    assert hour06.gap(wd) < hour06.gap(none) - 0.3


def test_dropout_barely_moves_the_gap_and_augmentation_widens_it(runs):
    none = hour06.gap(runs[hour06.NO_HELP])
    assert abs(hour06.gap(runs[hour06.DROPOUT]) - none) < 0.15
    assert hour06.gap(runs[hour06.AUGMENT]) > none


def test_early_stopping_marks_the_best_step_and_restores_it(early, runs):
    results = early["results"]
    assert results["status"] == "finished"
    assert results["message"] == "early stopping at step 80: validation loss has not improved since step 20."
    assert results["best_step"] == 20 and early["step"] == 80
    steps, losses = val(early)
    best = losses[steps.index(20)]
    assert steps[-1] == 80 and losses[-1] == pytest.approx(best, abs=1e-6)  # the restored weights, evaluated again
    # same run as no help up to the stop: the best step is where that run's validation loss was lowest
    assert hour06.turn(runs[hour06.NO_HELP])["best val loss"] == pytest.approx(best, abs=1e-6)


def test_gap_table_reads_the_runs(runs):
    table = hour06.gap_table(runs)
    assert list(table.index) == list(runs)
    assert table.loc[hour06.NO_HELP, "best step"] == 20
    assert table.loc[hour06.DECAY, "gap (val - train)"] == pytest.approx(hour06.gap(runs[hour06.DECAY]))
