"""The shared lesson widgets: page frame, controls, the live-training panel, pictures, quizzes.

Every lesson page is a thin script over this module:

    panel.header(hour=1, title="Why transfer?", goal="...")
    cfg = panel.controls("hour01", base=TrainConfig(...), knobs=["shots", "steps"])
    panel.experiment("hour01", {"from scratch": cfg.replace(weights="scratch"), "pretrained": cfg})
    panel.notice([...]); panel.try_this([...]); panel.check_yourself("hour01", [...])

Runs train on the engine's threads (engine.manager); this module only reads their snapshots.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import streamlit as st

from engine.config import ConfigError, TrainConfig
from lessons import _charts, _controls
from lessons.session import owner_id

REFRESH_SECONDS = 1.0  # how often the live panel redraws while a run trains (1 Hz: live, yet light for a full room)
GHOST_EXPERIMENTS = 3  # earlier experiments of a page kept faded on its charts
LIVE = ("queued", "running", "paused")
GONE = "this run is no longer on the server (it was restarted, or the run was cleared): press Start again."


# ---- page frame ---------------------------------------------------------------------------


def header(hour: int | None, title: str, goal: str) -> None:
    """The page title and its goal in a box."""
    st.title(f"Hour {hour} · {title}" if hour is not None else title)
    st.info(f"**Goal.** {goal}")


def section(name: str) -> None:
    st.header(name, divider="gray")


def notice(claims: Sequence[str]) -> None:
    """'What to notice': the observations the default experiment shows (each one is tested)."""
    section("What to notice")
    st.success("\n".join(f"- {c}" for c in claims))


def try_this(items: Sequence[tuple[str, str]]) -> None:
    """'Try this': (change to make, what should happen) pairs."""
    section("Try this")
    st.markdown("\n".join(f"{i}. **{change}** → {expect}" for i, (change, expect) in enumerate(items, 1)))


def check_yourself(page_key: str, questions: Sequence[Mapping]) -> None:
    """Multiple-choice questions {q, options, answer (index), why} with instant feedback."""
    section("Check yourself")
    for i, q in enumerate(questions):
        choice = st.radio(f"**{i + 1}.** {q['q']}", q["options"], index=None, key=f"{page_key}:quiz{i}")
        if choice is None:
            continue
        if q["options"].index(choice) == q["answer"]:
            st.success(f"Correct. {q.get('why', '')}")
        else:
            st.warning(f"Not quite: the answer is “{q['options'][q['answer']]}”. {q.get('why', '')}")


# ---- controls -----------------------------------------------------------------------------


def controls(page_key: str, base: TrainConfig, knobs: Sequence[str] | Mapping[str, dict], columns: int = 3) -> TrainConfig:
    """Widgets for `knobs` (TrainConfig field names, plus "freeze"), defaults from `base`; returns base with them applied.

    `knobs` may map a name to overrides of its row, e.g. {"steps": {"hi": 400}, "lr": {"label": "Head LR"}}.
    """
    from lessons import data_model  # the sidebar's "Data and model" choice applies to every page with controls

    base = data_model.sidebar(page_key, base)
    names = list(knobs)
    overrides = dict(knobs) if isinstance(knobs, Mapping) else {}
    changes = _controls.draw(page_key, base, names, overrides, columns)
    return base.replace(**changes)


def glyph_world_only(cfg: TrainConfig, why: str) -> None:
    """For pages that always train glyphnet on the glyph world: say so when the sidebar chose otherwise."""
    if (cfg.backbone, cfg.dataset) != ("glyphnet", "glyphs"):
        st.caption(f"{why}; the sidebar's choice of data and model applies on the other pages.")


# ---- session bookkeeping ----------------------------------------------------------------------


def _exp_key(page_key: str) -> str:
    return f"panel:{page_key}:experiment"


def _ghost_key(page_key: str) -> str:
    return f"panel:{page_key}:ghosts"


def _registry() -> dict:
    """Every run this browser session started: {run_id: {page, label, final snapshot or None}}."""
    return st.session_state.setdefault("panel:runs", {})


def _manager():
    from engine.manager import get_manager

    return get_manager()


def _snapshot(run_id: str) -> tuple[dict | None, object]:
    """(snapshot, Run or None) for one of this session's runs; ended runs are cached in the session."""
    entry = _registry().get(run_id)
    if entry is not None and entry.get("final") is not None:
        return entry["final"], _manager().get(run_id, owner_id())
    run = _manager().get(run_id, owner_id())
    if run is None:
        return None, None
    snap = run.snapshot()
    if snap["status"] == "queued":
        snap["queue_position"] = _manager().queue_position(run)
    if run.done and entry is not None:
        entry["final"] = snap
    return snap, run


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
    """{label: snapshot} of this session's last experiment on the page, or {} before the first Start."""
    exp = st.session_state.get(_exp_key(page_key))
    if not exp:
        return {}
    out = {}
    for label, run_id in exp["runs"].items():
        snap, _ = _snapshot(run_id)
        out[label] = snap if snap is not None else _gone(run_id, exp["configs"][label])
    return out


