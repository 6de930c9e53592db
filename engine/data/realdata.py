"""Real datasets for the engine: CIFAR-10, Fashion-MNIST, handwritten digits, and the teacher's own images (folder or zip).

Registered in engine.data.tasks.DATASETS: `cifar10`, `fashionmnist`, `digits` (scikit-learn's bundled handwritten
digits, no network; needs scikit-learn), `folder:PATH`, `zip:PATH`.
Data lives in one data folder ($CLASSROOM_DATA, default ~/.cache/classroom); torchvision datasets are
downloaded only when asked (`python -m engine download cifar10`); offline, loading says so in one
sentence. Splits are reproducible: validation and test are fixed (the same for every seed) and the
training subset of `shots` labels per class is drawn with the config's seed.
Images come out as [0, 1] floats at config.image_size (engine.data.preprocess: shorter side resized, centre
cropped); a backbone's own normalisation is applied where the trainer is built.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

import engine.data.imagefolder as imagefolder
from engine.core.config import ConfigError, TrainConfig
from engine.core.paths import data_root
from engine.data.preprocess import to_unit_images
from engine.data.tasks import Split, Task, register_dataset

SPLIT_SEED = 0  # validation/test membership never depends on the run's seed
VAL_PER_CLASS = 20  # torchvision datasets: validation images per class, taken from the training set
TEST_PER_CLASS = 50  # torchvision datasets: test images per class, from the official test set
VAL_FRACTION = 0.2  # image folders: share of each class kept for validation
TEST_FRACTION = 0.2  # image folders: share of each class kept for test


def _tv(name: str):
    import torchvision.datasets as D

    return {"cifar10": D.CIFAR10, "fashionmnist": D.FashionMNIST}[name]


# name -> (title for messages, class names)
DOWNLOADABLE = {
    "cifar10": ("CIFAR-10", ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]),
    "fashionmnist": ("Fashion-MNIST", ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]),
}

_raw: dict[tuple[str, str, bool], tuple[torch.Tensor, torch.Tensor]] = {}
_lock = threading.Lock()


def _load_raw(name: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as uint8 (N, 3, H, W) and labels (N,); cached per data folder."""
    root = data_root()
    key = (name, str(root), train)
    with _lock:
        hit = _raw.get(key)
    if hit is not None:
        return hit
    title = DOWNLOADABLE[name][0]
    try:
        ds = _tv(name)(root=str(root), train=train, download=False)
    except Exception:  # missing or damaged files
        raise ConfigError(
            f"{title} is not in the data folder {root}: run `python -m engine download {name}` on a machine with a network "
            "(or set CLASSROOM_DATA to a folder that has it)."
        ) from None
    data = torch.as_tensor(ds.data)
    x = data.permute(0, 3, 1, 2) if data.ndim == 4 else data.unsqueeze(1).expand(-1, 3, -1, -1)  # HWC or gray -> 3 channels
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    with _lock:
        _raw[key] = (x, y)
    return x, y


def download_dataset(name: str) -> Path:
    """Fetch a torchvision dataset into the data folder (needs a network); the folder it is in."""
    root = data_root()
    title = DOWNLOADABLE[name][0]
    try:
        for train in (True, False):
            _tv(name)(root=str(root), train=train, download=True)
    except Exception as e:  # network, disk, checksum
        raise ConfigError(f"could not download {title} into {root} ({type(e).__name__}): check the network connection and try again.") from None
    return root


