"""The run manager: one per server process. At most `max_running` runs train at once; the rest queue.

Runs belong to an owner (a browser session id): only that owner can see, pause or stop them; a
guessed id of someone else's run gives None / False, exactly as an unknown id does.
When a run ends it is written to the run store (engine.serve.store). When an owner's session is gone
(the UI layer says so through `is_alive`), a reaper thread stops its runs and forgets them.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from engine.core.config import ConfigError, TrainConfig
from engine.core.settings import default_max_running  # noqa: F401  (kept importable from here)
from engine.serve.run import THREADS, Run
from engine.train.trainer import Callback

LIVE = ("queued", "running", "paused")
PAUSED_TOO_LONG = (
    "this run was stopped after {minutes:g} minutes paused, because other students were waiting for a training slot."
)
START_FAILED = "the server could not start another training thread: try again in a minute."
PUBLISH_SECONDS = 1.0  # how often live runs are written to the shared store for other replicas


class RunManager:
    """Bounded pool of Runs with a FIFO queue, keyed by owner."""

    def __init__(self, max_running: int | None = None, per_owner: int = 4, store=None, keep_ended: int = 20,
                 paused_minutes: float = 10.0, executor: str = "threads", ray_address: str = "auto",
                 share_live: bool | None = None):
        """`executor`: "threads" trains each run on a thread of this process (small tests, scripts); "processes"
        in a pool of `max_running` worker processes (the server: training never holds the web server's GIL);
        "ray" on the Ray cluster at `ray_address`, whose CPUs are the cap unless `max_running` is given.
        `share_live`: publish live runs to the store for other replicas (default: when the store is PostgreSQL,
        the store replicas share)."""
        from engine.core.settings import default_max_running as _default

        _limit_malloc_arenas()
        ray = None
        if executor == "ray":
            from engine.serve.ray_executor import RayExecutor, Unreachable

            try:
                ray = RayExecutor(ray_address)
            except ConfigError as e:  # the app keeps serving pages and stored runs; Start says why it cannot train
                ray = Unreachable(str(e))
        self.max_running = max_running or getattr(ray, "capacity", None) or _default()
        if ray is not None:
            self.executor = ray
        elif executor == "processes":
            from engine.serve.pool import ProcessPool

            self.executor = ProcessPool(self.max_running)
        elif executor == "threads":
            self.executor = THREADS
        else:
            raise ConfigError(f"unknown executor {executor!r}; choose processes, threads or ray.")
        self.per_owner = per_owner  # live (queued, running or paused) runs one owner may have
        self.keep_ended = keep_ended  # ended runs per owner kept in memory; older ones live on in the store
        self.paused_minutes = paused_minutes
        self.store = store
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._queue: list[Run] = []
        self._running: set[str] = set()
        self._paused_since: dict[str, float] = {}
        self._reaper: threading.Thread | None = None
        self._reaper_stop = threading.Event()
        self.is_alive: Callable[[str], bool] | None = None
        self.reaped = 0  # sessions ended by the reaper (for the status line and tests)
        # Live runs published to the shared store, so another app replica can show them (engine.serve.replicas).
        self.replica = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.live = None
        if share_live is None:
            share_live = getattr(store, "kind", "") == "postgresql"
        if store is not None and share_live:
            from engine.serve.replicas import LiveRecords

            with contextlib.suppress(Exception):  # without the table, runs still train and are recorded at the end
                self.live = LiveRecords(store, self.replica)
        self._publisher: threading.Thread | None = None
        self._publisher_stop = threading.Event()

    # -- the public API -----------------------------------------------------------------
    def submit(self, config: TrainConfig, owner: str, extra_callbacks: list[Callback] | None = None) -> Run:
        """Queue a run for `owner`; it starts as soon as a slot is free. Bad config raises ConfigError."""
        config.validate()
        if not owner:
            raise ConfigError("a run needs an owner (the browser session that starts it).")
        with self._lock:
            live = [r for r in self._runs.values() if r.owner == owner and not r.done]
            if len(live) >= self.per_owner:
                raise ConfigError(
                    f"you already have {len(live)} runs training or waiting (the limit is {self.per_owner}): stop one first."
                )
            run = Run(config, owner=owner, on_end=self._on_end, extra_callbacks=extra_callbacks)
            run.executor = self.executor
            self._runs[run.id] = run
            self._queue.append(run)
        self._pump()
        self._start_publisher()
        return run

    def get(self, run_id: str, owner: str) -> Run | None:
        """The run, only if `owner` owns it."""
        with self._lock:
            run = self._runs.get(run_id)
        return run if run is not None and run.owner == owner else None

    def find(self, run_id: str, owner: str) -> dict | None:
        """A snapshot of `owner`'s run wherever it is: in this process, live on another replica (its last published
        snapshot), or stored; None when none of them has it."""
        run = self.get(run_id, owner)
        if run is not None:
            snap = run.snapshot()
            if snap["status"] == "queued":
                snap["queue_position"] = self.queue_position(run)
            return snap
        if self.live is not None:
            with contextlib.suppress(Exception):
                snap = self.live.get(run_id, owner)
                if snap is not None:
                    return snap
        if self.store is not None:
            with contextlib.suppress(Exception):
                record = self.store.get(run_id, owner)
                if record is not None:
                    from engine.serve.store import as_snapshot

                    return as_snapshot(record)
        return None

    def live_runs_of(self, owner: str, page: str) -> list[dict]:
        """`owner`'s live runs started on `page`, here or on another replica, oldest first:
        [{id, label, config, created}] (what a page needs to show an experiment it did not start in this tab)."""
        with self._lock:
            here = [r for r in self._runs.values()
                    if r.owner == owner and not r.done and r.config.extras.get("page") == page]
        out = [{"id": r.id, "label": str(r.config.extras.get("label") or r.id), "config": r.config.to_dict(),
                "created": r.created} for r in here]
        if self.live is not None:
            known = {r["id"] for r in out}
            with contextlib.suppress(Exception):
                out += [r for r in self.live.live_of(owner, page) if r["id"] not in known]
        return sorted(out, key=lambda r: r["created"])

    def live_experiment_of(self, owner: str, page: str) -> list[dict]:
        """The runs of `owner`'s newest live experiment on `page` (the runs a page started together, tagged by
        extras["experiment"]), including those of them that already ended, here, on another replica or stored;
        oldest first, [] when nothing of theirs is live there. Runs without the tag stand alone."""
        live = self.live_runs_of(owner, page)
        if not live:
            return []
        tag = (live[-1]["config"].get("extras") or {}).get("experiment")
        if not tag:
            return live
        out = {r["id"]: r for r in live if (r["config"].get("extras") or {}).get("experiment") == tag}
        with self._lock:
            here = [r for r in self._runs.values() if r.owner == owner and r.config.extras.get("experiment") == tag]
        for r in here:
            out.setdefault(r.id, {"id": r.id, "label": str(r.config.extras.get("label") or r.id),
                                  "config": r.config.to_dict(), "created": r.created})
        elsewhere = []
        if self.live is not None:
            with contextlib.suppress(Exception):
                elsewhere += self.live.experiment_of(owner, page, tag)
        if self.store is not None:
            with contextlib.suppress(Exception):
                elsewhere += [{"id": r["id"], "label": r.get("label") or r["id"], "config": r["config"],
                               "created": r.get("created") or 0.0}
                              for r in self.store.runs_of_owner(owner, page, limit=20, with_series=False)
                              if (r["config"].get("extras") or {}).get("experiment") == tag]
        for r in elsewhere:
            out.setdefault(r["id"], r)
        return sorted(out.values(), key=lambda r: r["created"])

    def end_page(self, owner: str, page: str, wait_s: float = 5.0) -> bool:
        """Stop `owner`'s live runs on `page` (here or on another replica), wait up to `wait_s` for them to end, then
        drop the models of every ended run of theirs from that page this server keeps. True when all ended in time."""
        live = [r["id"] for r in self.live_runs_of(owner, page)]
        for run_id in live:
            self.stop(run_id, owner)
        deadline, ended = time.monotonic() + wait_s, True
        for run_id in live:
            run = self.get(run_id, owner)
            if run is not None:
                ended &= run.wait(max(0.0, deadline - time.monotonic()))
                continue
            while (self.find(run_id, owner) or {}).get("status") in LIVE and time.monotonic() < deadline:
                time.sleep(0.1)  # on another replica: its record says when it ended
            ended &= (self.find(run_id, owner) or {}).get("status") not in LIVE
        for run in self.runs_of(owner):
            if run.done and run.config.extras.get("page") == page:
                run.drop_model()
        return ended

    def runs_of(self, owner: str) -> list[Run]:
        """This owner's runs in memory, oldest first."""
        with self._lock:
            return [r for r in self._runs.values() if r.owner == owner]

    def queue_position(self, run: Run) -> int | None:
        """1 = next to start; None when not waiting."""
        with self._lock:
            return self._queue.index(run) + 1 if run in self._queue else None

    def stop(self, run_id: str, owner: str) -> bool:
        """Stop a run (a waiting one is cancelled: it leaves the queue at once). False if not yours."""
        run = self.get(run_id, owner)
        if run is None:
            return self._ask_elsewhere(run_id, owner, "stop")
        with self._lock:
            if run in self._queue:
                self._queue.remove(run)
        run.stop()
        return True

    cancel = stop

    def pause(self, run_id: str, owner: str) -> bool:
        run = self.get(run_id, owner)
        if run is None:
            return self._ask_elsewhere(run_id, owner, "pause")
        if run.done:
            return False
        run.pause()
        return True

    def resume(self, run_id: str, owner: str) -> bool:
        run = self.get(run_id, owner)
        if run is None:
            return self._ask_elsewhere(run_id, owner, "resume")
        if run.done:
            return False
        run.resume()
        return True

    def _ask_elsewhere(self, run_id: str, owner: str, action: str) -> bool:
        """Pass pause/resume/stop on to the replica training `owner`'s run; False when no replica has it live."""
        if self.live is None:
            return False
        try:
            return self.live.request(run_id, owner, action)
        except Exception:
            return False

    def end_session(self, owner: str) -> int:
        """Stop and forget every run of `owner` (their tab is gone), so their memory returns. Returns how many."""
        runs = self.runs_of(owner)
        for r in runs:
            self.stop(r.id, owner)
        with self._lock:
            for r in runs:
                self._runs.pop(r.id, None)
                self._paused_since.pop(r.id, None)
        deadline = time.time() + 5.0
        for r in runs:  # the threads end within a step; then drop the model so its memory returns
            if r.wait(max(0.0, deadline - time.time())) and r.trainer is not None:
                r.trainer.model = None  # type: ignore[assignment]
                r.trainer.source_head = None
        n = len(runs)
        del runs
        _free_memory()
        return n

    def running_count(self) -> int:
        with self._lock:
            return len(self._running)

    def queued_count(self) -> int:
        with self._lock:
            return len(self._queue)

    def status(self) -> dict:
        """One line's worth for a page: how busy the server is."""
        with self._lock:
            owners = {r.owner for r in self._runs.values() if not r.done}
            return {"running": len(self._running), "queued": len(self._queue), "max_running": self.max_running,
                    "per_session": self.per_owner, "sessions": len(owners), "reaped": self.reaped,
                    "executor": self.executor.name, "problem": getattr(self.executor, "problem", "")}

    def history(self, owner: str, page: str | None = None, limit: int = 50) -> list[dict]:
        """This owner's stored runs (survive a restart), newest first; [] without a store."""
        if self.store is None:
            return []
        try:
            return self.store.runs_of_owner(owner, page=page, limit=limit)
        except Exception:
            return []

    # -- sessions that went away --------------------------------------------------------
    def set_liveness(self, is_alive: Callable[[str], bool], interval: float = 10.0) -> None:
        """Start (once) the reaper: every `interval` s, owners for whom `is_alive(owner)` is False are ended."""
        self.is_alive = is_alive
        with self._lock:
            if self._reaper is not None and self._reaper.is_alive():
                return
            self._reaper_stop.clear()
            self._reaper = threading.Thread(target=self._reap_loop, args=(interval,), name="run-reaper", daemon=True)
            self._reaper.start()

    def stop_reaper(self) -> None:
        self._reaper_stop.set()
        if self._reaper is not None:
            self._reaper.join(5.0)
        self._reaper = None

    def _reap_loop(self, interval: float) -> None:
        while not self._reaper_stop.wait(interval):
            with contextlib.suppress(Exception):  # the reaper never dies of one bad check
                self.reap_once()

    def reap_once(self) -> list[str]:
        """One pass: end gone sessions, stop long-paused runs when others wait, fail dead threads.
        Returns the owners ended."""
        with self._lock:
            owners = sorted({r.owner for r in self._runs.values()})
        gone = []
        watched: set[str] = set()
        if self.live is not None:
            with contextlib.suppress(Exception):
                watched = self.live.watched_owners()  # their student now watches from another replica
        if self.is_alive is not None:
            for owner in owners:
                if owner in watched:
                    continue
                try:
                    alive = self.is_alive(owner)
                except Exception:
                    alive = True  # when we cannot tell, keep the runs
                if not alive:
                    gone.append(owner)
        for owner in gone:
            self.end_session(owner)
            self.reaped += 1
        self._check_paused()
        self._check_threads()
        return gone

    def _check_paused(self) -> None:
        now = time.time()
        to_stop = []
        with self._lock:
            waiting = bool(self._queue)
            for rid in list(self._running):
                run = self._runs.get(rid)
                if run is None or run.status != "paused":
                    self._paused_since.pop(rid, None)
                    continue
                since = self._paused_since.setdefault(rid, now)
                if waiting and now - since >= 60 * self.paused_minutes:
                    to_stop.append(run)
        for run in to_stop:
            run.warnings.append(PAUSED_TOO_LONG.format(minutes=self.paused_minutes))
            run.stop()

    def _check_threads(self) -> None:
        """A run whose thread or worker died without ending (should not happen) frees its slot."""
        with self._lock:
            started = [self._runs[rid] for rid in self._running if rid in self._runs]
        dead = [r for r in started if r._started.is_set() and not r.done and not self.executor.alive(r)]
        for run in dead:
            run._finish("failed", "the training thread ended unexpectedly: start the run again.")

    # -- internals ----------------------------------------------------------------------
    def _on_end(self, run: Run) -> None:
        with self._lock:
            self._running.discard(run.id)
            self._paused_since.pop(run.id, None)
            if run in self._queue:
                self._queue.remove(run)
        self._pump()
        if self.store is not None:
            recorded = self.store.record(run)  # a failed write adds one sentence to the run's warnings
            if self.live is not None:
                with contextlib.suppress(Exception):
                    if recorded:
                        self.live.forget(run.id)  # its stored record answers for it from now on
                    else:
                        self.live.publish([(self._published_snapshot(run), run.owner)])  # failed or cancelled
        self._forget_old(run.owner)
        _free_gpu()

    def _forget_old(self, owner: str) -> None:
        """Keep at most `keep_ended` ended runs of an owner in memory (the store has them all)."""
        with self._lock:
            ended = [r for r in self._runs.values() if r.owner == owner and r.done]
            for r in ended[: max(0, len(ended) - self.keep_ended)]:
                self._runs.pop(r.id, None)

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
            try:
                run.start()
            except Exception:  # e.g. no more threads: the run fails in one sentence, its slot is freed
                run._finish("failed", START_FAILED)

    # -- other replicas ------------------------------------------------------------------
    def _published_snapshot(self, run: Run) -> dict:
        snap = run.snapshot()
        snap["created"] = run.created
        if snap["status"] == "queued":
            snap["queue_position"] = self.queue_position(run)
        return snap

    def _start_publisher(self) -> None:
        if self.live is None:
            return
        with self._lock:
            if self._publisher is not None and self._publisher.is_alive():
                return
            self._publisher_stop.clear()
            self._publisher = threading.Thread(target=self._publish_loop, name="run-publisher", daemon=True)
            self._publisher.start()

    def _publish_loop(self) -> None:
        while not self._publisher_stop.wait(PUBLISH_SECONDS):
            with contextlib.suppress(Exception):  # the store may be briefly unreachable: the runs go on
                self.publish_once()

    def publish_once(self) -> int:
        """Write this replica's live runs to the shared store and act on what other replicas asked of them.
        Returns how many snapshots were written."""
        if self.live is None:
            return 0
        for run_id, owner, action in self.live.requests():
            getattr(self, action)(run_id, owner)
        with self._lock:
            live = [r for r in self._runs.values() if not r.done]
        written = self.live.publish([(self._published_snapshot(r), r.owner) for r in live])
        self.live.heartbeat([r.id for r in live])
        return written

    def shutdown(self) -> None:
        """Stop every run, the reaper and the publisher (tests, server exit)."""
        self.stop_reaper()
        self._publisher_stop.set()
        for owner in {r.owner for r in list(self._runs.values())}:
            self.end_session(owner)
        self.executor.shutdown()


