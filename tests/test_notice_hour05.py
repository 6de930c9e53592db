"""Hour 5's default experiment is what the page describes, and its table and chart read the runs as they say.
Its "What to notice" claims and the Try this outcome it states are checked over five seeds at the page's own
length by tests/test_claims.py (lessons/recipes/hour05.py, CLAIMS)."""

from __future__ import annotations

import math

import pytest

from engine.train.lr_finder import SERIES_LOSS, SERIES_LR
from lessons import _charts
from lessons.recipes import hour05


def test_defaults_are_what_the_page_says():
    cfgs = hour05.default_configs()
    assert list(cfgs) == ["sgd", "momentum", "adam", hour05.EQUAL_STEP]
    assert [(c.optimizer, c.lr) for c in cfgs.values()] == [("sgd", 1e-2), ("momentum", 1e-2), ("adam", 1e-3), ("sgd", 0.1)]
    assert cfgs[hour05.EQUAL_STEP].lr == pytest.approx(cfgs["momentum"].lr / (1 - hour05.MOMENTUM))
    assert cfgs[hour05.EQUAL_STEP] == cfgs["momentum"].replace(optimizer="sgd", lr=cfgs[hour05.EQUAL_STEP].lr)
    assert {c.seed for c in cfgs.values()} == {0} and {c.steps for c in cfgs.values()} == {100}
    assert list(hour05.default_configs(["sgd", "adam"])) == ["sgd", "adam"]  # no momentum: no equal-step run
    assert list(hour05.default_configs(["momentum"], equal_step=False)) == ["momentum"]
    assert list(hour05.finder_configs(["sgd", "adam"])) == ["sgd LR range test", "adam LR range test"]


def test_the_momentum_the_page_names_is_torchs():
    import torch

    from engine.core.config import TrainConfig
    from engine.train import strategies

    opt = strategies.make_optimizer(TrainConfig(optimizer="momentum"), [("p", torch.nn.Linear(2, 2))], [1e-2])
    assert opt.param_groups[0]["momentum"] == hour05.MOMENTUM


def test_every_claim_reads_runs_of_one_draw_at_the_page_length():
    assert hour05.CLAIMS.page == hour05.PAGE and len(hour05.CLAIMS.claims) == 10
    runs = hour05.CLAIMS.runs(4)
    assert list(runs) == ["sgd", "momentum", "adam", hour05.EQUAL_STEP, "sgd LR range test", "adam LR range test"]
    assert {c.seed for c in runs.values()} == {4}
    assert {c.steps for k, c in runs.items() if "range" not in k} == {hour05.BASE.steps}


def test_optimizer_state_per_weight_is_measured_from_torch():
    assert {o: hour05.state_per_weight(o) for o in hour05.SHOWN} == {"sgd": 0.0, "momentum": 1.0, "adam": 2.0}


def test_oscillation_is_relative_to_the_loss_level():
    low = [0.02, 0.03] * 20
    assert hour05.oscillation([10 * v for v in low]) == pytest.approx(hour05.oscillation(low))
    assert hour05.oscillation([1.0] * 40) == 0.0


def _run(losses, optimizer="sgd", lr=1e-2, ratio=1e-3):
    steps = list(range(1, len(losses) + 1))
    series = {"train_loss": (steps, losses), **{f"update/{g}": ([5, 10], [ratio, 3 * ratio]) for g in hour05.BLOCKS}}
    return {"series": series, "results": {"steps_per_second": 10.0, "test_accuracy": 0.9},
            "config": {"optimizer": optimizer, "lr": lr}}


def _finder(lrs, losses):
    steps = list(range(1, len(lrs) + 1))
    return {"series": {SERIES_LR: (steps, lrs), SERIES_LOSS: (steps, losses)}, "config": {"optimizer": "adam"},
            "results": {"lr_finder": {"steepest_lr": lrs[3]}}}


def test_comparison_table_reads_the_runs():
    finder = _finder([1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.9, 1.0, 0.2, 0.5, 3.0])
    table = hour05.comparison_table({"sgd": _run([2.0, 1.0, 0.4, 0.3] * 5),
                                     "adam": _run([1.0, 0.3, 0.2, 0.1] * 5, "adam", 1e-3, ratio=2e-3)},
                                    {"adam LR range test": finder})
    assert list(table.index) == ["sgd", "adam"]
    assert table.loc["adam", "update/weight, blocks (median)"] == pytest.approx(4e-3)  # median of (2e-3, 6e-3)
    assert table.loc["adam", "state per weight"] == 2.0 and table.loc["sgd", "LR"] == 1e-2
    assert table.loc["adam", "good-LR band (decades)"] == pytest.approx(math.log10(1e-1 / 1e-3))
    assert math.isnan(table.loc["sgd", "good-LR band (decades)"])  # no range test run for it: nothing made up
    assert set(hour05.TABLE_HELP) <= set(table.columns)


def test_finder_figure_draws_the_curve_with_its_band():
    snap = _finder([1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.9, 1.0, 0.2, 0.5, 3.0])
    fig = _charts.finder_figure({"adam LR range test": snap})
    lrs, losses = hour05.finder_curve(snap)
    assert len(fig.data) == 1 and list(fig.data[0].x) == lrs and list(fig.data[0].y) == losses
    assert fig.layout.xaxis.type == "log"
    assert (fig.layout.shapes[0].x0, fig.layout.shapes[0].x1) == hour05.valley(lrs, losses)  # the shaded band
