"""Hour 7's default experiment is what the page describes, and its table reads the runs. Its "What to notice"
claims and the Try this outcomes it states are checked over five seeds at the page's own length by
tests/test_claims.py (lessons/recipes/hour07.py, CLAIMS)."""

from __future__ import annotations

from lessons.recipes import hour07


def test_the_three_runs_differ_only_in_bn_mode_and_l2sp():
    cfgs = hour07.default_configs()
    assert [(c.bn_mode, c.l2sp) for c in cfgs.values()] == [("train", 0.0), ("frozen", 0.0), ("train", 10.0)]
    dicts = [c.to_dict() for c in cfgs.values()]
    for d in dicts:
        d.pop("bn_mode"), d.pop("l2sp")
    assert dicts[0] == dicts[1] == dicts[2]
    c = cfgs[hour07.NO_HELP]
    assert (c.lr, c.steps, c.eval_every, c.shots, c.strategy, c.seed) == (1e-3, 100, 10, 5, "finetune", 0)


def test_every_claim_reads_runs_of_one_draw_at_the_page_length():
    assert hour07.CLAIMS.page == hour07.PAGE and len(hour07.CLAIMS.claims) == 18
    runs = hour07.CLAIMS.runs(2)
    assert list(runs)[:3] == [hour07.NO_HELP, hour07.BN_ONLY, hour07.L2SP_ONLY]
    assert {c.seed for c in runs.values()} == {2} and {c.steps for c in runs.values()} == {hour07.BASE.steps}
    # the Try this runs are the page's own runs with that one knob moved
    assert runs["L2-SP 0.01"] == hour07.default_configs(seed=2, l2sp=0.01)[hour07.L2SP_ONLY]
    assert runs["no help @1e-4"] == runs[hour07.NO_HELP].replace(lr=hour07.LOW_LR)
    assert runs["frozen BN @1e-4"] == runs[hour07.BN_ONLY].replace(lr=hour07.LOW_LR)
    assert f"α = {hour07.L2SP_ALPHA:g}" in hour07.NOTICE[1]


def _snap(src, val, steps=(0, 10, 20)):
    return {"series": {"source_accuracy": (list(steps), src), "val_accuracy": (list(steps), val)}}


def test_forgetting_table_reads_the_runs():
    snaps = {"a": _snap([0.86, 0.5, 0.6], [0.1, 0.8, 0.9]), "b": _snap([0.86, 0.8, 0.82], [0.1, 0.4, 0.7]),
             "running": {"series": {}}}
    table = hour07.forgetting_table(snaps)
    assert list(table.index) == ["a", "b"]
    assert table.loc["a"].to_dict() == {"source at start": 0.86, "source lowest": 0.5, "source now": 0.6, "target now": 0.9}
    assert table.loc["b", "source lowest"] == 0.8
