"""torchvision backbones with their ImageNet weights (resnet18, mobilenet_v3_small, efficientnet_b0) and their cache.

Each is cut into ordered layer groups (stem, stages..., the last ending in global pool + flatten),
so freezing, per-group learning rates and the drift panel work on them exactly as on glyphnet.
resnet18_nopool is ResNet-18 without its stem's max-pool, for 32-px images (SMALL_IMAGE; the same weights).

Weights come through torchvision's weights API and its cache (TORCH_HOME, see torch.hub.get_dir()).
A cached file is loaded with weights_only=True. A missing one is fetched with a short network
timeout; offline, the result is one sentence that names the file, the cache folder and
`python -m engine download` (or `make weights`) to fetch it on a machine with a network.
Their input normalisation is each weights object's own mean and std (`transforms()`), kept on the spec as
data; the resize and centre crop happen in the data layer (engine.data.preprocess).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from engine.core.config import ConfigError
from engine.models.registry import BackboneSpec, TransferNet, register

DOWNLOAD_TIMEOUT_S = 5.0  # seconds without an answer before a download counts as offline
DEFAULT_IMAGE_SIZE = 64  # pixels per side for these backbones in a lesson (CPU-friendly)


@dataclass(frozen=True)
class RealBackbone:
    """A torchvision architecture, its weights enum, and how its modules form layer groups."""

    name: str
    make: Callable[[], nn.Module]  # the torchvision model, random init, no download
    weights_enum: type  # e.g. torchvision.models.ResNet18_Weights
    groups: tuple[tuple[str, tuple[str, ...]], ...]  # (group name, torchvision module paths), input to output
    feature_dim: int
    description: str

    @property
    def weights(self):
        return self.weights_enum.DEFAULT


REAL: dict[str, RealBackbone] = {}


def _add(rb: RealBackbone) -> None:
    REAL[rb.name] = rb


_add(RealBackbone(
    name="resnet18",
    make=lambda: torchvision.models.resnet18(weights=None),
    weights_enum=torchvision.models.ResNet18_Weights,
    groups=(
        ("stem", ("conv1", "bn1", "relu", "maxpool")),
        ("layer1", ("layer1",)),
        ("layer2", ("layer2",)),
        ("layer3", ("layer3",)),
        ("layer4", ("layer4",)),
    ),
    feature_dim=512,
    description="ResNet-18 (11.2M params) pretrained on ImageNet (1000 classes); 5 groups: stem, layer1-4",
))
_add(RealBackbone(
    name="mobilenet_v3_small",
    make=lambda: torchvision.models.mobilenet_v3_small(weights=None),
    weights_enum=torchvision.models.MobileNet_V3_Small_Weights,
    groups=(
        ("stem", ("features.0",)),
        ("block1", ("features.1",)),
        ("block2", ("features.2", "features.3")),
        ("block3", ("features.4", "features.5", "features.6")),
        ("block4", ("features.7", "features.8")),
        ("block5", ("features.9", "features.10", "features.11", "features.12")),
    ),
    feature_dim=576,
    description="MobileNetV3-Small (0.9M params in the body) pretrained on ImageNet; 6 groups: stem, block1-5",
))
_add(RealBackbone(
    name="efficientnet_b0",
    # stochastic depth off: it draws from torch's global random stream, which would break "same seed, same run"
    make=lambda: torchvision.models.efficientnet_b0(weights=None, stochastic_depth_prob=0.0),
    weights_enum=torchvision.models.EfficientNet_B0_Weights,
    groups=(
        ("stem", ("features.0",)),
        ("stage1", ("features.1", "features.2")),
        ("stage2", ("features.3",)),
        ("stage3", ("features.4", "features.5")),
        ("stage4", ("features.6", "features.7", "features.8")),
    ),
    feature_dim=1280,
    description="EfficientNet-B0 (4.0M params in the body) pretrained on ImageNet; 5 groups: stem, stage1-4",
))


def _child(path: str) -> str:
    return path.replace(".", "_")  # module names inside a group may not contain dots


def _get(module: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        module = getattr(module, part)
    return module


def build_groups(name: str, without: tuple[str, ...] = ()) -> tuple[list[tuple[str, nn.Module]], int]:
    """A fresh torchvision model cut into its layer groups; the last group ends in pool + flatten -> (B, D).
    Module paths in `without` are left out (only weightless ones, e.g. a pooling layer: the weights still fit)."""
    rb = REAL[name]
    tv = rb.make()
    groups = []
    for i, (gname, paths) in enumerate(rb.groups):
        children = [(_child(p), _get(tv, p)) for p in paths if p not in without]
        if i == len(rb.groups) - 1:
            children += [("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]
        groups.append((gname, nn.Sequential(OrderedDict(children))))
    return groups, rb.feature_dim


def map_state_dict(name: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's keys (conv1.weight, features.3.block...) -> ours (stem.conv1.weight, block2.features_3.block...).
    Keys outside every group (the ImageNet classifier) are dropped."""
    rb = REAL[name]
    prefixes = [(p, gname) for gname, paths in rb.groups for p in paths]
    out = {}
    for key, value in state.items():
        for p, gname in prefixes:
            if key.startswith(p + "."):
                out[f"{gname}.{_child(p)}{key[len(p):]}"] = value
                break
    return out


