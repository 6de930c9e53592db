"""Hour 2's "What to notice": what CLAIMS (lessons/recipes/hour02.py, tests/test_claims.py) does not check.

The accuracy and drift claims hold over five draws in CLAIMS; here the parameter counts the page quotes,
the step cost (the same for every draw, measured on short runs) and the page's default config.
"""

import time

import pytest
import torch

from engine.train.experiment import make_trainer
from engine.train.trainer import Callback
from lessons.recipes import hour02

STEPS = 40  # only the cost per step is read: no evaluation before the end


class StepCPUTime(Callback):
    """CPU seconds this thread spends inside training steps (evaluation excluded).

    CPU time, unlike wall time, does not grow when other programs share the machine, so the ratio
    of two runs' step costs is stable on a busy CPU."""

    order = 200

    def before_fit(self, t):
        self.total = 0.0

    def before_step(self, t):
        self.t0 = time.thread_time()

    def after_step(self, t):
        self.total += time.thread_time() - self.t0


@pytest.fixture(scope="module")
def runs():
    """The page's two runs, shortened: only their parameter counts and cost per step are read."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # all the work on this thread, so thread_time sees all of it
    try:
        out = {}
        for label, cfg in hour02.default_configs(steps=STEPS, eval_every=STEPS).items():
            timer = StepCPUTime()
            trainer = make_trainer(cfg, [timer])
            results = trainer.fit()
            out[label] = (results, timer.total / results["steps"], trainer)
        return out
    finally:
        torch.set_num_threads(threads)


def test_the_default_experiment():
    cfgs = hour02.default_configs()
    feature, finetune = cfgs[hour02.FEATURE], cfgs[hour02.FINETUNE]
    assert (feature.strategy, feature.head, feature.shots, feature.lr, feature.steps) == ("feature", "linear", 5, 1e-3, 200)
    assert finetune == feature.replace(strategy="finetune", unfreeze=None)
    assert hour02.FIRST_CHECK == feature.eval_every == 50  # the NOTICE's "step 50"
    runs = hour02.CLAIMS.runs(3)
    assert runs[hour02.FEATURE] == feature.replace(seed=3)  # the claims read the page's own run
    assert runs["1 label"].shots == 1 and runs["LR 1e-5"].lr == hour02.SLOW_LR


def test_trainable_parameters(runs):
    feature = runs[hour02.FEATURE][0]
    finetune = runs[hour02.FINETUNE][0]
    assert (feature["trainable_params"], feature["total_params"]) == (1_290, 242_474)  # 128 x 10 + 10
    assert finetune["trainable_params"] == finetune["total_params"] == 242_474
    # the page's count, made before training, agrees with the run's
    for label, cfg in hour02.default_configs().items():
        assert hour02.param_counts(cfg) == (runs[label][0]["trainable_params"], runs[label][0]["total_params"])
    # Try this: the mlp head
    assert hour02.param_counts(hour02.BASE.replace(head="mlp")) == (17_802, 258_986)


def test_head_only_steps_are_cheaper(runs):
    # why: no gradient is ever computed for a backbone weight in the head-only run
    feature_model = runs[hour02.FEATURE][2].model
    finetune_model = runs[hour02.FINETUNE][2].model
    assert all(p.grad is None for p in feature_model.body.parameters())
    assert all(p.grad is not None for p in finetune_model.body.parameters())
    # how much: CPU time per step, as a ratio (never a time); about 1.8 measured
    if runs[hour02.FEATURE][0]["device"] != "cpu":
        pytest.skip("the page claims the speed-up on a CPU only (on a GPU this small network is launch-bound)")
    feature_cost, finetune_cost = runs[hour02.FEATURE][1], runs[hour02.FINETUNE][1]
    assert finetune_cost > 1.3 * feature_cost, (feature_cost, finetune_cost)


def test_speed_table_reads_the_live_series():
    snaps = {"a": {"series": {"steps_per_second": ([5, 10, 15], [10.0, 2.0, 12.0])}, "results": {},
                   "config": hour02.BASE.to_dict()}, "not started": {"series": {}, "config": {}}}
    rows = hour02.speed_table(snaps)
    assert [r["run"] for r in rows] == ["a"]
    assert rows[0]["steps per second"] == 10.0  # the median: one slow step does not drag it down
    assert (rows[0]["trainable parameters"], rows[0]["total parameters"]) == (1_290, 242_474)
