"""The run manager: one per server process. At most `max_running` runs train at once; the rest queue.

Runs belong to an owner (a browser session id): only that owner can see, pause or stop them.
"""

from __future__ import annotations

import os
import threading

from engine.config import ConfigError, TrainConfig
from engine.run import Run


def default_max_running() -> int:
    """GPUs: two runs per GPU; CPU: one run per two cores (at least one)."""
    env = os.environ.get("CLASSROOM_MAX_RUNS")
    if env:
        return max(1, int(env))
    import torch

    if torch.cuda.is_available():
        return 2 * torch.cuda.device_count()
    return max(1, (os.cpu_count() or 1) // 2)


class RunManager:
    """Bounded pool of Runs with a FIFO queue, keyed by owner."""

    def __init__(self, max_running: int | None = None, per_owner: int = 4):
        self.max_running = max_running or default_max_running()
        self.per_owner = per_owner  # live (queued or running) runs one owner may have
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._queue: list[Run] = []
        self._running: set[str] = set()

    def submit(self, config: TrainConfig, owner: str) -> Run:
        """Queue a run for `owner`; it starts as soon as a slot is free. Bad config raises ConfigError."""
        config.validate()
        with self._lock:
            live = [r for r in self._runs.values() if r.owner == owner and not r.done]
            if len(live) >= self.per_owner:
                raise ConfigError(
                    f"you already have {len(live)} runs training or waiting (the limit is {self.per_owner}): stop one first."
                )
            run = Run(config, owner=owner, on_end=self._on_end)
            self._runs[run.id] = run
            self._queue.append(run)
        self._pump()
        return run

    def get(self, run_id: str, owner: str) -> Run | None:
        """The run, only if `owner` owns it."""
        with self._lock:
            run = self._runs.get(run_id)
        return run if run is not None and run.owner == owner else None

    def runs_of(self, owner: str) -> list[Run]:
        with self._lock:
            return [r for r in self._runs.values() if r.owner == owner]

    def queue_position(self, run: Run) -> int | None:
        """1 = next to start; None when not waiting."""
        with self._lock:
            return self._queue.index(run) + 1 if run in self._queue else None

    def stop(self, run_id: str, owner: str) -> bool:
        run = self.get(run_id, owner)
        if run is None:
            return False
        with self._lock:
            if run in self._queue:
                self._queue.remove(run)
        run.stop()
        return True

    def end_session(self, owner: str) -> int:
        """Stop and forget every run of `owner` (their tab is gone). Returns how many."""
        runs = self.runs_of(owner)
        for r in runs:
            self.stop(r.id, owner)
        with self._lock:
            for r in runs:
                self._runs.pop(r.id, None)
        return len(runs)

    def running_count(self) -> int:
        with self._lock:
            return len(self._running)

    def _on_end(self, run: Run) -> None:
        with self._lock:
            self._running.discard(run.id)
        self._pump()

    def _pump(self) -> None:
        """Start queued runs while there are free slots."""
        to_start = []
        with self._lock:
            while self._queue and len(self._running) < self.max_running:
                run = self._queue.pop(0)
                if run.done:
                    continue
                self._running.add(run.id)
                to_start.append(run)
        for run in to_start:
            run.start()


_manager: RunManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> RunManager:
    """The process-wide manager (created on first use)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = RunManager()
        return _manager
