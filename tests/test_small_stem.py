"""resnet18_nopool: torchvision's ResNet-18 without the stem's max-pool, for 32-px images; the same weights."""

from __future__ import annotations

import pytest
import torch
import torchvision
from test_realmodels import save_fake_weights, torch_home  # noqa: F401  (a fixture)

from engine.models import imagenet as rm
from engine.models.registry import build_model, get_spec


def _maps(model, x):
    """Spatial size after each body group but the last (which pools), input to output."""
    sizes = []
    for name, group in model.body.named_children():
        if name == "layer4":
            for child_name, child in group.named_children():
                if child_name == "pool":
                    break
                x = child(x)
        else:
            x = group(x)
        sizes.append(x.shape[-1])
    return sizes


def test_without_the_max_pool_layer4_sees_2x2_maps_at_32_px():
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        plain = build_model("resnet18", "scratch", n_classes=4).model.eval()
        small = build_model("resnet18_nopool", "scratch", n_classes=4).model.eval()
        assert _maps(plain, x) == [8, 8, 4, 2, 1]  # made for 224 px: a 32-px glyph is 1x1 by layer4
        assert _maps(small, x) == [16, 16, 8, 4, 2]
        assert small(x).shape == (2, 4)
    assert [g for g, _ in small.layer_groups()] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert "maxpool" not in dict(small.body.stem.named_children()) and "maxpool" in dict(plain.body.stem.named_children())
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(small) == count(plain)  # the pool has no weights


def test_the_same_seed_builds_the_same_weights_as_resnet18():
    a = build_model("resnet18", "scratch", n_classes=3, seed=4).model.state_dict()
    b = build_model("resnet18_nopool", "scratch", n_classes=3, seed=4).model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_imagenet_weights_load_into_it_from_resnet18s_cache_file(torch_home):  # noqa: F811
    state = save_fake_weights("resnet18")
    m = build_model("resnet18_nopool", "imagenet", n_classes=3, seed=0).model.eval()
    assert torch.equal(m.body.stem.conv1.weight, state["conv1.weight"])
    # it computes what torchvision's ResNet-18 computes with its max-pool replaced by the identity
    tv = torchvision.models.resnet18(weights=None)
    tv.load_state_dict(state)
    tv.fc, tv.maxpool = torch.nn.Identity(), torch.nn.Identity()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(m.features(x), tv.eval()(x), atol=1e-5)


def test_offline_it_names_resnet18s_file(torch_home):  # noqa: F811
    from engine.core.config import ConfigError

    with pytest.raises(ConfigError) as e:
        build_model("resnet18_nopool", "pretrained", n_classes=3)
    assert str(e.value) == rm.offline_message("resnet18")


def test_spec():
    spec, base = get_spec("resnet18_nopool"), get_spec("resnet18")
    assert spec.image_size == 32 and spec.weights == base.weights and spec.input_norm == base.input_norm
    assert spec.extra["variant_of"] == "resnet18" and "max-pool" in spec.description
    assert "resnet18_nopool" not in rm.REAL  # not a second file to download
