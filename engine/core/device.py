"""Which device trains (CUDA, then Apple MPS, else CPU) and how many CPU threads torch may use."""

from __future__ import annotations

import os

import torch

from engine.core.config import ConfigError


def pick_device(name: str = "auto") -> torch.device:
    """`auto` takes CUDA when present, then MPS, else the CPU; asking for a missing one is an error."""
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("a CUDA GPU was asked for but none is available here: use device cpu (or auto).")
    if name == "mps" and not has_mps:
        raise ConfigError("Apple MPS was asked for but is not available here: use device cpu (or auto).")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r}; choose auto, cpu, cuda or mps.")
    return torch.device(name)


def describe(device: torch.device | None = None) -> str:
    """One line for the home page: the GPU's name, or the CPU and its cores."""
    device = device or pick_device()
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    return f"CPU ({os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads)"


def configure_threads(concurrent_runs: int = 1) -> int:
    """Cap torch's intra-op threads so `concurrent_runs` runs together do not oversubscribe the cores.

    torch's thread pool is per process, so this is one setting for the whole server.
    """
    n = max(1, (os.cpu_count() or 1) // max(1, concurrent_runs))
    torch.set_num_threads(n)
    return n


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`t` on `device`. To a GPU through pinned memory without blocking, so Python need not wait for the GPU
    to finish its queued work before sending the next batch's indices."""
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
