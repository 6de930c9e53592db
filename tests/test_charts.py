"""The live charts are built without plotly's validators for speed: every one of them must still be a valid figure."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from lessons import _charts

GROUPS = ["stem", "block1", "head"]


def snapshot(n: int = 30, frozen: tuple[str, ...] = ("stem",)) -> dict:
    steps = list(range(1, n + 1))
    series = {"train_loss": (steps, [2.0 / s for s in steps]), "val_loss": ([10, 20, 30], [1.0, 0.8, float("nan")]),
              "val_accuracy": ([10, 20, 30], [0.5, 0.6, 0.7]), "source_accuracy": ([10, 20, 30], [0.86, 0.8, 0.7])}
    for g in GROUPS:
        series[f"drift/{g}"] = (steps, [0.0 if g in frozen else 0.01 * s for s in steps])
        series[f"lr/{g}"] = (steps, [1e-3] * n)
        series[f"trainable/{g}"] = ([n], [0.0 if g in frozen else 1.0])
        series[f"update/{g}"] = (steps, [0.0 if g in frozen else 2e-3 for _ in steps])
    return {"series": series, "groups": GROUPS, "status": "running", "step": n, "steps": 200}


FIGURES = {
    "loss": lambda s: _charts.loss_figure({"a": s, "b": s}, [{"name": "earlier", "series": s["series"]}], max_steps=200),
    "accuracy": lambda s: _charts.accuracy_figure({"a": s}, [{"name": "earlier", "series": s["series"]}], max_steps=200),
    "drift": _charts.drift_bars,
    "lr": _charts.lr_bars,
    "heatmap": _charts.drift_heatmap,
    "update ratio": _charts.update_ratio_figure,
}


@pytest.mark.parametrize("name", FIGURES)
def test_each_live_chart_is_a_figure_plotly_accepts_when_validating(name):
    fig = FIGURES[name](snapshot())
    checked = go.Figure(fig.to_dict())  # raises ValueError on any property plotly does not know
    def plain(f):  # a named colour scale ("Viridis") is spelt out by the validator: plotly.js knows the name
        return [{k: v for k, v in trace.items() if k != "colorscale"} for trace in f.to_dict()["data"]]

    assert plain(checked) == plain(fig)
    assert checked.layout.title.text == fig.layout.title.text and checked.layout.uirevision == "keep"


def test_the_charts_show_what_the_snapshot_holds():
    s = snapshot()
    loss = _charts.loss_figure({"a": s}, max_steps=200)
    assert [t.name for t in loss.data] == ["a · train loss", "a · validation loss"]
    assert loss.data[1].y == (1.0, 0.8, None)  # a loss that is not finite leaves a gap, not a spike
    assert loss.layout.xaxis.range == (0, 200) and loss.layout.xaxis.title.text == "step"
    drift = _charts.drift_bars(s)
    assert drift.data[0].text == ("frozen", "0.300", "0.300") and drift.data[0].marker.color[0] == _charts.FROZEN
    lr = _charts.lr_bars(s)
    assert lr.data[0].y == (0, 1e-3, 1e-3) and lr.layout.yaxis.exponentformat == "e"
    heat = _charts.drift_heatmap(s)
    assert heat.data[0].y == tuple(GROUPS) and heat.data[0].zmax == pytest.approx(0.3)


def test_the_update_ratio_chart_shows_trainable_groups_and_the_guide():
    fig = _charts.update_ratio_figure(snapshot())
    assert [t.name for t in fig.data] == ["block1", "head", "1e-3 (rule of thumb)"]  # the frozen stem has no line
    assert fig.data[-1].y == (1e-3, 1e-3) and fig.layout.yaxis.type == "log"
    assert _charts.update_ratio_figure(snapshot(frozen=tuple(GROUPS))) is None


def _layer_panel_page():
    import streamlit as st

    from lessons import live

    live.layer_panel("t", st.session_state["snaps"])


@pytest.mark.parametrize("logged", [False, True])
def test_the_layer_panel_waits_for_the_first_logged_step_instead_of_calling_every_group_frozen(logged):
    from streamlit.testing.v1 import AppTest

    snap = snapshot() if logged else {"series": {}, "groups": GROUPS, "status": "running", "step": 0, "steps": 200}
    at = AppTest.from_function(_layer_panel_page, default_timeout=30)
    at.session_state["snaps"] = {"a": snap}
    at.run()
    assert not at.exception
    charts = at.get("plotly_chart")
    captions = [c.value for c in at.caption]
    if logged:
        assert len(charts) == 4 and "The layer panel fills in after the first logged step." not in captions
    else:
        assert len(charts) == 0 and captions == ["The layer panel fills in after the first logged step."]
