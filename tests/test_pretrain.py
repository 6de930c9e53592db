"""The shipped backbone: its recipe is deterministic, its file loads weights-only and passes its checksum."""

import json

import torch

from engine.models import glyphnet
from engine.models import registry as models
from engine.models.checkpoints import file_sha256
from engine.train.pretrain import SHIPPED, PretrainRecipe, pretrain


def test_a_short_pretrain_is_bit_for_bit_repeatable(tmp_path):
    recipe = PretrainRecipe(steps=3, per_class=1, batch_size=16)
    # same file name in two folders: torch.save writes the name into the archive, so the bytes compare too
    a = pretrain(recipe, tmp_path / "a" / "glyphnet.pt", log=lambda *_: None)
    b = pretrain(recipe, tmp_path / "b" / "glyphnet.pt", log=lambda *_: None)
    assert a["sha256"] == b["sha256"]
    sa = torch.load(tmp_path / "a" / "glyphnet.pt", weights_only=True)
    assert set(sa) == set(torch.load(glyphnet.GLYPHNET_FILE, weights_only=True))  # same layout as the shipped file


def test_the_shipped_checkpoint_matches_its_checksum_and_card():
    expected = glyphnet.GLYPHNET_SHA256_FILE.read_text().split()[0]
    assert file_sha256(glyphnet.GLYPHNET_FILE) == expected
    card = json.loads(glyphnet.GLYPHNET_FILE.with_suffix(".json").read_text())
    assert card["sha256"] == expected
    assert card["source_accuracy"] > 0.75  # 200 glyph classes, among their own outputs as the meter reads them
    assert glyphnet.GLYPHNET_FILE.stat().st_size < 5_000_000


def test_pretrained_glyphnet_keeps_its_source_head_for_the_forgetting_meter():
    built = models.build_model("glyphnet", "pretrained", n_classes=10)
    assert built.source_head.out_features == 200 + SHIPPED.character_classes  # the glyph classes come first
    assert built.model.head[-1].out_features == 10
    assert [n for n, _ in built.model.layer_groups()] == ["stem", "block1", "block2", "block3", "head"]


def test_the_meter_scores_among_the_glyph_classes_only_when_the_source_head_is_wider():
    # the shipped source puts 800 character-like classes after the 200 glyph classes; the meter asks only about
    # the glyph classes, so outputs past them must not take its argmax
    from engine.core.config import TrainConfig
    from engine.train.experiment import make_trainer

    trainer = make_trainer(TrainConfig(steps=1, device="cpu"))
    before = trainer.source_accuracy()
    old = trainer.source_head
    wide = torch.nn.Linear(old.in_features, old.out_features + 50)
    with torch.no_grad():
        wide.weight.zero_()
        wide.bias.fill_(1e4)  # the 50 extra classes would win every image if the meter read them
        wide.weight[: old.out_features] = old.weight
        wide.bias[: old.out_features] = old.bias
    trainer.source_head = wide.requires_grad_(False)
    assert before > 0.8
    assert trainer.source_accuracy() == before