def _gone(run_id: str, config: dict) -> dict:
    return {"id": run_id, "status": "failed", "message": GONE, "step": 0, "steps": config.get("steps", 0), "groups": [],
            "series": {}, "results": {}, "warnings": [], "config": config, "elapsed": 0.0}


def _live(snaps: dict[str, dict]) -> bool:
    return any(s["status"] in LIVE for s in snaps.values())


# ---- starting and controlling an experiment -----------------------------------------------


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


def start(page_key: str, configs: Mapping[str, TrainConfig]) -> str | None:
    """Submit every config as one experiment; returns one sentence when it could not start, else None.

    Does nothing while the page's previous experiment still trains (a double click starts one set)."""
    previous = latest(page_key)
    if _live(previous):
        return None
    tagged = {}
    try:
        for label, cfg in configs.items():
            tagged[label] = cfg.replace(extras={**cfg.extras, "page": page_key, "label": label}).validate()
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
    st.session_state[f"panel:{page_key}:paused"] = False
    reg = _registry()
    for label, run in runs.items():
        reg[run.id] = {"page": page_key, "label": label, "final": None}
    st.session_state[_exp_key(page_key)] = {
        "runs": {label: run.id for label, run in runs.items()},
        "configs": {label: cfg.to_dict() for label, cfg in tagged.items()},
        "started": time.time(),
    }
    return None


def _each_run(page_key: str, action: str) -> None:
    """Pause, resume or stop every run of the page's experiment, then redraw the page."""
    exp = st.session_state.get(_exp_key(page_key)) or {"runs": {}}
    mgr, owner = _manager(), owner_id()
    for run_id in exp["runs"].values():
        getattr(mgr, action)(run_id, owner)
    st.session_state[f"panel:{page_key}:paused"] = action == "pause"
    st.rerun()


def _buttons(page_key: str, configs: Mapping[str, TrainConfig], snaps: dict[str, dict]) -> None:
    live = _live(snaps)
    paused = live and st.session_state.get(f"panel:{page_key}:paused", False)
    c1, c2, c3, c4, _ = st.columns([1, 1, 1, 1.3, 3])
    clicked_start = c1.button("Start", key=f"{page_key}:start", type="primary", icon=":material/play_arrow:", disabled=live,
                              help="Train every run of this experiment with the settings above.")
    if paused:
        if c2.button("Resume", key=f"{page_key}:resume", icon=":material/play_arrow:"):
            _each_run(page_key, "resume")
    elif c2.button("Pause", key=f"{page_key}:pause", icon=":material/pause:", disabled=not live):
        _each_run(page_key, "pause")
    if c3.button("Stop", key=f"{page_key}:stop", icon=":material/stop:", disabled=not live):
        _each_run(page_key, "stop")
    has_ghosts = bool(st.session_state.get(_ghost_key(page_key)))
    if c4.button("Clear earlier runs", key=f"{page_key}:clear", disabled=not has_ghosts,
                 help="Remove the faded curves of your earlier experiments from the charts."):
        st.session_state[_ghost_key(page_key)] = []
        st.rerun()
    if clicked_start:
        problem = start(page_key, configs)
        if problem:
            st.session_state[f"panel:{page_key}:problem"] = problem
        st.rerun()
    problem = st.session_state.pop(f"panel:{page_key}:problem", None)
    if problem:
        st.error(problem)


# ---- the live view --------------------------------------------------------------------------


def _progress_line(label: str, snap: dict) -> None:
    status, step, steps = snap["status"], snap.get("step", 0), max(1, snap.get("steps", 1))
    frac = min(1.0, step / steps)
    if status == "queued":
        place = snap.get("queue_position")
        where = f"place {place} in the queue" if place else "starting"
        st.progress(0.0, text=f"**{label}** · waiting for a free training slot ({where})")
        return
    rate_series = snap.get("series", {}).get("steps_per_second")
    rate = rate_series[1][-1] if rate_series and rate_series[0][-1] >= 10 else None  # settled after a few steps
    if status == "running":
        speed = f"{rate:.1f} steps/s · about {(steps - step) / rate:.0f} s left" if rate else "measuring speed…"
        st.progress(frac, text=f"**{label}** · step {step}/{steps} · {speed}")
    elif status == "paused":
        st.progress(frac, text=f"**{label}** · paused at step {step}/{steps}")
    else:
        took = f" in {snap['elapsed']:.1f} s" if snap.get("elapsed") else ""
        st.progress(frac, text=f"**{label}** · {status} at step {step}/{steps}{took}")


