"""`python -m engine bench`: the performance figures BENCHMARKS.md records.

Ratios are measured in one process, interleaved, so a noisy shared machine affects both sides alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import statistics
import time

import torch
import torch.nn.functional as F

from engine.core import device as devices
from engine.core.config import TrainConfig
from engine.models import imagenet
from engine.serve.run import Run
from engine.train.experiment import make_trainer, run_experiment
from engine.train.trainer import Callback, Trainer


class _LoopTimer(Callback):
    """Wall time of the step loop alone (periodic evaluation included, start/end evaluation not)."""

    order = -1000  # first on every event: starts before the first step's work, stops before the final evaluation

    def before_step(self, t: Trainer) -> None:
        if t.step == 0:
            self.start = time.perf_counter()

    def after_train(self, t: Trainer) -> None:
        self.seconds = time.perf_counter() - self.start


def _bare_loop(t: Trainer, steps: int) -> float:
    """Plain PyTorch on the same model, data, batch and optimizer settings; returns seconds."""
    model = t.model
    opt = torch.optim.Adam(model.parameters(), lr=t.config.lr)
    g = torch.Generator().manual_seed(0)
    model.train()
    start = time.perf_counter()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if t.cuda_fast else contextlib.nullcontext()
    for _ in range(steps):
        idx = torch.randperm(t.train_y.shape[0], generator=g)[: t.batch_size].to(t.device)
        with autocast:  # the trainer's own precision and layout on a GPU, so the ratio compares like with like
            loss = F.cross_entropy(model(t.train_x[idx]), t.train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if t.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def overhead_ratio(config: TrainConfig, steps: int = 100, rounds: int = 3) -> dict:
    """Trainer steps/s (default instrumentation) / bare-loop steps/s, interleaved `rounds` times."""
    ratios, trainer_rates, bare_rates = [], [], []
    for r in range(rounds):
        timer = _LoopTimer()
        t = make_trainer(config.replace(steps=steps, seed=r), [timer])
        t.fit()
        trainer_rate = steps / timer.seconds
        bare = make_trainer(config.replace(steps=steps, seed=r), defaults=False)
        bare_rate = steps / _bare_loop(bare, steps)
        ratios.append(trainer_rate / bare_rate)
        trainer_rates.append(trainer_rate)
        bare_rates.append(bare_rate)
    return {
        "overhead_ratio": round(statistics.median(ratios), 3),
        "trainer_steps_per_second": round(statistics.median(trainer_rates), 1),
        "bare_steps_per_second": round(statistics.median(bare_rates), 1),
    }


def first_point_seconds(config: TrainConfig) -> float:
    """From asking a Run to start to its first metric point."""
    start = time.perf_counter()
    run = Run(config).start()
    while not run.log.names():
        if run.done:
            break
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    run.stop()
    run.wait(60)
    return round(elapsed, 3)


def transfer_gap(shots: int = 5, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Test accuracy: best of feature/finetune (pretrained) minus scratch, same steps, mean over seeds."""
    gaps, rows = [], []
    for seed in seeds:
        base = TrainConfig(shots=shots, seed=seed)
        acc = {
            "scratch": run_experiment(base.replace(weights="scratch"))["test_accuracy"],
            "feature": run_experiment(base.replace(strategy="feature"))["test_accuracy"],
            "finetune": run_experiment(base)["test_accuracy"],
        }
        rows.append(acc)
        gaps.append(max(acc["feature"], acc["finetune"]) - acc["scratch"])
    return {f"transfer_gap_{shots}shot": round(statistics.mean(gaps), 4), f"accuracy_{shots}shot": rows}


def strategy_seconds() -> dict:
    """Wall seconds of each strategy's default experiment (200 steps, 5 labels per class)."""
    out = {}
    for name, cfg in {
        "feature": TrainConfig(strategy="feature"),
        "finetune": TrainConfig(),
        "scratch": TrainConfig(weights="scratch"),
        "finetune_layer_decay": TrainConfig(layer_decay=0.7),
    }.items():
        t0 = time.perf_counter()
        run_experiment(cfg)
        out[name] = round(time.perf_counter() - t0, 2)
    return out


def machine() -> dict:
    dev = devices.pick_device()
    return {
        "device": devices.describe(dev),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }


def run_bench(as_json: bool = False, quick: bool = False, load: bool = False) -> int:
    cfg = TrainConfig()
    figures: dict = {"machine": machine()}
    figures["first_point_cold_s"] = first_point_seconds(cfg.replace(seed=123))  # renders the task first
    figures["first_point_s"] = first_point_seconds(cfg)
    # the default experiment's length (200 steps: 3 periodic evaluations), 5 interleaved rounds for a steadier median
    steps, rounds = (50, 2) if quick else (cfg.steps, 5)
    figures.update(overhead_ratio(cfg, steps=steps, rounds=rounds))
    per_step = overhead_ratio(cfg.replace(eval_every=10**6), steps=steps, rounds=rounds)
    figures["overhead_ratio_without_evaluation"] = per_step["overhead_ratio"]
    figures.update(transfer_gap(seeds=(0,) if quick else (0, 1, 2)))
    if not quick:
        figures["strategy_seconds"] = strategy_seconds()
    try:
        dev = devices.pick_device()
        figures["resnet18"] = bench_resnet18(dev, quick=quick)
        if dev.type == "cuda":  # ImageNet's own input size, affordable on a GPU
            figures["resnet18_224"] = bench_resnet18(dev, quick=quick, image_size=224, steps=20)
    except (ImportError, AttributeError, TypeError):
        pass
    if load:
        from engine.tools.loadtest import run_loadtest

        figures["loadtest"] = run_loadtest()
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if as_json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:28s} {v}")
    return 0


def bench_resnet18(device: str | torch.device = "cpu", quick: bool = False, image_size: int = imagenet.DEFAULT_IMAGE_SIZE,
                   steps: int | None = None) -> dict:
    """resnet18 (random init: no weights needed, same cost as ImageNet weights) fine-tuned on the glyph task at
    the lesson's image size on `device`: the Trainer's steps/s next to a bare PyTorch loop's, measured the way
    engine.tools.bench measures glyphnet (overhead_ratio = trainer / bare, interleaved rounds)."""
    dev = device if isinstance(device, torch.device) else torch.device(device)
    steps = steps or (5 if quick else 10)
    cfg = TrainConfig(backbone="resnet18", weights="scratch", image_size=image_size, device=dev.type)
    figures = overhead_ratio(cfg, steps=steps, rounds=1 if quick else 3)
    return {"model": "resnet18", "device": dev.type, "image_size": image_size, "batch_size": cfg.batch_size, "steps": steps, **figures}
