"""The loop: events in order, determinism, divergence, pause/resume/stop, results."""

import math
import threading

import pytest
import torch

from engine.core.config import ConfigError, TrainConfig
from engine.serve.run import Run
from engine.train.experiment import make_trainer, run_experiment
from engine.train.trainer import EVENTS, Callback, CancelFit

TINY = dict(steps=6, eval_every=3, log_every=2, shots=2, batch_size=8)


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def __getattr__(self, name):
        if name in EVENTS:
            return lambda t: self.events.append((name, t.step))
        raise AttributeError(name)


def test_events_fire_in_declared_order():
    rec = Recorder()
    t = make_trainer(TrainConfig(steps=2, eval_every=1, log_every=1, shots=2, batch_size=8), [rec])
    t.fit()
    assert rec.events == [
        ("before_fit", 0),
        ("before_step", 0), ("after_loss", 0), ("after_step", 1), ("after_eval", 1),
        ("before_step", 1), ("after_loss", 1), ("after_step", 2),
        ("after_train", 2),
        ("after_eval", 2),  # the final evaluation, fired by the Evaluator (order 50) during after_train
        ("after_fit", 2),
    ]


GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=GPU)])
def test_same_seed_same_loss_series_and_other_seed_differs(device):
    a = make_trainer(TrainConfig(seed=3, device=device, **TINY))
    a.fit()
    b = make_trainer(TrainConfig(seed=3, device=device, **TINY))
    b.fit()
    c = make_trainer(TrainConfig(seed=4, device=device, **TINY))
    c.fit()
    la, lb, lc = (x.log.snapshot()["train_loss"][1] for x in (a, b, c))
    assert la == lb
    assert la != lc


def test_divergence_is_detected_at_the_step_of_the_first_non_finite_loss():
    class PoisonAtStep(Callback):
        order = 50  # after L2-SP, before the guard (order 100)

        def after_loss(self, t):
            if t.step == 3:
                t.loss = t.loss * math.inf

    t = make_trainer(TrainConfig(lr=0.01, optimizer="sgd", **TINY), [PoisonAtStep()])
    res = t.fit()
    assert res["status"] == "diverged"
    assert t.step == 3  # no optimizer step was taken with the infinite loss
    assert res["message"] == "the loss became infinite at step 4 with LR 0.01: try a smaller learning rate."
    assert len(t.log.snapshot()["train_loss"][1]) == 3


def test_a_huge_lr_diverges_with_one_sentence():
    res = run_experiment(TrainConfig(lr=1e6, optimizer="sgd", steps=30, eval_every=10, shots=2, batch_size=8))
    assert res["status"] == "diverged"
    assert res["message"].startswith(("the loss became ", "the loss exploded to "))
    assert res["message"].endswith("with LR 1e+06: try a smaller learning rate.")


def test_results_have_the_cli_fields():
    res = run_experiment(TrainConfig(strategy="feature", **TINY))
    for key in ("status", "steps", "seconds", "steps_per_second", "train_loss", "val_loss", "test_accuracy",
                "source_accuracy", "groups", "trainable", "lr", "drift", "config"):
        assert key in res, key
    assert res["status"] == "finished" and res["steps"] == 6
    assert res["groups"] == ["stem", "block1", "block2", "block3", "head"]
    assert res["lr"]["stem"] == 0.0 and res["lr"]["head"] == pytest.approx(1e-3)
    assert res["drift"]["block3"] == 0.0 and res["drift"]["head"] > 0
    assert 0.0 <= res["test_accuracy"] <= 1.0
    assert res["source_accuracy"] == pytest.approx(res["source_accuracy_start"])  # frozen body: nothing forgotten


def test_batch_larger_than_the_data_is_clamped_with_a_warning():
    res = run_experiment(TrainConfig(batch_size=500, steps=2, eval_every=2, shots=2))
    assert res["status"] == "finished"
    assert res["warnings"] == ["batch size 500 is larger than the 20 training images: each step uses all 20."]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(shots=0), "labels per class must be at least 1 (got 0): every class needs one example to learn from."),
        (dict(lr=-1.0), "the learning rate must be a positive number (got -1.0)."),
        (dict(optimizer="lion"), "unknown optimizer 'lion'; choose one of: sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw."),
        (dict(backbone="vgg99"), "unknown backbone 'vgg99'; known backbones: "),
        (dict(domain_shift=1.5), "domain shift must be between 0 and 1 (got 1.5)."),
    ],
)
def test_bad_config_is_one_sentence(change, message):
    with pytest.raises(ConfigError) as e:
        make_trainer(TrainConfig(**{**TINY, **change}))
    assert str(e.value).startswith(message)


class Gate(Callback):
    """Blocks the trainer thread at a chosen step until the test lets it go."""

    def __init__(self, at):
        self.at, self.reached, self.go = at, threading.Event(), threading.Event()

    def after_step(self, t):
        if t.step == self.at:
            self.reached.set()
            assert self.go.wait(30)


