"""Hour 2's "What to notice", checked on its default experiment (fixed seed)."""

import statistics

import pytest

from engine.experiment import make_trainer
from lessons.recipes import hour02

BODY = ["stem", "block1", "block2", "block3"]


@pytest.fixture(scope="module")
def runs():
    """The page's two runs: the head-only one at its default length, the fine-tune shortened (only its speed is used)."""
    out = {}
    for label, cfg in hour02.default_configs().items():
        if label == hour02.FINETUNE:
            cfg = cfg.replace(steps=100)
        trainer = make_trainer(cfg)
        results = trainer.fit()
        out[label] = (results, trainer.log.snapshot())
    return out


def test_backbone_drift_is_exactly_zero(runs):
    results, series = runs[hour02.FEATURE]
    assert results["status"] == "finished"
    for group in BODY:
        assert results["drift"][group] == 0.0
        assert set(series[f"drift/{group}"][1]) == {0.0}  # at every logged step, not only the end
        assert set(series[f"trainable/{group}"][1]) == {0.0}
    assert results["drift"]["head"] > 0.1


def test_trainable_parameters(runs):
    feature, _ = runs[hour02.FEATURE]
    finetune, _ = runs[hour02.FINETUNE]
    assert (feature["trainable_params"], feature["total_params"]) == (1_290, 242_474)  # 128 x 10 + 10
    assert finetune["trainable_params"] == finetune["total_params"] == 242_474
    # the page's count, made before training, agrees with the run's
    for label, cfg in hour02.default_configs().items():
        assert hour02.param_counts(cfg) == (runs[label][0]["trainable_params"], runs[label][0]["total_params"])


def test_head_only_steps_are_faster(runs):
    # the median of the live steps/s series (what the progress bar shows); a ratio, never a time
    feature = statistics.median(runs[hour02.FEATURE][1]["steps_per_second"][1])
    finetune = statistics.median(runs[hour02.FINETUNE][1]["steps_per_second"][1])
    assert feature > 1.3 * finetune, (feature, finetune)


def test_good_accuracy_with_few_labels_then_a_plateau(runs):
    results, series = runs[hour02.FEATURE]
    assert results["config"]["shots"] == 5
    assert results["test_accuracy"] > 0.9  # "over 90%"; chance is 0.10
    steps, acc = series["val_accuracy"]
    at_75 = acc[steps.index(75)]
    assert acc[-1] - at_75 <= 0.05, (at_75, acc[-1])
    assert at_75 >= 0.85
