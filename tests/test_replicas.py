"""Two app replicas, one store: a run trained by one replica is found, followed, paused and stopped from the other.

Each test runs against SQLite (two managers on one file) and against a real PostgreSQL (tests/pg.py).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from types import SimpleNamespace

import pytest

from engine.core.config import TrainConfig
from engine.serve import replicas
from engine.serve.manager import RunManager
from engine.serve.store import RunStore
from engine.train.trainer import Callback

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # from conftest

TINY = TrainConfig(weights="scratch", n_classes=3, shots=2, batch_size=6, steps=30, eval_every=10, log_every=2,
                   extras={"page": "hour01", "label": "from scratch"})


class Slow(Callback):
    """A short sleep before each step, so a tiny run stays live long enough to watch from elsewhere."""

    def before_step(self, t):
        time.sleep(0.05)


@pytest.fixture
def pair(store_url):
    """(replica A, replica B): two run managers, each with its own connection to one store (SQLite, PostgreSQL)."""
    managers = [RunManager(max_running=1, store=RunStore(store_url), share_live=True) for _ in range(2)]
    yield managers
    for m in managers:
        m.shutdown()
        m.store.close()


@pytest.fixture
def store(store_url):
    """One run store (SQLite or a real PostgreSQL), for LiveRecords written and read directly."""
    s = RunStore(store_url)
    yield s
    s.close()


def snapshot(run_id="r1", status="running", step=3, **more) -> dict:
    return {"id": run_id, "status": status, "step": step, "series": {"train_loss": ([1, 2, 3][:step], [2.0] * step)},
            "config": {"extras": {"page": "hour01", "label": "x"}}, **more}


def age(store, run_id, seconds) -> None:
    """As if the run's row had last been written `seconds` ago."""
    with store._tx() as cur:
        cur.execute("UPDATE live_runs SET updated = ? WHERE id = ?", (time.time() - seconds, run_id))


class Hold(Callback):
    """Holds the run before each step until `gate` is set (at most 30 s a step): a run that stays live."""

    def __init__(self):
        self.gate = threading.Event()

    def before_step(self, t):
        self.gate.wait(30)


