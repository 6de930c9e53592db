"""torchvision backbones with their ImageNet weights: resnet18, mobilenet_v3_small, efficientnet_b0.

Each is cut into ordered layer groups (stem, stages..., the last ending in global pool + flatten),
so freezing, per-group learning rates and the drift panel work on them exactly as on glyphnet.

Weights come through torchvision's weights API and its cache (TORCH_HOME, see torch.hub.get_dir()).
A cached file is loaded with weights_only=True. A missing one is fetched with a short network
timeout; offline, the result is one sentence that names the file, the cache folder and
`python -m engine download` (or `make weights`) to fetch it on a machine with a network.
Preprocessing (resize, crop, normalisation) is each weights object's own `transforms()`.
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

from engine.config import ConfigError
from engine.models import BackboneSpec, TransferNet, register

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


def build_groups(name: str) -> tuple[list[tuple[str, nn.Module]], int]:
    """A fresh torchvision model cut into its layer groups; the last group ends in pool + flatten -> (B, D)."""
    rb = REAL[name]
    tv = rb.make()
    groups = []
    for i, (gname, paths) in enumerate(rb.groups):
        children = [(_child(p), _get(tv, p)) for p in paths]
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
        extra={"categories": _rb.weights.meta["categories"], "imagenet": True},
    ))


# ---- preprocessing ----------------------------------------------------------------------------


def transforms(name: str, image_size: int):
    """The weights' own preprocessing (resize, centre crop, scale to float, normalise) at `image_size`."""
    return REAL[name].weights.transforms(crop_size=image_size, resize_size=image_size)


def normalisation(backbone: str, image_size: int) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """(normalise, to_display) for float images in [0, 1] fed to an ImageNet backbone: the weights' own mean
    and std, and back to [0, 1] for showing."""
    t = transforms(backbone, image_size)
    mean = torch.tensor(t.mean).view(1, 3, 1, 1)
    std = torch.tensor(t.std).view(1, 3, 1, 1)

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x - mean.to(x.device)) / std.to(x.device)

    def to_display(x: torch.Tensor) -> torch.Tensor:
        return (x.float() * std.to(x.device) + mean.to(x.device)).clamp(0, 1)

    return normalise, to_display


def preprocessing(backbone: str, image_size: int) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """(to_model, to_display) for uint8 images (N, 3, H, W) fed to `backbone`.

    ImageNet backbones: the weights' transforms; to_display undoes their normalisation.
    Any other backbone (glyphnet): resize to image_size and scale to [0, 1]; to_display is the identity.
    """
    if backbone in REAL:
        t = transforms(backbone, image_size)

        def to_model(x: torch.Tensor) -> torch.Tensor:
            return t(x).contiguous()

        return to_model, normalisation(backbone, image_size)[1]

    def plain(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (image_size, image_size):
            x = torchvision.transforms.functional.resize(x, [image_size, image_size], antialias=True)
        return x.float() / 255.0

    return plain, lambda x: x


# ---- `python -m engine download` ----------------------------------------------------------------


def download(names: list[str]) -> int:
    """Fetch ImageNet weights and datasets into their caches (needs a network). 0 = all there."""
    from engine import realdata

    names = list(names) or [*REAL, *realdata.DOWNLOADABLE]
    unknown = [n for n in names if n not in REAL and n not in realdata.DOWNLOADABLE]
    if unknown:
        print(f"error: unknown name {unknown[0]!r}; choose from: {', '.join([*REAL, *realdata.DOWNLOADABLE])}.")
        return 2
    failed = 0
    for n in names:
        try:
            path = ensure_weights(n, timeout=30.0) if n in REAL else realdata.download_dataset(n)
            print(f"ok: {n} -> {path}")
        except ConfigError as e:
            if n in REAL and str(e) == offline_message(n):  # the generic sentence would tell the user to run this very command
                f = cache_file(n)
                e = ConfigError(f"could not download {f.name} into {f.parent}: check the network connection, or copy the file there.")
            print(f"failed: {n}: {e}")
            failed += 1
    return 1 if failed else 0


# ---- speed -------------------------------------------------------------------------------------


def bench_resnet18(device: str | torch.device = "cpu", quick: bool = False, image_size: int = DEFAULT_IMAGE_SIZE,
                   steps: int | None = None) -> dict:
    """resnet18 (random init: no weights needed, same cost as ImageNet weights) fine-tuned on the glyph task at
    the lesson's image size on `device`: the Trainer's steps/s next to a bare PyTorch loop's, measured the way
    engine.bench measures glyphnet (overhead_ratio = trainer / bare, interleaved rounds)."""
    from engine.bench import overhead_ratio
    from engine.config import TrainConfig

    dev = device if isinstance(device, torch.device) else torch.device(device)
    steps = steps or (5 if quick else 10)
    cfg = TrainConfig(backbone="resnet18", weights="scratch", image_size=image_size, device=dev.type)
    figures = overhead_ratio(cfg, steps=steps, rounds=1 if quick else 3)
    return {"model": "resnet18", "device": dev.type, "image_size": image_size, "batch_size": cfg.batch_size, "steps": steps, **figures}