def _free_gpu() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


_arenas_limited = False


def _limit_malloc_arenas(n: int = 2) -> None:
    """glibc gives each new thread its own malloc arena and keeps the freed pages of each: with a new
    thread per run, memory would creep up run after run. A few shared arenas keep it flat."""
    global _arenas_limited
    if _arenas_limited:
        return
    _arenas_limited = True
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, n)  # M_ARENA_MAX
    except Exception:
        pass  # not glibc


def _free_memory() -> None:
    """Collect the dropped runs and hand freed memory back to the system (glibc keeps it otherwise)."""
    gc.collect()
    _free_gpu()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:
        pass  # not glibc: the allocator keeps its own policy


_manager: RunManager | None = None
_manager_lock = threading.Lock()


def make_manager(settings=None) -> RunManager:
    """A manager as the settings say, with its run store (if the store cannot open, runs still train)."""
    from engine.core.settings import get_settings
    from engine.serve.store import StoreError, open_store

    s = settings or get_settings()
    try:
        store = open_store(s.store_url, s.teacher_token)
    except StoreError:
        store = None
    return RunManager(max_running=s.runs_max, per_owner=s.per_session, store=store, keep_ended=s.keep_ended,
                      paused_minutes=s.paused_minutes, executor=s.executor, ray_address=s.ray_address)


def get_manager() -> RunManager:
    """The process-wide manager (created on first use); caps torch's threads for its concurrency."""
    global _manager
    with _manager_lock:
        if _manager is None:
            from engine.core.device import configure_threads

            _manager = make_manager()
            configure_threads(_manager.max_running)
        return _manager
