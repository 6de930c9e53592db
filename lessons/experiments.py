"""The experiment controller, without widgets: this session's runs, their snapshots, start/pause/resume/stop.

A page's experiment is a set of named runs started together. The controller submits them to the engine's
run manager (engine.serve.manager), keeps which runs belong to which page in st.session_state, and reads
their snapshots back; ended runs are cached in the session. The widgets that draw all this live in lessons.live.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence

import streamlit as st

from engine.core.config import ConfigError, TrainConfig
from engine.serve.replicas import LOST
from lessons import _charts, _controls
from lessons.session import owner_id

GHOST_EXPERIMENTS = 3  # earlier experiments of a page kept faded on its charts
LIVE = ("queued", "running", "paused")
GONE = "this run is no longer on the server (it was restarted, or the run was cleared): press Start again."


# ---- session bookkeeping ----------------------------------------------------------------------


def _exp_key(page_key: str) -> str:
    return f"panel:{page_key}:experiment"


def _ghost_key(page_key: str) -> str:
    return f"panel:{page_key}:ghosts"


def _paused_key(page_key: str) -> str:
    return f"panel:{page_key}:paused"


def _registry() -> dict:
    """Every run this browser session started: {run_id: {page, label, final snapshot or None}}."""
    return st.session_state.setdefault("panel:runs", {})


def _manager():
    from engine.serve.manager import get_manager

    return get_manager()


def _snapshot(run_id: str) -> tuple[dict | None, object]:
    """(snapshot, Run or None) for one of this session's runs; ended runs are cached in the session.

    A run this server does not have may be live on another replica, or stored: its snapshot, without a Run."""
    entry = _registry().get(run_id)
    if entry is not None and entry.get("final") is not None:
        return entry["final"], _manager().get(run_id, owner_id())
    run = _manager().get(run_id, owner_id())
    if run is None:
        snap = _manager().find(run_id, owner_id())
        if snap is not None and snap["status"] not in LIVE and snap.get("message") != LOST and entry is not None:
            entry["final"] = snap  # not LOST: a store that stopped answering for a while may answer again
        return snap, None
    snap = run.snapshot()
    if snap["status"] == "queued":
        snap["queue_position"] = _manager().queue_position(run)
    if run.done and entry is not None:
        entry["final"] = snap
    return snap, run


def run_of(run_id: str):
    """The engine's Run of one of this session's runs (for its trainer and task), or None when it is gone."""
    return _snapshot(run_id)[1]


def session_runs() -> list[dict]:
    """This session's runs, oldest first: {id, page, label, snapshot} (snapshot None when gone)."""
    out = []
    for run_id, entry in list(_registry().items()):
        snap, _ = _snapshot(run_id)
        out.append({"id": run_id, "page": entry["page"], "label": entry["label"], "snapshot": snap})
    return out


def stored_runs(limit: int = 50) -> list[dict]:
    """This student's runs in the run store (they survive reloads and restarts), newest first; [] without a store."""
    try:
        return _manager().history(owner_id(), limit=limit)
    except Exception:
        return []


def stored_rows(runs: Sequence[Mapping]) -> list[dict]:
    """One table row per stored run: when, page, what, how it ended."""
    return [
        {
            "ended": time.strftime("%Y-%m-%d %H:%M", time.localtime(r["ended"])) if r.get("ended") else "",
            "page": r.get("page") or "",
            "run": r.get("label") or "",
            "status": r.get("status"),
            "strategy": r.get("strategy"),
            "labels/class": r.get("shots"),
            "test accuracy": r.get("test_accuracy"),
            "message": r.get("message") or "",
        }
        for r in runs
    ]


def latest(page_key: str) -> dict[str, dict]:
    """{label: snapshot} of this session's last experiment on the page, or {} before the first Start.

    A tab that has not started one here takes up the student's runs still live on this page (started before a
    reload, or in another tab, on this server or another replica), so a student never loses sight of them."""
    exp = st.session_state.get(_exp_key(page_key)) or _adopt(page_key)
    if not exp:
        return {}
    out = {}
    for label, run_id in exp["runs"].items():
        snap, _ = _snapshot(run_id)
        out[label] = snap if snap is not None else _gone(run_id, exp["configs"][label])
    return out


def _adopt(page_key: str) -> dict | None:
    """Make the student's live experiment on this page this tab's experiment (its runs that already ended too);
    None when nothing of theirs is live on the page."""
    try:
        found = _manager().live_experiment_of(owner_id(), page_key)
    except Exception:
        return None
    if not found:
        return None
    runs = {f["label"]: f for f in found}  # a label started twice: the newer run
    exp = {"runs": {label: f["id"] for label, f in runs.items()},
           "configs": {label: f["config"] for label, f in runs.items()}, "started": min(f["created"] for f in found)}
    reg = _registry()
    for label, f in runs.items():
        reg.setdefault(f["id"], {"page": page_key, "label": label, "final": None})
    st.session_state[_exp_key(page_key)] = exp
    return exp


def _gone(run_id: str, config: dict) -> dict:
    return {"id": run_id, "status": "failed", "message": GONE, "step": 0, "steps": config.get("steps", 0), "groups": [],
            "series": {}, "results": {}, "warnings": [], "config": config, "elapsed": 0.0}


def is_live(snaps: dict[str, dict]) -> bool:
    """Whether any of these runs is still queued, running or paused."""
    return any(s["status"] in LIVE for s in snaps.values())


