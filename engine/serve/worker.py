"""The training worker: a process (spawned once, reused) that trains one run at a time and streams its records.

It reads jobs from its end of a pipe, trains each with make_trainer, and sends back plain data: the layer
groups, metric points (at most ~10 messages a second), status changes, and at the end the results and the
final weights as a state dict (bytes of torch.save, loaded weights_only on the server). Pause, resume and
stop arrive through a shared byte the worker reads before every step. It never imports the web server.
"""

from __future__ import annotations

import contextlib
import io
import time

GO, PAUSE, STOP = 0, 1, 2
SEND_EVERY_S = 0.1  # the most often records are sent: a 1 Hz page sees every point, the pipe stays quiet


def worker_main(conn, ctrl, threads: int, max_runs: int) -> None:
    """The process's whole life: up to `max_runs` jobs, then exit so the OS takes its memory back."""
    import torch

    torch.set_num_threads(max(1, threads))
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    _warm_up()
    try:
        conn.send(("ready",))
    except (BrokenPipeError, OSError):
        return  # the server went away while this worker started
    done = 0
    while done < max_runs:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return  # the server is gone
        if job[0] == "exit":
            return
        _, run_id, config_dict, extra_callbacks = job
        _train_one(conn, ctrl, run_id, config_dict, extra_callbacks)
        done += 1
    conn.send(("retiring",))


def _warm_up() -> None:
    """Before the first job: import and register datasets and backbones, render the default glyph task and load the
    shipped checkpoint, so a student's first run starts training at once (the worker starts with the server)."""
    try:
        from engine.core.config import TrainConfig
        from engine.models.registry import build_model
        from engine.train.experiment import prepare_task

        task = prepare_task(TrainConfig())
        build_model("glyphnet", "pretrained", task.n_classes)
    except Exception:
        pass  # a broken asset is reported by the run that needs it, in its own sentence


def _train_one(conn, ctrl, run_id: str, config_dict: dict, extra_callbacks: list) -> None:
    import torch

    from engine.core.config import ConfigError, TrainConfig
    from engine.serve.run import OUT_OF_MEMORY
    from engine.train.experiment import make_trainer
    from engine.train.trainer import CancelFit

    stream = _Stream(conn, run_id)
    trainer = None
    try:
        config = TrainConfig.from_dict(config_dict)
        if ctrl.value == STOP:
            raise CancelFit("stopped")
        trainer = make_trainer(config, [_Control(ctrl, stream), stream, *extra_callbacks])
        conn.send(("started", run_id, trainer.group_names, list(trainer.warnings)))
        results = trainer.fit()
        stream.flush(trainer)
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}, buf)
        conn.send(("end", run_id, trainer.status, trainer.message, results, list(trainer.warnings), trainer.step,
                   buf.getvalue(), trainer.task.n_classes))
    except CancelFit:
        _end(conn, run_id, "stopped", "", trainer)
    except ConfigError as e:
        _end(conn, run_id, "failed", str(e), trainer)
    except MemoryError:
        _end(conn, run_id, "failed", OUT_OF_MEMORY, trainer)
    except Exception as e:  # one run's failure is one sentence; the worker goes on to the next job
        _end(conn, run_id, "failed", f"training failed ({type(e).__name__}: {e}).", trainer)


def _end(conn, run_id: str, status: str, message: str, trainer) -> None:
    warnings = list(trainer.warnings) if trainer is not None else []
    step = trainer.step if trainer is not None else 0
    conn.send(("end", run_id, status, message, {}, warnings, step, None, 0))


class _Stream:
    """A listener that sends the metric points added since its last message, at most every SEND_EVERY_S."""

    order = 1000  # after the metrics listeners have written this step's points

    def __init__(self, conn, run_id: str):
        self.conn, self.run_id = conn, run_id
        self.sent: dict[str, int] = {}
        self.last = 0.0

    def __getattr__(self, name: str):
        from engine.train.trainer import EVENTS

        if name in EVENTS:
            return self._maybe_send
        raise AttributeError(name)

    def _maybe_send(self, t) -> None:
        now = time.monotonic()
        if now - self.last >= SEND_EVERY_S:
            self.flush(t)

    def flush(self, t) -> None:
        self.last = time.monotonic()
        points = t.log.since(self.sent)
        self.conn.send(("points", self.run_id, t.step, points))

    def status(self, status: str) -> None:
        self.conn.send(("status", self.run_id, status))


class _Control:
    """Before every step: stop if the server says so, wait while it says pause."""

    order = -100

    def __init__(self, ctrl, stream: _Stream):
        self.ctrl, self.stream = ctrl, stream

    def __getattr__(self, name: str):
        from engine.train.trainer import EVENTS

        if name in EVENTS:
            return _noop
        raise AttributeError(name)

    def before_step(self, t) -> None:
        from engine.train.trainer import CancelFit

        v = self.ctrl.value
        if v == STOP:
            raise CancelFit("stopped")
        if v == PAUSE:
            for cb in t.callbacks:  # a paused chart shows every step so far (a GPU reads losses in batches)
                read_now = getattr(cb, "read_now", None)
                if read_now is not None and cb is not self:
                    read_now(t)
            self.stream.flush(t)
            self.stream.status("paused")
            while self.ctrl.value == PAUSE:
                time.sleep(0.05)
            if self.ctrl.value == STOP:
                raise CancelFit("stopped")
            self.stream.status("running")


def _noop(_t) -> None:
    return None
