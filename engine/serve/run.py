"""A Run: one experiment's state on the server (status, series, results), its controls and its snapshots.

Where it trains is its executor's business: `ThreadExecutor` (here) trains it on a thread of this process;
engine.serve.pool.ProcessPool in a worker process, streaming the records back into the same Run. It never
calls a UI. A page polls `snapshot()`; the run ends as finished, stopped, diverged or failed, with a
one-sentence message for anything but finished.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable

from engine.core.config import ConfigError, TrainConfig
from engine.train.experiment import make_trainer
from engine.train.log import MetricLog
from engine.train.trainer import Callback, CancelFit, Trainer

ENDED = ("finished", "stopped", "diverged", "failed")
OUT_OF_MEMORY = "the run ran out of memory: try a smaller batch size or fewer labels per class."


class _Control(Callback):
    """Before every step: stop if asked, wait while paused."""

    order = -100

    def __init__(self, run: Run):
        self.run = run

    def before_step(self, t: Trainer) -> None:
        r = self.run
        if r._stop.is_set():
            raise CancelFit("stopped")
        if not r._resume.is_set():
            for cb in t.callbacks:  # a paused chart shows every step so far (a GPU reads losses in batches)
                read_now = getattr(cb, "read_now", None)
                if read_now is not None:
                    read_now(t)
            r._set_status("paused")
            while not r._resume.wait(0.05):
                if r._stop.is_set():
                    raise CancelFit("stopped")
            r._set_status("running")


class Run:
    """Trains `config` on a daemon thread. Thread-safe to read from any other thread."""

    def __init__(self, config: TrainConfig, owner: str = "", on_end: Callable[[Run], None] | None = None,
                 extra_callbacks: list[Callback] | None = None):
        self.id = uuid.uuid4().hex[:12]
        self.config = config
        self.owner = owner
        self.on_end = on_end
        self.extra_callbacks = extra_callbacks or []
        self.status = "queued"
        self.message = ""
        self.results: dict = {}
        self.warnings: list[str] = []
        self.log = MetricLog()
        self.groups: list[str] = []
        self.created = time.time()
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.trainer: Trainer | None = None  # after the end: what pages read (.model, .task), whoever trained it
        self.step = 0  # steps done, as the executor last reported
        self.executor = None  # set by the run manager; None = a thread of this process
        self.control_hook: Callable[[], None] | None = None  # tells a worker process about pause/resume/stop
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._started = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------------
    def start(self) -> Run:
        """Begin training on a new thread. Calling it twice does nothing the second time."""
        with self._lock:
            if self._started.is_set():
                return self
            self._started.set()
        (self.executor or THREADS).start(self)
        return self

    def pause(self) -> None:
        self._resume.clear()
        self._tell()

    def resume(self) -> None:
        self._resume.set()
        self._tell()

    def stop(self) -> None:
        """Ask the run to stop before its next step (a queued run ends at once)."""
        self._stop.set()
        self._resume.set()
        self._tell()
        if not self._started.is_set():
            self._finish("stopped", "")

    def _tell(self) -> None:
        hook = self.control_hook
        if hook is not None:
            with contextlib.suppress(Exception):
                hook()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def paused_wanted(self) -> bool:
        return not self._resume.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def drop_model(self) -> None:
        """Forget the trained model and the task it read (its student deleted the pictures it learned from);
        the snapshot keeps the step it ended at."""
        t = self.trainer
        if t is not None:
            self.step = getattr(t, "step", self.step)
            self.trainer = None

    # -- reading ------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """Plain data a page can draw: status, progress, series, results."""
        t = self.trainer
        with self._lock:
            status, message = self.status, self.message
        return {
            "id": self.id,
            "status": status,
            "message": message,
            "step": getattr(t, "step", self.step) if t is not None else self.step,
            "steps": self.config.steps,
            "groups": list(self.groups),
            "series": self.log.snapshot(),
            "results": dict(self.results),
            "warnings": list(self.warnings),
            "config": self.config.to_dict(),
            "elapsed": (self.ended_at or time.time()) - self.started_at if self.started_at else 0.0,
        }

    def __repr__(self) -> str:
        return f"Run({self.id}, {self.status}, {self.config.strategy}, lr={self.config.lr:g}, steps={self.config.steps})"

    # -- the thread ---------------------------------------------------------------------
    def _set_status(self, status: str, message: str | None = None) -> None:
        with self._lock:
            self.status = status
            if message is not None:
                self.message = message

    def _finish(self, status: str, message: str) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self.status, self.message = status, message
            self.ended_at = time.time()
        if self.trainer is not None:
            # Free the optimizer state, the data and any GPU memory; keep the model on the CPU
            # (small) so a page can export it or show its features.
            if getattr(self.trainer, "model", None) is not None:
                self.trainer.model = self.trainer.model.cpu()
            if isinstance(self.trainer, Trainer):
                self.trainer.optimizer = None  # type: ignore[assignment]
                self.trainer.train_x = self.trainer.train_y = None  # type: ignore[assignment]
        self._done.set()
        if self.on_end is not None:
            with contextlib.suppress(Exception):  # the manager's bookkeeping must not kill the run's thread
                self.on_end(self)


class ThreadExecutor:
    """Trains each run on a daemon thread of this process (small tests; the server uses worker processes)."""

    name = "threads"

    def start(self, run: Run) -> None:
        run._thread = threading.Thread(target=self._main, args=(run,), name=f"run-{run.id}", daemon=True)
        run._thread.start()

    @staticmethod
    def _main(run: Run) -> None:
        run.started_at = time.time()
        run._set_status("running")
        try:
            if run._stop.is_set():
                raise CancelFit("stopped")
            trainer = make_trainer(run.config, [_Control(run), *run.extra_callbacks])
            trainer.log = run.log
            run.groups = trainer.group_names
            run.warnings = trainer.warnings
            run.trainer = trainer
            run.results = trainer.fit()
            run._finish(trainer.status, trainer.message)
        except CancelFit:
            run._finish("stopped", "")
        except ConfigError as e:
            run._finish("failed", str(e))
        except MemoryError:
            run._finish("failed", OUT_OF_MEMORY)
        except Exception as e:  # a run never takes the server down: say what failed in one sentence
            run._finish("failed", f"training failed ({type(e).__name__}: {e}).")

    def alive(self, run: Run) -> bool:
        return run._thread is None or run._thread.is_alive()

    def shutdown(self) -> None:
        pass


THREADS = ThreadExecutor()
