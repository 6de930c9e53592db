"""Plotly figures built from run snapshots and the recipes' numbers (plain data in, a figure out; no streamlit here)."""

from __future__ import annotations

import io
import math

import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
GHOST = "rgba(120,120,120,0.45)"
FROZEN = "#b0b0b0"
MAX_POINTS = 400  # a long series is thinned to this many points before drawing


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def thin(steps: list, values: list, max_points: int = MAX_POINTS) -> tuple[list, list]:
    """Every k-th point so at most `max_points` remain; the last point is always kept."""
    n = len(steps)
    if n <= max_points:
        return list(steps), list(values)
    k = math.ceil(n / max_points)
    idx = list(range(0, n, k))
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return [steps[i] for i in idx], [values[i] for i in idx]


def _finite(values: list) -> list:
    return [v if isinstance(v, (int, float)) and math.isfinite(v) else None for v in values]


def _layout(fig: go.Figure, title: str, ytitle: str, height: int = 320) -> go.Figure:
    fig.update_layout(_layout_spec(title, ytitle, height))
    return fig


def _layout_spec(title: str, ytitle: str, height: int = 320, **extra) -> dict:
    return {
        "title": {"text": title, "x": 0, "font": {"size": 15}}, "height": height, "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.32, "x": 0},
        "xaxis": {"title": {"text": "step"}}, "yaxis": {"title": {"text": ytitle}},
        "uirevision": "keep",  # keep the student's zoom while the chart refreshes
        **extra,
    }


