"""The listeners a default run uses: schedule, unfreezing, penalties, guards, metrics, results."""

from __future__ import annotations

import contextlib
import copy
import math
import time

import torch

import engine.train.metrics as metrics
import engine.train.schedules as schedules
import engine.train.strategies as strategies
from engine.train.trainer import Callback, CancelFit, Diverged, Trainer


class ScheduleLR(Callback):
    """Before each step, set every group's LR to its base LR x the schedule's factor."""

    order = -10

    def before_step(self, t: Trainer) -> None:
        c = t.config
        f = schedules.factor(c.schedule, t.step, c.steps, c.warmup_steps)
        for pg, base in zip(t.optimizer.param_groups, t.base_lrs):
            pg["lr"] = base * f


class GradualUnfreeze(Callback):
    """One more group trains every N steps, from the head down (ULMFiT)."""

    order = -20

    def before_step(self, t: Trainer) -> None:
        t.set_flags(strategies.trainable_flags(t.config, len(t.groups), t.step))


class L2SP(Callback):
    """Adds alpha/2 * ||W - W0||^2 over the backbone to the loss: stay close to the start."""

    def __init__(self, alpha: float):
        self.alpha = alpha

    def after_loss(self, t: Trainer) -> None:
        body = [p for ps in t.group_params[:-1] for p in ps]
        anchors = [a for anc in t.anchors[:-1] for a in anc]
        t.loss = t.loss + 0.5 * self.alpha * strategies.l2sp_penalty(body, anchors)


EXPLODED_LOSS = 1e4  # a cross-entropy this large means the weights have blown up


class LossReader(Callback):
    """Logs the train loss of every step and ends the run as diverged the moment it is not a finite number
    (or has exploded), naming the step and the LR.

    Losses stay on the device until read: every step on a CPU (before that step's update), every
    `t.read_every` steps on a GPU, in one transfer, since each read waits for the GPU. There a bad loss may be
    found up to read_every - 1 steps late (milliseconds); the message still names the step it happened at."""

    order = 100  # after_loss: after anything that changes the loss (L2-SP)

    def before_fit(self, t: Trainer) -> None:
        self.pending: list[tuple[int, torch.Tensor, float]] = []  # (step, loss on the device, LR then)

    def after_loss(self, t: Trainer) -> None:
        self.pending.append((t.step + 1, t.loss.detach(), max(t.current_lrs(), default=0.0)))
        if len(self.pending) >= t.read_every:
            self._read(t)

    def after_step(self, t: Trainer) -> None:
        if t.step >= t.config.steps and self.pending:  # the last step: nothing may stay unread
            self._read(t)

    def after_train(self, t: Trainer) -> None:
        if self.pending and t.status != "diverged":  # stopped between reads: keep what is finite
            with contextlib.suppress(Diverged):
                self._read(t)

    def read_now(self, t: Trainer) -> None:
        """Read the losses still on the device (a run about to pause calls this)."""
        if self.pending:
            self._read(t)

    def _read(self, t: Trainer) -> None:
        pending, self.pending = self.pending, []
        values = torch.stack([loss.float() for _, loss, _ in pending]).tolist()
        for (step, _, lr), value in zip(pending, values):
            if not math.isfinite(value):
                what = "infinite" if math.isinf(value) else "not a number (NaN)"
                raise Diverged(f"the loss became {what} at step {step} with LR {lr:.3g}: try a smaller learning rate.")
            if value > EXPLODED_LOSS:  # still finite, but no run comes back from here (e.g. an LR of 1e6)
                raise Diverged(f"the loss exploded to {value:.3g} at step {step} with LR {lr:.3g}: try a smaller learning rate.")
            t.log.add("train_loss", step, value)


class StepLogger(Callback):
    """Steps per second (smoothed) every log_every steps."""

    def before_fit(self, t: Trainer) -> None:
        self.last = time.perf_counter()
        self.rate = 0.0

    def after_step(self, t: Trainer) -> None:
        now = time.perf_counter()
        dt, self.last = now - self.last, now
        self.rate = 1 / dt if self.rate == 0 else 0.9 * self.rate + 0.1 / max(dt, 1e-9)
        if t.step % t.config.log_every == 0:
            t.log.add("steps_per_second", t.step, self.rate)


class LayerStats(Callback):
    """Per group, every log_every steps: current LR, drift from W0, update/weight ratio, trainable."""

    def before_fit(self, t: Trainer) -> None:
        self.prev: list[list[torch.Tensor]] | None = None
        self._record(t, with_update=False)

    def before_step(self, t: Trainer) -> None:
        if (t.step + 1) % t.config.log_every == 0:  # the coming step will be logged: keep W_{t-1}
            self.prev = [list(torch._foreach_mul([p.detach() for p in ps], 1.0)) if ps else [] for ps in t.group_params]  # fused copy

    def after_step(self, t: Trainer) -> None:
        if t.step % t.config.log_every == 0:
            self._record(t, with_update=True)

    def _record(self, t: Trainer, with_update: bool) -> None:
        values = {}
        for name, lr, d, on in zip(t.group_names, t.current_lrs(), t.drift(), t.flags):
            values[f"lr/{name}"] = lr
            values[f"drift/{name}"] = d
            values[f"trainable/{name}"] = float(on)
        if with_update and self.prev is not None:
            for name, u in zip(t.group_names, metrics.relative_distances(t.group_params, self.prev)):
                values[f"update/{name}"] = u
            self.prev = None
        t.log.add_many(t.step, values)


