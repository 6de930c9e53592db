"""The run store: runs survive a restart, one transaction per run, the board, the teacher's token."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.serve import store as store_mod
from engine.serve.store import SAVE_FAILED, RunStore, StoreError, arm_of

ROOT = Path(__file__).resolve().parents[1]


def snap(run_id, arm="finetune", shots=5, acc=0.5, status="finished", page="hour10", series=None):
    config = {
        "weights": "scratch" if arm == "scratch" else "pretrained",
        "strategy": "feature" if arm == "feature" else "finetune",
        "shots": shots,
        "domain_shift": 0.0,
        "extras": {"page": page, "label": arm},
    }
    return {
        "id": run_id, "status": status, "message": "", "step": 3, "config": config, "warnings": [],
        "results": {"test_accuracy": acc, "val_loss": float("nan")},
        "series": series if series is not None else {"train_loss": ([1, 2, 3], [2.0, 1.5, 1.0])},
        "elapsed": 1.0,
    }


@pytest.fixture
def url(store_url):
    """Each test here runs against SQLite and against a real PostgreSQL (conftest.store_url)."""
    return store_url


def test_runs_survive_a_restart_and_stay_with_their_owner(url):
    s = RunStore(url)
    s.save(snap("a1", series={"train_loss": ([1, 2], [2.0, float("nan")]), "lr/head": ([0], [1e-3])}), "alice")
    s.save(snap("b1"), "bob")
    s.close()

    s2 = RunStore(url)  # a new server process opens the same file
    assert s2.count() == 2
    mine = s2.runs_of_owner("alice")
    assert [r["id"] for r in mine] == ["a1"]
    assert mine[0]["series"] == {"train_loss": ([1, 2], [2.0, None]), "lr/head": ([0], [0.001])}  # NaN -> None
    assert mine[0]["results"] == {"test_accuracy": 0.5, "val_loss": None}
    assert mine[0]["page"] == "hour10" and mine[0]["label"] == "finetune" and mine[0]["arm"] == "fine-tune"
    assert s2.get("a1", "alice")["owner"] == "alice"
    assert s2.get("a1", "bob") is None  # another session cannot read it by guessing the id
    assert s2.runs_of_owner("alice", page="hour03") == []
    if s2.kind == "sqlite":
        assert s2._query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"


def test_board_aggregates_by_strategy_and_labels_per_class(url):
    s = RunStore(url)
    s.save(snap("1", "scratch", 1, 0.25), "a")
    s.save(snap("2", "scratch", 1, 0.75), "b")
    s.save(snap("3", "feature", 1, 0.5), "a")
    s.save(snap("4", "finetune", 5, 0.9), "c")
    s.save(snap("5", "finetune", 5, None, status="diverged"), "c")
    s.save(snap("6", "finetune", 5, 0.1, status="stopped"), "c")  # stopped early: not on the board
    s.save(snap("7", "feature", 20, 0.8, page="hour03"), "d")
    assert s.board(page="hour10") == [
        {"arm": "from scratch", "shots": 1, "mean": 0.5, "n": 2, "diverged": 0},
        {"arm": "frozen features", "shots": 1, "mean": 0.5, "n": 1, "diverged": 0},
        {"arm": "fine-tune", "shots": 5, "mean": 0.9, "n": 1, "diverged": 1},
    ]
    assert len(s.board()) == 4
    assert s.pages() == ["hour03", "hour10"]
    assert [r["id"] for r in s.all_runs()] == ["7", "6", "5", "4", "3", "2", "1"]


def test_only_the_teacher_token_clears_the_board_and_students_keep_their_runs(url):
    no_token = RunStore(url)
    no_token.save(snap("1"), "a")
    with pytest.raises(PermissionError, match=r"^clearing the board is switched off: the teacher sets CLASSROOM_TEACHER_TOKEN"):
        no_token.clear_board("")
    s = RunStore(url, teacher_token="s3cret")
    with pytest.raises(PermissionError, match=r"^that teacher token is not right: the board was not cleared\.$"):
        s.clear_board("guess")
    assert len(s.board()) == 1
    assert s.clear_board("s3cret") == 1
    assert s.board() == []
    assert [r["id"] for r in s.runs_of_owner("a")] == ["1"]  # the student's own history stays
    time.sleep(0.01)
    s.save(snap("2", shots=10), "a")
    assert s.board() == [{"arm": "fine-tune", "shots": 10, "mean": 0.5, "n": 1, "diverged": 0}]
    assert RunStore(url, teacher_token="s3cret").board() == s.board()  # the clearing survives a restart


def test_a_failed_write_leaves_nothing_half_written(url, monkeypatch):
    s = RunStore(url)
    s.save(snap("ok"), "a")
    real = store_mod._plain

    def fail_on_series(x):  # the run row is already inserted when the series fails
        if isinstance(x, list) and x == [2.0, 1.5, 1.0]:
            raise OSError(28, "No space left on device")
        return real(x)

    monkeypatch.setattr(store_mod, "_plain", fail_on_series)
    with pytest.raises(StoreError, match=f"^{re.escape(SAVE_FAILED)}$"):
        s.save(snap("half"), "a")
    monkeypatch.setattr(store_mod, "_plain", real)
    assert [r["id"] for r in s.all_runs()] == ["ok"]
    assert s._query("SELECT COUNT(*) AS n FROM series WHERE run_id = 'half'")[0]["n"] == 0


def test_a_crash_mid_write_loses_at_most_the_run_in_progress(tmp_path):
    """Kill a writer process with SIGKILL while it saves runs as fast as it can: every kept run is whole."""
    db = tmp_path / "runs.sqlite3"
    _kill_mid_write(f"sqlite:///{db}")
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    runs = conn.execute("SELECT id FROM runs").fetchall()
    assert len(runs) >= 4
    per_run = dict(conn.execute("SELECT run_id, COUNT(*) FROM series GROUP BY run_id").fetchall())
    assert all(per_run.get(r) == 20 for (r,) in runs)  # no run without all of its series
    assert set(per_run) == {r for (r,) in runs}  # no series without its run


def test_a_postgresql_url_without_psycopg_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed: `import psycopg` fails
    with pytest.raises(StoreError, match=r'^a PostgreSQL database_url needs psycopg: pip install "psycopg\[binary\]".$'):
        RunStore("postgresql://teacher@localhost/classroom")


def test_an_unwritable_data_folder_is_one_sentence(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match=r"^cannot open the run store at .*: check data_dir in the settings\.$"):
        RunStore(f"sqlite:///{blocker / 'runs.sqlite3'}")


def test_arm_names():
    assert arm_of({"weights": "scratch", "strategy": "finetune"}) == "from scratch"
    assert arm_of({"weights": "pretrained", "strategy": "feature"}) == "frozen features"
    assert arm_of({"weights": "pretrained", "strategy": "finetune"}) == "fine-tune"


def test_the_board_page_shows_the_heatmap_and_only_the_token_clears_it(url, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import engine.serve.manager as manager_mod
    from engine.serve.manager import RunManager

    s = RunStore(url, teacher_token="s3cret")
    s.save(snap("1", "scratch", 1, 0.25), "a")
    s.save(snap("2", "feature", 1, 0.75), "b")
    s.save(snap("3", "feature", 1, 0.25, page="hour03"), "b")
    monkeypatch.setattr(manager_mod, "_manager", RunManager(max_running=1, store=s))

    at = AppTest.from_file(str(ROOT / "views" / "board.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Class board"
    assert at.selectbox[0].options == ["all pages", "hour03", "hour10"]
    assert [c.value for c in at.caption] == [
        "Training now: 0 of 1 slots, 0 waiting.",
        "3 finished runs. Each cell: mean test accuracy and how many runs it averages.",
    ]
    at.selectbox[0].select("hour10").run()
    assert at.caption[1].value.startswith("2 finished runs.")

    at.text_input[0].input("guess")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["That teacher token is not right: the board was not cleared."]
    assert sum(c["n"] for c in s.board()) == 3

    at.text_input[0].input("s3cret")
    at.button[0].click().run()
    assert not at.exception
    assert [m.value for m in at.success] == ["The board is cleared (3 runs); students keep their own earlier runs."]
    assert [i.value for i in at.info] == ["No finished runs on the board yet: finished runs from every student land here."]
    assert s.board() == [] and s.count() == 3


def test_board_heatmap_cells():
    from views.board import board_figure

    fig = board_figure([
        {"arm": "fine-tune", "shots": 5, "mean": 0.9, "n": 2, "diverged": 1},
        {"arm": "from scratch", "shots": 1, "mean": 0.5, "n": 3, "diverged": 0},
    ])
    heat = fig.data[0]
    assert list(heat.y) == ["from scratch", "fine-tune"] and list(heat.x) == ["1", "5"]
    assert [list(r) for r in heat.z] == [[0.5, None], [None, 0.9]]
    assert heat.text[0][0] == "50%<br>n=3" and heat.text[1][1] == "90%<br>n=2, 1 diverged"


def test_a_stored_run_reads_back_as_the_snapshot_it_was(tmp_path):
    from engine.core.config import TrainConfig
    from engine.serve.run import Run

    run = Run(TrainConfig(steps=4, eval_every=2, log_every=2, shots=2, batch_size=8, extras={"page": "hour02", "label": "a"}),
              owner="s1").start()
    assert run.wait(120) and run.status == "finished"
    live = run.snapshot()
    s = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}")
    assert s.record(run)
    [record] = s.runs_of_owner("s1")
    back = store_mod.as_snapshot(record)
    assert back["series"] == live["series"]
    assert back["groups"] == live["groups"] == ["stem", "block1", "block2", "block3", "head"]
    assert (back["id"], back["status"], back["step"], back["steps"]) == (live["id"], "finished", 4, 4)
    assert back["config"] == live["config"]
    assert back["results"]["test_accuracy"] == live["results"]["test_accuracy"]
    assert back["elapsed"] == pytest.approx(live["elapsed"], abs=1e-6)


WRITER = """
import sys; sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from engine.serve.store import RunStore
from test_store import snap
s = RunStore({url!r})
series = {{f"drift/g{{k}}": (list(range(300)), [0.5] * 300) for k in range(20)}}
for i in range({n}):
    s.save(snap(f"{{sys.argv[1]}}-{{i}}", shots=1 + i % 3, series=series), sys.argv[1])
    if i == 3:
        print("ready", flush=True)
