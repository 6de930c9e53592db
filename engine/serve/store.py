"""The run store: every ended run (config, status, final figures, metric series) kept across restarts.

SQLite by default (one file under the data folder, WAL journal, one transaction per run, so a crash
mid-write loses at most the run being written). A `postgresql://` URL uses PostgreSQL through
psycopg (installed separately: `pip install "psycopg[binary]"`) so that several app replicas share
one class record.

Replicas and sticky sessions: a Streamlit browser session lives in one server process (its
websocket, its session state, its live runs and their charts). With several replicas behind a load
balancer, the balancer must send every request of a browser to the same replica (sticky sessions,
e.g. cookie affinity). The shared PostgreSQL store is what makes the class board, earlier runs and (through
engine.serve.replicas) live runs visible from every replica.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

SAVE_FAILED = (
    "this run could not be saved to the class record (the disk is full or not writable): "
    "its results show here but will not be kept after a restart."
)

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, page TEXT, label TEXT,
        created DOUBLE PRECISION, ended DOUBLE PRECISION, status TEXT NOT NULL, message TEXT,
        arm TEXT, strategy TEXT, weights TEXT, shots INTEGER, domain_shift DOUBLE PRECISION,
        steps INTEGER, seconds DOUBLE PRECISION, test_accuracy DOUBLE PRECISION, val_accuracy DOUBLE PRECISION,
        config_json TEXT NOT NULL, results_json TEXT NOT NULL, warnings_json TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS runs_owner ON runs(owner, ended)",
    """CREATE TABLE IF NOT EXISTS series (
        run_id TEXT NOT NULL, name TEXT NOT NULL, steps_json TEXT NOT NULL, values_json TEXT NOT NULL,
        PRIMARY KEY (run_id, name))""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # A teacher's pinned settings per lesson page: {address name: address text}, as in the page's own address.
    "CREATE TABLE IF NOT EXISTS presets (page TEXT PRIMARY KEY, values_json TEXT NOT NULL, pinned DOUBLE PRECISION NOT NULL)",
]

RECORDED = ("finished", "stopped", "diverged")
ARMS = ("from scratch", "frozen features", "fine-tune")


class StoreError(RuntimeError):
    """The store could not be opened, read or written; the message is one sentence."""


def arm_of(config: dict) -> str | None:
    """The board's row: from scratch, frozen features (a new head on a fixed body) or fine-tune; None for a run
    its page keeps off the class board (extras "board": False, e.g. the Studio's runs on a student's own pictures)."""
    if (config.get("extras") or {}).get("board") is False:
        return None
    if config.get("weights") == "scratch":
        return "from scratch"
    return "frozen features" if config.get("strategy") == "feature" else "fine-tune"


def _plain(x):
    """JSON-safe copy: tensors and tuples become lists, non-finite floats become None."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "tolist"):
        return _plain(x.tolist())
    if x is None or isinstance(x, (bool, int, str)):
        return x
    return str(x)


def _num(x):
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def row_from_snapshot(snap: dict, owner: str, created: float | None = None) -> tuple[dict, dict]:
    """(runs row, {series name: (steps, values)}) for a Run.snapshot()."""
    config = snap.get("config") or {}
    extras = config.get("extras") or {}
    results = {k: v for k, v in (snap.get("results") or {}).items() if k != "config"}
    row = {
        "id": snap["id"],
        "owner": owner,
        "page": str(extras.get("page") or extras.get("hour") or ""),
        "label": str(extras.get("label") or ""),
        "created": created,
        "ended": time.time(),
        "status": snap.get("status", ""),
        "message": snap.get("message", ""),
        "arm": arm_of(config),
        "strategy": config.get("strategy"),
        "weights": config.get("weights"),
        "shots": config.get("shots"),
        "domain_shift": _num(config.get("domain_shift")),
        "steps": int(snap.get("step") or 0),
        "seconds": _num(snap.get("elapsed")),
        "test_accuracy": _num(results.get("test_accuracy")),
        "val_accuracy": _num(results.get("val_accuracy")),
        "config_json": json.dumps(_plain(config)),
        "results_json": json.dumps(_plain(results)),
        "warnings_json": json.dumps(_plain(snap.get("warnings") or [])),
    }
    return row, snap.get("series") or {}


def as_snapshot(record: dict) -> dict:
    """A stored run (RunStore.get / runs_of_owner with series) in the shape of Run.snapshot(), so the pages'
    charts and CSV export draw it like a live one. Groups come from the run's own per-group series."""
    series = record.get("series") or {}
    results = record.get("results") or {}
    groups = results.get("groups") or [name.split("/", 1)[1] for name in series if name.startswith("drift/")]
    return {
        "id": record["id"],
        "status": record.get("status", ""),
        "message": record.get("message") or "",
        "step": int(record.get("steps") or 0),
        "steps": int((record.get("config") or {}).get("steps") or record.get("steps") or 0),
        "groups": list(groups),
        "series": {k: (list(v[0]), list(v[1])) for k, v in series.items()},
        "results": dict(results),
        "warnings": list(record.get("warnings") or []),
        "config": dict(record.get("config") or {}),
        "elapsed": record.get("seconds") or 0.0,
    }


