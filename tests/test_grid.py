"""The strategy x labels grid: which configs it makes, how results become rows, and one real tiny cell."""

import pandas as pd
import pytest

from engine.core.config import ConfigError, TrainConfig
from engine.train import grid

BASE = TrainConfig(steps=3, eval_every=3, log_every=3, seed=0)


def test_grid_configs_cover_every_cell_in_order():
    cfgs = grid.grid_configs(BASE, ["feature extraction", "full fine-tune"], [1, 5])
    assert list(cfgs) == [
        "feature extraction | 1 labels",
        "feature extraction | 5 labels",
        "full fine-tune | 1 labels",
        "full fine-tune | 5 labels",
    ]
    fe, ft = cfgs["feature extraction | 5 labels"], cfgs["full fine-tune | 1 labels"]
    assert (fe.strategy, fe.shots, fe.steps) == ("feature", 5, 3)
    assert (ft.strategy, ft.unfreeze, ft.shots) == ("finetune", None, 1)
    assert fe.extras == {"grid_strategy": "feature extraction", "grid_shots": 5}
    assert BASE.extras == {}  # the base config is not touched
    assert grid.grid_configs(BASE, ["fine-tune top 2"], [2])["fine-tune top 2 | 2 labels"].unfreeze == 2


def test_custom_strategy_and_errors():
    cfgs = grid.grid_configs(BASE, ["slow"], [3], slow={"strategy": "finetune", "lr": 1e-4})
    assert cfgs["slow | 3 labels"].lr == 1e-4
    with pytest.raises(ConfigError, match=r"^unknown strategy 'linear probe'; choose from: feature extraction, fine-tune top 2, full fine-tune\.$"):
        grid.grid_configs(BASE, ["linear probe"], [1])
    with pytest.raises(ConfigError, match="at least one strategy and one labels-per-class value"):
        grid.grid_configs(BASE, ["full fine-tune"], [])
    with pytest.raises(ConfigError, match="labels per class must be at least 1"):
        grid.grid_configs(BASE, ["full fine-tune"], [0])


def test_records_and_pivot_read_as_a_dataframe():
    results = {
        "feature extraction | 1 labels": {"test_accuracy": 0.5, "seconds": 1.0, "status": "finished"},
        "feature extraction | 5 labels": {"test_accuracy": 0.7, "seconds": 1.2, "status": "finished"},
        "full fine-tune | 1 labels": None,
        "full fine-tune | 5 labels": {"test_accuracy": 0.8, "seconds": 2.0, "status": "finished"},
    }
    rows = grid.records(results)
    assert rows[2] == {"strategy": "full fine-tune", "shots": 1, "test_accuracy": None, "seconds": None, "status": "not run"}
    table = pd.DataFrame(grid.pivot(rows)).T
    assert list(table.index) == ["feature extraction", "full fine-tune"]
    assert list(table.columns) == [1, 5]
    assert table.loc["full fine-tune", 5] == 0.8
    assert pd.isna(table.loc["full fine-tune", 1])


def test_run_grid_trains_each_cell_once():
    seen = []

    def fake(cfg):
        seen.append((cfg.strategy, cfg.shots))
        return {"test_accuracy": cfg.shots / 10, "seconds": 0.1, "status": "finished"}

    rows = grid.run_grid(BASE, ["feature extraction", "full fine-tune"], [1, 2], runner=fake)
    assert seen == [("feature", 1), ("feature", 2), ("finetune", 1), ("finetune", 2)]
    assert [r["test_accuracy"] for r in rows] == [0.1, 0.2, 0.1, 0.2]


def test_run_grid_for_real_on_one_tiny_cell():
    rows = grid.run_grid(BASE.replace(n_classes=3), ["feature extraction"], [1])
    assert len(rows) == 1 and rows[0]["status"] == "finished" and rows[0]["shots"] == 1
    assert 0.0 <= rows[0]["test_accuracy"] <= 1.0
