"""Real datasets: tiny fakes in torchvision's on-disk formats, the offline sentence, folder splits, zips."""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from engine.core.config import ConfigError, TrainConfig
from engine.data import realdata
from engine.data.tasks import load_task
from engine.train.experiment import prepare_task


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("CLASSROOM_DATA", str(root))
    return root


def _idx(path: Path, arr: np.ndarray) -> None:
    """MNIST's idx format: a big-endian magic (0x08 = uint8, then the number of dims), the dims, the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 | arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def fake_fashionmnist(root: Path, per_class_train=30, per_class_test=6) -> None:
    """Each image is filled with its class id x 20 plus its index, so a test can read labels back from pixels."""
    raw = root / "FashionMNIST" / "raw"
    for prefix, n in (("train", per_class_train), ("t10k", per_class_test)):
        y = np.repeat(np.arange(10), n)
        x = (y * 20)[:, None, None] + (np.arange(len(y)) % 7)[:, None, None] + np.zeros((1, 28, 28), dtype=np.int64)
        _idx(raw / f"{prefix}-images-idx3-ubyte", x)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", y)


def fake_cifar10(root: Path, per_class=4) -> None:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    rng = np.random.default_rng(0)
    for name in names:
        labels = list(np.repeat(np.arange(10), per_class))
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        data[:, :1024] = np.array(labels, dtype=np.uint8)[:, None] * 25  # red channel = class x 25
        with open(d / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({"label_names": realdata.DOWNLOADABLE["cifar10"][1]}, f)


def test_offline_dataset_is_one_sentence(data_root):
    for name, title in (("cifar10", "CIFAR-10"), ("fashionmnist", "Fashion-MNIST")):
        with pytest.raises(ConfigError) as e:
            load_task(TrainConfig(dataset=name))
        assert str(e.value) == (
            f"{title} is not in the data folder {data_root}: run `python -m engine download {name}` on a machine with a network "
            "(or set CLASSROOM_DATA to a folder that has it)."
        )


def test_fashionmnist_subset_splits_and_seed(data_root):
    fake_fashionmnist(data_root)
    cfg = TrainConfig(dataset="fashionmnist", n_classes=3, shots=4, image_size=16)
    t = load_task(cfg)
    assert t.classes == ["T-shirt/top", "Trouser", "Pullover"]
    assert t.name == "Fashion-MNIST (3 classes, 4 labels each)"
    assert (len(t.train), len(t.val), len(t.test)) == (12, 3 * realdata.VAL_PER_CLASS, 18)
    assert t.train.x.shape == (12, 3, 16, 16) and t.train.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert t.source is None
    # grayscale -> 3 equal channels in [0, 1] for glyphnet; labels agree with the pixels
    assert torch.equal(t.train.x[:, 0], t.train.x[:, 2])
    assert (((t.test.x[:, 0, 0, 0] * 255).round() // 20).long() == t.test.y).all()
    # val and test never depend on the seed; the training subset does, reproducibly
    t1 = load_task(cfg.replace(seed=1))
    assert torch.equal(t1.val.x, t.val.x) and torch.equal(t1.test.x, t.test.x)
    assert not torch.equal(t1.train.x, t.train.x)
    assert torch.equal(load_task(cfg.replace(seed=1)).train.x, t1.train.x)


def test_cifar10_from_torchvision_on_disk_format(data_root, monkeypatch):
    from torchvision.datasets import cifar

    fake_cifar10(data_root)
    monkeypatch.setattr(cifar, "check_integrity", lambda *a, **k: True)  # the fake files cannot match the real md5s
    t = load_task(TrainConfig(backbone="resnet18", weights="scratch", dataset="cifar10", n_classes=10, shots=2, image_size=32))
    assert t.classes[:3] == ["airplane", "automobile", "bird"]
    # 5 batches x 4 per class = 20 per class in train: 20 go to validation first, so 0 are left to train on
    assert len(t.val) == 10 * 20 and len(t.train) == 0 and len(t.test) == 40
    monkeypatch.setattr(realdata, "VAL_PER_CLASS", 5)
    t = prepare_task(TrainConfig(backbone="resnet18", weights="scratch", dataset="cifar10", n_classes=4, shots=2, image_size=32))
    assert (len(t.train), len(t.val), len(t.test)) == (8, 20, 16)
    # ImageNet normalisation on the way in, undone for display: the red channel reads class x 25 again
    red = (t.to_display(t.test.x)[:, 0, 0, 0] * 255).round()
    assert red.tolist() == (t.test.y * 25).float().tolist()
    assert t.test.x.mean() < 0.5  # normalised, not [0, 1]


def make_photos(root: Path, per_class=(10, 10, 10)) -> Path:
    colours = [(220, 30, 30), (30, 200, 40), (30, 30, 220)]
    for k, n in enumerate(per_class):
        for i in range(n):
            p = root / f"class{k}" / f"{i:02d}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (10 + i, 8), colours[k]).save(p)
    return root


def test_folder_splits_reproducible(tmp_path):
    root = make_photos(tmp_path / "pics")
    cfg = TrainConfig(dataset=f"folder:{root}", shots=3, image_size=8)
    t = load_task(cfg)
    assert t.classes == ["class0", "class1", "class2"] and t.n_classes == 3
    assert (len(t.train), len(t.val), len(t.test)) == (9, 6, 6)  # per class: 2 test, 2 val, 3 of the 6 left
    assert t.warnings == []
    t_again = load_task(cfg)
    assert torch.equal(t_again.train.x, t.train.x) and torch.equal(t_again.test.x, t.test.x)
    t_seed = load_task(cfg.replace(seed=5))
    assert torch.equal(t_seed.test.x, t.test.x) and torch.equal(t_seed.val.x, t.val.x)


def test_folder_split_indices_are_disjoint():
    y = torch.arange(3).repeat_interleave(10)
    tr, va, te, available = realdata.folder_split(y, 3, shots=100, seed=0)
    assert available == {0: 6, 1: 6, 2: 6}
    assert len(set(tr.tolist()) | set(va.tolist()) | set(te.tolist())) == len(tr) + len(va) + len(te) == 30
    tr2, va2, te2, _ = realdata.folder_split(y, 3, shots=2, seed=7)
    assert torch.equal(va2, va) and torch.equal(te2, te) and set(tr2.tolist()) <= set(tr.tolist())


def test_folder_too_few_images_and_short_classes(tmp_path):
    root = make_photos(tmp_path / "pics", per_class=(10, 2))
    with pytest.raises(ConfigError) as e:
        load_task(TrainConfig(dataset=f"folder:{root}", image_size=8))
    assert str(e.value) == (
        "the class folder class1/ has only 2 readable image(s): each class needs at least 3 (one each for training, validation and test)."
    )
    root2 = make_photos(tmp_path / "pics2", per_class=(10, 5))
    t = load_task(TrainConfig(dataset=f"folder:{root2}", image_size=8, shots=5, domain_shift=0.5))
    assert t.warnings == [
        "the domain-shift dial (set to 0.5) only changes the glyph world; it is ignored for this dataset.",
        ("asked for 5 labels per class, but fewer training images are left after the validation and test shares in: class1 (3); "
        "those classes train on all they have."),
    ]
    assert t.train.y.tolist() == [0] * 5 + [1] * 3


def test_folder_needs_a_path():
    with pytest.raises(ConfigError) as e:
        load_task(TrainConfig(dataset="folder:"))
    assert str(e.value) == "the folder dataset needs a path: use folder:PATH, a folder with one subfolder of images per class."


def test_folder_for_imagenet_backbone_is_normalised_and_displayable(tmp_path):
    root = make_photos(tmp_path / "pics")
    t = prepare_task(TrainConfig(backbone="mobilenet_v3_small", weights="scratch", dataset=f"folder:{root}", image_size=16))
    assert t.train.x.shape[1:] == (3, 16, 16)
    to_model = torchvision.models.MobileNet_V3_Small_Weights.DEFAULT.transforms(crop_size=16, resize_size=16)
    red = torch.tensor([220, 30, 30], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 16, 16)
    assert torch.allclose(t.train.x[0], to_model(red)[0], atol=1e-5)
    assert torch.allclose(t.to_display(t.train.x[:1])[0, :, 0, 0] * 255, torch.tensor([220.0, 30.0, 30.0]), atol=1e-3)


def test_zip_dataset(tmp_path, data_root):
    src = make_photos(tmp_path / "pics", per_class=(4, 4))
    zpath = tmp_path / "pics.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in sorted(src.rglob("*.png")):
            z.write(f, Path("pics") / f.relative_to(src))
    t = load_task(TrainConfig(dataset=f"zip:{zpath}", image_size=8, shots=2))
    assert t.classes == ["class0", "class1"] and (len(t.train), len(t.val), len(t.test)) == (4, 2, 2)
    assert (data_root / "uploads").is_dir()
    with pytest.raises(ConfigError) as e:
        load_task(TrainConfig(dataset=f"zip:{tmp_path / 'none.zip'}"))
    assert str(e.value) == (
        f"the zip {tmp_path / 'none.zip'} does not exist: give the path of a zip of a folder with one subfolder of images per class."
    )


def test_download_offline_says_so(data_root, monkeypatch):
    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    with pytest.raises(ConfigError) as e:
        realdata.download_dataset("cifar10")
    assert str(e.value) == f"could not download CIFAR-10 into {data_root} (OSError): check the network connection and try again."
