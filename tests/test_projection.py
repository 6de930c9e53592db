"""The Hour 2 feature-space picture: PCA checked against an eigen-decomposition, and on the real backbone."""

import pytest
import torch

from engine.core.config import ConfigError, TrainConfig
from engine.models.registry import build_model
from engine.train.projection import features_of, nearest_centroid_accuracy, pca_2d, project_target


def test_pca_finds_the_line_the_points_lie_on():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(200, generator=g)
    noise = 0.01 * torch.randn(200, generator=g)
    direction = torch.tensor([1.0, 2.0]) / 5**0.5
    normal = torch.tensor([-2.0, 1.0]) / 5**0.5
    x = t[:, None] * direction + noise[:, None] * normal + torch.tensor([3.0, -1.0])
    coords, explained = pca_2d(x)
    assert coords.shape == (200, 2)
    assert explained[0] > 0.999
    assert sum(explained) == pytest.approx(1.0)
    # the first coordinate is the position along the line (the largest loading, 2/sqrt(5), is made positive)
    torch.testing.assert_close(coords[:, 0], (t - t.mean()), atol=0.02, rtol=0)


def test_pca_matches_the_covariance_eigenvectors():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 6, generator=g) @ torch.randn(6, 6, generator=g)  # correlated features
    coords, explained = pca_2d(x)
    xc = (x - x.mean(0)).double()
    evals, evecs = torch.linalg.eigh(xc.T @ xc / (len(x) - 1))  # ascending order
    top = evecs[:, [-1, -2]]  # (D, 2)
    ref = xc @ top
    # same axes up to sign
    for i in range(2):
        sign = torch.sign((ref[:, i] * coords[:, i].double()).sum())
        torch.testing.assert_close(coords[:, i].double(), sign * ref[:, i], atol=1e-4, rtol=1e-4)
    shares = (evals.flip(0) / evals.sum())[:2].tolist()
    assert explained == pytest.approx(shares, rel=1e-6)


def test_pca_picture_does_not_flip_between_calls():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(50, 8, generator=g)
    a, _ = pca_2d(x)
    b, _ = pca_2d(x.clone())
    perm = torch.randperm(50, generator=g)
    c, _ = pca_2d(x[perm])  # the same cloud in another order: the same picture
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(c, a[perm], atol=1e-5, rtol=1e-5)
    # the largest loading of each axis is positive, so the sign is a property of the data
    m, _ = pca_2d(-x)
    torch.testing.assert_close(m, -a, atol=1e-5, rtol=1e-5)


def test_pca_needs_two_points():
    with pytest.raises(ConfigError, match=r"^a projection needs at least 2 feature vectors \(got shape \(1, 4\)\)\.$"):
        pca_2d(torch.zeros(1, 4))


def test_nearest_centroid_accuracy_by_hand():
    f = torch.tensor([[0.0], [0.2], [1.0], [0.35]])
    y = torch.tensor([0, 0, 1, 1])
    # centroids 0.1 and 0.675: the point at 0.35 is nearer 0.1 -> 3 of 4 right
    assert nearest_centroid_accuracy(f, y) == pytest.approx(0.75)


def test_features_of_keeps_the_model_mode_and_matches_the_body():
    built = build_model("glyphnet", "scratch", 3, seed=0)
    model = built.model.train()
    x = torch.randn(7, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    f = features_of(model, x, batch=3)
    assert model.training
    assert f.shape == (7, 128)
    model.eval()
    torch.testing.assert_close(f, model.body(x))


def test_target_images_in_pretrained_feature_space():
    cfg = TrainConfig(n_classes=4)
    p = project_target(cfg, split="val")
    assert p.coords.shape == (40, 2)  # 10 validation images per class
    assert p.labels.tolist() == sorted(p.labels.tolist())
    assert p.classes == ["glyph A", "glyph B", "glyph C", "glyph D"]
    assert p.feature_dim == 128
    assert p.explained[0] >= p.explained[1] > 0
    rows = p.rows()
    assert len(rows) == 40 and set(rows[0]) == {"x", "y", "class"}
    # the pretrained features already group the new classes better than random features do
    random = project_target(cfg, split="val", weights="scratch")
    assert p.separation > random.separation
    assert p.separation >= 0.9


def test_unknown_split_is_one_sentence():
    with pytest.raises(ConfigError, match=r"^unknown split 'source'; choose train, val or test\.$"):
        project_target(TrainConfig(), split="source")
