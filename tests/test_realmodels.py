"""ImageNet backbones: layer groups, loading from torchvision's cache, the offline sentence, the CLI end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image

from engine.core.config import ConfigError, TrainConfig
from engine.models import imagenet as rm
from engine.models.registry import build_model, get_spec
from engine.tools.bench import bench_resnet18
from engine.tools.download import download
from engine.train.experiment import make_trainer, run_experiment

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torchvision cache of our own, and no network: any download attempt fails at once."""
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # get_dir() follows TORCH_HOME

    def offline(url, dest, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(rm, "_fetch", offline)
    return home


def save_fake_weights(name: str, seed: int = 1) -> dict[str, torch.Tensor]:
    """The torchvision model's own state dict (random init), under the file name torchvision expects."""
    torch.manual_seed(seed)
    state = rm.REAL[name].make().state_dict()
    path = rm.cache_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def test_cache_file_is_torchvision_name_under_torch_home(torch_home):
    assert rm.cache_file("resnet18") == torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert rm.cache_file("mobilenet_v3_small").name == "mobilenet_v3_small-047dcff4.pth"
    assert rm.cache_file("efficientnet_b0").name == "efficientnet_b0_rwightman-7f5810bc.pth"
    assert not rm.is_cached("resnet18")


@pytest.mark.parametrize(
    "name, groups, dim",
    [
        ("resnet18", ["stem", "layer1", "layer2", "layer3", "layer4", "head"], 512),
        ("mobilenet_v3_small", ["stem", "block1", "block2", "block3", "block4", "block5", "head"], 576),
        ("efficientnet_b0", ["stem", "stage1", "stage2", "stage3", "stage4", "head"], 1280),
    ],
)
def test_layer_groups_and_features(name, groups, dim):
    built = build_model(name, "scratch", n_classes=4, seed=0)
    m = built.model.eval()
    assert [g for g, _ in m.layer_groups()] == groups
    x = torch.rand(2, 3, 32, 32)
    assert m.features(x).shape == (2, dim)
    assert m(x).shape == (2, 4)
    assert built.source_head is None
    # every parameter of the torchvision body belongs to exactly one group
    body = sum(p.numel() for _, g in m.layer_groups()[:-1] for p in g.parameters())
    tv = rm.REAL[name].make()
    head_params = sum(p.numel() for n, p in tv.named_parameters() if n.startswith(("fc.", "classifier.")))
    assert body == sum(p.numel() for p in tv.parameters()) - head_params


def test_imagenet_weights_load_from_cache_through_real_path(torch_home):
    state = save_fake_weights("resnet18")
    built = build_model("resnet18", "imagenet", n_classes=3, seed=0)
    m = built.model.eval()
    assert torch.equal(m.body.stem.conv1.weight, state["conv1.weight"])
    assert torch.equal(m.body.layer4.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])
    assert built.source_head is None  # no ImageNet holdout offline
    # the cut model computes exactly what torchvision's model computes before its classifier
    tv = torchvision.models.resnet18(weights=None)
    tv.load_state_dict(state)
    tv.fc = torch.nn.Identity()
    tv.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(m.features(x), tv(x), atol=1e-5)
    # "pretrained" means ImageNet for these backbones
    again = build_model("resnet18", "pretrained", n_classes=3, seed=0).model
    assert torch.equal(again.body.layer2.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])


def test_old_checkpoint_without_batch_counters_loads(torch_home):
    """The published resnet18 file predates BatchNorm's num_batches_tracked buffers; it must still load."""
    state = {k: v for k, v in save_fake_weights("resnet18").items() if not k.endswith("num_batches_tracked")}
    torch.save(state, rm.cache_file("resnet18"))
    m = build_model("resnet18", "imagenet", n_classes=2).model
    assert torch.equal(m.body.layer3.layer3[0].downsample[1].weight, state["layer3.0.downsample.1.weight"])