def ends_within(snaps: Mapping[str, dict], seconds: float) -> bool:
    """Whether every live run among `snaps` is running and should end within `seconds`: its steps left at its
    measured speed (the steps_per_second series). False while any waits in the queue, is paused or has no speed yet."""
    live = [s for s in snaps.values() if s["status"] in LIVE]
    for s in live:
        rate = (s.get("series") or {}).get("steps_per_second")
        if s["status"] != "running" or not rate or not rate[1] or rate[1][-1] <= 0:
            return False
        if (s["steps"] - s["step"]) / rate[1][-1] > seconds:
            return False
    return bool(live)


def wait_for_end(page_key: str, seconds: float) -> None:
    """Block until every run of the page's experiment has ended, for at most `seconds`. A live view calls it when
    the runs are about to end (ends_within), so it shows the end as it happens, not up to one refresh later."""
    exp = st.session_state.get(_exp_key(page_key)) or {}
    deadline = time.monotonic() + seconds
    for run_id in exp.get("runs", {}).values():
        run = _manager().get(run_id, owner_id())  # the Run only: the caller has just read every snapshot
        if run is not None:
            run.wait(max(0.0, deadline - time.monotonic()))


def is_paused(page_key: str) -> bool:
    """Whether the page's experiment was last paused (and not resumed or restarted since)."""
    return st.session_state.get(_paused_key(page_key), False)


def trained_model(snapshot: dict, owner: str):
    """(model, class names, image size) of a finished run of `owner`, or (None, [], 0) when it is gone."""
    run = _manager().get(snapshot.get("id", ""), owner)
    trainer = getattr(run, "trainer", None)
    if trainer is None or getattr(trainer, "model", None) is None:
        return None, [], 0
    return trainer.model, list(trainer.task.classes), int(snapshot["config"]["image_size"])


# ---- ghosts: the faded curves of a page's earlier experiments ----------------------------------


def ghosts(page_key: str) -> list[dict]:
    """The page's earlier experiments' curves, oldest first: [{name, series}]."""
    return [g for batch in st.session_state.get(_ghost_key(page_key), []) for g in batch]


def has_ghosts(page_key: str) -> bool:
    return bool(st.session_state.get(_ghost_key(page_key)))


def clear_ghosts(page_key: str) -> None:
    st.session_state[_ghost_key(page_key)] = []


def _differences(old: dict, new: dict) -> str:
    keys = [k for k in new if k not in ("extras",) and old.get(k) != new.get(k)]
    if not keys:
        return "same settings"
    return ", ".join(_controls.describe(k, old.get(k)) for k in keys[:3]) + (" …" if len(keys) > 3 else "")


def _keep_as_ghosts(page_key: str, previous: dict[str, dict], new_configs: dict[str, dict]) -> None:
    """Move the last experiment's curves behind the new one, named by what differed."""
    ghosts = st.session_state.setdefault(_ghost_key(page_key), [])
    first_new = next(iter(new_configs.values()), {})
    batch = []
    for label, snap in previous.items():
        series = snap.get("series") or {}
        if not series.get("train_loss"):
            continue
        diff = _differences(snap["config"], new_configs.get(label, first_new))
        batch.append({"name": f"earlier {label} ({diff})",
                      "series": {k: _charts.thin(*series[k]) for k in ("train_loss", "val_loss", "val_accuracy") if k in series}})
    if batch:
        ghosts.append(batch)
        del ghosts[:-GHOST_EXPERIMENTS]


# ---- starting and controlling an experiment -----------------------------------------------


def start(page_key: str, configs: Mapping[str, TrainConfig]) -> str | None:
    """Submit every config as one experiment; returns one sentence when it could not start, else None.

    Does nothing while the page's previous experiment still trains (a double click starts one set)."""
    previous = latest(page_key)
    if is_live(previous):
        return None
    tagged, experiment = {}, uuid.uuid4().hex[:12]  # the runs started together, so another replica can show them together
    try:
        for label, cfg in configs.items():
            extras = {**cfg.extras, "page": page_key, "label": label, "experiment": experiment}
            tagged[label] = cfg.replace(extras=extras).validate()
    except ConfigError as e:
        return str(e)
    owner, mgr, runs = owner_id(), _manager(), {}
    try:
        for label, cfg in tagged.items():
            runs[label] = mgr.submit(cfg, owner)
    except ConfigError as e:
        for run in runs.values():
            mgr.stop(run.id, owner)
        return str(e)
    _keep_as_ghosts(page_key, previous, {k: c.to_dict() for k, c in tagged.items()})
    st.session_state[_paused_key(page_key)] = False
    reg = _registry()
    for label, run in runs.items():
        reg[run.id] = {"page": page_key, "label": label, "final": None}
    st.session_state[_exp_key(page_key)] = {
        "runs": {label: run.id for label, run in runs.items()},
        "configs": {label: cfg.to_dict() for label, cfg in tagged.items()},
        "started": time.time(),
    }
    return None


def each_run(page_key: str, action: str) -> None:
    """Pause, resume or stop ("pause" | "resume" | "stop") every run of the page's experiment."""
    exp = st.session_state.get(_exp_key(page_key)) or {"runs": {}}
    mgr, owner = _manager(), owner_id()
    for run_id in exp["runs"].values():
        getattr(mgr, action)(run_id, owner)
    st.session_state[_paused_key(page_key)] = action == "pause"


def pause(page_key: str) -> None:
    each_run(page_key, "pause")


def resume(page_key: str) -> None:
    each_run(page_key, "resume")


def stop(page_key: str) -> None:
    each_run(page_key, "stop")
