"""Hour 6's default experiment is what the page describes, and its table's figures are measured as it says. Its
"What to notice" claims are checked over five seeds at the page's own length by tests/test_claims.py
(lessons/recipes/hour06.py, CLAIMS)."""

from __future__ import annotations

import math

import pytest

from engine.train.experiment import make_trainer
from lessons.recipes import hour06


def test_runs_differ_only_in_their_remedy():
    cfgs = hour06.default_configs()
    assert list(cfgs) == [hour06.NO_HELP, hour06.AUGMENT, hour06.DROPOUT, hour06.DECAY]
    assert [(c.augment, c.dropout, c.weight_decay) for c in cfgs.values()] == [
        (False, 0.0, 0.0), (True, 0.0, 0.0), (False, 0.5, 0.0), (False, 0.0, 0.01)]
    assert {(c.shots, c.domain_shift, c.steps, c.eval_every, c.seed, c.early_stopping) for c in cfgs.values()} == {
        (3, 0.6, 120, 20, 0, 0)}
    # the page's knobs set the remedies' strength, and only theirs
    mine = hour06.default_configs(dropout=0.2, weight_decay=1e-3, steps=60)
    assert mine[hour06.DROPOUT].dropout == 0.2 and mine[hour06.DECAY].weight_decay == 1e-3
    assert mine[hour06.NO_HELP].dropout == 0.0 and mine[hour06.NO_HELP].weight_decay == 0.0
    assert {c.steps for c in mine.values()} == {60}
    (early,) = hour06.early_configs().values()
    assert early == cfgs[hour06.NO_HELP].replace(early_stopping=3)  # the no-help run, stopped early


def test_every_notice_line_has_its_claims():
    assert hour06.CLAIMS.page == hour06.PAGE and len(hour06.CLAIMS.claims) == 14
    runs = hour06.CLAIMS.runs(3)
    assert list(runs) == [hour06.NO_HELP, hour06.AUGMENT, hour06.DROPOUT, hour06.DECAY, hour06.EARLY]
    assert {c.seed for c in runs.values()} == {3} and {c.steps for c in runs.values()} == {hour06.BASE.steps}
    assert f"({hour06.DROPOUT_P:g}, before the head)" in hour06.NOTICE[3]
    assert f"(patience {hour06.PATIENCE})" in hour06.NOTICE[5] and hour06.PATIENCE == 3


def test_every_run_reports_its_training_images_measured_clean_in_eval_mode():
    """On a short augmented, dropout run: the results carry the trainer's own eval-mode pass over the clean
    training images, not the logged (augmented, masked) training loss."""
    cfg = hour06.BASE.replace(augment=True, dropout=0.5, steps=5, eval_every=5)
    t = make_trainer(cfg)
    results = t.fit()
    loss, acc, _ = t.evaluate(t.task.train)
    assert results["train_loss_clean"] == pytest.approx(loss, rel=1e-5)
    assert results["train_accuracy_clean"] == pytest.approx(acc)
    assert results["train_loss_clean"] != pytest.approx(results["train_loss"], rel=1e-3)


def _snap(val_loss, val_acc, train_loss, test=0.5, steps=(0, 20, 40), clean=None):
    return {"series": {"val_loss": (list(steps), val_loss), "val_accuracy": (list(steps), val_acc),
                       "train_loss": (list(range(1, 11)), [train_loss] * 10)},
            "results": {"test_accuracy": test, **({"train_loss_clean": clean[0], "train_accuracy_clean": clean[1]}
                                                  if clean else {})}}


def test_gap_table_puts_clean_figures_beside_validation_ones():
    snaps = {"a": _snap([2.0, 1.0, 1.5], [0.1, 0.5, 0.6], 0.2, test=0.55, clean=(0.1, 1.0)),
             "b": _snap([2.0, 1.2, 1.1], [0.1, 0.4, 0.45], 0.3),
             "running": {"series": {}, "results": {}}}
    table = hour06.gap_table(snaps)
    assert list(table.index) == ["a", "b"]  # a run still training has no row
    a = table.loc["a"]
    assert a["loss gap"] == pytest.approx(1.4) and a["accuracy gap"] == pytest.approx(0.4)
    assert a["best step"] == 20 and a["climbed"] == pytest.approx(0.5) and a["test accuracy"] == 0.55
    assert a["train loss (logged)"] == pytest.approx(0.2)
    assert math.isnan(table.loc["b", "train loss (clean)"])  # stored before clean figures existed: blank, not the logged loss
