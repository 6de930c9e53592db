"""`python -m engine download [NAME ...]`: ImageNet weights and torchvision datasets into their caches (needs a network)."""

from __future__ import annotations

from engine.core.config import ConfigError
from engine.data import realdata
from engine.models.imagenet import REAL, cache_file, ensure_weights, offline_message


def download(names: list[str]) -> int:
    """Fetch ImageNet weights and datasets into their caches (needs a network). 0 = all there."""
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
