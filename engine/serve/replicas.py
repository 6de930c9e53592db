"""Live runs visible from every app replica: each replica publishes its live runs' snapshots to the shared store.

With several app servers behind a load balancer and one PostgreSQL run store, a student's tab may reconnect to a
replica that is not training their run (a reload, a replica taken out of rotation). The replica that trains a run
writes its latest snapshot to the store's `live_runs` table about once a second; any replica reads it back by the
run's id, for its owner only, and can pass on Pause, Resume and Stop, which the training replica picks up on its next
publish. A reader also marks the row as watched, so the training replica's reaper does not end a run whose student
moved to another replica. When the run ends its stored record (the runs table) takes over; a run that ended without
a record (failed, cancelled) keeps its last snapshot here for an hour. A row its replica stopped updating reads as
failed after STALE_SECONDS with LOST, takes no more requests, and is deleted after KEEP_ENDED_SECONDS like an ended one.
"""

from __future__ import annotations

import json
import threading
import time

from engine.serve.store import _plain

LIVE = ("queued", "running", "paused")
ACTIONS = ("pause", "resume", "stop")
STALE_SECONDS = 30.0  # a live row not updated for this long: its replica has gone
WATCHED_SECONDS = 60.0  # a run read from another replica this recently counts as watched
KEEP_ENDED_SECONDS = 3600.0  # rows not updated for this long are deleted, ended or not (a crashed replica's)
PRUNE_SECONDS = 60.0  # how often a replica purges old rows and prunes what it remembers of them
LOST = "the server that was training this run stopped answering: press Start to train it again."

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS live_runs (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, page TEXT, label TEXT, replica TEXT NOT NULL,
        updated DOUBLE PRECISION NOT NULL, watched DOUBLE PRECISION, status TEXT NOT NULL, request TEXT,
        snapshot_json TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS live_runs_owner ON live_runs(owner, page)",
]


