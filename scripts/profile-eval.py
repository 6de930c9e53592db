"""Where does one periodic evaluation spend its time? Profiles the Evaluator's work (validation + forgetting
meter) on a trained-for-a-while run, with torch.profiler, on the device given.

    python scripts/profile-eval.py [cpu|cuda]

Prints the wall time of one evaluation next to that of one training step, then torch.profiler's table of
the operators (and, on a GPU, kernels) that took the most time."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch.profiler import ProfilerActivity, profile

from engine.core.config import TrainConfig
from engine.train.callbacks import Evaluator
from engine.train.experiment import make_trainer


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(device: str = "cuda" if torch.cuda.is_available() else "cpu") -> None:
    config = TrainConfig(device=device, steps=60)
    t = make_trainer(config)
    t.fit()
    evaluator = next(cb for cb in t.callbacks if isinstance(cb, Evaluator))
    for _ in range(3):  # warm
        evaluator._eval(t)
    sync(t.device)
    start = time.perf_counter()
    for _ in range(10):
        evaluator._eval(t)
    sync(t.device)
    per_eval = (time.perf_counter() - start) / 10
    print(f"one evaluation ({len(t.task.val)} validation + {len(t.task.source)} source images): {per_eval * 1e3:.1f} ms; "
          f"one training step: {t.seconds / t.step * 1e3:.1f} ms ({t.device})")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if t.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(3):
            evaluator._eval(t)
        sync(t.device)
    key = "self_cuda_time_total" if t.device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15))
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))


if __name__ == "__main__":
    main(*sys.argv[1:2])
