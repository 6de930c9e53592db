"""Hour 5's "What to notice", checked on the page's own default runs (same configs, same seed)."""

import math

import pytest

from engine.train.experiment import make_trainer
from lessons import _charts
from lessons.recipes import hour05


def snapshot_of(config) -> dict:
    """What the page reads from a finished run: series, results and config."""
    t = make_trainer(config)
    results = t.fit()
    return {"series": t.log.snapshot(), "results": results, "config": config.to_dict()}


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    return {label: snapshot_of(cfg) for label, cfg in hour05.default_configs().items()}


@pytest.fixture(scope="module")
def adam_finder() -> dict:
    (cfg,) = hour05.finder_configs(["adam"]).values()
    return snapshot_of(cfg)


@pytest.fixture(scope="module")
def table(runs, adam_finder):
    return hour05.comparison_table(runs, {"adam LR range test": adam_finder})


def test_defaults_are_what_the_page_says():
    cfgs = hour05.default_configs()
    assert list(cfgs) == ["sgd", "momentum", "adam"]
    assert [c.lr for c in cfgs.values()] == [1e-2, 1e-2, 1e-3]
    assert {c.seed for c in cfgs.values()} == {0} and {c.steps for c in cfgs.values()} == {100}


def test_every_run_finishes(runs):
    assert {label: s["results"]["status"] for label, s in runs.items()} == {"sgd": "finished", "momentum": "finished", "adam": "finished"}


SPEED = f"steps to loss < {hour05.SPEED_LOSS:g}"


def test_plain_sgd_is_slowest(table):
    speed, mean = table[SPEED], table["mean train loss"]
    # SGD either never gets there (NaN) or gets there last, more than twice as late as the others
    assert not math.isnan(speed["momentum"]) and not math.isnan(speed["adam"])
    assert math.isnan(speed["sgd"]) or speed["sgd"] > 2 * max(speed["momentum"], speed["adam"])
    assert mean["sgd"] > 2 * max(mean["momentum"], mean["adam"])


def test_plain_sgd_is_noisiest_and_momentum_smooths_it(table):
    osc = table["oscillation"]
    assert osc["sgd"] > osc["momentum"] and osc["sgd"] > osc["adam"]
    assert osc["momentum"] < 0.25 * osc["sgd"]  # same LR, only the momentum term differs


def test_momentum_and_adam_are_fastest_and_level(table):
    speed = table[SPEED]
    assert speed["adam"] <= 30 and speed["momentum"] <= 30
    assert abs(speed["adam"] - speed["momentum"]) <= 5
    assert table.loc["adam", "LR"] == table.loc["momentum", "LR"] / 10


def test_optimizer_state_per_weight_is_measured_from_torch(table):
    assert table["state per weight"].to_dict() == {"sgd": 0.0, "momentum": 1.0, "adam": 2.0}


def test_lr_finder_curve_has_a_clear_valley(adam_finder, table):
    lrs, losses = hour05.finder_curve(adam_finder)
    best = min(range(len(losses)), key=losses.__getitem__)
    assert adam_finder["results"]["status"] == "finished"
    assert adam_finder["results"]["message"].startswith("LR range test done: the loss passed 4x its best")
    assert len(losses) < hour05.FINDER_STEPS  # it stopped at the blow-up, before the sweep's end
    assert max(abs(v - losses[0]) for v in losses[:20]) < 0.1 * losses[0]  # flat while the LR is tiny...
    assert losses[best] < 0.25 * losses[0]  # ...down into the valley...
    assert losses[-1] > 4 * losses[best]  # ...and out of it
    assert 0 < best < len(losses) - 1
    assert 1e-3 <= adam_finder["results"]["lr_finder"]["steepest_lr"] <= 5e-3
    band = hour05.valley(lrs, losses)  # the good-LR band the table reports as Adam's tuning effort
    assert table["good-LR band (decades)"]["adam"] == pytest.approx(math.log10(band[1] / band[0]))
    assert math.isnan(table["good-LR band (decades)"]["sgd"])  # no range test run for it: nothing made up


def test_finder_figure_draws_the_curve_with_its_band(adam_finder):
    fig = _charts.finder_figure({"adam LR range test": adam_finder})
    lrs, losses = hour05.finder_curve(adam_finder)
    assert len(fig.data) == 1 and list(fig.data[0].x) == lrs and list(fig.data[0].y) == losses
    assert fig.layout.xaxis.type == "log"
    band = hour05.valley(lrs, losses)
    assert (fig.layout.shapes[0].x0, fig.layout.shapes[0].x1) == band  # the shaded good-LR band
