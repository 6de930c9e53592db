"""Hour 10's default grid and its deployment helpers. The "What to notice" claims are checked over five seeds by
tests/test_claims.py (lessons/recipes/hour10.py, CLAIMS)."""

from pathlib import Path

import torch
from PIL import Image

from engine.models import export
from engine.models.registry import build_model
from lessons import experiments
from lessons.recipes import hour10

FE, FT = hour10.STRATEGIES


def test_default_grid_is_four_cells_of_glyphnet():
    cfgs = hour10.default_configs()
    assert list(cfgs) == ["feature extraction | 1 labels", "feature extraction | 20 labels",
                          "full fine-tune | 1 labels", "full fine-tune | 20 labels"]
    assert len(cfgs) <= hour10.MAX_CELLS
    assert {(c.backbone, c.weights, c.dataset, c.domain_shift, c.steps, c.seed) for c in cfgs.values()} == {
        ("glyphnet", "pretrained", "glyphs", 0.3, 100, 0)}
    assert [c.strategy for c in cfgs.values()] == ["feature", "feature", "finetune", "finetune"]
    fe, ft = cfgs["feature extraction | 20 labels"], cfgs["full fine-tune | 20 labels"]
    assert (fe.optimizer, fe.lr, fe.layer_decay, fe.gradual_unfreeze) == ("adam", 1e-3, 1.0, 0)
    # the fine-tune arm: the course's recipe (layer-wise decay, head first), not one flat LR on every layer
    assert (ft.optimizer, ft.lr, ft.unfreeze, ft.layer_decay, ft.gradual_unfreeze) == ("adam", 1e-3, None, 0.7, 10)
    other = hour10.default_configs(hour10.BASE.replace(backbone="resnet18", dataset="cifar10", image_size=64))
    assert {(c.backbone, c.dataset, c.image_size) for c in other.values()} == {("glyphnet", "glyphs", 32)}


def test_the_claims_read_the_default_grid_and_its_shift_0_column():
    runs = hour10.CLAIMS.runs(3)
    grid = {k: c for k, c in runs.items() if not k.startswith(hour10.NEAR)}
    assert {k: c.replace(eval_every=hour10.BASE.eval_every) for k, c in grid.items()} == hour10.default_configs(seed=3)
    near = [c for k, c in runs.items() if k.startswith(hour10.NEAR)]
    assert [(c.strategy, c.shots, c.domain_shift) for c in near] == [("feature", 20, 0.0), ("finetune", 20, 0.0)]
    assert {c.eval_every for c in runs.values()} == {hour10.BASE.steps}  # only the final test accuracy is read


def test_texts_name_the_recipe_and_the_columns():
    assert hour10.SHOTS == [1, 20] and "1 label" in hour10.NOTICE[0] and "20 labels" in hour10.NOTICE[1]
    page = (Path(__file__).resolve().parent.parent / "lessons" / "hour10_strategy_deploy.py").read_text()
    assert f"domain shift {hour10.BASE.domain_shift:g}" in page and f"{hour10.FINE_TUNE['layer_decay']:g}x" in page
    assert f"one group every {hour10.FINE_TUNE['gradual_unfreeze']} steps" in page


def test_heatmap_cells_and_unfinished_cells():
    table = {FE: {1: 0.7, 20: None}}
    assert hour10.heatmap_cells(table) == [
        {"arm": FE, "shots": 1, "mean": 0.7, "n": 1, "diverged": 0},
        {"arm": FE, "shots": 20, "mean": None, "n": 0, "diverged": 0},
    ]
    assert hour10.winner({FE: {1: 0.7}, FT: {1: None}}, 1) is None


def test_export_files_are_made_once_and_reload():
    model = build_model("glyphnet", "pretrained", 3, seed=0).model.eval()
    cache: dict = {}
    config = {"backbone": "glyphnet", "head": "linear", "image_size": 32}
    files = hour10.export_files(model, ["a", "b", "c"], config, cache, "run1")
    assert hour10.export_files(None, [], config, cache, "run1") is files  # cached: not rebuilt
    again, facts = export.load_state_dict_bytes(files["state_dict"])
    assert facts["classes"] == ["a", "b", "c"]
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again(x), model(x))
    torch.testing.assert_close(export.load_program_bytes(files["program"])(x), model(x), rtol=1e-4, atol=1e-5)
    probs = export.predict_image(model, Image.new("L", (40, 40), 255), ["a", "b", "c"], 32)
    rows = hour10.top_rows(probs, 2)
    assert [r["class"] for r in rows] == sorted(probs, key=probs.get, reverse=True)[:2]


def test_trained_model_of_a_gone_run_is_none():
    assert experiments.trained_model({"id": "no-such-run", "config": {"image_size": 32}}, "nobody") == (None, [], 0)


def test_class_examples():
    x, names = hour10.class_examples(10)
    assert x.shape == (10, 3, 32, 32) and names[0] == "glyph A" and names[-1] == "glyph J"
    shifted, _ = hour10.class_examples(10, 0.3)
    assert shifted.shape == x.shape and not torch.equal(shifted, x)
