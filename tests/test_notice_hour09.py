"""Hour 9's "What to notice", checked on the page's default configs (fixed seed)."""

import pytest

from engine.train.experiment import run_experiment
from lessons.recipes import hour09

SMALL_PRE, BIG_SCRATCH, SMALL_SCRATCH = hour09.LABELS


@pytest.fixture(scope="module")
def results():
    # Validation is read-only (eval mode, no random draws), so evaluating only at the end trains the same weights.
    return {label: run_experiment(cfg.replace(eval_every=cfg.steps)) for label, cfg in hour09.default_configs().items()}


def test_default_configs_differ_only_in_backbone_and_weights():
    cfgs = hour09.default_configs()
    assert list(cfgs) == list(hour09.LABELS)
    assert [(c.backbone, c.weights) for c in cfgs.values()] == [("glyphnet", "pretrained"), ("resnet18", "scratch"), ("glyphnet", "scratch")]
    rest = [{k: v for k, v in c.to_dict().items() if k not in ("backbone", "weights")} for c in cfgs.values()]
    assert rest[0] == rest[1] == rest[2]
    assert (rest[0]["shots"], rest[0]["image_size"], rest[0]["dataset"]) == (5, 32, "glyphs")


def test_bigger_model_is_not_better_on_the_small_target(results):
    small, big = results[SMALL_SCRATCH]["total_params"], results[BIG_SCRATCH]["total_params"]
    assert round(big / small) == 46  # "about 46 times as many parameters"
    acc = {k: r["test_accuracy"] for k, r in results.items()}
    assert acc[BIG_SCRATCH] < acc[SMALL_SCRATCH] < acc[SMALL_PRE]
    assert acc[SMALL_PRE] - acc[BIG_SCRATCH] >= 0.10  # "far below": at least 10 points


def test_pretrained_glyphnet_is_best_on_accuracy_and_macro_f1(results):
    rows = {r["model"]: r for r in hour09.comparison_rows(results)}
    assert list(rows) == list(hour09.LABELS)
    assert max(rows, key=lambda m: rows[m]["test accuracy"]) == SMALL_PRE
    assert max(rows, key=lambda m: rows[m]["macro F1"]) == SMALL_PRE
    assert rows[BIG_SCRATCH]["weights (MB, float32)"] == pytest.approx(44.73, abs=0.01)


def test_mistakes_concentrate_in_a_few_pairs(results):
    cm = results[SMALL_PRE]["confusion"]
    assert len(cm) == 10 and sum(map(sum, cm)) == 300
    top = hour09.most_confused(cm, 3)
    assert len(top) == 3 and top[0][0] >= top[1][0] >= top[2][0] > 0
    assert hour09.mistakes_share(cm, 3) > 0.40


def test_helpers_on_a_hand_made_matrix():
    cm = [[5, 3, 0], [1, 4, 0], [0, 0, 6]]
    assert hour09.most_confused(cm, 2) == [(3, 0, 1), (1, 1, 0)]
    assert hour09.mistakes_share(cm, 1) == pytest.approx(0.75)
    rows = hour09.class_report_rows(cm, ["a", "b", "c"])
    assert rows[0] == {"class": "a", "precision": round(5 / 6, 3), "recall": 0.625, "f1": round(2 * (5 / 6) * 0.625 / (5 / 6 + 0.625), 3), "support": 8}
    x, captions = hour09.pair_images(0, 2, per_class=2, n_classes=3)
    assert x.shape == (4, 3, 32, 32) and captions == ["glyph A", "glyph A", "glyph C", "glyph C"]


def test_try_one_label_per_class_keeps_the_pretrained_lead():
    acc = {label: run_experiment(cfg.replace(eval_every=cfg.steps))["test_accuracy"]
           for label, cfg in hour09.default_configs(shots=1).items()}
    assert acc[SMALL_PRE] - max(acc[BIG_SCRATCH], acc[SMALL_SCRATCH]) >= 0.15  # "a clear lead"
