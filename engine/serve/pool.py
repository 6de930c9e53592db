"""ProcessPool: the run manager's executor that trains runs in worker processes, off the web server's GIL.

A pool of `size` workers (the run cap), started once with the spawn start method and reused. A run's config
goes to an idle worker through a pipe; a reader thread per worker puts the records it streams back into the
server's Run (series, step, status, results), so pages read a Run exactly as before. At the end the final
weights come back as a state dict and are rebuilt into a model on the server (Hour 10's export, the
mistakes gallery). A worker that dies fails its one run with one sentence and is replaced; every other run
goes on. A worker retires after `max_runs` runs, so the memory it held goes back to the OS.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import os
import threading
import time

from engine.serve.run import Run
from engine.serve.worker import GO, PAUSE, STOP, worker_main

DIED = "the training process stopped unexpectedly: press Start to try again."
NO_WORKERS = "the server could not start its training processes: the teacher can restart the app (its log says why)."
START_ATTEMPTS = 3  # workers that die before they are ready, in a row, before the pool gives up


class Finished:
    """What a page reads of an ended run that trained in a worker: `.model` (rebuilt on the server from its
    state dict) and `.task` (loaded on first use: the same deterministic task the worker trained on)."""

    def __init__(self, config, model, step: int):
        self.config, self.model, self.step = config, model, step
        self.source_head = None
        self._task = None

    @property
    def task(self):
        if self._task is None:
            from engine.train.experiment import prepare_task

            self._task = prepare_task(self.config)
        return self._task


class _Worker:
    def __init__(self, pool: ProcessPool, index: int):
        self.pool, self.index = pool, index
        self.run: Run | None = None
        self.ready = False
        self.ctrl = pool.ctx.Value("b", GO, lock=False)
        parent, child = pool.ctx.Pipe(duplex=True)
        self.conn = parent
        self.proc = pool.ctx.Process(target=worker_main, args=(child, self.ctrl, pool.threads, pool.max_runs),
                                     name=f"train-worker-{index}", daemon=True)
        self.proc.start()
        child.close()  # only the worker holds its end: when it dies, recv() here raises EOFError
        self.send_lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, name=f"train-reader-{index}", daemon=True)
        self.reader.start()

    def send(self, msg) -> None:
        with self.send_lock:
            self.conn.send(msg)

    def _read(self) -> None:
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # a message that cannot be unpickled: treat the worker as broken
                break
            with contextlib.suppress(Exception):  # one bad message never stops the reader
                self.pool._on_message(self, msg)
        self.pool._on_exit(self)


class ProcessPool:
    """The run manager's executor: `start(run)` trains it in an idle worker; see the module docstring."""

    name = "worker processes"

    def __init__(self, size: int, threads: int | None = None, max_runs: int = 25):
        self.size = max(1, size)
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.size)
        self.max_runs = max_runs
        self.ctx = mp.get_context("spawn")
        self._lock = threading.Lock()
        self._closed = False
        self._pending: list[Run] = []
        self._failed_starts = 0
        self.broken = False
        self.workers: list[_Worker] = [_Worker(self, i) for i in range(self.size)]
        self.deaths = 0  # workers that died mid-run (for the status line and tests)

    # -- the executor API ---------------------------------------------------------------------
    def start(self, run: Run) -> None:
        with self._lock:
            if self.broken:
                threading.Thread(target=run._finish, args=("failed", NO_WORKERS), daemon=True).start()
                return
            worker = next((w for w in self.workers if w.run is None and w.proc.is_alive()), None)
            if worker is None:
                self._pending.append(run)
                return
            self._assign(worker, run)

    def alive(self, run: Run) -> bool:
        with self._lock:
            return run in self._pending or any(w.run is run and w.proc.is_alive() for w in self.workers)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self.workers)
        for w in workers:
            with contextlib.suppress(Exception):
                w.send(("exit",))
        for w in workers:
            w.proc.join(3.0)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(3.0)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers if w.proc.pid is not None]

    # -- internals ----------------------------------------------------------------------------
    def _assign(self, worker: _Worker, run: Run) -> None:
        """Hand `run` to `worker` (called with the lock held)."""
        worker.run = run
        worker.ctrl.value = STOP if run.stopping else (PAUSE if run.paused_wanted else GO)

        def tell(w=worker, r=run) -> None:
            if w.run is r:
                w.ctrl.value = STOP if r.stopping else (PAUSE if r.paused_wanted else GO)

        run.control_hook = tell
        run.started_at = time.time()
        run._set_status("running")
        try:
            worker.send(("run", run.id, run.config.to_dict(), list(run.extra_callbacks)))
        except Exception as e:  # e.g. a callback that cannot be pickled
            worker.run = None
            run.control_hook = None
            threading.Thread(target=run._finish, args=("failed", f"the run could not be sent to a training process ({e})."),
                             daemon=True).start()

    def _on_message(self, worker: _Worker, msg: tuple) -> None:
        kind = msg[0]
        if kind == "ready":
            worker.ready = True
            with self._lock:
                self._failed_starts = 0
            return
        if kind == "retiring":
            return
        run = worker.run
        if run is None or msg[1] != run.id:
            return  # a late message of a run already ended
        if apply_message(run, msg) is not None:  # the run's end: results and model are in place
            self._release(worker)
            run._finish(msg[2], msg[3])

    def _release(self, worker: _Worker) -> None:
        """`worker` is idle again: give it the next pending run, if any."""
        with self._lock:
            if worker.run is not None:
                worker.run.control_hook = None
            worker.run = None
            if self._pending and not self._closed:
                self._assign(worker, self._pending.pop(0))

    def _on_exit(self, worker: _Worker) -> None:
        """The worker's pipe closed: it retired, was killed or crashed. Fail its run (if any), replace it."""
        worker.proc.join(1.0)
        with self._lock:
            run, worker.run = worker.run, None
            if self._closed:
                return
            if run is not None:
                self.deaths += 1
            if not worker.ready:
                self._failed_starts += 1
            if self._failed_starts >= START_ATTEMPTS:  # workers die as they start: stop trying, say so
                self.broken = True
                failed, self._pending = self._pending, []
            else:
                failed = []
                replacement = _Worker(self, worker.index)
                self.workers[self.workers.index(worker)] = replacement
                if self._pending:
                    self._assign(replacement, self._pending.pop(0))
        for r in failed:
            r._finish("failed", NO_WORKERS)
        if run is not None:
            run.control_hook = None
            run._finish("failed", DIED if worker.ready else NO_WORKERS)


def apply_message(run: Run, msg: tuple):
    """Put one message a training process streamed (engine.serve.worker) into the server's Run. For the end
    message: results, warnings and the rebuilt model are set and the status is returned (the caller finishes the
    run once its own bookkeeping is done); None for every other message."""
    kind = msg[0]
    if kind == "started":
        run.groups, run.warnings = msg[2], msg[3]
    elif kind == "points":
        run.step = msg[2]
        run.log.extend(msg[3])
    elif kind == "status":
        run._set_status(msg[2])
    elif kind == "end":
        _, _, status, _message, results, warnings, step, state, n_classes = msg
        run.step = step
        run.warnings = warnings
        run.results = results
        if state is not None:
            with contextlib.suppress(Exception):  # no model to export is better than no end
                run.trainer = Finished(run.config, _rebuild(run.config, state, n_classes), step)
        return status
    return None


def _rebuild(config, state: bytes, n_classes: int):
    """The trained network on the server's CPU, from the worker's state dict (weights_only)."""
    import torch

    from engine.models.registry import build_model

    model = build_model(config.backbone, "scratch", n_classes, config.head, config.dropout, config.seed).model
    model.load_state_dict(torch.load(io.BytesIO(state), map_location="cpu", weights_only=True))
    return model.eval()
