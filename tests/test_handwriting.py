"""Real handwriting: the digits data set, the realcheck measurement, and the glyphs' hand-drawn stroke style."""

import importlib.util
import json
import sys
from dataclasses import asdict

import pytest
import torch

from engine.core.config import ConfigError, TrainConfig
from engine.data import glyphs, realdata
from engine.data import tasks as data
from engine.models import glyphnet
from engine.tools import cli
from engine.tools import realcheck as rc
from engine.train.callbacks import default_callbacks
from engine.train.experiment import prepare_task
from engine.train.pretrain import PretrainRecipe, pretrain, pretrain_split
from engine.train.trainer import Trainer

needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="the digits data set needs scikit-learn")


def digits(**kw) -> data.Task:
    return data.load_task(TrainConfig(dataset="digits", **kw))


# -- the data set ------------------------------------------------------------------------------------------------

@needs_sklearn
def test_digits_shapes_labels_and_look():
    task = digits(shots=3)
    assert task.train.x.shape == (30, 3, 32, 32) and task.train.y.tolist() == [c for c in range(10) for _ in range(3)]
    assert len(task.val) == 10 * realdata.DIGITS_VAL_PER_CLASS and len(task.test) == 10 * realdata.DIGITS_TEST_PER_CLASS
    assert torch.bincount(task.test.y).tolist() == [realdata.DIGITS_TEST_PER_CLASS] * 10
    assert task.classes == [str(c) for c in range(10)] and task.source is None
    x = task.test.x
    assert x.dtype == torch.float32 and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])  # grey, like the glyphs
    assert float(x[:, :, :3, :].abs().max()) == 0.0 and float(x[:, :, :, -3:].abs().max()) == 0.0  # black margin
    assert 0.05 < float(x.mean()) < 0.4  # bright ink on a dark ground, the glyphs' polarity
    assert float(x.amax((1, 2, 3)).min()) > 0.5  # every image has ink
    assert digits(shots=2, image_size=48).train.x.shape == (20, 3, 48, 48)
    assert digits(shots=2, n_classes=4).train.y.unique().tolist() == [0, 1, 2, 3]


@needs_sklearn
def test_digit_pixels_are_the_scans_upscaled():
    raw, _ = realdata.load_digits_raw()
    assert raw.shape == (1797, 8, 8) and float(raw.max()) == 1.0
    img = realdata.digits_to_images(raw[:5], 32)
    inner = round(32 * realdata.DIGITS_FILL)
    assert inner == 24  # each scan cell becomes 3x3 pixels
    lo = (32 - inner) // 2
    centres = img[:, 0, lo + 1 : lo + inner : 3, lo + 1 : lo + inner : 3]  # the pixel at each cell's centre
    assert torch.allclose(centres, raw[:5], atol=1e-6)  # bilinear upscaling keeps the scan's values there


@needs_sklearn
def test_digit_splits_are_disjoint_fixed_and_shots_come_from_the_seed():
    _, y = realdata.load_digits_raw()
    splits = {s: realdata.digits_split(y, 10, 5, s) for s in (0, 1)}
    tr, va, te = splits[0]
    assert len(set(tr.tolist()) | set(va.tolist()) | set(te.tolist())) == len(tr) + len(va) + len(te)
    assert torch.bincount(y[tr], minlength=10).tolist() == [5] * 10
    assert torch.equal(va, splits[1][1]) and torch.equal(te, splits[1][2])  # val and test never move
    assert not torch.equal(tr, splits[1][0])
    assert set(splits[1][0].tolist()).isdisjoint(set(va.tolist()) | set(te.tolist()))
    a, b, c = digits(shots=5, seed=0), digits(shots=5, seed=0), digits(shots=5, seed=1)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.x, b.test.x)  # deterministic
    assert not torch.equal(a.train.x, c.train.x) and torch.equal(a.test.x, c.test.x)
    assert not any(torch.equal(a.train.x[i], t) for i in range(len(a.train)) for t in a.test.x[:100])


@needs_sklearn
def test_more_shots_than_the_digits_have_trains_on_all_of_them_and_says_so():
    task = digits(shots=500)
    counts = torch.bincount(task.train.y).tolist()
    assert all(90 <= n < 500 for n in counts)
    assert any("at most" in w and "500 labels per class" in w for w in task.warnings)