print("done", flush=True)
"""


def _writer(url: str, name: str, n: int) -> subprocess.Popen:
    code = WRITER.format(root=str(ROOT), tests=str(Path(__file__).parent), url=url, n=n)
    return subprocess.Popen([sys.executable, "-c", code, name], stdout=subprocess.PIPE, text=True)


def _kill_mid_write(url: str) -> None:
    """A writer saving runs as fast as it can, killed with SIGKILL a moment after its fourth run."""
    proc = _writer(url, "killed", 100_000)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def test_two_processes_writing_to_one_postgresql_lose_and_duplicate_nothing(postgres):
    if isinstance(postgres, str):
        pytest.skip(f"no PostgreSQL here: {postgres}")
    url = postgres.new_database()
    RunStore(url).close()  # the schema, once, before the writers race
    procs = [_writer(url, name, 40) for name in ("east", "west")]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0 and out.split()[-1] == "done"
    s = RunStore(url)
    assert s.count() == 80
    assert [len(s.runs_of_owner(o, limit=100)) for o in ("east", "west")] == [40, 40]
    assert sum(c["n"] for c in s.board()) == 80  # the class board counts each run once
    per_run = {r["run_id"]: r["n"] for r in s._query("SELECT run_id, COUNT(*) AS n FROM series GROUP BY run_id")}
    assert len(per_run) == 80 and set(per_run.values()) == {20}


def test_a_writer_killed_mid_write_to_postgresql_loses_at_most_its_run_in_progress(postgres):
    if isinstance(postgres, str):
        pytest.skip(f"no PostgreSQL here: {postgres}")
    url = postgres.new_database()
    RunStore(url).close()
    _kill_mid_write(url)
    s = RunStore(url)
    runs = {r["id"] for r in s._query("SELECT id FROM runs")}
    per_run = {r["run_id"]: r["n"] for r in s._query("SELECT run_id, COUNT(*) AS n FROM series GROUP BY run_id")}
    assert len(runs) >= 4 and set(per_run) == runs and set(per_run.values()) == {20}  # whole runs only