def _figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain trace and layout dicts, without plotly's validators: the live charts are redrawn
    every second for every open tab, and validating each one cost more than drawing it (the specs here are
    fixed by this module, and the tests draw every one of them)."""
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def _line(x, y, name: str, group: str, **style) -> dict:
    return {"type": "scatter", "x": list(x), "y": _finite(y), "name": name, "legendgroup": group, **style}


def _axis(layout: dict, axis: str, **props) -> dict:
    layout[axis] = {**layout.get(axis, {}), **props}
    return layout


def loss_figure(snaps: dict[str, dict], ghosts: list[dict] | None = None, max_steps: int | None = None) -> go.Figure:
    """Train loss (solid) and validation loss (dashed, dots) per run; earlier runs faded behind."""
    data = []
    for g in ghosts or []:
        for name, dash in (("train_loss", "dot"), ("val_loss", "dashdot")):
            s = g["series"].get(name)
            if s:
                data.append(_line(s[0], s[1], f"{g['name']} · {name.replace('_', ' ')}", g["name"], mode="lines",
                                  line={"color": GHOST, "dash": dash, "width": 1.5}))
    for i, (label, snap) in enumerate(snaps.items()):
        series = snap.get("series", {})
        if "train_loss" in series:
            x, y = thin(*series["train_loss"])
            data.append(_line(x, y, f"{label} · train loss", label, mode="lines", line={"color": color(i), "width": 2}))
        if "val_loss" in series:
            x, y = series["val_loss"]
            data.append(_line(x, y, f"{label} · validation loss", label, mode="lines+markers",
                              line={"color": color(i), "dash": "dash", "width": 2}))
    layout = _axis(_layout_spec("Loss (lower is better)", "cross-entropy"), "yaxis", rangemode="tozero")  # a loss is >= 0
    if max_steps:
        _axis(layout, "xaxis", range=[0, max_steps])
    return _figure(data, layout)


def accuracy_figure(snaps: dict[str, dict], ghosts: list[dict] | None = None, max_steps: int | None = None) -> go.Figure:
    """Validation accuracy on the target per run, and the forgetting meter (source-task accuracy) where it exists."""
    data = []
    for g in ghosts or []:
        s = g["series"].get("val_accuracy")
        if s:
            data.append(_line(s[0], s[1], f"{g['name']} · validation accuracy", g["name"], mode="lines",
                              line={"color": GHOST, "dash": "dot", "width": 1.5}))
    for i, (label, snap) in enumerate(snaps.items()):
        series = snap.get("series", {})
        if "val_accuracy" in series:
            x, y = series["val_accuracy"]
            data.append(_line(x, y, f"{label} · validation accuracy (target)", label, mode="lines+markers",
                              line={"color": color(i), "width": 2}))
        if "source_accuracy" in series:
            x, y = series["source_accuracy"]
            data.append(_line(x, y, f"{label} · source-task accuracy (forgetting meter)", label, mode="lines+markers",
                              marker={"symbol": "diamond"}, line={"color": color(i), "dash": "dot", "width": 2}))
    layout = _axis(_layout_spec("Accuracy (higher is better)", "accuracy"), "yaxis", range=[0, 1.02], tickformat=".0%")
    if max_steps:
        _axis(layout, "xaxis", range=[0, max_steps])
    return _figure(data, layout)


def last_per_group(snap: dict, prefix: str) -> list[float]:
    series = snap.get("series", {})
    return [series[f"{prefix}/{g}"][1][-1] if series.get(f"{prefix}/{g}") else 0.0 for g in snap.get("groups", [])]


def _bars(groups: list, y: list, colors: list, text: list, title: str, ytitle: str, **yaxis) -> go.Figure:
    layout = _layout_spec(title, ytitle, height=280)
    _axis(layout, "yaxis", rangemode="tozero", **yaxis)
    _axis(layout, "xaxis", title={"text": "group"})
    bar = {"type": "bar", "x": list(groups), "y": list(y), "marker": {"color": colors}, "text": text,
           "textposition": "outside", "cliponaxis": False}
    return _figure([bar], layout)


def drift_bars(snap: dict) -> go.Figure:
    """||W - W0|| / ||W0|| per group now; frozen groups grey and labelled."""
    drift = last_per_group(snap, "drift")
    trainable = last_per_group(snap, "trainable")
    colors = [color(0) if t else FROZEN for t in trainable]
    text = [f"{d:.3f}" if t else ("frozen" if d == 0 else f"frozen · {d:.3f}") for d, t in zip(drift, trainable)]
    return _bars(snap.get("groups", []), drift, colors, text, "Weight drift per group: ||W − W0|| / ||W0||", "relative drift")


def lr_bars(snap: dict) -> go.Figure:
    """The LR each group gets right now (0 and labelled frozen when it does not train)."""
    lrs = last_per_group(snap, "lr")
    trainable = last_per_group(snap, "trainable")
    colors = [color(1) if t else FROZEN for t in trainable]
    text = [f"{lr:.1e}" if t else "frozen" for lr, t in zip(lrs, trainable)]
    return _bars(snap.get("groups", []), [lr if t else 0 for lr, t in zip(lrs, trainable)], colors, text,
                 "Learning rate per group, right now", "learning rate", exponentformat="e")


UPDATE_GUIDE = 1e-3  # the usual rule of thumb: each step changes a layer's weights by about a thousandth of their size


def update_ratio_figure(snap: dict) -> go.Figure | None:
    """||ΔW|| / ||W|| of one step, per trainable group over time (log scale), with the 1e-3 rule of thumb dashed."""
    series = snap.get("series", {})
    data = []
    for i, g in enumerate(snap.get("groups", [])):
        s = series.get(f"update/{g}")
        if not s or not any(v > 0 for v in s[1]):
            continue  # frozen all along: no update to show
        x, y = thin(s[0], [v if v > 0 else None for v in s[1]])
        data.append(_line(x, y, g, g, mode="lines", line={"color": color(i), "width": 2}))
    if not data:
        return None
    steps = [v for d in data for v in d["x"]]
    data.append({"type": "scatter", "x": [min(steps), max(steps)], "y": [UPDATE_GUIDE, UPDATE_GUIDE], "mode": "lines",
                 "name": "1e-3 (rule of thumb)", "line": {"color": GHOST, "dash": "dash", "width": 1.5}})
    layout = _axis(_layout_spec("Update / weight ratio per step: ||ΔW|| / ||W||", "ratio (log)", height=260),
                   "yaxis", type="log", dtick=1, exponentformat="power")  # one labelled tick per decade
    return _figure(data, layout)


def drift_heatmap(snap: dict, max_columns: int = 120) -> go.Figure | None:
    """Drift of every group (rows, input at the bottom) against step (columns)."""
    series = snap.get("series", {})
    groups = [g for g in snap.get("groups", []) if series.get(f"drift/{g}")]
    if not groups:
        return None
    steps = series[f"drift/{groups[0]}"][0]
    rows = []
    for g in groups:
        _, z = thin(series[f"drift/{g}"][0], series[f"drift/{g}"][1], max_columns)
        rows.append(z)
    if len(steps) < 2:
        return None
    x, _ = thin(steps, steps, max_columns)
    width = min(len(r) for r in rows)
    z = [r[:width] for r in rows]
    top = max(1e-6, max(max(r) for r in z))
    heat = {"type": "heatmap", "z": z, "x": x[:width], "y": groups, "colorscale": "Viridis",
            "colorbar": {"title": {"text": "drift"}}, "zmin": 0, "zmax": top}
    return _figure([heat], _layout_spec("Drift over time (darker = closer to where the weights started)", "group", height=260))


def schedule_figure(factors: list[float], lr: float) -> go.Figure:
    fig = go.Figure(go.Scatter(x=list(range(len(factors))), y=[lr * f for f in factors], mode="lines",
                               line=dict(color=color(1), width=2), name="head LR"))
    fig.update_yaxes(rangemode="tozero", exponentformat="e")
    return _layout(fig, "The head's learning rate at every step (before training)", "learning rate", height=240)


def confusion_figure(cm: list[list[int]], classes: list[str]) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=cm, x=classes, y=classes, colorscale="Blues", text=cm, texttemplate="%{text}",
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="true class")
    fig.update_xaxes(title="predicted class")
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=40, b=10),
                      title=dict(text="Confusion matrix on the test set (rows: truth)", x=0, font=dict(size=15)))
    return fig


def feature_space_figure(rows: list[dict], explained: list[float], title: str) -> go.Figure:
    """Hour 2: the test images in a feature space squeezed to 2-D by PCA, one colour per class."""
    import plotly.express as px

    fig = px.scatter(rows, x="x", y="y", color="class", height=380, title=title,
                     labels={"x": f"PC 1 ({explained[0]:.0%} of the variance)", "y": f"PC 2 ({explained[1]:.0%})"})
    fig.update_traces(marker={"size": 6, "opacity": 0.75})
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend_title_text="")
    return fig


def lr_profile_figure(profiles: dict[str, dict[str, float]]) -> go.Figure:
    """Hour 4: the learning rate of each group ({run label: {group: LR}}), the first run labelled, the others grey."""
    fig = go.Figure()
    for i, (label, profile) in enumerate(profiles.items()):
        fig.add_trace(go.Bar(x=list(profile), y=list(profile.values()), name=label, marker_color=["#1f77b4", "#b0b0b0"][i % 2],
                             text=[f"{v:.1e}" for v in profile.values()] if i == 0 else None, textposition="outside",
                             cliponaxis=False))
    values = [v for p in profiles.values() for v in p.values()]
    wide = max(values) / min(values) > 30  # a discriminative range over orders of magnitude reads better on a log axis
    fig.update_yaxes(type="log" if wide else "linear", title="learning rate" + (" (log scale)" if wide else ""),
                     exponentformat="e", rangemode="tozero")
    fig.update_layout(title={"text": "Learning rate per group, input → head (before any schedule)", "x": 0, "font": {"size": 15}},
                      barmode="group", height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.15, "x": 0})
    return fig


def timeline_figure(series: dict[str, tuple[list, list]], title: str) -> go.Figure:
    """Hour 4: which groups train (1, blue) or are frozen (0, grey) at each step ({group: (steps, flags)})."""
    groups = list(series)
    steps = series[groups[0]][0]
    fig = go.Figure(go.Heatmap(
        z=[series[g][1] for g in groups], x=steps, y=groups, zmin=0, zmax=1, showscale=False,
        colorscale=[[0, "#e4e4e4"], [0.5, "#e4e4e4"], [0.5, "#1f77b4"], [1, "#1f77b4"]],
        hovertemplate="step %{x}<br>%{y}: %{z}<extra>1 = trains, 0 = frozen</extra>",
    ))
    fig.update_layout(title={"text": title, "x": 0, "font": {"size": 15}}, height=260, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis_title="step")
    return fig


def finder_figure(finder_snaps: dict[str, dict]) -> go.Figure:
    """Hour 5: smoothed loss against LR (log axis) for each range test, with its good-LR band and suggestion marked."""
    from lessons.recipes.hour05 import finder_curve, valley  # the recipe measures the curve; this only draws it

    fig = go.Figure()
    for i, (label, snap) in enumerate(finder_snaps.items()):
        lrs, losses = finder_curve(snap)
        if not lrs:
            continue
        fig.add_trace(go.Scatter(x=lrs, y=losses, mode="lines", name=label, line=dict(color=color(i), width=2)))
        band = valley(lrs, losses)
        if band:
            fig.add_vrect(x0=band[0], x1=band[1], fillcolor=color(i), opacity=0.08, line_width=0)
        steep = ((snap.get("results") or {}).get("lr_finder") or {}).get("steepest_lr")
        if steep:
            fig.add_vline(x=steep, line=dict(color=color(i), dash="dot", width=1))
    fig.update_xaxes(type="log", title="learning rate (log scale)", exponentformat="power")
    fig.update_yaxes(title="smoothed training loss", rangemode="tozero")
    fig.update_layout(title=dict(text="LR range test: loss as the LR grows", x=0, font=dict(size=15)), height=360,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", yanchor="top", y=-0.25, x=0))
    return fig


def series_csv(snap: dict) -> str:
    """The run's series as CSV: one row per step, one column per series (blank where not logged)."""
    import pandas as pd

    series = snap.get("series", {})
    frames = [pd.Series(v, index=s, name=name) for name, (s, v) in series.items() if s]
    if not frames:
        return "step\n"
    df = pd.concat([f[~f.index.duplicated(keep="last")] for f in frames], axis=1).sort_index()
    df.index.name = "step"
    buf = io.StringIO()
    df.to_csv(buf)
    return buf.getvalue()
