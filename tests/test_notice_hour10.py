"""Hour 10's "What to notice", checked on the page's default grid (fixed seed), and its deployment helpers."""

import pytest
import torch
from PIL import Image

from engine.models import export
from engine.models.registry import build_model
from engine.train.experiment import run_experiment
from lessons import experiments
from lessons.recipes import hour10

FE, FT = hour10.STRATEGIES


@pytest.fixture(scope="module")
def table():
    # Validation is read-only (eval mode, no random draws), so evaluating only at the end trains the same weights.
    results = {label: run_experiment(cfg.replace(eval_every=cfg.steps)) for label, cfg in hour10.default_configs().items()}
    return hour10.results_table(results)


def test_default_grid_is_four_cells_of_glyphnet():
    cfgs = hour10.default_configs()
    assert list(cfgs) == ["feature extraction | 1 labels", "feature extraction | 20 labels",
                          "full fine-tune | 1 labels", "full fine-tune | 20 labels"]
    assert len(cfgs) <= hour10.MAX_CELLS
    assert {(c.backbone, c.weights, c.dataset, c.steps, c.seed) for c in cfgs.values()} == {("glyphnet", "pretrained", "glyphs", 100, 0)}
    assert [c.strategy for c in cfgs.values()] == ["feature", "feature", "finetune", "finetune"]
    other = hour10.default_configs(hour10.BASE.replace(backbone="resnet18", dataset="cifar10", image_size=64))
    assert {(c.backbone, c.dataset, c.image_size) for c in other.values()} == {("glyphnet", "glyphs", 32)}


def test_feature_extraction_wins_at_one_label(table):
    assert table[FE][1] > table[FT][1]
    assert hour10.winner(table, 1) == FE


def test_fine_tuning_passes_it_at_twenty_labels(table):
    assert table[FT][20] > table[FE][20]
    assert hour10.winner(table, 20) == FT


def test_both_gain_and_fine_tuning_gains_more(table):
    gain_fe, gain_ft = table[FE][20] - table[FE][1], table[FT][20] - table[FT][1]
    assert 0 < gain_fe < gain_ft


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
