"""Hour 3's "What to notice": what CLAIMS (lessons/recipes/hour03.py, tests/test_claims.py) does not check.

Drift, update ratios, the forgetting meter and the target accuracies hold over five draws at 200 steps in
CLAIMS; here the page's default config, the unfreeze caption, and Try this's feature-extraction case (the same
for every draw by construction), on short runs.
"""

import pytest

from engine.train.experiment import make_trainer
from lessons.recipes import hour03

BODY = ["stem", "block1", "block2", "block3"]


def test_the_default_runs_differ_only_in_lr():
    cfgs = hour03.default_configs()
    careful, large = cfgs[hour03.CAREFUL], cfgs[hour03.TOO_LARGE]
    assert (careful.lr, large.lr) == (1e-4, hour03.TOO_LARGE_LR)
    assert careful.replace(lr=large.lr) == large
    assert careful.unfreeze == 3 and careful.strategy == "finetune" and careful.steps == 200
    assert hour03.FIRST_CHECK == careful.eval_every == 50  # the NOTICE's "first check (step 50)"
    runs = hour03.CLAIMS.runs(2)
    assert runs[hour03.CAREFUL] == careful.replace(seed=2) and runs[hour03.TOO_LARGE] == large.replace(seed=2)
    assert runs[hour03.FULL] == careful.replace(seed=2, unfreeze=None)
    assert runs[hour03.HUGE] == careful.replace(seed=2, lr=hour03.HUGE_LR)


def test_trainable_groups_caption():
    assert hour03.trainable_groups(hour03.BASE) == {"stem": False, "block1": True, "block2": True, "block3": True,
                                                    "head": True}
    assert hour03.trainable_groups(hour03.BASE.replace(unfreeze=0)) == {**dict.fromkeys(BODY, False), "head": True}
    assert all(hour03.trainable_groups(hour03.BASE.replace(unfreeze=None)).values())


@pytest.mark.parametrize("lr", [hour03.BASE.lr, hour03.TOO_LARGE_LR])
def test_with_no_trainable_group_the_meter_does_not_move(lr):
    # Try this "Set trainable body groups to 0": no body drift, the forgetting meter exactly at its start, any LR
    trainer = make_trainer(hour03.BASE.replace(unfreeze=0, lr=lr, steps=30, eval_every=15))
    results = trainer.fit()
    series = trainer.log.snapshot()
    assert results["status"] == "finished"
    for group in BODY:
        assert set(series[f"drift/{group}"][1]) == {0.0}
    assert results["drift"]["head"] > 0
    assert set(series["source_accuracy"][1]) == {results["source_accuracy_start"]}
