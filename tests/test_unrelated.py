"""The unrelated source backbone: its shipped file, checksum, loader and recipe."""

import pytest
import torch

from engine.core.config import ConfigError
from engine.data import colourfields
from engine.models import registry as models
from engine.models import unrelated
from engine.models.checkpoints import file_sha256
from engine.train import pretrain


def test_shipped_file_matches_its_checksum_and_loads_weights_only():
    expected = unrelated.UNRELATED_SHA256_FILE.read_text().split()[0]
    assert file_sha256(unrelated.UNRELATED_FILE) == expected
    assert unrelated.UNRELATED_FILE.stat().st_size < 2_000_000
    state = torch.load(unrelated.UNRELATED_FILE, map_location="cpu", weights_only=True)
    assert state["head.weight"].shape == (colourfields.N_CLASSES, 128)


def test_built_model_carries_the_unrelated_weights_not_glyphnets():
    a = models.build_model("glyphnet_unrelated", "pretrained", 10).model
    b = models.build_model("glyphnet", "pretrained", 10).model
    state = torch.load(unrelated.UNRELATED_FILE, map_location="cpu", weights_only=True)
    torch.testing.assert_close(a.body.stem[0].weight, state["body.stem.0.weight"])
    assert not torch.equal(a.body.stem[0].weight, b.body.stem[0].weight)
    assert models.build_model("glyphnet_unrelated", "pretrained", 10).source_head is None  # no glyph forgetting meter


def test_a_changed_file_is_refused_in_one_sentence(tmp_path, monkeypatch):
    bad = tmp_path / "glyphnet_unrelated.pt"
    bad.write_bytes(unrelated.UNRELATED_FILE.read_bytes() + b"x")
    monkeypatch.setattr(unrelated, "UNRELATED_FILE", bad)
    with pytest.raises(ConfigError, match=r"^assets/glyphnet_unrelated\.pt does not match its checksum .*python -m engine pretrain unrelated`\.$"):
        models.build_model("glyphnet_unrelated", "pretrained", 10)
    monkeypatch.setattr(unrelated, "UNRELATED_FILE", tmp_path / "missing.pt")
    with pytest.raises(ConfigError, match="is missing from assets/"):
        models.build_model("glyphnet_unrelated", "pretrained", 10)


def test_colour_fields_are_smooth_patterns_per_class():
    x, y = colourfields.colour_fields(2, torch.Generator().manual_seed(0))
    assert x.shape == (2 * colourfields.N_CLASSES, 3, 32, 32) and y.tolist()[:4] == [0, 0, 1, 1]
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_recipe_runs_and_reports(tmp_path):
    recipe = pretrain.UnrelatedRecipe(per_class=2, steps=3, batch_size=8)
    card = pretrain.pretrain_unrelated(recipe, out=tmp_path / "u.pt", log=lambda *_: None)
    assert card["recipe"]["steps"] == 3 and card["source_classes"] == colourfields.N_CLASSES
    assert (tmp_path / "u.sha256").read_text().split()[0] == file_sha256(tmp_path / "u.pt") == card["sha256"]
