"""Many students at once: the cap holds at every instant, every run ends, runs stay with their owners,
and memory comes back when the sessions end."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from engine.core.config import TrainConfig
from engine.serve.manager import RunManager, _free_memory
from engine.serve.store import RunStore
from engine.tools.loadtest import rss_mb, run_loadtest

CAP = 2
STUDENTS = 6
RUNS_EACH = 2
TINY = TrainConfig(weights="scratch", n_classes=3, shots=2, batch_size=6, steps=3, eval_every=3, log_every=1)
MEMORY_SLACK_MB = 32  # allocator noise; the runs themselves are checked exactly with weak references


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # from conftest


def config_of(student: int, k: int) -> TrainConfig:
    return TINY.replace(seed=10 * student + k, extras={"student": f"s{student}", "page": "load"})


def test_many_students_at_once(tmp_path):
    # The reference: the same configs trained one at a time (cap 1) on the manager's own threads. This
    # also renders every task once and warms each thread's first use, so memory is measured after it.
    solo = RunManager(max_running=1, per_owner=RUNS_EACH)
    alone = {(s, k): solo.submit(config_of(s, k), f"s{s}") for s in range(STUDENTS) for k in range(RUNS_EACH)}
    assert all(r.wait(180) for r in alone.values())
    reference = {key: (r.snapshot()["series"]["train_loss"][1], r.results["test_accuracy"]) for key, r in alone.items()}
    del alone
    solo.shutdown()
    # One throw-away round at the class's concurrency first: each new training thread gets its own allocator
    # arena, which the C library keeps (a one-time plateau, not a leak: later rounds add nothing).
    warm = RunManager(max_running=CAP, per_owner=RUNS_EACH)
    assert all(r.wait(180) for r in [warm.submit(config_of(s, k), f"s{s}") for s in range(STUDENTS) for k in range(RUNS_EACH)])
    warm.shutdown()
    del warm
    store = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    manager = RunManager(max_running=CAP, per_owner=RUNS_EACH, store=store)
    _free_memory()
    rss_start = rss_mb()

    runs: dict[tuple[int, int], object] = {}
    lock = threading.Lock()
    go = threading.Barrier(STUDENTS * RUNS_EACH)
    seen = {"max_counted": 0, "max_training": 0}
    stop_watch = threading.Event()

    def student(s: int, k: int) -> None:
        go.wait(30)  # everyone presses Start at the same moment
        run = manager.submit(config_of(s, k), f"s{s}")
        with lock:
            runs[(s, k)] = run

    def watcher() -> None:
        while not stop_watch.is_set():
            with lock:
                live = list(runs.values())
            training = sum(1 for r in live if r.started_at is not None and not r.done)
            seen["max_counted"] = max(seen["max_counted"], manager.running_count())
            seen["max_training"] = max(seen["max_training"], training)
            stop_watch.wait(0.005)

    watch = threading.Thread(target=watcher, daemon=True)
    watch.start()
    threads = [threading.Thread(target=student, args=(s, k), daemon=True) for s in range(STUDENTS) for k in range(RUNS_EACH)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a submit never returned"
    assert len(runs) == STUDENTS * RUNS_EACH
    for r in runs.values():
        assert r.wait(180), "a run never ended"
    stop_watch.set()
    watch.join(10)

    assert seen["max_counted"] == CAP  # the pool was full at some point ...
    assert seen["max_training"] <= CAP  # ... and never over the cap
    assert manager.running_count() == 0 and manager.queued_count() == 0
    assert sorted(r.status for r in runs.values()) == ["finished"] * len(runs)

    for (s, k), run in runs.items():  # each run's numbers are its own: the same as that config trained alone
        snap = run.snapshot()
        assert run.owner == f"s{s}" and snap["config"]["extras"]["student"] == f"s{s}"
        losses, accuracy = reference[(s, k)]
        assert snap["series"]["train_loss"][1] == pytest.approx(losses, rel=1e-5)
        assert snap["results"]["test_accuracy"] == pytest.approx(accuracy)
        assert manager.get(run.id, f"s{(s + 1) % STUDENTS}") is None
        stored = {h["id"] for h in store.runs_of_owner(f"s{s}")}
        assert stored == {runs[(s, j)].id for j in range(RUNS_EACH)}

    refs = [weakref.ref(r) for r in runs.values()]
    for s in range(STUDENTS):
        assert manager.end_session(f"s{s}") == RUNS_EACH
    runs.clear()
    del r, run, snap
    gc.collect()
    assert [w for w in refs if w() is not None] == []  # no run is held any more
    _free_memory()
    assert rss_mb() - rss_start < MEMORY_SLACK_MB
    manager.shutdown()
    store.close()


def test_the_benchmark_load_test_reports_its_figures():
    figures = run_loadtest(students=3, max_running=CAP, spread_s=0.2, poll_s=0.05, probe=None,
                           make_config=lambda i: TINY.replace(seed=i, extras={"page": "loadtest"}))
    assert figures["statuses"] == {"finished": 3}
    assert figures["stored_runs"] == 3 and figures["owners_ok"] is True
    assert 1 <= figures["max_concurrent"] <= CAP
    for key in ("queue_wait_s", "first_point_s", "run_s", "api_ms"):
        assert figures[key]["n"] >= 3, key
    assert figures["peak_rss_mb"] >= figures["rss_start_mb"] > 0
    assert figures["ui_probe"] == "none"
