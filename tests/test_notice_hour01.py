"""Hour 1's "What to notice", checked on the page's own default configs (lessons/recipes/hour01.py, seed 0).

To keep `make test` quick the runs take half the default steps (100 of 200). Nothing in the default run depends on
its length before the end (constant LR, same batches), so the first 100 steps are exactly the default run's; the
claims also hold at 200 steps (figures in the recipe)."""

from __future__ import annotations

import pytest

from engine.train.experiment import make_trainer
from lessons.recipes import hour01

STEPS = hour01.BASE.steps // 2


def run_pair(shots: int) -> dict[str, dict]:
    """Both runs of the page at `shots` labels per class: {label: {"test": accuracy, "val_loss": {step: loss}}}."""
    out = {}
    for label, cfg in hour01.configs(hour01.BASE.replace(shots=shots, steps=STEPS)).items():
        trainer = make_trainer(cfg)
        results = trainer.fit()
        steps, losses = trainer.log.snapshot()["val_loss"]
        out[label] = {"test": results["test_accuracy"], "val_loss": dict(zip(steps, losses))}
    return out


@pytest.fixture(scope="module")
def default():
    return run_pair(hour01.BASE.shots)


@pytest.fixture(scope="module")
def many_labels():
    return run_pair(20)


def test_the_default_is_what_the_page_describes():
    runs = hour01.configs()
    assert {k: (c.weights, c.strategy, c.unfreeze) for k, c in runs.items()} == {
        "from scratch": ("scratch", "finetune", None),
        "pretrained": ("pretrained", "finetune", None),
    }
    a, b = runs.values()
    assert a.replace(weights="pretrained") == b  # nothing differs but the starting weights
    assert (b.shots, b.steps, b.seed) == (5, 200, 0)


def test_pretrained_reaches_a_lower_loss_sooner(default):
    """Claim 1: at the first check (step 50) the pretrained validation loss is under 0.5 and under half of
    scratch's, which is still above 1."""
    scratch, pretrained = default["from scratch"]["val_loss"], default["pretrained"]["val_loss"]
    first = hour01.BASE.eval_every
    assert first == 50 and f"(step {first})" in hour01.NOTICE[0]
    assert pretrained[first] < 0.5 * scratch[first]
    assert pretrained[first] < 0.5 and scratch[first] > 1.0


def test_pretrained_ends_with_higher_test_accuracy(default):
    """Claim 2: more than 8 points higher with the default settings."""
    assert default["pretrained"]["test"] - default["from scratch"]["test"] > 0.08


def test_the_gap_narrows_with_more_labels(default, many_labels):
    """Claim 3: at 20 labels per class both do better, the pretrained run still leads, and by less than at 5."""
    gap5 = default["pretrained"]["test"] - default["from scratch"]["test"]
    gap20 = many_labels["pretrained"]["test"] - many_labels["from scratch"]["test"]
    assert 0 < gap20 < gap5
    assert many_labels["from scratch"]["test"] > default["from scratch"]["test"]
