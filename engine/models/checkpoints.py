"""Shipped checkpoints: write one (state dict, sha256 file, card) and load one only after its checksum passes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from engine.core.config import ConfigError


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_verified(path: Path, sha_file: Path, what: str, rebuild: str) -> dict[str, torch.Tensor]:
    """The state dict in `path` (weights_only), after its checksum file (when there is one) agrees with it.

    `what` names the backbone in the sentence a missing file gives; `rebuild` is the command that makes it."""
    hint = f"rebuild it with `{rebuild}`"
    if not path.exists():
        raise ConfigError(f"{what} {path.name} is missing from assets/: {hint}.")
    if sha_file.exists() and file_sha256(path) != sha_file.read_text().split()[0]:
        raise ConfigError(f"assets/{path.name} does not match its checksum (the file is corrupt or changed): {hint}.")
    return torch.load(path, map_location="cpu", weights_only=True)


def write_checkpoint(model: nn.Module, out: Path, card: dict, log=print) -> None:
    """Save a shipped backbone: the state dict, its sha256 file and its card (adds card['sha256'])."""
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    card["sha256"] = file_sha256(out)
    out.with_suffix(".sha256").write_text(f"{card['sha256']}  {out.name}\n")
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    log(f"wrote {out.name} ({out.stat().st_size / 1e6:.2f} MB), sha256 {card['sha256'][:16]}...")
