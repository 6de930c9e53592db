"""The live widgets and pictures: Start/Pause/Stop, progress, live charts, the layer panel, image grids, confusion."""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Mapping, Sequence

import streamlit as st

from engine.core.config import ConfigError, TrainConfig
from lessons import _charts
from lessons import experiments as ex

REFRESH_SECONDS = 1.0  # how often the live panel redraws while a run trains (1 Hz: live, yet light for a full room)
# The layer panel (bars, heatmap, update ratios) while runs train. A browser redraws a Plotly chart only when its
# spec changed: on the 2-core VM each changed chart cost about a fifth of a core per redraw at 1 Hz, an identical one
# almost nothing (scripts/bench_app.py's notes in BENCHMARKS.md). The loss chart changes every second, the accuracy
# chart only at evaluations; these four change at every log, so they redraw every 6 s (was 3 s).
LAYER_REFRESH_SECONDS = 6.0
# Streamlit eases every progress bar to its new value over 0.5 s: at 1 Hz that is an animation for half of every
# second, which the browser repaints ~30 times a second. Turned off, the bars jump to their value: about 8% of a core
# less for Chromium (renderer and GPU process) while Hour 1 trains on the 2-core VM (BENCHMARKS.md).
STILL_BARS = '<style>[data-testid="stProgressBarTrack"] div {transition: none !important;}</style>'
BUSY_REFRESH_SECONDS = 2.0  # while other students' runs wait for a slot: half the redraws, so the server trains
CHART_FACTOR = 2  # the loss and accuracy charts redraw every 2 refreshes (progress lines every one)


REDRAWS: deque[float] = deque(maxlen=500)  # ms the server spent in each recent chart redraw (all tabs)


def redraw_ms() -> float | None:
    """The median of the recent live redraws, in ms (None before the first)."""
    return statistics.median(REDRAWS) if REDRAWS else None


def refresh_seconds() -> float:
    """REFRESH_SECONDS, or BUSY_REFRESH_SECONDS while runs wait in the server's queue."""
    try:
        from engine.serve.manager import get_manager

        return BUSY_REFRESH_SECONDS if get_manager().status()["queued"] > 0 else REFRESH_SECONDS
    except Exception:
        return REFRESH_SECONDS


# ---- the buttons ----------------------------------------------------------------------------


def _each_run(page_key: str, action: str) -> None:
    """Pause, resume or stop every run of the page's experiment, then redraw the page."""
    ex.each_run(page_key, action)
    st.rerun()


def _buttons(page_key: str, configs: Mapping[str, TrainConfig], snaps: dict[str, dict]) -> None:
    live = ex.is_live(snaps)
    paused = live and ex.is_paused(page_key)
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
    if c4.button("Clear earlier runs", key=f"{page_key}:clear", disabled=not ex.has_ghosts(page_key),
                 help="Remove the faded curves of your earlier experiments from the charts."):
        ex.clear_ghosts(page_key)
        st.rerun()
    if clicked_start:
        problem = ex.start(page_key, configs)
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
    st.markdown("**Inside the network: each layer group, input → head**")
    # a run's groups are known before its first logged step: bars drawn then would read "frozen" for every group
    with_groups = {k: s for k, s in with_groups.items() if _logged_groups(s)}
    if not with_groups:
        st.caption("The layer panel fills in after the first logged step.")
        return
    labels = list(with_groups)
    label = labels[0]
    if len(labels) > 1:
        label = st.radio("Show the layers of", labels, horizontal=True, key=f"{page_key}:layers_of")
    snap = with_groups[label]
    c1, c2 = st.columns(2)
    c1.plotly_chart(_charts.drift_bars(snap), key=f"chart:{page_key}:drift", config={"displayModeBar": False})
    c2.plotly_chart(_charts.lr_bars(snap), key=f"chart:{page_key}:lrs", config={"displayModeBar": False})
    heat, ratio = _charts.drift_heatmap(snap), _charts.update_ratio_figure(snap)
    c3, c4 = st.columns(2)
    if heat is not None:
        c3.plotly_chart(heat, key=f"chart:{page_key}:heat", config={"displayModeBar": False})
    if ratio is not None:
        c4.plotly_chart(ratio, key=f"chart:{page_key}:update", config={"displayModeBar": False})
    st.caption("Grey bars are frozen groups: they do not learn, so their drift stays exactly 0. The update/weight ratio "
               "is how much one step changes a group relative to its size; around 1e-3 (dashed) is the usual guide: "
               "far above, the step is too large for that group; far below, it barely learns.")


def _logged_groups(snap: dict) -> bool:
    """Whether `snap` has a logged record of which groups train (the layer panel's bars read it)."""
    series = snap.get("series", {})
    return any(series.get(f"trainable/{g}") for g in snap["groups"])


def _curves(page_key: str, snaps: dict[str, dict], max_steps: int | None = None) -> None:
    """The loss and accuracy charts of the page's runs, with the faded curves of its earlier experiments."""
    ghosts = ex.ghosts(page_key)
    max_steps = max((s.get("steps", 0) for s in snaps.values()), default=max_steps)
    compare(snaps, key=page_key, ghosts=ghosts, max_steps=max_steps)
    if ghosts:
        st.caption("Faded grey curves are your earlier experiments on this page; the legend says what was different.")


