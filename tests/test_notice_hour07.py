"""Hour 7's "What to notice", checked on the page's own default runs (same configs, same seed)."""

import pytest

from engine.train.experiment import make_trainer
from lessons.recipes import hour07


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    out = {}
    for label, cfg in hour07.default_configs().items():
        t = make_trainer(cfg)
        results = t.fit()
        out[label] = {"series": t.log.snapshot(), "results": results, "config": cfg.to_dict()}
    return out


def meter(run, upto=None):
    steps, values = run["series"]["source_accuracy"]
    return [v for s, v in zip(steps, values) if upto is None or s <= upto]


def target(run, upto=None):
    steps, values = run["series"]["val_accuracy"]
    return [v for s, v in zip(steps, values) if upto is None or s <= upto]


def test_the_three_runs_differ_only_in_bn_mode_and_l2sp():
    cfgs = hour07.default_configs()
    assert [(c.bn_mode, c.l2sp) for c in cfgs.values()] == [("train", 0.0), ("frozen", 0.0), ("train", 10.0)]
    dicts = [c.to_dict() for c in cfgs.values()]
    for d in dicts:
        d.pop("bn_mode"), d.pop("l2sp")
    assert dicts[0] == dicts[1] == dicts[2]
    assert cfgs[hour07.NO_HELP].lr == 1e-3 and cfgs[hour07.NO_HELP].steps == 100


def test_every_run_starts_from_the_same_source_accuracy(runs):
    starts = {label: meter(r)[0] for label, r in runs.items()}
    assert len(set(starts.values())) == 1
    assert 0.8 < starts[hour07.NO_HELP] < 0.92  # "about 86%"


def test_no_help_forgets_fast_while_learning_the_target(runs):
    r = runs[hour07.NO_HELP]
    assert min(meter(r, upto=20)) < 0.6
    assert target(r, upto=20)[-1] > 0.8


def test_l2sp_keeps_the_source_and_still_learns_the_target(runs):
    r = runs[hour07.L2SP_ONLY]
    assert min(meter(r)) > 0.7  # a dip in the first steps, while batch norm's statistics move to the target...
    steps = r["series"]["source_accuracy"][0]
    assert min(v for s, v in zip(steps, meter(r)) if s >= 20) > 0.75  # ...then it holds
    assert max(target(r)) > 0.9 and target(r)[-1] > 0.9
    # and it forgets less than the run with no help, at every reading after the start
    assert all(a > b for a, b in zip(meter(r)[1:], meter(runs[hour07.NO_HELP])[1:]))


def test_frozen_bn_alone_forgets_even_more(runs):
    frozen, none = runs[hour07.BN_ONLY], runs[hour07.NO_HELP]
    assert meter(frozen)[-1] < 0.2
    assert meter(frozen)[-1] < meter(none)[-1]
    assert min(meter(frozen, upto=20)) < min(meter(none, upto=20))
    assert target(frozen)[-1] > 0.8  # it does learn the target: the damage is to the source task


def test_forgetting_table_reads_the_runs(runs):
    table = hour07.forgetting_table(runs)
    assert list(table.index) == [hour07.NO_HELP, hour07.BN_ONLY, hour07.L2SP_ONLY]
    assert table.loc[hour07.L2SP_ONLY, "source now"] == meter(runs[hour07.L2SP_ONLY])[-1]
    assert table.loc[hour07.NO_HELP, "source lowest"] == min(meter(runs[hour07.NO_HELP]))
