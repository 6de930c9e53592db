"""Hour 9's default configs and helpers. The "What to notice" and "Try this" claims are checked over five seeds by
tests/test_claims.py (lessons/recipes/hour09.py, CLAIMS)."""

import pytest

from engine.models.registry import get_spec
from lessons.recipes import hour09

SMALL_PRE, BIG_SCRATCH, SMALL_SCRATCH = hour09.LABELS


def test_default_configs_differ_only_in_backbone_weights_and_lr():
    cfgs = hour09.default_configs()
    assert list(cfgs) == list(hour09.LABELS)
    assert [(c.backbone, c.weights) for c in cfgs.values()] == [
        ("glyphnet", "pretrained"), ("resnet18_nopool", "scratch"), ("glyphnet", "scratch")]
    assert {label: c.lr for label, c in cfgs.items()} == hour09.LR
    assert all(lr in hour09.LR_TRIED[label] for label, lr in hour09.LR.items())
    rest = [{k: v for k, v in c.to_dict().items() if k not in ("backbone", "weights", "lr")} for c in cfgs.values()]
    assert rest[0] == rest[1] == rest[2]
    assert (rest[0]["shots"], rest[0]["image_size"], rest[0]["dataset"], rest[0]["optimizer"]) == (5, 32, "glyphs", "adam")
    assert (rest[0]["steps"], rest[0]["batch_size"]) == (80, 16)
    other = hour09.default_configs(hour09.BASE.replace(backbone="resnet18", dataset="cifar10", image_size=64), shots=50)
    assert {(c.dataset, c.image_size, c.shots) for c in other.values()} == {("glyphs", 32, 50)}


def test_resnet18_runs_with_a_stem_for_small_images():
    spec = get_spec(hour09.BIG)
    assert spec.extra["variant_of"] == "resnet18" and spec.image_size == 32


def test_the_claims_read_the_page_runs_and_the_try_this_runs():
    runs = hour09.CLAIMS.runs(3)
    page = {k: c for k, c in runs.items() if k in hour09.LABELS}
    assert {k: c.replace(eval_every=hour09.BASE.eval_every) for k, c in page.items()} == hour09.default_configs(seed=3)
    more = {k: c for k, c in runs.items() if k not in hour09.LABELS}
    assert {(c.shots, c.backbone) for c in more.values()} == {(hour09.MANY, "glyphnet")}
    assert {c.eval_every for c in runs.values()} == {hour09.BASE.steps}  # only final results are read
    assert {c.steps for c in runs.values()} == {hour09.BASE.steps}  # the page's own length


def test_the_page_states_each_models_lr():
    assert hour09.lr_text() == "glyphnet pretrained 1e-3, ResNet-18 from scratch 3e-3, glyphnet from scratch 1e-2"
    assert hour09.lr_sweep_text() == "3e-4, 1e-3, 3e-3 and 1e-2 (ResNet-18, the costliest to train: 1e-3 and 3e-3)"


def test_comparison_rows_and_macro_f1():
    cm = [[3, 1], [0, 4]]
    r = {"test_accuracy": 0.875, "total_params": 1_000_000, "steps_per_second": 20.0, "confusion": cm}
    rows = hour09.comparison_rows({"a": r, "b": {}}, {"a": 1e-3})
    assert rows == [{"model": "a", "LR": 1e-3, "parameters": 1_000_000, "weights (MB, float32)": 4.0, "ms per step": 50.0,
                     "test accuracy": 0.875, "macro F1": round(hour09.macro_f1(cm), 3)}]
    assert hour09.macro_f1(cm) == pytest.approx((2 * 1 * 0.75 / 1.75 + 2 * 0.8 * 1 / 1.8) / 2)
    assert "LR" not in hour09.comparison_rows({"a": r})[0]


def test_helpers_on_a_hand_made_matrix():
    cm = [[5, 3, 0], [1, 4, 0], [0, 0, 6]]
    assert hour09.most_confused(cm, 2) == [(3, 0, 1), (1, 1, 0)]
    assert hour09.mistakes_share(cm, 1) == pytest.approx(0.75)
    rows = hour09.class_report_rows(cm, ["a", "b", "c"])
    assert rows[0] == {"class": "a", "precision": round(5 / 6, 3), "recall": 0.625, "f1": round(2 * (5 / 6) * 0.625 / (5 / 6 + 0.625), 3), "support": 8}
    x, captions = hour09.pair_images(0, 2, per_class=2, n_classes=3)
    assert x.shape == (4, 3, 32, 32) and captions == ["glyph A", "glyph A", "glyph C", "glyph C"]


def test_the_parameter_counts_the_page_quotes():
    """NOTICE: "11.2 M against 0.24 M: 44.7 MB of float32 weights against 0.97 MB" (8 target classes)."""
    from engine.models.registry import build_model

    def params(name):
        return sum(p.numel() for p in build_model(name, "scratch", hour09.BASE.n_classes).model.parameters())

    big, small = params(hour09.BIG), params(hour09.SMALL)
    assert round(big / 1e6, 1) == 11.2 and round(small / 1e6, 2) == 0.24
    assert round(4 * big / 1e6, 1) == 44.7 and round(4 * small / 1e6, 2) == 0.97
    assert round(big / small) == 46
    assert "11.2 M against 0.24 M: 44.7 MB of float32 weights against 0.97 MB" in " ".join(hour09.NOTICE)