def _draw(page_key: str, snaps: dict[str, dict], layers: bool = True) -> None:
    """Everything the live view shows, at once (for a page that draws a finished experiment itself)."""
    for label, snap in snaps.items():
        _progress_line(label, snap)
    for label, snap in snaps.items():
        _messages(label, snap)
    _final_figures(snaps)
    _curves(page_key, snaps)
    if layers:
        layer_panel(page_key, snaps)


def compare(snaps: dict[str, dict], key: str, ghosts: list[dict] | None = None, max_steps: int | None = None) -> None:
    """Loss and accuracy of several runs ({label: snapshot}) on the same two charts, side by side."""
    c1, c2 = st.columns(2)
    c1.plotly_chart(_charts.loss_figure(snaps, ghosts, max_steps), key=f"chart:{key}:loss")
    c2.plotly_chart(_charts.accuracy_figure(snaps, ghosts, max_steps), key=f"chart:{key}:acc")


def experiment(page_key: str, configs: Mapping[str, TrainConfig], pictures: bool = True) -> dict[str, dict]:
    """Start/Pause/Resume/Stop and the live charts for a set of named runs; returns {label: snapshot}.

    While any run trains, three fragments redraw themselves (the rest of the page stays responsive): the progress
    lines every refresh_seconds(), the loss and accuracy charts every CHART_FACTOR refreshes, the layer panel every
    LAYER_REFRESH_SECONDS; once all runs have ended they stop refreshing. A browser redraws a chart whose spec
    changed at a cost (about a fifth of a core per chart per second on a 2-core machine), so the charts that
    change at every record redraw less often than the progress lines that say where the run is."""
    snaps = ex.latest(page_key)
    _buttons(page_key, configs, snaps)
    if not snaps:
        st.caption("Press **Start** to train. The charts below fill in live; you can move to another page and come back.")
        # Empty axes until the first Start: the student sees where the curves will go, and the browser loads its
        # chart library now, while the student reads, not in the first second of training (on the 2-core VM that
        # was ~0.9 s of a core taken from the runs as they started; BENCHMARKS.md).
        _curves(page_key, {}, max((c.steps for c in configs.values()), default=None))
        return {}
    live = ex.is_live(snaps)
    every = refresh_seconds()

    @st.fragment(run_every=every if live else None)
    def live_view() -> None:  # progress, messages, final figures: cheap to redraw, so every second
        now = ex.latest(page_key)
        if live and ex.ends_within(now, every):  # show the end when it comes, not up to a refresh later
            ex.wait_for_end(page_key, every)
            now = ex.latest(page_key)
        for label, snap in now.items():
            _progress_line(label, snap)
        for label, snap in now.items():
            _messages(label, snap)
        _final_figures(now)
        if live and not ex.is_live(now):
            st.rerun(scope="app")  # the runs ended: redraw the page once, without the timers

    @st.fragment(run_every=CHART_FACTOR * every if live else None)
    def chart_view() -> None:  # the loss chart changes at every redraw, and each changed chart costs the browser
        t0 = time.perf_counter()
        _curves(page_key, ex.latest(page_key))
        REDRAWS.append(1000 * (time.perf_counter() - t0))

    @st.fragment(run_every=LAYER_REFRESH_SECONDS if live else None)
    def layer_view() -> None:  # four charts that change slowly: redrawn less often, by the server and the browser
        t0 = time.perf_counter()
        layer_panel(page_key, ex.latest(page_key))
        REDRAWS.append(1000 * (time.perf_counter() - t0))

    live_view()
    chart_view()
    layer_view()
    snaps = ex.latest(page_key)
    if pictures and not ex.is_live(snaps):
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
        from engine.data.tasks import load_task

        try:
            task = load_task(cfg)
        except ConfigError as e:
            st.warning(str(e))
            return
        n = min(len(task.train), 10 * per_class)
        image_grid(task.to_display(task.train.x[:n]), [task.classes[int(y)] for y in task.train.y[:n]])
        return
    from engine.data.tasks import TARGET_NAMES, sample_grid, source_split

    st.markdown("**Source task**: a few of the 200 glyph classes the backbone was pretrained on")
    image_grid(source_split(1, 5, cfg.image_size, n_classes=source_classes).x)
    st.markdown(f"**Target task**: {cfg.n_classes} new classes, never seen in pretraining")
    x = sample_grid([cfg.domain_shift], per_class, cfg.n_classes, cfg.image_size)[cfg.domain_shift]
    image_grid(x, [TARGET_NAMES[k] for k in range(cfg.n_classes) for _ in range(per_class)])


def shift_samples(amounts: Sequence[float], n_classes: int = 8) -> None:
    """The same target glyphs at each domain-shift position, one row per position."""
    from engine.data.tasks import sample_grid

    grids = sample_grid(list(amounts), 1, n_classes)
    for a in amounts:
        st.caption(f"domain shift {a:g}")
        image_grid(grids[a])


def schedule_plot(cfg: TrainConfig, key: str | None = None) -> None:
    """The head's LR at every step of `cfg`, drawn before training (schedules are pure functions)."""
    from engine.train import schedules

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
                confusion(snap, ex.run_of(snap["id"]), key=f"{page_key}:confusion:{label}")


def series_csv(snapshot: dict) -> str:
    """A run's series as CSV text (one row per step)."""
    return _charts.series_csv(snapshot)