def test_mobilenet_loads_from_cache(torch_home):
    state = save_fake_weights("mobilenet_v3_small", seed=2)
    m = build_model("mobilenet_v3_small", "imagenet", n_classes=3).model
    assert torch.equal(m.body.block5.features_12[0].weight, state["features.12.0.weight"])


def test_offline_error_is_one_sentence(torch_home):
    with pytest.raises(ConfigError) as e:
        build_model("resnet18", "imagenet", n_classes=3)
    cache = torch_home / "hub" / "checkpoints"
    assert str(e.value) == (
        f"the ImageNet weights for resnet18 (resnet18-f37072fd.pth) are not in the cache folder {cache} and could not be "
        "downloaded: run `python -m engine download resnet18` (or `make weights`) on a machine with a network and copy the file there."
    )
    assert not any(cache.glob("*")) if cache.exists() else True  # nothing half-written left behind


def test_offline_run_fails_with_the_sentence_not_a_traceback(torch_home):
    from engine.serve.run import Run

    run = Run(TrainConfig(backbone="resnet18", weights="imagenet", steps=1), owner="t")
    run.start()
    assert run.wait(60)
    snap = run.snapshot()
    assert snap["status"] == "failed"
    assert snap["message"] == rm.offline_message("resnet18")


def test_corrupt_and_wrong_cached_files(torch_home):
    path = rm.cache_file("resnet18")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError) as e:
        build_model("resnet18", "imagenet", n_classes=3)
    assert str(e.value) == (
        f"the cached weights file {path} cannot be read (corrupt or partly copied): delete it and run `python -m engine download resnet18`."
    )
    torch.save(rm.REAL["mobilenet_v3_small"].make().state_dict(), path)
    with pytest.raises(ConfigError) as e:
        build_model("resnet18", "imagenet", n_classes=3)
    assert str(e.value) == (
        f"the cached file resnet18-f37072fd.pth does not hold resnet18 weights: delete {path} and run `python -m engine download resnet18`."
    )


def test_download_writes_cache_and_checks_the_hash(torch_home, monkeypatch):
    good = {}

    def fake_fetch(url, dest, timeout):
        assert url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
        good["timeout"] = timeout
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(b"these bytes do not hash to f37072fd")

    monkeypatch.setattr(rm, "_fetch", fake_fetch)
    with pytest.raises(ConfigError) as e:
        rm.ensure_weights("resnet18")
    assert str(e.value) == "the download of resnet18-f37072fd.pth was damaged (checksum mismatch): run `python -m engine download resnet18` again."
    assert not rm.cache_file("resnet18").exists()
    assert good["timeout"] == rm.DOWNLOAD_TIMEOUT_S


def test_download_command(torch_home, monkeypatch, capsys):
    save_fake_weights("resnet18")
    assert download(["resnet18"]) == 0  # already cached: nothing to fetch
    assert capsys.readouterr().out == f"ok: resnet18 -> {rm.cache_file('resnet18')}\n"
    assert download(["mobilenet_v3_small"]) == 1  # offline
    f = rm.cache_file("mobilenet_v3_small")
    assert capsys.readouterr().out == (
        f"failed: mobilenet_v3_small: could not download {f.name} into {f.parent}: check the network connection, or copy the file there.\n"
    )
    assert download(["vgg99"]) == 2
    assert "unknown name 'vgg99'" in capsys.readouterr().out


def test_the_data_layer_plus_the_specs_normalisation_equals_the_weights_own_transforms():
    from engine.data.preprocess import to_unit_images
    from engine.data.tasks import Split, Task
    from engine.train.experiment import normalised_for

    t = torchvision.models.ResNet18_Weights.DEFAULT.transforms(crop_size=16, resize_size=16)
    for shape in [(4, 3, 16, 16), (4, 3, 40, 60)]:  # a bigger picture is resized and centre-cropped the same way
        x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        unit = Split(to_unit_images(x, 16), torch.zeros(4, dtype=torch.long))
        task = normalised_for(get_spec("resnet18"), Task("t", ["a"], unit, unit, unit))
        assert torch.equal(task.train.x, t(x))  # bit for bit what torchvision's ImageNet preprocessing gives
        assert torch.allclose(task.to_display(task.train.x), unit.x, atol=1e-5)
    # glyphnet takes [0, 1] pixels as they are
    assert get_spec("glyphnet").input_norm is None
    y = to_unit_images(torch.full((1, 3, 20, 20), 255, dtype=torch.uint8), 8)
    assert y.shape == (1, 3, 8, 8) and torch.equal(y, torch.ones_like(y))


