"""A small grid of experiments: strategies x labels per class, run in one go, read as a table.

`grid_configs` lists the cells as configs (a page hands them to the run manager);
`run_grid` trains them one after another on this thread (tests, CLI); `records` turns
finished results into rows that `pandas.DataFrame(rows)` or `pivot` read directly.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.core.config import ConfigError, TrainConfig

# strategy name -> the config fields that make it (on top of the base config)
STRATEGIES: dict[str, dict] = {
    "feature extraction": {"strategy": "feature"},
    "fine-tune top 2": {"strategy": "finetune", "unfreeze": 2},
    "full fine-tune": {"strategy": "finetune", "unfreeze": None},
}


def cell_label(strategy: str, shots: int) -> str:
    return f"{strategy} | {shots} labels"


def grid_configs(base: TrainConfig, strategies: list[str], shots: list[int], **strategy_fields: dict) -> dict[str, TrainConfig]:
    """{cell label: config} for every (strategy, labels per class), strategy-major order.

    A strategy name is one of STRATEGIES, or one given as a keyword (name=dict of fields)."""
    table = {**STRATEGIES, **strategy_fields}
    if not strategies or not shots:
        raise ConfigError("the grid needs at least one strategy and one labels-per-class value.")
    out = {}
    for s in strategies:
        if s not in table:
            raise ConfigError(f"unknown strategy {s!r}; choose from: {', '.join(table)}.")
        for n in shots:
            cfg = base.replace(**table[s], shots=int(n))
            cfg.extras = {**cfg.extras, "grid_strategy": s, "grid_shots": int(n)}
            out[cell_label(s, n)] = cfg.validate()
    return out


def records(results: dict[str, dict | None], metric: str = "test_accuracy") -> list[dict]:
    """One row per cell: strategy, shots, the metric, seconds and status (None for an unfinished cell)."""
    rows = []
    for label, res in results.items():
        strategy, _, rest = label.partition(" | ")
        shots = int(rest.split()[0])
        res = res or {}
        rows.append(
            {
                "strategy": strategy,
                "shots": shots,
                metric: res.get(metric),
                "seconds": res.get("seconds"),
                "status": res.get("status", "not run"),
            }
        )
    return rows


def pivot(rows: list[dict], metric: str = "test_accuracy") -> dict[str, dict[int, float | None]]:
    """{strategy: {shots: value}}: rows are strategies, columns labels per class (pandas.DataFrame(...).T)."""
    table: dict[str, dict[int, float | None]] = {}
    for r in rows:
        table.setdefault(r["strategy"], {})[r["shots"]] = r[metric]
    return table


def run_grid(base: TrainConfig, strategies: list[str], shots: list[int], runner: Callable[[TrainConfig], dict] | None = None) -> list[dict]:
    """Train every cell synchronously and return its rows (see `records`)."""
    if runner is None:
        from engine.train.experiment import run_experiment as runner
    configs = grid_configs(base, strategies, shots)
    return records({label: runner(cfg) for label, cfg in configs.items()})