def _per_class(y: torch.Tensor, k: int, seed: int) -> list[torch.Tensor]:
    """Indices of each class 0..k-1, in an order shuffled by `seed`."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for c in range(k):
        idx = (y == c).nonzero().flatten()
        out.append(idx[torch.randperm(len(idx), generator=g)])
    return out


def _split(config: TrainConfig, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> Split:
    return Split(to_unit_images(x[idx], config.image_size), y[idx].clone())


def _common_warnings(config: TrainConfig) -> list[str]:
    if config.domain_shift > 0:
        return [f"the domain-shift dial (set to {config.domain_shift:g}) only changes the glyph world; it is ignored for this dataset."]
    return []


def torchvision_task(config: TrainConfig, name: str) -> Task:
    title, all_classes = DOWNLOADABLE[name]
    k = min(config.n_classes, len(all_classes))
    x_train, y_train = _load_raw(name, True)
    x_test, y_test = _load_raw(name, False)
    pools = _per_class(y_train, k, SPLIT_SEED)
    val_idx = torch.cat([p[:VAL_PER_CLASS] for p in pools])
    g = torch.Generator().manual_seed(config.seed)
    train_idx = []
    for p in pools:
        rest = p[VAL_PER_CLASS:]
        train_idx.append(rest[torch.randperm(len(rest), generator=g)][: config.shots])
    train_idx = torch.cat(train_idx)
    test_idx = torch.cat([p[:TEST_PER_CLASS] for p in _per_class(y_test, k, SPLIT_SEED)])
    train = _split(config, x_train, y_train, train_idx)
    return Task(
        name=f"{title} ({k} classes, {config.shots} labels each)",
        classes=all_classes[:k],
        train=train,
        val=_split(config, x_train, y_train, val_idx),
        test=_split(config, x_test, y_test, test_idx),
        source=None,
        warnings=_common_warnings(config),
    )


@register_dataset("cifar10")
def cifar10_task(config: TrainConfig, _arg: str = "") -> Task:
    """CIFAR-10: 32x32 photos of 10 everyday classes (the first n_classes of them)."""
    return torchvision_task(config, "cifar10")


@register_dataset("fashionmnist")
def fashionmnist_task(config: TrainConfig, _arg: str = "") -> Task:
    """Fashion-MNIST: 28x28 grayscale clothing pictures of 10 classes, shown as RGB."""
    return torchvision_task(config, "fashionmnist")


def folder_split(y: torch.Tensor, n_classes: int, shots: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[int, int]]:
    """Per class: a fixed test share, a fixed validation share, then up to `shots` training images drawn
    with `seed` from the rest. Returns (train, val, test) indices and {class: training images available}."""
    tr, va, te, available = [], [], [], {}
    g = torch.Generator().manual_seed(seed)
    for c, idx in enumerate(_per_class(y, n_classes, SPLIT_SEED)):
        n = len(idx)
        n_test = max(1, round(n * TEST_FRACTION))
        n_val = max(1, round(n * VAL_FRACTION))
        te.append(idx[:n_test])
        va.append(idx[n_test : n_test + n_val])
        rest = idx[n_test + n_val :]
        available[c] = len(rest)
        tr.append(rest[torch.randperm(len(rest), generator=g)][:shots])
    return torch.cat(tr), torch.cat(va), torch.cat(te), available


@register_dataset("folder")
def folder_task(config: TrainConfig, path: str) -> Task:
    """The teacher's images: folder:PATH with one subfolder per class."""
    if not path.strip():
        raise ConfigError("the folder dataset needs a path: use folder:PATH, a folder with one subfolder of images per class.")
    imgs = imagefolder.load_folder(path.strip(), config.image_size)
    warnings = [*imgs.warnings, *_common_warnings(config)]
    counts = torch.bincount(imgs.y, minlength=len(imgs.classes))
    for cname, n in zip(imgs.classes, counts.tolist()):
        if n < imagefolder.MIN_PER_CLASS:
            raise ConfigError(
                f"the class folder {cname}/ has only {n} readable image(s): each class needs at least "
                f"{imagefolder.MIN_PER_CLASS} (one each for training, validation and test)."
            )
    tr, va, te, available = folder_split(imgs.y, len(imgs.classes), config.shots, config.seed)
    short = [f"{imgs.classes[c]} ({n})" for c, n in available.items() if n < config.shots]
    if short:
        warnings.append(
            f"asked for {config.shots} labels per class, but fewer training images are left after the validation and test "
            f"shares in: {', '.join(short)}; those classes train on all they have."
        )
    return Task(
        name=f"{Path(path.strip()).name or path} ({len(imgs.classes)} classes, up to {config.shots} labels each)",
        classes=imgs.classes,
        train=_split(config, imgs.x, imgs.y, tr),
        val=_split(config, imgs.x, imgs.y, va),
        test=_split(config, imgs.x, imgs.y, te),
        source=None,  # a glyph backbone's forgetting meter is added where the trainer is built (engine.train.experiment)
        warnings=warnings,
    )


