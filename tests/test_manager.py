"""The run manager: the cap, the FIFO queue and cancel, owners, the per-session limit, the reaper, the store."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from engine.core.config import ConfigError, TrainConfig
from engine.core.settings import Settings, default_max_running, load_settings
from engine.serve.manager import PAUSED_TOO_LONG, RunManager
from engine.serve.store import RunStore
from engine.train.trainer import Callback, CancelFit

TINY = TrainConfig(weights="scratch", n_classes=3, shots=2, batch_size=6, steps=4, eval_every=4, log_every=2)


class Gate(Callback):
    """Holds the run before its first step until the test opens the gate (or the run is stopped)."""

    def __init__(self):
        self.open = threading.Event()
        self.reached = threading.Event()

    def before_step(self, t):
        self.reached.set()
        end = time.time() + 30
        while not self.open.wait(0.02) and time.time() < end:
            if self.run is not None and self.run._stop.is_set():
                raise CancelFit("stopped")

    run = None


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # from conftest


def wait_until(cond, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def manager():
    m = RunManager(max_running=1, per_owner=3)
    yield m
    m.shutdown()


def test_fifo_queue_with_positions_and_cancel(manager):
    gate = Gate()
    first = manager.submit(TINY, "ann", extra_callbacks=[gate])
    gate.run = first
    second = manager.submit(TINY.replace(seed=1), "ben")
    third = manager.submit(TINY.replace(seed=2), "cat")
    assert gate.reached.wait(30)
    assert manager.running_count() == 1 and manager.queued_count() == 2
    assert [manager.queue_position(r) for r in (first, second, third)] == [None, 1, 2]
    assert second.status == "queued"

    assert manager.stop(second.id, "ben")  # cancel while waiting: leaves the queue at once
    assert second.done and second.status == "stopped"
    assert manager.queue_position(third) == 1

    gate.open.set()
    assert first.wait(30) and third.wait(30)
    assert (first.status, third.status) == ("finished", "finished")
    assert first.started_at <= third.started_at
    assert second.started_at is None  # a cancelled run never trained
    assert manager.running_count() == 0 and manager.queued_count() == 0


def test_another_session_cannot_see_pause_or_stop_a_run(manager):
    gate = Gate()
    run = manager.submit(TINY, "ann", extra_callbacks=[gate])
    gate.run = run
    assert gate.reached.wait(30)
    assert manager.get(run.id, "mallory") is None
    assert manager.stop(run.id, "mallory") is False
    assert manager.pause(run.id, "mallory") is False
    assert manager.resume(run.id, "mallory") is False
    assert manager.runs_of("mallory") == []
    assert manager.get(run.id, "ann") is run and manager.runs_of("ann") == [run]
    assert not run.done and run.status == "running"
    gate.open.set()
    assert run.wait(30) and run.status == "finished"


def test_pause_and_resume_through_the_manager(manager):
    gate = Gate()
    run = manager.submit(TINY.replace(steps=3), "ann", extra_callbacks=[gate])
    gate.run = run
    assert gate.reached.wait(30)
    assert manager.pause(run.id, "ann")
    gate.open.set()
    assert wait_until(lambda: run.status == "paused")
    step = run.snapshot()["step"]
    assert step <= 1
    assert manager.resume(run.id, "ann")
    assert run.wait(30) and run.status == "finished" and run.snapshot()["step"] == 3


def test_per_session_limit_on_live_runs():
    m = RunManager(max_running=1, per_owner=2)
    gate = Gate()
    try:
        gate.run = m.submit(TINY, "ann", extra_callbacks=[gate])
        m.submit(TINY, "ann")
        limit = r"^you already have 2 runs training or waiting \(the limit is 2\): stop one first.$"
        with pytest.raises(ConfigError, match=limit):
            m.submit(TINY, "ann")
        other = m.submit(TINY, "ben")  # the limit is per session, not for the room
        assert m.queue_position(other) == 2
        with pytest.raises(ConfigError, match=r"^a run needs an owner \(the browser session that starts it\).$"):
            m.submit(TINY, "")
        with pytest.raises(ConfigError, match=r"^labels per class must be at least 1 \(got 0\)"):
            m.submit(TINY.replace(shots=0), "cat")
    finally:
        gate.open.set()
        m.shutdown()


def test_reaper_stops_and_forgets_the_runs_of_a_closed_tab():
    m = RunManager(max_running=1, per_owner=3)
    alive = {"ann", "ben"}
    m.is_alive = lambda owner: owner in alive
    gate = Gate()
    gone_run = m.submit(TINY, "ann", extra_callbacks=[gate])
    gate.run = gone_run
    waiting = m.submit(TINY, "ann")
    other = m.submit(TINY.replace(seed=3), "ben")
    assert gate.reached.wait(30)
    ref_run = weakref.ref(gone_run)
    ref_model = weakref.ref(gone_run.trainer.model)
    try:
        alive.discard("ann")  # ann's tab closed and the disconnect timeout passed
        assert m.reap_once() == ["ann"]
        assert gone_run.done and gone_run.status == "stopped"
        assert waiting.done and waiting.status == "stopped"
        assert m.runs_of("ann") == [] and m.get(gone_run.id, "ann") is None
        assert other.wait(30) and other.status == "finished"  # ben is untouched
        assert m.reaped == 1
        del gone_run, waiting
        gate.run = None
        gc.collect()
        assert ref_run() is None and ref_model() is None  # nothing holds ann's run or model any more
    finally:
        gate.open.set()
        m.shutdown()


def test_the_reaper_thread_runs_on_its_own_and_survives_a_failing_check():
    m = RunManager(max_running=1, per_owner=3)
    calls = []

    def is_alive(owner):
        calls.append(owner)
        if owner == "odd":
            raise RuntimeError("cannot tell")  # when in doubt, keep the runs
        return owner != "gone"

    gate = Gate()
    keep = m.submit(TINY, "odd", extra_callbacks=[gate])
    gate.run = keep
    drop = m.submit(TINY, "gone")
    others = {t for t in threading.enumerate() if t.name == "run-reaper"}  # e.g. the app's own manager, from page tests
    m.set_liveness(is_alive, interval=0.02)
    m.set_liveness(is_alive, interval=0.02)  # idempotent: still one reaper
    try:
        assert wait_until(lambda: m.runs_of("gone") == [])
        assert drop.status == "stopped" and not keep.done
        assert {t for t in threading.enumerate() if t.name == "run-reaper"} - others == {m._reaper}
    finally:
        gate.open.set()
        m.shutdown()
    assert keep.status in ("finished", "stopped")


def test_a_long_pause_is_stopped_only_when_others_wait():
    m = RunManager(max_running=1, per_owner=3, paused_minutes=0)
    gate = Gate()
    paused = m.submit(TINY, "ann", extra_callbacks=[gate])
    gate.run = paused
    assert gate.reached.wait(30)
    paused.pause()
    gate.open.set()
    try:
        assert wait_until(lambda: paused.status == "paused")
        m.reap_once()
        assert not paused.done  # nobody waits: a pause may last
        waiting = m.submit(TINY, "ben")
        m.reap_once()
        assert paused.wait(30) and paused.status == "stopped"
        assert PAUSED_TOO_LONG.format(minutes=0) in paused.snapshot()["warnings"]
        assert waiting.wait(30) and waiting.status == "finished"
    finally:
        m.shutdown()


def test_ended_runs_are_recorded_and_old_ones_leave_memory(tmp_path):
    store = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    m = RunManager(max_running=1, per_owner=3, store=store, keep_ended=2)
    try:
        runs = []
        for seed in range(3):
            r = m.submit(TINY.replace(seed=seed, extras={"page": "hour01"}), "ann")
            assert r.wait(30)
            runs.append(r)
        assert wait_until(lambda: store.count() == 3)
        assert [r.id for r in m.runs_of("ann")] == [runs[1].id, runs[2].id]  # only the last 2 kept in memory
        history = m.history("ann", page="hour01")
        assert [h["id"] for h in history] == [r.id for r in reversed(runs)]
        assert history[0]["series"]["train_loss"] == runs[2].snapshot()["series"]["train_loss"]
        assert m.history("ben") == []
    finally:
        m.shutdown()


def test_settings_from_toml_then_environment(tmp_path):
    f = tmp_path / "classroom.toml"
    f.write_text('data_dir = "class-data"\nmax_running = 3\nteacher_token = "t"\nper_session = 2\n')
    s = load_settings(f, env={"CLASSROOM_MAX_RUNS": "5", "CLASSROOM_TEACHER_TOKEN": "", "CLASSROOM_PAUSED_MINUTES": "2.5"})
    assert s.data_dir == tmp_path / "class-data"
    assert (s.runs_max, s.per_session, s.teacher_token, s.paused_minutes) == (5, 2, "t", 2.5)
    assert s.store_url == f"sqlite:///{tmp_path / 'class-data' / 'runs.sqlite3'}"
    assert load_settings(tmp_path / "none.toml", env={"CLASSROOM_DATABASE_URL": "postgresql://h/db"}).store_url == "postgresql://h/db"
    assert Settings().runs_max == default_max_running() >= 1
    with pytest.raises(ConfigError, match=r"^setting max_running from CLASSROOM_MAX_RUNS must be a number \(got 'many'\).$"):
        load_settings(f, env={"CLASSROOM_MAX_RUNS": "many"})
    f.write_text("max_runs = 3\n")
    with pytest.raises(ConfigError, match=r"^unknown setting 'max_runs' in classroom.toml; known: data_dir, "):
        load_settings(f, env={})


def test_is_alive_keeps_runs_when_there_is_no_streamlit_server():
    from lessons.session import is_alive

    assert is_alive("any-session-id") is True


def test_is_alive_asks_the_streamlit_runtime(monkeypatch):
    """Connected: alive. Disconnected but still inside the server's TTL: alive. Gone from both: not."""
    from streamlit import runtime

    from lessons.session import is_alive

    class Sessions:
        def get_session_info(self, sid):
            return object() if sid == "waiting-to-reconnect" else None

    class FakeRuntime:
        _session_mgr = Sessions()

        def is_active_session(self, sid):
            return sid == "connected"

    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(runtime, "get_instance", lambda: FakeRuntime())
    assert [is_alive(s) for s in ("connected", "waiting-to-reconnect", "closed")] == [True, True, False]


@pytest.mark.parametrize("cores, expected", [(1, 2), (2, 2), (3, 2), (8, 4), (16, 8)])
def test_the_default_cap_lets_a_lessons_pair_train_side_by_side(monkeypatch, cores, expected):
    import torch

    import engine.core.settings

    monkeypatch.setattr(engine.core.settings.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_max_running() == expected