def test_without_scikit_learn_the_digits_say_so_in_one_sentence(monkeypatch, capsys):
    monkeypatch.setattr(realdata, "_digits", [])  # nothing cached
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn...` now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ConfigError, match=r"^the digits data set needs scikit-learn: pip install scikit-learn$"):
        digits()
    assert cli.main(["train", "--dataset", "digits", "--steps", "1"]) == 2
    assert capsys.readouterr().err == "error: the digits data set needs scikit-learn: pip install scikit-learn\n"


# -- realcheck ---------------------------------------------------------------------------------------------------

@needs_sklearn
def test_a_tiny_realcheck_returns_four_accuracies_and_their_gaps():
    r = rc.realcheck(seeds=(0,), shots=1, steps=2, log=lambda *_: None)
    assert set(r["arms"]) == {"scratch", "frozen", "finetune", "flat"}
    assert all(len(v) == 1 and 0.0 <= v[0] <= 1.0 for v in r["arms"].values())
    m = r["means"]
    assert r["gaps"]["finetune_minus_scratch"] == pytest.approx(m["finetune"] - m["scratch"])
    assert r["gaps"]["frozen_minus_scratch"] == pytest.approx(m["frozen"] - m["scratch"])
    assert r["gaps"]["flat_minus_scratch"] == pytest.approx(m["flat"] - m["scratch"])
    assert r["gaps_per_seed"]["frozen_minus_scratch"] == [pytest.approx(m["frozen"] - m["scratch"])]
    assert r["shots"] == 1 and r["steps"] == 2 and r["dataset"] == "digits"
    text = rc.report(r)
    assert "fine-tune - scratch" in text and "frozen - scratch" in text and f"{m['frozen']:.1%}" in text
    assert "flat fine-tune - scratch" in text


def test_the_fine_tune_arm_is_the_course_recipe_and_the_flat_arm_is_one_lr():
    # the recipe Hour 10 teaches and grids with, not flat Adam on every layer (Hours 3 and 4 warn against it)
    course = TrainConfig(**rc.ARMS["finetune"]).validate()
    assert (course.layer_decay, course.gradual_unfreeze, course.unfreeze) == (0.7, 10, None)
    assert course.weights == "pretrained" and course.strategy == "finetune"
    flat = TrainConfig(**rc.ARMS["flat"]).validate()
    assert (flat.layer_decay, flat.gradual_unfreeze, flat.strategy) == (1.0, 0, "finetune")
    from lessons.recipes import hour10
    assert {k: v for k, v in rc.ARMS["finetune"].items() if k != "weights"} == hour10.FINE_TUNE


@needs_sklearn
def test_the_pretrained_arms_start_from_the_checkpoint_and_the_frozen_arm_keeps_it(tmp_path):
    out = tmp_path / "tiny.pt"
    pretrain(PretrainRecipe(steps=2, per_class=1, batch_size=16, threads=1), out, log=lambda *_: None)
    state = rc.load_checkpoint(out)
    config = TrainConfig(dataset="digits", shots=1, steps=2, strategy="feature")
    model, source_head = rc.pretrained_model(state, config, 10)
    assert torch.equal(model.body.stem[0].weight, state["body.stem.0.weight"])
    assert torch.equal(source_head.weight, state["head.weight"]) and model.head[-1].out_features == 10
    before = {k: v.clone() for k, v in model.body.state_dict().items()}
    task = prepare_task(config)
    Trainer(model, task, config, default_callbacks(config), source_head=source_head).fit()
    assert all(torch.equal(before[k], v) for k, v in model.body.state_dict().items())  # frozen: not one weight moved


@needs_sklearn
def test_a_bad_checkpoint_is_one_sentence(tmp_path, capsys):
    assert cli.main(["realcheck", "--checkpoint", str(tmp_path / "none.pt"), "--steps", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"body.stem.0.weight": torch.zeros(1), "head.weight": torch.zeros(2, 128)}, bad)
    with pytest.raises(ConfigError, match="not a glyphnet state dict"):
        rc.pretrained_model(rc.load_checkpoint(bad), TrainConfig(), 10)
    (tmp_path / "bad.sha256").write_text("0" * 64 + "  bad.pt\n")
    with pytest.raises(ConfigError, match="does not match its checksum"):
        rc.load_checkpoint(bad)


@needs_sklearn
def test_realcheck_on_the_command_line_prints_json(capsys):
    assert cli.main(["realcheck", "--seeds", "3", "--shots", "1", "--steps", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["seeds"] == [3] and r["checkpoint"].startswith("assets/glyphnet.pt")
    with pytest.raises(SystemExit) as bad:
        cli.main(["realcheck", "--seeds", "a,b"])
    assert bad.value.code == 2 and "comma-separated list" in capsys.readouterr().err


# -- the hand-drawn stroke style ---------------------------------------------------------------------------------

def test_the_plain_style_is_the_default_bit_for_bit():
    ids = torch.tensor([0, 5, 199, 100_000])
    default = glyphs.render(ids, torch.Generator().manual_seed(3))
    assert torch.equal(default, glyphs.render(ids, torch.Generator().manual_seed(3), style="plain"))
    a = pretrain_split(PretrainRecipe(), 1, 7)  # the old recipe's source: 200 glyph classes, plain
    b = data.source_split(1, 7)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_the_hand_style_is_deterministic_in_range_and_drawn_differently():
    ids = torch.tensor([0, 0, 1, 100_000])
    a = glyphs.render(ids, torch.Generator().manual_seed(5), style="hand")
    b = glyphs.render(ids, torch.Generator().manual_seed(5), style="hand")
    c = glyphs.render(ids, torch.Generator().manual_seed(6), style="hand")
    plain = glyphs.render(ids, torch.Generator().manual_seed(5))
    assert a.shape == (4, 1, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert 0.03 < float(a.mean()) < 0.5 and float(a.amax((1, 2, 3)).min()) > 0.3
    assert (a - plain).abs().mean() > 0.02
    levels = torch.unique(a)  # a coarse scan: few grey levels, smoothed by the upscale
    assert len(levels) > 16
    assert glyphs.render(ids, torch.Generator(), size=48, style="hand").shape == (4, 1, 48, 48)
    assert glyphs.render(torch.zeros(0, dtype=torch.long), torch.Generator(), style="hand").shape == (0, 1, 32, 32)
    with pytest.raises(ValueError, match="unknown glyph style 'ink'"):
        glyphs.render(ids, torch.Generator(), style="ink")


def test_a_hand_pressure_stroke_is_thicker_in_the_middle_than_where_the_pen_lands(monkeypatch):
    # one straight stroke drawn 4 times (each with its own pressure hump), no bend, slant, blur, noise or coarse scan
    for name, value in [("HAND_BLUR_PX", (0.01, 0.01)), ("HAND_SCAN_GRIDS", (64,)), ("HAND_BEND", 0.0),
                        ("HAND_SLANT", 0.0), ("HAND_PRESSURE_ENDS", (0.35, 0.35))]:
        monkeypatch.setattr(glyphs, name, value)
    line = torch.tensor([[[-0.6, 0.0], [0.0, 0.0], [0.6, 0.0]]]).repeat(glyphs.MAX_STROKES, 1, 1)
    monkeypatch.setitem(glyphs._PROTOS, -1, line)
    img = glyphs.render(torch.tensor([-1]), torch.Generator().manual_seed(0), size=64, rotation_deg=0.0,
                        jitter=0.0, noise=0.0, style="hand")[0, 0]
    ink = img > 0.25
    columns = ink.sum(0)  # stroke thickness in each column
    cols = columns.nonzero().flatten()
    left, right = int(cols.min()), int(cols.max())
    middle = (left + right) // 2
    assert columns[middle] > columns[left + 3] and columns[middle] > columns[right - 3]


def test_a_wider_source_has_character_classes_after_the_glyph_classes_and_alternates_styles(monkeypatch):
    recipe = PretrainRecipe(character_classes=3, styles=("plain", "hand"))
    split = pretrain_split(recipe, 4, 7)
    n = data.N_SOURCE_CLASSES + 3
    assert split.x.shape == (4 * n, 3, 32, 32) and split.y.tolist() == [c for c in range(n) for _ in range(4)]
    assert torch.equal(split.x[:, 0], split.x[:, 1]) and float(split.x.min()) >= 0 and float(split.x.max()) <= 1
    # the glyph classes keep their prototypes; the character classes are new ones, drawn in a tall box
    assert glyphs.class_prototype(0).abs().max() <= 0.75
    proto = glyphs.character_prototype(glyphs.CHARACTER_CLASS_BASE + 1)
    assert torch.equal(proto, glyphs.class_prototype(glyphs.CHARACTER_CLASS_BASE + 1))
    assert float(proto[..., 0].abs().max()) <= glyphs.CHARACTER_BOX[0] and float(proto[..., 1].abs().max()) <= glyphs.CHARACTER_BOX[1]
    # samples 0 and 2 of each class in the plain look, 1 and 3 by hand (a stand-in renderer paints each style flat)
    drawn = []

    def flat(ids, g, size=32, rotation_deg=0.0, style="plain"):
        drawn.append((style, ids.tolist()))
        return torch.full((len(ids), 1, size, size), 0.25 if style == "plain" else 0.75)

    monkeypatch.setattr(glyphs, "render", flat)
    looks = pretrain_split(recipe, 4, 7).x[:, 0, 0, 0]
    assert looks.tolist() == [0.25, 0.75, 0.25, 0.75] * n
    assert [st for st, _ in drawn] == ["plain", "hand"]
    assert drawn[1][1][-2:] == [glyphs.CHARACTER_CLASS_BASE + 2] * 2  # the last class is the third character class


def test_a_wider_pretrain_says_so_in_its_card(tmp_path):
    recipe = PretrainRecipe(steps=2, per_class=1, batch_size=16, threads=1, character_classes=5, styles=("plain", "hand"))
    card = pretrain(recipe, tmp_path / "wide.pt", log=lambda *_: None)
    assert card["source_classes"] == data.N_SOURCE_CLASSES + 5 and card["recipe"]["styles"] == ("plain", "hand")
    assert 0.0 <= card["wider_source_accuracy"] <= 1.0 and card["holdout_images"] == 600
    assert (tmp_path / "wide.sha256").exists()
    state = torch.load(tmp_path / "wide.pt", weights_only=True)
    assert state["head.weight"].shape[0] == data.N_SOURCE_CLASSES + 5
    assert "wider_source_accuracy" not in pretrain(PretrainRecipe(steps=1, per_class=1, batch_size=8, threads=1), None,
                                                   log=lambda *_: None)
    with pytest.raises(ConfigError, match="unknown glyph style 'ink'"):
        pretrain(PretrainRecipe(steps=1, styles=("ink",)), None)
    with pytest.raises(ConfigError, match=r"^no glyph style given; choose one of: plain, hand\.$"):
        pretrain(PretrainRecipe(steps=1, styles=()), None)


def test_the_shipped_recipe_is_the_default_and_another_never_overwrites_the_shipped_backbone(tmp_path, capsys, monkeypatch):
    from engine.train import pretrain as recipes

    shipped = recipes.RECIPES["shipped"]()
    assert (shipped.character_classes, shipped.styles, shipped.steps, shipped.per_class) == (800, ("plain", "hand"), 4000, 160)
    assert shipped is not recipes.SHIPPED  # a copy: --steps must not change the module's recipe
    assert recipes.RECIPES["glyphs"]() == PretrainRecipe() and PretrainRecipe().character_classes == 0
    card = json.loads(glyphnet.GLYPHNET_FILE.with_suffix(".json").read_text())
    assert card["recipe"] == {**asdict(recipes.SHIPPED), "styles": list(recipes.SHIPPED.styles)}  # the file in assets/ is its build
    assert cli.main(["pretrain", "--recipe", "glyphs", "--steps", "1"]) == 2
    assert capsys.readouterr().err == "error: --recipe glyphs is glyphnet's, and not the shipped one: give --out PATH as well.\n"
    seen = {}
    monkeypatch.setattr(recipes, "pretrain", lambda recipe, out: seen.update(recipe=recipe, out=out))
    assert cli.main(["pretrain", "--recipe", "glyphs", "--steps", "3", "--out", str(tmp_path / "g.pt")]) == 0
    assert seen["recipe"].steps == 3 and seen["recipe"].character_classes == 0 and seen["out"] == tmp_path / "g.pt"
    assert cli.main(["pretrain", "--steps", "2"]) == 0  # the shipped recipe, to assets/glyphnet.pt
    assert seen["recipe"].character_classes == 800 and seen["out"] == glyphnet.GLYPHNET_FILE
    assert recipes.SHIPPED.steps == 4000