def test_spec_metadata():
    spec = get_spec("resnet18")
    assert spec.weights == ("imagenet", "pretrained")
    assert spec.extra["categories"][0] == "tench" and len(spec.extra["categories"]) == 1000
    assert spec.image_size == rm.DEFAULT_IMAGE_SIZE


def test_feature_strategy_keeps_imagenet_body_fixed(torch_home, tmp_path):
    save_fake_weights("resnet18")
    folder = make_folder(tmp_path / "pics")
    r = run_experiment(TrainConfig(backbone="resnet18", weights="imagenet", dataset=f"folder:{folder}", strategy="feature",
                                   steps=2, image_size=32))
    assert r["status"] == "finished"
    assert r["groups"] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    drift = r["drift"]
    assert [drift[g] for g in r["groups"][:-1]] == [0.0] * 5 and drift["head"] > 0
    assert r["trainable"] == {"stem": False, "layer1": False, "layer2": False, "layer3": False, "layer4": False, "head": True}
    assert r["source_accuracy"] is None


def make_folder(root: Path, classes=("red", "green"), per_class=5, size=(12, 10)) -> Path:
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 30, 220)}
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (size[0] + i, size[1]), colours[c]).save(root / c / f"{i}.png")
    return root


@pytest.mark.slow
def test_cli_train_resnet18_from_cached_file_end_to_end(tmp_path):
    home = tmp_path / "torch"
    env = {**os.environ, "TORCH_HOME": str(home), "CLASSROOM_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    path = home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.manual_seed(3)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    folder = make_folder(tmp_path / "pics")
    out = subprocess.run(
        [sys.executable, "-m", "engine", "train", "--backbone", "resnet18", "--weights", "imagenet",
         "--dataset", f"folder:{folder}", "--steps", "3", "--batch-size", "4", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["status"] == "finished" and r["steps"] == 3
    assert r["groups"] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert 0.0 <= r["test_accuracy"] <= 1.0
    assert r["config"]["backbone"] == "resnet18" and r["config"]["weights"] == "imagenet"


def test_cli_offline_is_one_line(torch_home, capsys):
    from engine.__main__ import main

    assert main(["train", "--backbone", "resnet18", "--weights", "imagenet", "--steps", "1", "--json"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {rm.offline_message('resnet18')}\n"


def test_bench_resnet18_reports_both_rates():
    r = bench_resnet18("cpu", quick=True, image_size=16, steps=2)
    assert {k: r[k] for k in ("model", "device", "image_size", "batch_size", "steps")} == {
        "model": "resnet18", "device": "cpu", "image_size": 16, "batch_size": 32, "steps": 2}
    assert r["overhead_ratio"] > 0
    assert r["trainer_steps_per_second"] >= 0 and r["bare_steps_per_second"] >= 0


def test_same_seed_same_losses_for_efficientnet():
    from engine.data.tasks import Split, Task

    x = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 2
    task = Task("t", ["a", "b"], Split(x, y), Split(x[:4], y[:4]), Split(x[:4], y[:4]))
    cfg = TrainConfig(backbone="efficientnet_b0", weights="scratch", steps=2, batch_size=4, image_size=16)
    runs = []
    for _ in range(2):
        t = make_trainer(cfg, task=task)
        t.fit()
        runs.append(t.log.snapshot()["train_loss"][1])
    assert runs[0] == runs[1] and len(runs[0]) == 2