def wait_until(cond, timeout=30.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_a_run_on_one_replica_is_followed_from_the_other_and_then_found_stored(pair):
    a, b = pair
    run = a.submit(TINY, "student-1", extra_callbacks=[Slow()])
    assert wait_until(lambda: a.publish_once() >= 0 and (b.find(run.id, "student-1") or {}).get("step", 0) >= 4)
    [found] = b.live_runs_of("student-1", "hour01")
    assert (found["id"], found["label"], found["config"]["steps"]) == (run.id, "from scratch", 30)
    snap = b.find(run.id, "student-1")
    assert snap["status"] == "running" and snap["series"]["train_loss"][0][0] == 1
    assert b.find(run.id, "someone-else") is None and b.live_runs_of("someone-else", "hour01") == []
    assert b.live_runs_of("student-1", "hour02") == []
    assert run.wait(60) and run.status == "finished"
    assert wait_until(lambda: b.find(run.id, "student-1")["status"] == "finished")
    final = b.find(run.id, "student-1")  # the stored record answers now, with the whole series
    assert final["status"] == "finished" and final["results"]["test_accuracy"] == run.results["test_accuracy"]
    assert final["series"]["train_loss"] == run.snapshot()["series"]["train_loss"]
    assert b.live_runs_of("student-1", "hour01") == []
    assert a.store._query("SELECT COUNT(*) AS n FROM live_runs")[0]["n"] == 0


def test_pause_resume_and_stop_from_the_other_replica_reach_the_run(pair):
    a, b = pair
    run = a.submit(TINY.replace(steps=400), "student-2", extra_callbacks=[Slow()])
    assert wait_until(lambda: a.publish_once() >= 0 and (b.find(run.id, "student-2") or {}).get("status") == "running")
    assert b.pause(run.id, "student-2") is True
    assert b.pause(run.id, "someone-else") is False  # not theirs: refused like an unknown id
    a.publish_once()  # the training replica picks the request up on its next publish
    assert wait_until(lambda: run.status == "paused")
    assert wait_until(lambda: a.publish_once() >= 0 and b.find(run.id, "student-2")["status"] == "paused")
    assert b.resume(run.id, "student-2") is True
    a.publish_once()
    assert wait_until(lambda: run.status == "running")
    assert b.stop(run.id, "student-2") is True
    a.publish_once()
    assert run.wait(30) and run.status == "stopped"
    assert wait_until(lambda: b.find(run.id, "student-2")["status"] == "stopped")  # once A has recorded it
    assert b.stop(run.id, "student-2") is False  # nothing live any more to stop


def test_a_replica_that_stops_answering_leaves_a_run_that_reads_as_lost(pair):
    a, b = pair
    hold = Hold()
    run = a.submit(TINY, "student-3", extra_callbacks=[hold])
    assert wait_until(lambda: a.publish_once() >= 0 and b.find(run.id, "student-3") is not None)
    with a.store._tx() as cur:  # as if replica A had died a minute ago
        cur.execute("UPDATE live_runs SET updated = ? WHERE id = ?", (time.time() - 60, run.id))
    snap = b.find(run.id, "student-3")
    assert (snap["status"], snap["message"]) == ("failed", replicas.LOST)
    assert b.live_runs_of("student-3", "hour01") == []
    hold.gate.set()
    a.stop(run.id, "student-3")
    run.wait(30)


def test_a_run_watched_from_another_replica_is_not_reaped_when_its_first_tab_is_gone(pair):
    a, b = pair
    hold = Hold()
    run = a.submit(TINY, "student-4", extra_callbacks=[hold])
    a.is_alive = lambda owner: False  # replica A no longer has a tab of this student
    assert wait_until(lambda: a.publish_once() >= 0 and b.find(run.id, "student-4") is not None)  # B shows it
    assert a.reap_once() == [] and not run.done
    with a.store._tx() as cur:  # nobody has looked at it for two minutes
        cur.execute("UPDATE live_runs SET watched = ? WHERE id = ?", (time.time() - 120, run.id))
    assert a.reap_once() == ["student-4"]
    hold.gate.set()
    assert run.wait(30) and run.status == "stopped"


def test_a_failed_run_keeps_its_last_snapshot_for_the_other_replica(pair):
    a, b = pair
    run = a.submit(TINY.replace(dataset="folder:/nonexistent/folder"), "student-5")
    assert run.wait(60) and run.status == "failed"
    assert wait_until(lambda: b.find(run.id, "student-5") is not None)  # once A has published its end
    snap = b.find(run.id, "student-5")
    assert snap["status"] == "failed" and snap["message"] == run.message


def test_without_sharing_nothing_is_published(tmp_path):
    m = RunManager(max_running=1, store=RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}"))
    try:
        assert m.live is None and m.publish_once() == 0  # one server on SQLite: no live table traffic
    finally:
        m.shutdown()


def test_published_snapshots_are_written_only_when_they_change(tmp_path):
    store = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    live = replicas.LiveRecords(store, "replica-a")
    snap = {"id": "r1", "status": "running", "step": 3, "series": {"train_loss": ([1, 2, 3], [2.0, 1.5, 1.2])},
            "config": {"extras": {"page": "hour01", "label": "x"}}}
    assert live.publish([(snap, "s")]) == 1
    assert live.publish([(snap, "s")]) == 0
    assert live.publish([({**snap, "step": 4}, "s")]) == 1
    row = store._query("SELECT owner, page, label, replica, snapshot_json FROM live_runs")[0]
    assert (row["owner"], row["page"], row["label"], row["replica"]) == ("s", "hour01", "x", "replica-a")
    assert json.loads(row["snapshot_json"])["step"] == 4
    with pytest.raises(ValueError, match=re.escape("unknown action 'jump'; choose pause, resume or stop.")):
        live.request("r1", "s", "jump")


def test_the_other_replica_takes_up_a_whole_experiment_with_the_runs_of_it_that_already_ended(pair):
    a, b = pair
    hold = Hold()
    tagged = TINY.replace(extras={**TINY.extras, "experiment": "exp-1"})
    done = a.submit(tagged, "student-5")  # this experiment's first run ends before the student moves
    assert done.wait(60) and done.status == "finished"
    other = a.submit(TINY.replace(steps=40, extras={**TINY.extras, "label": "pretrained"}), "student-5")
    assert other.wait(60)  # an earlier experiment's run on the same page: not taken up
    live = a.submit(tagged.replace(extras={**tagged.extras, "label": "pretrained"}), "student-5",
                    extra_callbacks=[hold])
    try:
        assert wait_until(lambda: a.publish_once() >= 0 and b.find(live.id, "student-5") is not None)
        found = b.live_experiment_of("student-5", "hour01")
        assert [(f["id"], f["label"]) for f in found] == [(done.id, "from scratch"), (live.id, "pretrained")]
        assert b.find(done.id, "student-5")["status"] == "finished"  # from the store
        assert a.live_experiment_of("student-5", "hour01") == [
            {k: f[k] for k in ("id", "label", "config", "created")} for f in found]
        assert b.live_experiment_of("student-5", "hour02") == [] and b.live_experiment_of("someone", "hour01") == []
    finally:
        hold.gate.set()
        a.stop(live.id, "student-5")
        live.wait(30)
    assert wait_until(lambda: a.publish_once() >= 0 and b.live_experiment_of("student-5", "hour01") == [])


def test_a_stop_written_while_the_requests_are_taken_is_not_wiped(store, monkeypatch):
    live = replicas.LiveRecords(store, "replica-a")
    live.publish([(snapshot(), "s")])
    assert replicas.LiveRecords(store, "replica-b").request("r1", "s", "pause") is True
    real_tx, raced = store._tx, []

    class Racing:
        """The replica's cursor, with a Stop from another replica landing between its read and its clearing."""

        def __init__(self, cur):
            self._cur = cur

        def execute(self, sql, params=()):
            return self._cur.execute(sql, params)

        def fetchall(self):
            rows = self._cur.fetchall()
            if not raced:
                raced.append(True)
                self._cur.execute("UPDATE live_runs SET request = 'stop' WHERE id = 'r1'")
            return rows

        def __getattr__(self, name):
            return getattr(self._cur, name)

    @contextlib.contextmanager
    def racing_tx():
        with real_tx() as cur:
            yield Racing(cur)

    monkeypatch.setattr(store, "_tx", racing_tx)
    assert live.requests() == [("r1", "s", "pause")]
    monkeypatch.setattr(store, "_tx", real_tx)
    assert live.requests() == [("r1", "s", "stop")]  # taken on the next publish, not lost
    assert live.requests() == []


def test_a_live_snapshot_taken_before_the_end_does_not_overwrite_it(store):
    live = replicas.LiveRecords(store, "replica-a")
    assert live.publish([(snapshot(step=2), "s")]) == 1
    late = snapshot(step=3)  # taken by the publisher just before the run failed, written just after
    assert live.publish([(snapshot(status="failed", message="out of memory."), "s")]) == 1
    assert live.publish([(late, "s")]) == 0
    age(store, "r1", replicas.STALE_SECONDS + 5)  # nobody heartbeats an ended run
    snap = replicas.LiveRecords(store, "replica-b").get("r1", "s")
    assert (snap["status"], snap["message"]) == ("failed", "out of memory.")


def test_rows_a_crashed_replica_left_are_purged_and_memory_stays_bounded(store, monkeypatch):
    a, b = replicas.LiveRecords(store, "replica-a"), replicas.LiveRecords(store, "replica-b")
    b.publish([(snapshot("crashed"), "s")])  # replica B then dies: its row says running for good
    a.publish([(snapshot("ended"), "s")])
    a.publish([(snapshot("ended", status="failed", message="boom."), "s")])
    a.publish([(snapshot("recorded"), "s")])
    a.forget("recorded")
    a.publish([(snapshot("training"), "s")])
    later = time.time() + replicas.KEEP_ENDED_SECONDS + 60
    with store._tx() as cur:  # only the run still training was kept current
        cur.execute("UPDATE live_runs SET updated = ? WHERE id = 'training'", (later,))
    monkeypatch.setattr(replicas, "time", SimpleNamespace(time=lambda: later))
    a.publish([])
    assert [r["id"] for r in store._query("SELECT id FROM live_runs ORDER BY id")] == ["training"]
    assert set(a._published) == {"training"}
    assert "recorded" not in a._forgotten and "ended" not in a._ended


def test_a_request_for_a_run_nobody_trains_any_more_is_refused(store):
    replicas.LiveRecords(store, "replica-a").publish([(snapshot(), "s")])
    other = replicas.LiveRecords(store, "replica-b")
    age(store, "r1", replicas.STALE_SECONDS + 5)  # replica A has stopped answering
    assert other.request("r1", "s", "stop") is False
    assert store._query("SELECT request FROM live_runs")[0]["request"] is None
    age(store, "r1", 0)
    assert other.request("r1", "s", "stop") is True


def test_a_lost_snapshot_is_not_kept_as_the_end_of_the_run_in_the_tab(monkeypatch):
    from lessons import experiments

    registry = {"r1": {"page": "hour01", "label": "x", "final": None}}
    manager = SimpleNamespace(get=lambda run_id, owner: None,
                              find=lambda run_id, owner: manager.answer)
    monkeypatch.setattr(experiments, "_registry", lambda: registry)
    monkeypatch.setattr(experiments, "_manager", lambda: manager)
    monkeypatch.setattr(experiments, "owner_id", lambda: "s")
    manager.answer = {"id": "r1", "status": "failed", "message": replicas.LOST}  # the store hiccuped for 30 s
    assert experiments._snapshot("r1")[0]["message"] == replicas.LOST
    assert registry["r1"]["final"] is None
    manager.answer = {"id": "r1", "status": "running", "message": ""}  # and answers again: the run trains on
    assert experiments._snapshot("r1")[0]["status"] == "running"
    manager.answer = {"id": "r1", "status": "stopped", "message": ""}
    assert experiments._snapshot("r1")[0]["status"] == "stopped" and registry["r1"]["final"]["status"] == "stopped"
