"""Hour 10's default experiment: a small grid of strategy x labels per class, run in one go.

Feature extraction (head only) and full fine-tuning, each at the fewest and at many labels per class:
four runs, as many as one browser session may train at once. engine.train.grid builds the cells.
"""

from __future__ import annotations

from engine.core.config import TrainConfig
from engine.models import export
from engine.train import grid

BASE = TrainConfig(backbone="glyphnet", weights="pretrained", steps=100, eval_every=25, log_every=10, seed=0)
KNOBS = ["steps", "seed"]
STRATEGIES = ["feature extraction", "full fine-tune"]
SHOTS = [1, 20]
SHOT_CHOICES = [1, 2, 5, 10, 20, 50]
MAX_CELLS = 4  # one session's live-run limit (engine settings: per_session)
EXPORT_FILE = "glyph_model.pt2"


def default_configs(base: TrainConfig = BASE, strategies: list[str] | None = None, shots: list[int] | None = None,
                    **overrides) -> dict[str, TrainConfig]:
    """{cell label: config} for the grid (strategy-major), e.g. "feature extraction | 1 labels".

    Always glyphnet on the glyph world, whatever the sidebar says: the exported model is tried on glyph pictures."""
    cfg = (base.replace(**overrides) if overrides else base).replace(backbone="glyphnet", dataset="glyphs", image_size=32)
    return grid.grid_configs(cfg, strategies or STRATEGIES, shots or SHOTS)


def results_table(results: dict[str, dict | None]) -> dict[str, dict[int, float | None]]:
    """{strategy: {labels per class: test accuracy}} of the finished cells, for the heatmap."""
    return grid.pivot(grid.records(results))


def winner(table: dict[str, dict[int, float | None]], shots: int) -> str | None:
    """The strategy with the best test accuracy at `shots` labels per class (None while unfinished)."""
    scores = {s: row.get(shots) for s, row in table.items()}
    if any(v is None for v in scores.values()) or not scores:
        return None
    return max(scores, key=scores.get)


def heatmap_cells(table: dict[str, dict[int, float | None]]) -> list[dict]:
    """The grid in the class board's cell format (views.board.board_figure): one run per cell."""
    return [
        {"arm": strategy, "shots": shots, "mean": acc, "n": 0 if acc is None else 1, "diverged": 0}
        for strategy, row in table.items() for shots, acc in row.items()
    ]


def export_files(model, classes: list[str], config: dict, cache: dict, run_id: str) -> dict[str, bytes]:
    """{"state_dict": bytes, "program": bytes} for one run, made once and kept in `cache` (e.g. the session)."""
    key = f"{EXPORT_FILE}:{run_id}"
    if key not in cache:
        cache[key] = {
            "state_dict": export.state_dict_bytes(model, classes, config["backbone"], config["head"], config["image_size"]),
            "program": export.program_bytes(model, config["image_size"]),
        }
    return cache[key]


def top_rows(probs: dict[str, float], k: int = 5) -> list[dict]:
    """The k most likely classes as table rows, most likely first."""
    best = sorted(probs.items(), key=lambda kv: -kv[1])[:k]
    return [{"class": c, "probability": round(p, 3)} for c, p in best]


def class_examples(n_classes: int):
    """One clean sample of each target class: ((n, 3, 32, 32) images, class names)."""
    from engine.data.tasks import TARGET_NAMES, sample_grid

    return sample_grid([0.0], 1, n_classes)[0.0], [f"glyph {TARGET_NAMES[k]}" for k in range(n_classes)]


# "What to notice" on the page; tests/test_notice_hour10.py checks each claim on the default grid.
NOTICE = [
    ("At 1 label per class, feature extraction beats full fine-tuning: with one example per class there is too "
    "little to reshape a whole backbone, and the frozen features are already good."),
    ("At 20 labels per class, full fine-tuning catches up and passes feature extraction: now there is enough data "
    "to adapt the features to the new classes."),
    "Both strategies gain from more labels, and fine-tuning gains more.",
]

TRY_THIS = [
    ("Move the grid's columns closer together (say 2 and 5 labels) and run it again",
     "find where the winner flips: somewhere between 1 and 20 labels the two strategies cross."),
    ("Export the model fine-tuned on 20 labels, draw one of the target glyphs by hand and upload it",
     ("see whether it names your drawing: a hand-drawn glyph looks different from the rendered ones, a small domain "
     "shift of its own (Hour 8).")),
    ("Open the Class board page once several students have run the grid",
     "each cell there averages the room's runs, so luck evens out: compare its pattern with your own grid."),
]