class RunStore:
    """A small layer over SQLite (default) or PostgreSQL. Thread-safe; one connection, one lock."""

    def __init__(self, url: str, teacher_token: str = ""):
        self.url = url
        self.teacher_token = teacher_token
        self._lock = threading.RLock()
        if url.startswith(("postgresql://", "postgres://")):
            self.kind = "postgresql"
            try:
                import psycopg  # optional: only for several replicas sharing one database
            except ImportError:
                raise StoreError('a PostgreSQL database_url needs psycopg: pip install "psycopg[binary]".') from None
            try:
                self._conn = psycopg.connect(url, autocommit=True)
            except Exception as e:
                raise StoreError(f"cannot reach the PostgreSQL run store ({type(e).__name__}): check database_url.") from None
            self._param = "%s"
        else:
            self.kind = "sqlite"
            path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
            self.path = None if path in ("", ":memory:") else Path(path)
            try:
                if self.path is not None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(
                    str(self.path) if self.path else ":memory:", check_same_thread=False, isolation_level=None, timeout=10
                )
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            except (sqlite3.Error, OSError) as e:
                raise StoreError(f"cannot open the run store at {path} ({e}): check data_dir in the settings.") from None
            self._param = "?"
        try:
            with self._tx() as cur:
                for stmt in SCHEMA:
                    cur.execute(stmt)
        except Exception as e:
            raise StoreError(f"cannot prepare the run store ({type(e).__name__}: {e}).") from None

    # -- plumbing -----------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self._param == "?" else sql.replace("?", "%s")

    @contextmanager
    def _tx(self):
        """One transaction: everything inside is written, or nothing."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN")
            try:
                yield _Cursor(cur, self._sql)
                cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):  # the connection may be gone: re-raise the first error
                    cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    def _query(self, sql: str, params: tuple = ()) -> list[dict]:
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute(self._sql(sql), params)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            finally:
                cur.close()

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):
            self._conn.close()

    # -- writing ------------------------------------------------------------------------
    def save(self, snap: dict, owner: str, created: float | None = None) -> None:
        """Write one run and its series in one transaction; a failure raises StoreError(SAVE_FAILED)."""
        row, series = row_from_snapshot(snap, owner, created)
        try:
            with self._tx() as cur:
                cur.execute("DELETE FROM series WHERE run_id = ?", (row["id"],))
                cur.execute("DELETE FROM runs WHERE id = ?", (row["id"],))
                cols = ", ".join(row)
                cur.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
                for name, (steps, values) in series.items():
                    cur.execute(
                        "INSERT INTO series (run_id, name, steps_json, values_json) VALUES (?, ?, ?, ?)",
                        (row["id"], name, json.dumps(_plain(list(steps))), json.dumps(_plain(list(values)))),
                    )
        except (sqlite3.Error, OSError, StoreError) as e:
            raise StoreError(SAVE_FAILED) from e
        except Exception as e:
            if type(e).__module__.startswith("psycopg"):
                raise StoreError(SAVE_FAILED) from e
            raise

    def record(self, run) -> bool:
        """Save an ended engine.serve.run.Run; on failure add SAVE_FAILED to its warnings. True when saved."""
        snap = run.snapshot()
        if snap["status"] not in RECORDED or getattr(run, "started_at", 1) is None:
            return False  # still live, failed, or cancelled while waiting (nothing to keep)
        try:
            self.save(snap, run.owner, getattr(run, "created", None))
            return True
        except StoreError as e:
            if str(e) not in run.warnings:
                run.warnings.append(str(e))
            return False

    # -- reading ------------------------------------------------------------------------
    def _decode(self, row: dict, with_series: bool) -> dict:
        out = {k: v for k, v in row.items() if not k.endswith("_json")}
        out["config"] = json.loads(row["config_json"])
        out["results"] = json.loads(row["results_json"])
        out["warnings"] = json.loads(row["warnings_json"])
        if with_series:
            out["series"] = self.series(row["id"])
        return out

    def series(self, run_id: str) -> dict[str, tuple[list, list]]:
        rows = self._query("SELECT name, steps_json, values_json FROM series WHERE run_id = ?", (run_id,))
        return {r["name"]: (json.loads(r["steps_json"]), json.loads(r["values_json"])) for r in rows}

    def get(self, run_id: str, owner: str) -> dict | None:
        """One run with its series, only for its owner."""
        rows = self._query("SELECT * FROM runs WHERE id = ? AND owner = ?", (run_id, owner))
        return self._decode(rows[0], True) if rows else None

    def runs_of_owner(self, owner: str, page: str | None = None, limit: int = 50, with_series: bool = True) -> list[dict]:
        """A session's earlier runs, newest first (optionally of one page)."""
        if page is None:
            rows = self._query("SELECT * FROM runs WHERE owner = ? ORDER BY ended DESC LIMIT ?", (owner, limit))
        else:
            rows = self._query(
                "SELECT * FROM runs WHERE owner = ? AND page = ? ORDER BY ended DESC LIMIT ?", (owner, page, limit)
            )
        return [self._decode(r, with_series) for r in rows]

    def all_runs(self, limit: int | None = None, with_series: bool = False) -> list[dict]:
        """Every run of the room, newest first."""
        sql = "SELECT * FROM runs ORDER BY ended DESC"
        rows = self._query(sql + " LIMIT ?", (limit,)) if limit else self._query(sql)
        return [self._decode(r, with_series) for r in rows]

    def pages(self) -> list[str]:
        """The pages that have runs on the board, for a filter."""
        sql = "SELECT DISTINCT page FROM runs WHERE page <> '' AND arm IS NOT NULL ORDER BY page"
        return [r["page"] for r in self._query(sql)]

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) AS n FROM runs")[0]["n"])

    def cleared_at(self) -> float:
        rows = self._query("SELECT value FROM meta WHERE key = 'board_cleared_at'")
        return float(rows[0]["value"]) if rows else 0.0

    def board(self, page: str | None = None) -> list[dict]:
        """The class board since the teacher last cleared it: per (arm, labels per class), the mean test
        accuracy of finished runs and how many there were, plus how many diverged. Sorted by arm, shots."""
        sql = (
            "SELECT arm, shots, AVG(CASE WHEN status = 'finished' THEN test_accuracy END) AS mean, "
            "SUM(CASE WHEN status = 'finished' AND test_accuracy IS NOT NULL THEN 1 ELSE 0 END) AS n, "
            "SUM(CASE WHEN status = 'diverged' THEN 1 ELSE 0 END) AS diverged "
            "FROM runs WHERE ended > ? AND arm IS NOT NULL" + (" AND page = ?" if page else "") + " GROUP BY arm, shots"
        )
        rows = self._query(sql, (self.cleared_at(), page) if page else (self.cleared_at(),))
        order = {a: i for i, a in enumerate(ARMS)}
        out = [
            {"arm": r["arm"], "shots": int(r["shots"]), "mean": None if r["mean"] is None else float(r["mean"]),
             "n": int(r["n"] or 0), "diverged": int(r["diverged"] or 0)}
            for r in rows if (r["n"] or r["diverged"])
        ]
        return sorted(out, key=lambda r: (order.get(r["arm"], 99), r["arm"], r["shots"]))

    # -- the teacher --------------------------------------------------------------------
    def check_token(self, token: str, doing: str = "clearing the board", undone: str = "the board was not cleared") -> None:
        """PermissionError (one sentence naming what was refused) unless `token` is the teacher's."""
        if not self.teacher_token:
            raise PermissionError(
                f"{doing} is switched off: "
                "the teacher sets CLASSROOM_TEACHER_TOKEN (or teacher_token in classroom.toml)."
            )
        if not hmac.compare_digest(str(token or "").encode(), self.teacher_token.encode()):
            raise PermissionError(f"that teacher token is not right: {undone}.")

    def clear_board(self, token: str) -> int:
        """Start a fresh board (teacher only). Students keep their own earlier runs. Returns runs hidden."""
        self.check_token(token)
        now = time.time()
        hidden = int(self._query("SELECT COUNT(*) AS n FROM runs WHERE ended > ?", (self.cleared_at(),))[0]["n"])
        with self._tx() as cur:
            cur.execute("DELETE FROM meta WHERE key = 'board_cleared_at'")
            cur.execute("INSERT INTO meta (key, value) VALUES ('board_cleared_at', ?)", (repr(now),))
        return hidden

    # -- the teacher's pinned settings ----------------------------------------------------
    def get_preset(self, page: str) -> dict[str, str] | None:
        """The settings the teacher pinned for `page` ({address name: address text}), or None."""
        rows = self._query("SELECT values_json FROM presets WHERE page = ?", (str(page),))
        return dict(json.loads(rows[0]["values_json"])) if rows else None

    def set_preset(self, page: str, values: dict, token: str) -> None:
        """Pin `values` ({address name: address text}) as `page`'s starting settings for the room (teacher only).
        One row per page: pinning again replaces the earlier pin, whichever replica wrote it."""
        self.check_token(token, "pinning settings", "nothing was pinned")
        if not page or not all(isinstance(k, str) and isinstance(v, str) for k, v in dict(values).items()):
            raise ValueError("a pin needs a page and settings as address names and texts.")
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO presets (page, values_json, pinned) VALUES (?, ?, ?) ON CONFLICT (page) DO UPDATE "
                "SET values_json = excluded.values_json, pinned = excluded.pinned",
                (str(page), json.dumps(dict(values)), time.time()),
            )

    def clear_preset(self, page: str, token: str) -> bool:
        """Remove `page`'s pin (teacher only). True when there was one."""
        self.check_token(token, "removing a pin", "the pin was not removed")
        with self._tx() as cur:
            done = cur.execute("DELETE FROM presets WHERE page = ?", (str(page),))  # the backend's own cursor
            return (done.rowcount or 0) > 0


class _Cursor:
    """Translates '?' placeholders for the backend."""

    def __init__(self, cur, sql):
        self._cur, self._sqlfn = cur, sql

    def execute(self, sql: str, params: tuple = ()):
        return self._cur.execute(self._sqlfn(sql), params)

    def __getattr__(self, name):  # fetchall, rowcount, description: the backend cursor's own
        return getattr(self._cur, name)


_stores: dict[str, RunStore] = {}
_stores_lock = threading.Lock()


def open_store(url: str | None = None, teacher_token: str | None = None) -> RunStore:
    """The store at `url` (default: from the settings), opened once per process."""
    from engine.core.settings import get_settings

    s = get_settings()
    url = url or s.store_url
    with _stores_lock:
        if url not in _stores:
            _stores[url] = RunStore(url, s.teacher_token if teacher_token is None else teacher_token)
        return _stores[url]