def test_stop_takes_effect_before_the_next_step():
    gate = Gate(at=3)
    run = Run(TrainConfig(steps=50, eval_every=25, shots=2, batch_size=8), extra_callbacks=[gate]).start()
    assert gate.reached.wait(60)
    run.stop()
    gate.go.set()
    assert run.wait(60)
    assert run.status == "stopped"
    assert run.trainer.step == 3
    assert run.results["test_accuracy"] is not None  # a stopped run is still evaluated


class ReadLikeAGpu(Callback):
    def before_fit(self, t):
        t.read_every = 4  # losses read in batches, as on a GPU


def test_pause_holds_the_step_and_resume_continues():
    gate = Gate(at=2)
    run = Run(TrainConfig(steps=5, eval_every=5, shots=2, batch_size=8), extra_callbacks=[gate, ReadLikeAGpu()]).start()
    assert gate.reached.wait(60)
    run.pause()
    gate.go.set()
    for _ in range(200):
        if run.snapshot()["status"] == "paused":
            break
        threading.Event().wait(0.05)
    assert run.snapshot()["status"] == "paused"
    assert run.snapshot()["step"] == 2
    assert run.snapshot()["series"]["train_loss"][0] == [1, 2]  # read before pausing, though 4 were not yet due
    threading.Event().wait(0.3)
    assert run.snapshot()["step"] == 2  # nothing trains while paused
    run.resume()
    assert run.wait(60)
    assert run.status == "finished" and run.trainer.step == 5


def test_a_failing_run_ends_failed_with_one_sentence():
    class Boom(Callback):
        def after_step(self, t):
            raise RuntimeError("the GPU caught fire")

    run = Run(TrainConfig(**TINY), extra_callbacks=[Boom()]).start()
    assert run.wait(60)
    assert run.status == "failed"
    assert run.message == "training failed (RuntimeError: the GPU caught fire)."


def test_a_bad_config_run_fails_with_its_sentence():
    run = Run(TrainConfig(shots=0)).start()
    assert run.wait(30)
    assert run.status == "failed"
    assert run.message.startswith("labels per class must be at least 1")


def test_early_stopping_restores_the_best_step():
    res = run_experiment(TrainConfig(early_stopping=1, steps=300, eval_every=5, lr=3e-3, shots=2, batch_size=8, weights="scratch"))
    assert res["status"] == "finished"
    assert res["steps"] < 300
    assert res["message"].startswith("early stopping at step ")
    assert res["best_step"] < res["steps"]


def test_a_gpu_reads_losses_in_batches_with_the_same_series_and_the_exact_divergence_step():
    """On a GPU losses are read every log_every steps (trainer.read_every); forced here on the CPU."""
    every_step = make_trainer(TrainConfig(seed=5, **TINY))
    every_step.fit()
    batched = make_trainer(TrainConfig(seed=5, **TINY))
    batched.read_every = 4  # steps 1-4 read at step 4, steps 5-6 at the last step
    batched.fit()
    assert batched.log.snapshot()["train_loss"] == every_step.log.snapshot()["train_loss"]

    class PoisonAtStep(Callback):
        order = 50

        def after_loss(self, t):
            if t.step == 1:
                t.loss = t.loss * math.nan

    t = make_trainer(TrainConfig(lr=0.01, optimizer="sgd", **TINY), [PoisonAtStep()])
    t.read_every = 4
    res = t.fit()
    assert res["status"] == "diverged"
    assert res["message"] == "the loss became not a number (NaN) at step 2 with LR 0.01: try a smaller learning rate."
    assert t.step == 3  # found when step 4's loss was read, before its update
    assert t.log.snapshot()["train_loss"][0] == [1]


def test_a_run_stopped_between_reads_keeps_its_last_losses():
    class StopAfterStep(Callback):
        def after_step(self, t):
            if t.step == 5:
                raise CancelFit()

    t = make_trainer(TrainConfig(seed=5, **TINY), [StopAfterStep()])
    t.read_every = 4
    res = t.fit()
    assert res["status"] == "stopped"
    assert t.log.snapshot()["train_loss"][0] == [1, 2, 3, 4, 5]


def test_dropout_is_reproducible_whatever_else_drew_from_the_global_generator():
    cfg = TrainConfig(dropout=0.5, seed=2, **TINY)
    a = make_trainer(cfg)
    a.fit()
    torch.rand(1000)  # another run or library draws from torch's process-wide generator in between
    b = make_trainer(cfg)
    b.fit()
    assert a.log.snapshot()["train_loss"] == b.log.snapshot()["train_loss"]
    c = make_trainer(cfg.replace(dropout=0.0))
    c.fit()
    assert a.log.snapshot()["train_loss"] != c.log.snapshot()["train_loss"]  # the masks did act
