"""A classroom load test: many simulated students on one server, through the real run manager and store.

Each student is a thread that presses Start at a random moment within `spread_s`, then polls its run
twice a second the way a page's live fragment does, until the run ends. Meanwhile a watcher samples
how many runs train at once and the process memory, and a probe measures how long the UI takes to
answer: any callable given as `probe` (scripts/loadtest.py gives board_probe, the class board
rendered through Streamlit's AppTest; the engine itself never imports Streamlit).

    from engine.tools.loadtest import run_loadtest
    figures = run_loadtest(students=30)      # -> dict, see the end of run_loadtest
"""

from __future__ import annotations

import gc
import os
import platform
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine.core.config import TrainConfig


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; elsewhere the peak from resource)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _stats(values: list[float], scale: float = 1.0, digits: int = 3) -> dict:
    if not values:
        return {"n": 0}
    v = sorted(x * scale for x in values)
    return {
        "n": len(v),
        "median": round(statistics.median(v), digits),
        "p90": round(v[min(len(v) - 1, int(0.9 * len(v)))], digits),
        "max": round(v[-1], digits),
    }


def student_config(i: int, steps: int, seed: int = 0) -> TrainConfig:
    """What student i tries: the three arms of the board at 1, 5 or 10 labels per class."""
    rng = random.Random(seed * 1000 + i)
    arm = rng.choice(["scratch", "feature", "finetune"])
    return TrainConfig(
        weights="scratch" if arm == "scratch" else "pretrained",
        strategy="feature" if arm == "feature" else "finetune",
        shots=rng.choice([1, 5, 10]),
        steps=steps,
        eval_every=max(1, steps // 2),
        log_every=max(1, steps // 4),
        seed=i,
        extras={"page": "loadtest", "label": arm, "student": f"student-{i:02d}"},
    )


def run_loadtest(students: int = 30, steps: int = 20, max_running: int | None = None, spread_s: float = 5.0,
                 poll_s: float = 0.5, probe: Callable[[], None] | None = None, timeout_s: float = 900.0,
                 seed: int = 0, make_config: Callable[[int], TrainConfig] | None = None, executor: str = "threads",
                 ray_address: str = "local") -> dict:
    """Simulate `students` pressing Start within `spread_s` seconds; return the figures as a dict.

    Figures: queue_wait_s (submit -> training starts), first_point_s (submit -> the first loss point a
    poll sees), start_latency_s (training starts -> that first point), update_gap_s (between the step counts a
    poll saw change while running: how often records arrive), run_s (submit -> ended), api_ms (a page's poll: get + snapshot), ui_ms (the probe, e.g.
    a page render, while runs train), peak_rss_mb, max_concurrent (the cap must hold), statuses.
    `make_config(i)` gives student i's experiment (default: student_config, the board's three arms).
    """
    from engine.core.device import configure_threads
    from engine.core.settings import default_max_running
    from engine.serve.manager import RunManager
    from engine.serve.store import RunStore
    from engine.train.experiment import run_experiment

    cap = max_running or default_max_running()
    old_threads = None
    try:
        import torch

        old_threads = torch.get_num_threads()
    except Exception:
        pass
    threads_used = configure_threads(cap)
    tmp = tempfile.TemporaryDirectory()
    store = RunStore(f"sqlite:///{Path(tmp.name) / 'runs.sqlite3'}")
    manager = RunManager(max_running=cap, per_owner=2, store=store, executor=executor, ray_address=ray_address)
    import engine.serve.manager as manager_mod

    previous, manager_mod._manager = manager_mod._manager, manager  # pages rendered by the probe see this server
    probe_fn = probe
    config_of = make_config or (lambda i: student_config(i, steps, seed))

    # Warm up (render the glyph data, load the checkpoint) so the figures are about serving, not first use.
    run_experiment(config_of(0).replace(steps=2, eval_every=1))
    if executor != "threads":  # and every worker process or actor path once
        warm = [manager.submit(config_of(0).replace(steps=2, eval_every=1), f"warm-{k}") for k in range(cap)]
        for w in warm:
            w.wait(300)
    gc.collect()
    rss_start = rss_mb()

    lock = threading.Lock()
    rows: list[dict] = []
    api: list[float] = []
    ui: list[float] = []
    samples = {"max_concurrent": 0, "peak_rss": rss_start}
    done = threading.Event()

    def watcher() -> None:
        while not done.is_set():
            samples["max_concurrent"] = max(samples["max_concurrent"], manager.running_count())
            samples["peak_rss"] = max(samples["peak_rss"], rss_mb())
            time.sleep(0.05)

    def prober() -> None:
        while not done.is_set():
            if manager.running_count() > 0 and probe_fn is not None:
                t0 = time.perf_counter()
                try:
                    probe_fn()
                    ui.append(time.perf_counter() - t0)
                except Exception:
                    pass
            time.sleep(0.5)

    def student(i: int) -> None:
        owner = f"student-{i:02d}"
        rng = random.Random(seed * 7919 + i)
        time.sleep(rng.uniform(0, spread_s))
        t_submit = time.time()
        config = config_of(i)
        run = manager.submit(config.replace(extras={**config.extras, "student": owner}), owner)
        first_point, last_step, last_change, gaps = None, 0, None, []
        deadline = t_submit + timeout_s
        while time.time() < deadline:
            t0 = time.perf_counter()
            mine = manager.get(run.id, owner)
            snap = mine.snapshot() if mine is not None else {}
            manager.queue_position(run)
            with lock:
                api.append(time.perf_counter() - t0)
            if first_point is None and snap.get("series", {}).get("train_loss", ([], []))[0]:
                first_point = time.time() - t_submit
            step = snap.get("step") or 0
            if step != last_step and snap.get("status") == "running":
                now = time.time()
                if last_change is not None:
                    gaps.append(now - last_change)
                last_step, last_change = step, now
            if run.done:
                break
            time.sleep(poll_s)
        with lock:
            rows.append({
                "owner": owner, "status": run.status,
                "queue_wait": (run.started_at - t_submit) if run.started_at else None,
                "first_point": first_point,
                # training start -> the first loss point a poll sees: the executor's start latency
                "start_latency": (first_point - (run.started_at - t_submit)) if first_point and run.started_at else None,
                "update_gaps": gaps,  # seconds between the step counts a poll saw change: how late records arrive
                "run": (run.ended_at or time.time()) - t_submit,
                "series_owner_ok": run.owner == owner and run.config.extras.get("student") == owner,
            })

    t_start = time.time()
    threads = [threading.Thread(target=student, args=(i,), daemon=True) for i in range(students)]
    side = [threading.Thread(target=watcher, daemon=True), threading.Thread(target=prober, daemon=True)]
    for t in side + threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    done.set()
    for t in side:
        t.join(10)
    wall = time.time() - t_start

    stored = store.count()
    board = store.board(page="loadtest")
    for owner in {r["owner"] for r in rows}:
        manager.end_session(owner)
    manager.shutdown()
    manager_mod._manager = previous
    gc.collect()
    rss_end = rss_mb()
    store.close()
    tmp.cleanup()
    if old_threads:
        import torch

        torch.set_num_threads(old_threads)

    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {
        "students": students,
        "steps": steps,
        "max_running": cap,
        "executor": manager.executor.name,
        "torch_threads": threads_used,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}, {_device_line()}",
        "wall_s": round(wall, 1),
        "statuses": statuses,
        "stored_runs": stored,
        "board_cells": len(board),
        "max_concurrent": samples["max_concurrent"],
        "queue_wait_s": _stats([r["queue_wait"] for r in rows if r["queue_wait"] is not None]),
        "first_point_s": _stats([r["first_point"] for r in rows if r["first_point"] is not None]),
        "start_latency_s": _stats([r["start_latency"] for r in rows if r["start_latency"] is not None]),
        "update_gap_s": _stats([g for r in rows for g in r["update_gaps"]]),
        "run_s": _stats([r["run"] for r in rows]),
        "api_ms": _stats(api, 1000.0, 2),
        "ui_ms": _stats(ui, 1000.0, 1),
        "ui_probe": getattr(probe_fn, "__doc__", None) or "custom" if probe_fn is not None else "none",
        "rss_start_mb": round(rss_start, 1),
        "peak_rss_mb": round(samples["peak_rss"], 1),
        "rss_end_mb": round(rss_end, 1),
        "owners_ok": all(r["series_owner_ok"] for r in rows),
    }


def _device_line() -> str:
    try:
        from engine.core.device import describe

        return describe()
    except Exception:
        return "unknown device"


if __name__ == "__main__":
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    print(json.dumps(run_loadtest(students=n), indent=2))