def _messages(label: str, snap: dict) -> None:
    status, message = snap["status"], snap.get("message") or ""
    if status == "failed":
        st.error(f"**{label}**: {message}")
    elif status == "diverged":
        st.warning(f"**{label}**: {message}")
    elif message:
        st.info(f"**{label}**: {message}")
    for w in snap.get("warnings") or []:
        st.info(f"**{label}**: {w}")


def _final_figures(snaps: dict[str, dict]) -> None:
    done = {k: s for k, s in snaps.items() if s.get("results", {}).get("test_accuracy") is not None}
    if not done:
        return
    cols = st.columns(min(4, len(done)))
    best = max(s["results"]["test_accuracy"] for s in done.values())
    for i, (label, s) in enumerate(done.items()):
        acc = s["results"]["test_accuracy"]
        delta = None if len(done) == 1 or acc == best else f"{(acc - best) * 100:+.1f} points vs best"
        when = "" if s["status"] == "finished" else f" ({s['status']} at step {s.get('step', 0)})"
        cols[i % len(cols)].metric(f"Test accuracy · {label}{when}", f"{acc:.1%}", delta=delta)


def layer_panel(page_key: str, snaps: dict[str, dict]) -> None:
    """Drift and current LR per group (bars) and drift over time (heatmap) for one chosen run."""
    with_groups = {k: s for k, s in snaps.items() if s.get("groups")}
    if not with_groups:
        return
    labels = list(with_groups)
    st.markdown("**Inside the network: each layer group, input → head**")
    label = labels[0]
    if len(labels) > 1:
        label = st.radio("Show the layers of", labels, horizontal=True, key=f"{page_key}:layers_of")
    snap = with_groups[label]
    c1, c2 = st.columns(2)
    c1.plotly_chart(_charts.drift_bars(snap), key=f"chart:{page_key}:drift", config={"displayModeBar": False})
    c2.plotly_chart(_charts.lr_bars(snap), key=f"chart:{page_key}:lrs", config={"displayModeBar": False})
    heat = _charts.drift_heatmap(snap)
    if heat is not None:
        st.plotly_chart(heat, key=f"chart:{page_key}:heat", config={"displayModeBar": False})
    st.caption("Grey bars are frozen groups: they do not learn, so their drift stays exactly 0.")


def _draw(page_key: str, snaps: dict[str, dict]) -> None:
    for label, snap in snaps.items():
        _progress_line(label, snap)
    for label, snap in snaps.items():
        _messages(label, snap)
    _final_figures(snaps)
    ghosts = [g for batch in st.session_state.get(_ghost_key(page_key), []) for g in batch]
    max_steps = max((s.get("steps", 0) for s in snaps.values()), default=None)
    compare(snaps, key=page_key, ghosts=ghosts, max_steps=max_steps)
    if ghosts:
        st.caption("Faded grey curves are your earlier experiments on this page; the legend says what was different.")
    layer_panel(page_key, snaps)


def compare(snaps: dict[str, dict], key: str, ghosts: list[dict] | None = None, max_steps: int | None = None) -> None:
    """Loss and accuracy of several runs ({label: snapshot}) on the same two charts, side by side."""
    c1, c2 = st.columns(2)
    c1.plotly_chart(_charts.loss_figure(snaps, ghosts, max_steps), key=f"chart:{key}:loss")
    c2.plotly_chart(_charts.accuracy_figure(snaps, ghosts, max_steps), key=f"chart:{key}:acc")


def experiment(page_key: str, configs: Mapping[str, TrainConfig], pictures: bool = True) -> dict[str, dict]:
    """Start/Pause/Resume/Stop and the live charts for a set of named runs; returns {label: snapshot}.

    While any run trains, the charts live in a fragment that redraws itself every REFRESH_SECONDS
    (the rest of the page stays responsive); once all have ended it stops refreshing."""
    snaps = latest(page_key)
    _buttons(page_key, configs, snaps)
    if not snaps:
        st.caption("Press **Start** to train. The charts below fill in live; you can move to another page and come back.")
        return {}
    live = _live(snaps)

    @st.fragment(run_every=REFRESH_SECONDS if live else None)
    def live_view() -> None:
        now = latest(page_key)
        _draw(page_key, now)
        if live and not _live(now):
            st.rerun(scope="app")  # the runs ended: redraw the page once, without the timer

    live_view()
    snaps = latest(page_key)
    if pictures and not _live(snaps):
        mistakes_panel(page_key, snaps)
    return snaps


# ---- pictures ---------------------------------------------------------------------------------


