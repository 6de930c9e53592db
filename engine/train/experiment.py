"""Build a Trainer from a config (task, model, normalisation, listeners) and run one experiment synchronously.

The CLI, tests and the bench call run_experiment; the run manager's runs call make_trainer.
"""

from __future__ import annotations

import dataclasses

from engine.core.config import TrainConfig
from engine.data.tasks import Split, Task, forgetting_split, load_task
from engine.models.registry import BackboneSpec, build_model, get_spec
from engine.train.callbacks import default_callbacks
from engine.train.trainer import Callback, Trainer

# Datasets of the teacher's or a student's own images: a glyph backbone trained on them reads the forgetting meter
# (the glyph source split). It is rendered here, only for such a backbone: an ImageNet one never uses it.
METER_DATASETS = ("folder", "zip")


def prepare_task(config: TrainConfig, task: Task | None = None) -> Task:
    """The task `config` asks for (or `task`), as model inputs for config.backbone: see normalised_for."""
    spec = get_spec(config.backbone)
    task = task if task is not None else load_task(config)
    if spec.input_norm is None and task.source is None and config.dataset.partition(":")[0] in METER_DATASETS:
        task = dataclasses.replace(task, source=forgetting_split(config.image_size), warnings=list(task.warnings))
    return normalised_for(spec, task)


def normalised_for(spec: BackboneSpec, task: Task) -> Task:
    """A backbone whose weights expect normalised inputs (ImageNet's mean and std, `spec.input_norm`) gets its
    [0, 1] images normalised the same way, and pictures un-normalised for display. Other backbones: as is.
    The task's own [0, 1] splits (cached by the data layer) are not changed: the normalised ones are new
    tensors in a new Task."""
    if spec.input_norm is None:
        return task
    import dataclasses

    import torch

    mean = torch.tensor(spec.input_norm[0]).view(1, 3, 1, 1)
    std = torch.tensor(spec.input_norm[1]).view(1, 3, 1, 1)
    show = task.to_display

    def normalise(x: torch.Tensor) -> torch.Tensor:
        return (x - mean.to(x.device)) / std.to(x.device)

    def to_display(x: torch.Tensor) -> torch.Tensor:
        return show((x.float() * std.to(x.device) + mean.to(x.device)).clamp(0, 1))

    train, val, test = (Split(normalise(s.x), s.y) for s in (task.train, task.val, task.test))
    # a source split belongs to the source the shipped glyph backbones learnt, not to an ImageNet backbone's
    return dataclasses.replace(task, train=train, val=val, test=test, source=None, to_display=to_display,
                               warnings=list(task.warnings))


def make_trainer(config: TrainConfig, extra_callbacks: list[Callback] | None = None, task: Task | None = None,
                 defaults: bool = True) -> Trainer:
    """The parts `config` names, built and handed to a Trainer with the default listeners (unless `defaults` is
    False: a bare loop) and `extra_callbacks`."""
    config.validate()
    task = prepare_task(config, task)
    built = build_model(config.backbone, config.weights, task.n_classes, config.head, config.dropout, config.seed)
    return Trainer(built.model, task, config, [*(default_callbacks(config) if defaults else []), *(extra_callbacks or [])],
                   source_head=built.source_head)


def run_experiment(config: TrainConfig, extra_callbacks: list[Callback] | None = None) -> dict:
    """Train `config` to the end on this thread and return its results (see callbacks.Results)."""
    return make_trainer(config, extra_callbacks).fit()