# ---- the weights cache ----------------------------------------------------------------------


def weights_url(name: str) -> str:
    return REAL[name].weights.url


def cache_dir() -> Path:
    """torchvision's checkpoint folder: $TORCH_HOME/hub/checkpoints (torch.hub.get_dir())."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cache_file(name: str) -> Path:
    """Where torchvision keeps `name`'s ImageNet weights (the file name it expects)."""
    return cache_dir() / os.path.basename(urlparse(weights_url(name)).path)


def is_cached(name: str) -> bool:
    return name in REAL and cache_file(name).is_file()


def offline_message(name: str) -> str:
    f = cache_file(name)
    return (
        f"the ImageNet weights for {name} ({f.name}) are not in the cache folder {f.parent} and could not be downloaded: "
        f"run `python -m engine download {name}` (or `make weights`) on a machine with a network and copy the file there."
    )


def _fetch(url: str, dest: Path, timeout: float) -> None:
    """Stream `url` into `dest` (through a temporary file, so a broken download leaves nothing behind)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out, 1 << 20)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_download_lock = threading.Lock()


def ensure_weights(name: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """The cached weights file of `name`, fetched first if missing; ConfigError (one sentence) when offline."""
    path = cache_file(name)
    if path.is_file():
        return path
    with _download_lock:
        if path.is_file():
            return path
        try:
            _fetch(weights_url(name), path, timeout)
        except Exception:  # no network, DNS failure, timeout, HTTP error, full disk...
            raise ConfigError(offline_message(name)) from None
        m = re.search(r"-([a-f0-9]+)\.", path.name)  # torchvision names carry a sha256 prefix
        if m and not hashlib.sha256(path.read_bytes()).hexdigest().startswith(m.group(1)):
            path.unlink()
            raise ConfigError(f"the download of {path.name} was damaged (checksum mismatch): run `python -m engine download {name}` again.")
    return path


def load_state(name: str) -> dict[str, torch.Tensor]:
    path = ensure_weights(name)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # truncated, not a zip, pickled code refused by weights_only
        raise ConfigError(
            f"the cached weights file {path} cannot be read (corrupt or partly copied): delete it and run `python -m engine download {name}`."
        ) from None


def _loader(name: str):
    def load(model: TransferNet, weights: str) -> None:
        mapped = map_state_dict(name, load_state(name))
        try:
            model.body.load_state_dict(mapped, strict=True)
        except RuntimeError:
            path = cache_file(name)
            raise ConfigError(
                f"the cached file {path.name} does not hold {name} weights: delete {path} and run `python -m engine download {name}`."
            ) from None
        # no source head: ImageNet's own holdout is not available offline, so the forgetting meter stays off

    return load


for _name, _rb in REAL.items():
    register(BackboneSpec(
        name=_name,
        build=lambda n=_name: build_groups(n),
        weights=("imagenet", "pretrained"),  # pretrained means ImageNet for these
        image_size=DEFAULT_IMAGE_SIZE,
        description=_rb.description,
        load_pretrained=_loader(_name),
        source_classes=len(_rb.weights.meta["categories"]),
        input_norm=(tuple(_rb.weights.transforms().mean), tuple(_rb.weights.transforms().std)),
        extra={"categories": _rb.weights.meta["categories"], "imagenet": True},
    ))


# Small-image variants: the same torchvision network and weights, less a weightless layer that suits 224-px photos
# only. ResNet-18's stem (7x7 conv at stride 2, then a 3x3 max-pool at stride 2) shrinks a 32-px image to 8x8 before
# layer1, so layer4 sees 1x1 maps; without the max-pool it sees 2x2 (16, 16, 8, 4, 2 across stem, layer1-4), as a
# 64-px image does with the pool, for about 4 times the compute of the 32-px network with it.
SMALL_IMAGE = {"resnet18_nopool": ("resnet18", ("maxpool",))}

for _name, (_base, _without) in SMALL_IMAGE.items():
    _rb = REAL[_base]
    register(BackboneSpec(
        name=_name,
        build=lambda b=_base, w=_without: build_groups(b, w),
        weights=("imagenet", "pretrained"),
        image_size=32,
        description=f"{_rb.description}, without the stem's max-pool (for 32-px images; the same weights)",
        load_pretrained=_loader(_base),
        source_classes=len(_rb.weights.meta["categories"]),
        input_norm=(tuple(_rb.weights.transforms().mean), tuple(_rb.weights.transforms().std)),
        extra={"categories": _rb.weights.meta["categories"], "imagenet": True, "variant_of": _base},
    ))
