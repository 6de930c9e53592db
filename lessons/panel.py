"""The API a lesson page uses: the page frame from lessons.frame, runs from lessons.experiments, live widgets and pictures from lessons.live."""

# Every lesson page is a thin script over this module:
#
#     panel.header(hour=1, title="Why transfer?", goal="...")
#     cfg = panel.controls("hour01", base=TrainConfig(...), knobs=["shots", "steps"])
#     panel.experiment("hour01", {"from scratch": cfg.replace(weights="scratch"), "pretrained": cfg})
#     panel.notice([...]); panel.try_this([...]); panel.check_yourself("hour01", [...])
#
# Runs train on the engine's threads (engine.serve.manager); lessons.experiments only reads their snapshots.

from lessons.experiments import (
    GHOST_EXPERIMENTS,
    GONE,
    LIVE,
    _registry,
    _snapshot,
    latest,
    session_runs,
    start,
    stored_rows,
    stored_runs,
)
from lessons.frame import check_yourself, controls, glyph_world_only, header, notice, section, try_this
from lessons.live import (
    REFRESH_SECONDS,
    _draw,
    compare,
    confusion,
    experiment,
    image_grid,
    layer_panel,
    mistakes_panel,
    schedule_plot,
    series_csv,
    shift_samples,
    target_samples,
)

__all__ = [
    "GHOST_EXPERIMENTS",
    "GONE",
    "LIVE",
    "REFRESH_SECONDS",
    "_draw",
    "_registry",
    "_snapshot",
    "check_yourself",
    "compare",
    "confusion",
    "controls",
    "experiment",
    "glyph_world_only",
    "header",
    "image_grid",
    "latest",
    "layer_panel",
    "mistakes_panel",
    "notice",
    "schedule_plot",
    "section",
    "series_csv",
    "session_runs",
    "shift_samples",
    "start",
    "stored_rows",
    "stored_runs",
    "target_samples",
    "try_this",
]
