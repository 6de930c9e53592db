"""The training loop. It fires named events; metrics, schedules and stopping are listeners on them.

The loop knows nothing about its output: it never prints, plots or calls a UI.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time

import torch
import torch.nn.functional as F

import engine.train.metrics as metrics
import engine.train.strategies as strategies
from engine.core import device as devices
from engine.core.config import ConfigError, TrainConfig
from engine.core.device import pick_device
from engine.data import augment
from engine.data.tasks import N_SOURCE_CLASSES, Task
from engine.models.registry import SeededDropout
from engine.train.log import MetricLog

EVENTS = ("before_fit", "before_step", "after_loss", "after_step", "after_eval", "after_train", "after_fit")
# after_train: the loop has ended (final evaluation happens here); after_fit: gather results
STATUSES = ("queued", "running", "paused", "finished", "stopped", "diverged", "failed")


class CancelFit(Exception):
    """Raised by a listener to end training early and cleanly (stop button, early stopping)."""

    def __init__(self, reason: str = "stopped"):
        super().__init__(reason)
        self.reason = reason


class Diverged(Exception):
    """The loss is no longer a finite number."""


class Callback:
    """A listener. Override any of EVENTS; `order` sorts listeners (lower runs first)."""

    order = 0

    def __getattr__(self, name: str):
        if name in EVENTS:
            return _noop
        raise AttributeError(name)


def _noop(trainer: Trainer) -> None:
    return None


class Trainer:
    """Fine-tunes `model` on `task` as `config` says (strategy, LRs, steps...), firing EVENTS to its listeners.

    It is given its parts: `model` is any TransferNet-like module with `layer_groups()` (input to output, head
    last) and a `head`; `task` holds ready model inputs; `source_head` (optional) is the pretrained head the
    forgetting meter puts back. `engine.train.experiment.make_trainer(config)` builds all three from a config.
    """

    def __init__(self, model: torch.nn.Module, task: Task, config: TrainConfig, callbacks: list[Callback] | None = None,
                 source_head: torch.nn.Module | None = None):
        self.config = config.validate()
        self.device = pick_device(config.device)
        self.task = task
        self.warnings: list[str] = list(self.task.warnings)
        self.model = model.to(self.device)
        # CUDA only: channels-last layout and bf16 autocast (no grad scaler needed) for tensor-core speed.
        # CPU and MPS skip both, so CPU runs stay bit-for-bit what they were.
        self.cuda_fast = self.device.type == "cuda"
        if self.cuda_fast:
            self.model = self.model.to(memory_format=torch.channels_last)
            # same seed, same GPU: the same loss series (cuDNN's autotuner and atomics-based kernels would vary it)
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
        self.source_head = source_head.to(self.device) if source_head is not None else None
        if self.source_head is not None:
            self.source_head.requires_grad_(False)
        self.groups = self.model.layer_groups()
        self.group_names = [n for n, _ in self.groups]
        self.group_params = [list(m.parameters()) for _, m in self.groups]
        self.anchors = [[p.detach().clone() for p in ps] for ps in self.group_params]  # W0, per group
        self.base_lrs = strategies.base_lrs(config, len(self.groups))
        self.flags = strategies.trainable_flags(config, len(self.groups), step=0)
        strategies.set_trainable(self.groups, self.flags)
        self.optimizer = strategies.make_optimizer(config, self.groups, self.base_lrs, fused=self.cuda_fast)

        self.train_x, self.train_y = self.task.train.x.to(self.device), self.task.train.y.to(self.device)
        if self.cuda_fast:
            self.train_x = self.train_x.contiguous(memory_format=torch.channels_last)
        n_train = len(self.task.train)
        if n_train == 0:
            raise ConfigError("the training set is empty: add labelled images or raise labels per class.")
        self.batch_size = min(config.batch_size, n_train)
        if config.batch_size > n_train:
            self.warnings.append(
                f"batch size {config.batch_size} is larger than the {n_train} training images: each step uses all {n_train}."
            )
        if config.bn_mode == "reestimate":
            strategies.reestimate_bn(self.model, self.train_x)
        self.generator = torch.Generator().manual_seed(config.seed)  # on the CPU: the same batches on every device
        for m in self.model.modules():  # dropout masks from the run's own seed, never the process-wide generator
            if isinstance(m, SeededDropout):
                m.generator = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        # A GPU works ahead of Python; reading a number back waits for it. So there the loss is read every
        # log_every steps in one transfer (callbacks.LossReader); a CPU has nothing to wait for: every step.
        self.read_every = 1 if self.device.type == "cpu" else config.log_every
        self._device_splits: dict[int, tuple] = {}
        self._eval_copy: torch.nn.Module | None = None
        self.log = MetricLog()
        self.callbacks = sorted(callbacks or [], key=lambda c: c.order)
        self.step = 0
        self.loss: torch.Tensor | None = None
        self.status = "queued"
        self.message = ""
        self.results: dict = {}
        self.started = time.perf_counter()

    # -- events -------------------------------------------------------------------------
    def fire(self, event: str) -> None:
        assert event in EVENTS, event
        for cb in self.callbacks:
            getattr(cb, event)(self)

    def add_callback(self, cb: Callback) -> None:
        self.callbacks = sorted([*self.callbacks, cb], key=lambda c: c.order)

    # -- the loop -----------------------------------------------------------------------
    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = devices.to_device(torch.randperm(self.train_y.shape[0], generator=self.generator)[: self.batch_size], self.device)
        xb = self.train_x[idx]  # (B, 3, H, W)
        if self.config.augment:
            xb = augment.random_affine_noise(xb, self.generator)
        return xb, self.train_y[idx]

    def current_lrs(self) -> list[float]:
        """The LR each group gets right now, read from the live optimizer (0 while frozen)."""
        return [pg["lr"] if on else 0.0 for pg, on in zip(self.optimizer.param_groups, self.flags)]

    def set_flags(self, flags: list[bool]) -> None:
        if flags != self.flags:
            self.flags = flags
            strategies.set_trainable(self.groups, flags)

    def fit(self) -> dict:
        """Train for config.steps steps (or until a listener cancels). Returns the results."""
        self.status = "running"
        self.started = time.perf_counter()
        self.fire("before_fit")
        try:
            while self.step < self.config.steps:
                self.fire("before_step")
                strategies.set_train_mode(self.model, self.groups, self.flags, self.config.bn_mode)
                xb, yb = self.next_batch()
                self.xb = xb
                with torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda_fast else contextlib.nullcontext():
                    self.loss = F.cross_entropy(self.model(xb), yb)
                self.fire("after_loss")
                self.optimizer.zero_grad(set_to_none=True)
                self.loss.backward()
                self.optimizer.step()
                self.step += 1
                self.fire("after_step")
            self.status = "finished"
        except CancelFit as e:
            self.status = "stopped" if e.reason == "stopped" else "finished"
            self.message = "" if e.reason == "stopped" else e.reason
        except Diverged as e:
            self.status = "diverged"
            self.message = str(e)
        self.seconds = time.perf_counter() - self.started
        self.fire("after_train")
        self.fire("after_fit")
        return self.results

    # -- evaluation ---------------------------------------------------------------------
    def evaluate(self, split) -> tuple[float, float, torch.Tensor]:
        """(loss, accuracy, predictions) on a split, in eval mode, without gradients."""
        x, y = self.on_device(split)
        logits = metrics.predict(self.eval_model(), x)
        loss = float(F.cross_entropy(logits, y)) if y.numel() else math.nan
        return loss, metrics.accuracy(logits, y), logits.argmax(1)

    def source_accuracy(self) -> float | None:
        """Accuracy of the current backbone + the original pretrained head on held-out source data. It scores among
        the 200 glyph classes the meter shows (the head's first N_SOURCE_CLASSES outputs): a head pretrained on more
        classes (the shipped one: 800 character-like classes after them) is not marked down for classes the meter never asks about."""
        if self.source_head is None or self.task.source is None:
            return None
        model = self.eval_model()
        head, model.head = model.head, self.source_head
        try:
            x, y = self.on_device(self.task.source)
            logits = metrics.predict(model, x)[:, :N_SOURCE_CLASSES]
        finally:
            model.head = head
        return metrics.accuracy(logits, y)

    def eval_model(self) -> torch.nn.Module:
        """The network to score with. On a CPU: a channels-last copy holding the current weights, which scores
        about twice as fast as the training layout there (training keeps its layout: its numbers stay as
        they were). On a GPU the model itself, already channels-last."""
        if self.device.type != "cpu":
            return self.model
        if self._eval_copy is None:
            self._eval_copy = copy.deepcopy(self.model).to(memory_format=torch.channels_last)
        else:
            self._eval_copy.load_state_dict(self.model.state_dict())
        return self._eval_copy

    def on_device(self, split) -> tuple[torch.Tensor, torch.Tensor]:
        """An evaluation split's images and labels on the training device, copied there once per run."""
        hit = self._device_splits.get(id(split))
        if hit is None or hit[0] is not split:
            x = devices.to_device(split.x, self.device)
            if self.device.type in ("cpu", "cuda") and x.dim() == 4:  # the layout eval_model scores in
                x = x.contiguous(memory_format=torch.channels_last)
            hit = self._device_splits[id(split)] = (split, x, devices.to_device(split.y, self.device))
        return hit[1], hit[2]

    def drift(self) -> list[float]:
        """||W - W0|| / ||W0|| per group."""
        return metrics.relative_distances(self.group_params, self.anchors)

    def param_counts(self) -> tuple[int, int]:
        total = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for ps, on in zip(self.group_params, self.flags) if on for p in ps)
        return trainable, total