def image_grid(x, captions: Sequence[str] | None = None, width: int = 72) -> None:
    """Show images (a tensor (N, 3, H, W) in [0, 1]) in a grid, each `width` pixels wide."""
    if x is None or len(x) == 0:
        return
    arr = (x.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).astype("uint8")  # (N, H, W, 3)
    st.image(list(arr), caption=list(captions) if captions is not None else None, width=width)


def target_samples(cfg: TrainConfig, per_class: int = 1, source_classes: int = 10) -> None:
    """Source-task glyphs (what the backbone was pretrained on) above the target's classes, as `cfg` renders them."""
    if not cfg.dataset.startswith("glyphs"):
        from engine.data import load_task

        try:
            task = load_task(cfg)
        except ConfigError as e:
            st.warning(str(e))
            return
        n = min(len(task.train), 10 * per_class)
        image_grid(task.to_display(task.train.x[:n]), [task.classes[int(y)] for y in task.train.y[:n]])
        return
    from engine.data import TARGET_NAMES, sample_grid, source_split

    st.markdown("**Source task**: a few of the 200 glyph classes the backbone was pretrained on")
    image_grid(source_split(1, 5, cfg.image_size, n_classes=source_classes).x)
    st.markdown(f"**Target task**: {cfg.n_classes} new classes, never seen in pretraining")
    x = sample_grid([cfg.domain_shift], per_class, cfg.n_classes, cfg.image_size)[cfg.domain_shift]
    image_grid(x, [TARGET_NAMES[k] for k in range(cfg.n_classes) for _ in range(per_class)])


def shift_samples(amounts: Sequence[float], n_classes: int = 8) -> None:
    """The same target glyphs at each domain-shift position, one row per position."""
    from engine.data import sample_grid

    grids = sample_grid(list(amounts), 1, n_classes)
    for a in amounts:
        st.caption(f"domain shift {a:g}")
        image_grid(grids[a])


def schedule_plot(cfg: TrainConfig, key: str | None = None) -> None:
    """The head's LR at every step of `cfg`, drawn before training (schedules are pure functions)."""
    from engine import schedules

    factors = schedules.curve(cfg.schedule, cfg.steps, cfg.warmup_steps)
    # "chart:" keeps a page's chart key apart from its widget keys (the schedule knob is "<page>:schedule").
    st.plotly_chart(_charts.schedule_figure(factors, cfg.lr), key=f"chart:{key or f'schedule:{cfg.schedule}:{cfg.steps}'}",
                    config={"displayModeBar": False})


def confusion(snapshot: dict, run=None, key: str = "confusion", max_mistakes: int = 24) -> None:
    """The confusion matrix of an ended run and, when its task is still in memory, its misclassified test images."""
    results = snapshot.get("results") or {}
    cm = results.get("confusion")
    if not cm:
        st.caption("The confusion matrix appears when the run has finished.")
        return
    task = getattr(getattr(run, "trainer", None), "task", None)
    classes = list(task.classes) if task is not None else [str(i) for i in range(len(cm))]
    st.plotly_chart(_charts.confusion_figure(cm, classes), key=f"chart:{key}", config={"displayModeBar": False})
    mistakes = results.get("mistakes") or []
    if task is None or not mistakes:
        if not mistakes:
            st.caption("No test image was misclassified.")
        return
    wrong = sum(map(sum, cm)) - sum(cm[i][i] for i in range(len(cm)))
    shown = _spread(mistakes, [int(task.test.y[i]) for i, _ in mistakes], max_mistakes)
    idx = [i for i, _ in shown]
    images = task.to_display(task.test.x[idx])
    captions = [f"{classes[int(task.test.y[i])]} → {classes[p]}" for i, p in shown]
    st.markdown(f"**Misclassified test images** ({wrong} of {sum(map(sum, cm))}; {len(shown)} shown, "
                "taking each true class in turn): true class → what the model said")
    image_grid(images, captions)


def _spread(items: list, keys: list[int], n: int) -> list:
    """Up to `n` items taken round-robin over their keys (one of each class, then a second of each...)."""
    groups: dict[int, list] = {}
    for item, k in zip(items, keys):
        groups.setdefault(k, []).append(item)
    out, queues = [], list(groups.values())
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def mistakes_panel(page_key: str, snaps: dict[str, dict]) -> None:
    """After the end: per run, the confusion matrix and the misclassified images, folded away."""
    ended = {k: s for k, s in snaps.items() if (s.get("results") or {}).get("confusion")}
    if not ended:
        return
    with st.expander("Where did each model go wrong? Confusion matrix and misclassified images"):
        tabs = st.tabs(list(ended))
        for tab, (label, snap) in zip(tabs, ended.items()):
            with tab:
                _, run = _snapshot(snap["id"])
                confusion(snap, run, key=f"{page_key}:confusion:{label}")


def series_csv(snapshot: dict) -> str:
    """A run's series as CSV text (one row per step)."""
    return _charts.series_csv(snapshot)