class LiveRecords:
    """The live_runs table of a RunStore (SQLite or PostgreSQL), as written by one replica and read by any."""

    def __init__(self, store, replica: str):
        self.store = store
        self.replica = replica
        self._published: dict[str, tuple] = {}  # run id -> (status, step, record count) last written
        self._forgotten: dict[str, float] = {}  # recorded run id -> when: a racing publish must not bring it back
        self._ended: dict[str, float] = {}  # run id -> when its ended snapshot was written: no live one after it
        self._pruned = 0.0
        self._lock = threading.Lock()
        with store._tx() as cur:
            for stmt in SCHEMA:
                cur.execute(stmt)

    # -- the training replica -----------------------------------------------------------
    def publish(self, snaps: list[tuple[dict, str]]) -> int:
        """Write each (snapshot, owner) that changed since its last write; returns how many were written."""
        now, written = time.time(), 0
        with self._lock, self.store._tx() as cur:
            for snap, owner in snaps:
                if snap["id"] in self._forgotten or (snap["id"] in self._ended and snap["status"] in LIVE):
                    continue  # a snapshot taken before the run's end, written after it
                key = (snap["status"], snap.get("step"), sum(len(v[0]) for v in (snap.get("series") or {}).values()),
                       snap.get("queue_position"))
                if self._published.get(snap["id"]) == key:
                    continue
                extras = (snap.get("config") or {}).get("extras") or {}
                cur.execute(
                    "INSERT INTO live_runs (id, owner, page, label, replica, updated, status, snapshot_json) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET replica = excluded.replica, "
                    "updated = excluded.updated, status = excluded.status, snapshot_json = excluded.snapshot_json",
                    (snap["id"], owner, str(extras.get("page") or ""), str(extras.get("label") or ""), self.replica,
                     now, snap["status"], json.dumps(_plain(snap))),
                )
                self._published[snap["id"]] = key
                if snap["status"] not in LIVE:
                    self._ended[snap["id"]] = now
                written += 1
            if now - self._pruned >= PRUNE_SECONDS:
                self._prune(cur, now)
        return written

    def _prune(self, cur, now: float) -> None:
        """Delete rows nobody updated for KEEP_ENDED_SECONDS (ended runs, and those of a replica that crashed), and
        forget what this replica remembers of runs whose rows are gone or that ended that long ago (under _lock)."""
        self._pruned = now
        cutoff = now - KEEP_ENDED_SECONDS
        cur.execute("DELETE FROM live_runs WHERE updated < ?", (cutoff,))
        cur.execute("SELECT id FROM live_runs WHERE replica = ?", (self.replica,))
        kept = {r[0] for r in cur.fetchall()}
        self._published = {k: v for k, v in self._published.items() if k in kept}
        self._forgotten = {k: t for k, t in self._forgotten.items() if t >= cutoff}
        self._ended = {k: t for k, t in self._ended.items() if t >= cutoff}

    def heartbeat(self, run_ids: list[str]) -> None:
        """Mark this replica's unchanged live rows as current (a paused run writes no new records)."""
        if not run_ids:
            return
        marks = ", ".join("?" * len(run_ids))
        with self.store._tx() as cur:
            cur.execute(f"UPDATE live_runs SET updated = ? WHERE replica = ? AND id IN ({marks})",
                        (time.time(), self.replica, *run_ids))

    def forget(self, run_id: str) -> None:
        """The run's stored record now answers for it."""
        with self._lock, self.store._tx() as cur:
            self._published.pop(run_id, None)
            self._forgotten[run_id] = time.time()
            cur.execute("DELETE FROM live_runs WHERE id = ?", (run_id,))

    def requests(self) -> list[tuple[str, str, str]]:
        """(run id, owner, action) asked of this replica's runs from elsewhere; each is taken once."""
        with self.store._tx() as cur:
            cur.execute("SELECT id, owner, request FROM live_runs WHERE replica = ? AND request IS NOT NULL",
                        (self.replica,))
            rows = cur.fetchall()
            for run_id, _, action in rows:  # only what was read: a request written since is taken next time
                cur.execute("UPDATE live_runs SET request = NULL WHERE id = ? AND request = ?", (run_id, action))
        return [(r[0], r[1], r[2]) for r in rows if r[2] in ACTIONS]

    def watched_owners(self) -> set[str]:
        """Owners of this replica's runs that another replica has shown recently."""
        rows = self.store._query("SELECT DISTINCT owner FROM live_runs WHERE replica = ? AND watched > ?",
                                 (self.replica, time.time() - WATCHED_SECONDS))
        return {r["owner"] for r in rows}

    # -- any replica --------------------------------------------------------------------
    def get(self, run_id: str, owner: str) -> dict | None:
        """The run's last published snapshot, only for its owner (None when there is none); marks it watched."""
        rows = self.store._query("SELECT replica, updated, snapshot_json FROM live_runs WHERE id = ? AND owner = ?",
                                 (run_id, owner))
        if not rows:
            return None
        row = rows[0]
        if row["replica"] != self.replica:
            with self.store._tx() as cur:
                cur.execute("UPDATE live_runs SET watched = ? WHERE id = ?", (time.time(), run_id))
        return _fresh(json.loads(row["snapshot_json"]), row["updated"])

    def live_of(self, owner: str, page: str) -> list[dict]:
        """The owner's live runs on `page`, on any replica, oldest first: [{id, label, config, created}]."""
        rows = self.store._query(
            "SELECT id, label, updated, snapshot_json FROM live_runs WHERE owner = ? AND page = ? "
            "AND status IN ('queued', 'running', 'paused') ORDER BY id", (owner, page))
        out = []
        for r in rows:
            snap = _fresh(json.loads(r["snapshot_json"]), r["updated"])
            if snap["status"] in LIVE:
                out.append({"id": r["id"], "label": r["label"], "config": snap.get("config") or {},
                            "created": snap.get("created") or 0.0})
        return sorted(out, key=lambda r: r["created"])

    def experiment_of(self, owner: str, page: str, tag: str) -> list[dict]:
        """Every run of the owner's experiment `tag` on `page` still in this table, live or ended:
        [{id, label, config, created}]."""
        rows = self.store._query("SELECT id, label, snapshot_json FROM live_runs WHERE owner = ? AND page = ?",
                                 (owner, page))
        out = []
        for r in rows:
            snap = json.loads(r["snapshot_json"])
            config = snap.get("config") or {}
            if (config.get("extras") or {}).get("experiment") == tag:
                out.append({"id": r["id"], "label": r["label"], "config": config, "created": snap.get("created") or 0.0})
        return out

    def request(self, run_id: str, owner: str, action: str) -> bool:
        """Ask the replica training `run_id` to pause, resume or stop it. False if there is no such live run, or its
        replica stopped updating it (nobody would act on the request)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; choose pause, resume or stop.")
        with self.store._tx() as cur:
            cur.execute("UPDATE live_runs SET request = ? WHERE id = ? AND owner = ? "
                        "AND status IN ('queued', 'running', 'paused') AND updated >= ?",
                        (action, run_id, owner, time.time() - STALE_SECONDS))
            return (cur.rowcount or 0) > 0


def _fresh(snap: dict, updated: float) -> dict:
    """A live snapshot whose replica stopped updating it reads as failed with LOST."""
    if snap.get("status") in LIVE and time.time() - float(updated) > STALE_SECONDS:
        snap = {**snap, "status": "failed", "message": LOST}
    return snap
