"""Run one experiment synchronously (the CLI, tests and the bench use this; pages use Run)."""

from __future__ import annotations

from engine.callbacks import default_callbacks
from engine.config import TrainConfig
from engine.trainer import Callback, Trainer


def run_experiment(config: TrainConfig, extra_callbacks: list[Callback] | None = None) -> dict:
    """Train `config` to the end on this thread and return its results (see callbacks.Results)."""
    trainer = Trainer(config, [*default_callbacks(config), *(extra_callbacks or [])])
    return trainer.fit()


def make_trainer(config: TrainConfig, extra_callbacks: list[Callback] | None = None) -> Trainer:
    return Trainer(config, [*default_callbacks(config), *(extra_callbacks or [])])
