"""Where things live on disk: the shipped assets and the datasets folder ($CLASSROOM_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"  # the shipped checkpoints and their cards


def data_root() -> Path:
    """Where datasets and unpacked uploads live: $CLASSROOM_DATA, else ~/.cache/classroom.
    (Not the run store's folder: that is `data_dir` in the settings, $CLASSROOM_DATA_DIR.)"""
    return Path(os.environ.get("CLASSROOM_DATA") or Path.home() / ".cache" / "classroom").expanduser()
