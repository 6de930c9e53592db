"""The glyph world and its domain shift: deterministic, the right shapes, target classes are new."""

import pytest
import torch

from engine.core.config import ConfigError, TrainConfig
from engine.data import glyphs, shift
from engine.data import tasks as data
from engine.train.experiment import prepare_task


def test_rendering_is_deterministic_from_the_seed():
    ids = torch.tensor([0, 1, 2, 100_000])
    a = glyphs.render(ids, torch.Generator().manual_seed(5))
    b = glyphs.render(ids, torch.Generator().manual_seed(5))
    c = glyphs.render(ids, torch.Generator().manual_seed(6))
    assert a.shape == (4, 1, 32, 32)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert 0.03 < float(a.mean()) < 0.5  # strokes on a dark background, neither empty nor full


def test_classes_differ_and_samples_of_a_class_vary():
    g = torch.Generator().manual_seed(0)
    two_of_a = glyphs.render(torch.tensor([7, 7]), g, noise=0.0)
    one_of_b = glyphs.render(torch.tensor([8]), g, noise=0.0)
    assert not torch.equal(two_of_a[0], two_of_a[1])
    same = (two_of_a[0] - two_of_a[1]).abs().mean()
    other = (two_of_a[0] - one_of_b[0]).abs().mean()
    assert other > 0 and same > 0


def test_target_task_splits_and_class_ids_are_new():
    task = data.load_task(TrainConfig(shots=3, n_classes=4))
    assert task.train.x.shape == (12, 3, 32, 32) and task.train.y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert len(task.val) == 4 * data.VAL_PER_CLASS and len(task.test) == 4 * data.TEST_PER_CLASS
    assert len(task.source) == data.N_SOURCE_CLASSES * data.FORGETTING_PER_CLASS == 200
    assert task.source.y.tolist() == list(range(data.N_SOURCE_CLASSES))  # one image of every source class
    held_out = data.source_split(data.SOURCE_HOLDOUT_PER_CLASS, 4)  # the split the backbone's card was scored on
    assert torch.equal(task.source.x, held_out.x[:: data.SOURCE_HOLDOUT_PER_CLASS])
    assert min(data.target_class_ids(26)) >= data.N_SOURCE_CLASSES
    assert task.classes == ["glyph A", "glyph B", "glyph C", "glyph D"]


def test_the_seed_changes_the_labelled_examples_but_not_val_or_test():
    a = data.load_task(TrainConfig(shots=2, seed=0))
    b = data.load_task(TrainConfig(shots=2, seed=1))
    assert not torch.equal(a.train.x, b.train.x)
    assert torch.equal(a.test.x, b.test.x) and torch.equal(a.val.x, b.val.x)


def test_shift_dial_adds_effects_one_after_another():
    assert shift.strengths(0.0) == {"rotation": 0.0, "tint": 0.0, "texture": 0.0, "blur": 0.0, "invert": 0.0}
    s = shift.strengths(0.5)
    assert s["tint"] == 1.0 and s["invert"] == 0.0 and 0 < s["texture"] < 1 and s["rotation"] == 0.5
    assert all(v == 1.0 for v in shift.strengths(1.0).values())
    assert shift.strengths(0.5, ("blur",)) == {"rotation": 0.0, "tint": 0.0, "texture": 0.0, "blur": 0.5, "invert": 0.0}
    with pytest.raises(ValueError, match="unknown domain shift 'sepia'"):
        shift.strengths(0.5, ("sepia",))


def test_shift_zero_is_the_source_look_and_one_is_far():
    grid = data.sample_grid([0.0, 1.0], n_classes=3)
    near, far = grid[0.0], grid[1.0]
    assert near.shape == far.shape == (3, 3, 32, 32)
    assert torch.equal(near[:, 0], near[:, 1])  # grey: all channels equal
    assert float(far.mean()) > 0.5 > float(near.mean())  # inverted: light background


def test_too_many_glyph_classes_is_one_sentence():
    with pytest.raises(ConfigError, match=r"^the glyph target has at most 26 classes \(got 30\)\.$"):
        data.load_task(TrainConfig(n_classes=30))


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"^unknown dataset 'imagenet21k'; known: .*glyphs"):
        data.load_task(TrainConfig(dataset="imagenet21k"))


def test_glyphs_for_an_imagenet_backbone_are_normalised_like_imagenet_and_shown_as_drawn():
    plain = data.load_task(TrainConfig(shots=2, n_classes=3))
    before = plain.train.x.clone()
    task = prepare_task(TrainConfig(backbone="resnet18", weights="scratch", shots=2, n_classes=3))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)  # ImageNet's, as in torchvision's weights
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(task.train.x, (plain.train.x - mean) / std)
    assert torch.allclose(task.test.x, (plain.test.x - mean) / std)
    assert torch.allclose(task.to_display(task.val.x), plain.val.x, atol=1e-6)
    assert torch.equal(plain.train.x, before)  # the cached glyph splits are untouched
    assert task.source is None  # no glyph forgetting meter for an ImageNet backbone