@register_dataset("zip")
def zip_task(config: TrainConfig, path: str) -> Task:
    """zip:PATH, a zip of a folder with one subfolder per class, unpacked safely into the data folder."""
    p = Path(path.strip()).expanduser()
    if not p.is_file():
        raise ConfigError(f"the zip {p} does not exist: give the path of a zip of a folder with one subfolder of images per class.")
    if p.stat().st_size > imagefolder.ZIP_LIMIT_BYTES:
        imagefolder.unpack_zip(p, data_root() / "uploads" / "refused")  # raises the size sentence
    root = imagefolder.unpack_upload(p.read_bytes())
    return folder_task(config, str(root))


# -- scikit-learn's bundled handwritten digits: a real handwriting set that needs no network -------------------

DIGITS_VAL_PER_CLASS = 20  # fixed per class, the same for every seed
DIGITS_TEST_PER_CLASS = 50  # fixed per class: 500 test images over the 10 digits
DIGITS_FILL = 0.75  # share of the frame the 8x8 scan fills once upscaled, about the extent of a glyph's strokes
DIGITS_LEVELS = 16  # the scans' grey levels run 0..16 (ink counted in 4x4 blocks of a 32x32 bitmap)
MISSING_SKLEARN = "the digits data set needs scikit-learn: pip install scikit-learn"

_digits: list[tuple[torch.Tensor, torch.Tensor]] = []


def load_digits_raw() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 scans as float32 (N, 8, 8) in [0, 1], ink bright on a dark background, and labels (N,) int64."""
    with _lock:
        if _digits:
            return _digits[0]
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError(MISSING_SKLEARN) from None
    d = load_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32) / DIGITS_LEVELS
    y = torch.as_tensor(d.target, dtype=torch.int64)
    with _lock:
        if not _digits:
            _digits.append((x, y))
    return x, y


def digits_to_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 8, 8) scans in [0, 1] -> (N, 3, size, size) grey images drawn like the glyphs: bright ink on black,
    upscaled (bilinear) to DIGITS_FILL of the frame and centred on a black margin."""
    import torch.nn.functional as F

    inner = max(8, round(size * DIGITS_FILL))
    up = F.interpolate(x.unsqueeze(1), size=(inner, inner), mode="bilinear", align_corners=False).clamp(0, 1)
    lo = (size - inner) // 2
    hi = size - inner - lo
    return F.pad(up, (lo, hi, lo, hi)).expand(-1, 3, -1, -1).contiguous()


def digits_split(y: torch.Tensor, n_classes: int, shots: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per class: the first DIGITS_TEST_PER_CLASS of a fixed shuffle for test, the next DIGITS_VAL_PER_CLASS for
    validation, then `shots` training images drawn with `seed` from the rest. Returns (train, val, test) indices."""
    g = torch.Generator().manual_seed(seed)
    tr, va, te = [], [], []
    for idx in _per_class(y, n_classes, SPLIT_SEED):
        te.append(idx[:DIGITS_TEST_PER_CLASS])
        va.append(idx[DIGITS_TEST_PER_CLASS : DIGITS_TEST_PER_CLASS + DIGITS_VAL_PER_CLASS])
        rest = idx[DIGITS_TEST_PER_CLASS + DIGITS_VAL_PER_CLASS :]
        tr.append(rest[torch.randperm(len(rest), generator=g)][:shots])
    return torch.cat(tr), torch.cat(va), torch.cat(te)


@register_dataset("digits")
def digits_task(config: TrainConfig, _arg: str = "") -> Task:
    """scikit-learn's handwritten digits (1797 8x8 scans of 10 digits, bundled: no network), upscaled to
    config.image_size and drawn like the glyphs; test and validation are fixed, `shots` per class for training."""
    x, y = load_digits_raw()
    k = min(config.n_classes, 10)
    smallest = int(torch.bincount(y, minlength=10)[:k].min())
    room = smallest - DIGITS_TEST_PER_CLASS - DIGITS_VAL_PER_CLASS
    warnings = _common_warnings(config)
    if config.shots > room:
        warnings.append(f"asked for {config.shots} labels per class, but the digits have at most {room} training images "
                        "per class after the validation and test shares; classes train on all they have.")
    tr, va, te = digits_split(y, k, config.shots, config.seed)

    def split(idx: torch.Tensor) -> Split:
        return Split(digits_to_images(x[idx], config.image_size), y[idx].clone())

    return Task(
        name=f"handwritten digits ({k} classes, {config.shots} labels each)",
        classes=[str(c) for c in range(k)],
        train=split(tr),
        val=split(va),
        test=split(te),
        source=None,
        warnings=warnings,
    )