class Evaluator(Callback):
    """Validation loss/accuracy and the forgetting meter at the start, every eval_every steps and at the end."""

    order = 50

    def before_fit(self, t: Trainer) -> None:
        self._eval(t)

    def after_step(self, t: Trainer) -> None:
        if t.step % t.config.eval_every == 0 and t.step < t.config.steps:
            self._eval(t)
            t.fire("after_eval")

    def _eval(self, t: Trainer) -> None:
        loss, acc, _ = t.evaluate(t.task.val)
        values = {"val_loss": loss, "val_accuracy": acc}
        src = t.source_accuracy()
        if src is not None:
            values["source_accuracy"] = src
        t.log.add_many(t.step, values)

    def after_train(self, t: Trainer) -> None:
        if t.status == "diverged":
            return
        self._eval(t)
        t.fire("after_eval")
        _, acc, pred = t.evaluate(t.task.test)
        t.results["test_accuracy"] = acc
        # The training images as they are, in eval mode: measured the way validation is (the logged training loss
        # comes from augmented or dropout-masked batches in training mode), so the two can be compared (Hour 6).
        t.results["train_loss_clean"], t.results["train_accuracy_clean"], _ = t.evaluate(t.task.train)
        t.results["confusion"] = metrics.confusion_matrix(pred, t.task.test.y.to(pred.device), t.task.n_classes)
        wrong = (pred.cpu() != t.task.test.y).nonzero().flatten()
        t.results["mistakes"] = [(int(i), int(pred[i])) for i in wrong[:64]]  # (test index, predicted class)


class EarlyStopping(Callback):
    """Stop when val loss has not improved for `patience` evaluations; restore the best weights."""

    order = 40  # after_train: restore before the Evaluator's final test

    def __init__(self, patience: int):
        self.patience = patience

    def before_fit(self, t: Trainer) -> None:
        self.best, self.best_step, self.best_state, self.bad = math.inf, 0, None, 0

    def after_eval(self, t: Trainer) -> None:
        loss = t.log.last("val_loss", math.inf)
        if loss < self.best - 1e-4:
            self.best, self.best_step, self.bad = loss, t.step, 0
            self.best_state = copy.deepcopy(t.model.state_dict())
        else:
            self.bad += 1
            if self.bad >= self.patience and t.status == "running" and t.step < t.config.steps:
                raise CancelFit(f"early stopping at step {t.step}: validation loss has not improved since step {self.best_step}.")

    def after_train(self, t: Trainer) -> None:
        if self.best_state is not None and t.status != "diverged":
            t.model.load_state_dict(self.best_state)
            t.results["best_step"] = self.best_step


class Results(Callback):
    """After training, gathers the final figures into trainer.results (the CLI's JSON)."""

    order = 100

    def after_fit(self, t: Trainer) -> None:
        log = t.log
        recent = log.snapshot().get("train_loss", ([], []))[1][-10:]
        trainable, total = t.param_counts()
        t.results.update(
            {
                "status": t.status,
                "message": t.message,
                "steps": t.step,
                "seconds": round(t.seconds, 3),
                "steps_per_second": round(t.step / t.seconds, 2) if t.seconds > 0 else 0.0,
                "train_loss": sum(recent) / len(recent) if recent else None,
                "val_loss": log.last("val_loss"),
                "val_accuracy": log.last("val_accuracy"),
                "test_accuracy": t.results.get("test_accuracy"),
                "source_accuracy": log.last("source_accuracy"),
                "groups": t.group_names,
                "trainable": dict(zip(t.group_names, t.flags)),
                "lr": dict(zip(t.group_names, t.current_lrs())),
                "drift": dict(zip(t.group_names, t.drift())),
                "trainable_params": trainable,
                "total_params": total,
                "device": str(t.device),
                "warnings": t.warnings,
                "config": t.config.to_dict(),
            }
        )
        src = log.snapshot().get("source_accuracy")
        if src:
            t.results["source_accuracy_start"] = src[1][0]


def default_callbacks(config) -> list[Callback]:
    """The listeners every run gets, plus those its config switches on."""
    cbs: list[Callback] = [ScheduleLR(), LossReader(), StepLogger(), LayerStats(), Evaluator(), Results()]
    if config.gradual_unfreeze:
        cbs.append(GradualUnfreeze())
    if config.l2sp > 0:
        cbs.append(L2SP(config.l2sp))
    if config.early_stopping:
        cbs.append(EarlyStopping(config.early_stopping))
    from engine.train.lr_finder import from_config as lr_finder_from_config  # the LR range test, when extras ask

    finder = lr_finder_from_config(config)
    if finder is not None:
        cbs.append(finder)
    return cbs
