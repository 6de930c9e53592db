"""The CUDA path (channels-last, bf16 autocast, fused updates), run where a GPU is present. Determinism on
the GPU is tests/test_trainer.py's, parametrised by device.

Skipped on machines without CUDA, such as CI; run on a GPU machine with `pytest tests/test_cuda.py`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine.core.config import TrainConfig
from engine.serve.run import Run
from engine.train.experiment import make_trainer, run_experiment

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(steps=30, eval_every=10, log_every=5, shots=2, batch_size=8, device="cuda")


def test_training_runs_on_the_gpu_in_channels_last_with_a_finite_loss():
    t = make_trainer(TrainConfig(**TINY))
    res = t.fit()
    assert res["status"] == "finished" and res["device"].startswith("cuda")
    assert all(p.device.type == "cuda" for p in t.model.parameters())
    assert t.optimizer.defaults["fused"] is True  # one update kernel per layer group
    conv = next(m for m in t.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    losses = t.log.snapshot()["train_loss"][1]
    assert len(losses) == 30 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


def test_frozen_groups_and_their_bn_statistics_stay_bit_identical_on_the_gpu():
    t = make_trainer(TrainConfig(strategy="feature", bn_mode="frozen", **TINY))
    before = {k: v.clone() for k, v in t.model.state_dict().items() if not k.startswith("head")}
    t.fit()
    after = t.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert t.results["drift"]["stem"] == 0.0 and t.results["drift"]["head"] > 0


def test_the_forgetting_meter_starts_where_the_cpu_puts_it():
    """Evaluation runs in float32 on both devices; TF32 convolutions may flip an image or two of 200."""
    gpu = run_experiment(TrainConfig(**{**TINY, "steps": 1}))
    cpu = run_experiment(TrainConfig(**{**TINY, "steps": 1, "device": "cpu"}))
    assert gpu["source_accuracy_start"] == pytest.approx(cpu["source_accuracy_start"], abs=0.011)


def test_pretrained_beats_scratch_with_five_labels_on_the_gpu():
    base = TrainConfig(device="cuda", eval_every=200)
    pretrained = run_experiment(base)["test_accuracy"]
    scratch = run_experiment(base.replace(weights="scratch"))["test_accuracy"]
    assert pretrained - scratch >= 0.05, (pretrained, scratch)


def test_a_huge_learning_rate_diverges_with_a_sentence_on_the_gpu():
    res = run_experiment(TrainConfig(lr=1e6, optimizer="sgd", **TINY))
    assert res["status"] == "diverged"
    assert res["message"].startswith("the loss ") and "try a smaller learning rate." in res["message"]


def test_a_run_thread_on_the_gpu_stops_when_asked():
    run = Run(TrainConfig(**{**TINY, "steps": 100_000})).start()
    deadline = time.time() + 60
    while not run.log.names() and time.time() < deadline:
        time.sleep(0.01)
    run.stop()
    assert run.wait(30)
    assert run.status == "stopped"


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_every_optimizer_trains_on_the_gpu(optimizer):
    lr = 0.05 if optimizer in ("sgd", "momentum", "nesterov", "adagrad") else 1e-3
    res = run_experiment(TrainConfig(optimizer=optimizer, lr=lr, **TINY))
    assert res["status"] == "finished" and res["train_loss"] < 1.0  # from about 2.3 (10 classes)


def test_resnet18_fine_tunes_on_the_gpu():
    res = run_experiment(TrainConfig(backbone="resnet18", weights="scratch", image_size=64, **{**TINY, "steps": 5}))
    assert res["status"] == "finished" and res["device"].startswith("cuda")


def test_the_cli_trains_on_cuda():
    p = subprocess.run([sys.executable, "-m", "engine", "train", "--device", "cuda", "--steps", "20", "--shots", "2", "--json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["status"] == "finished" and out["device"].startswith("cuda")
