"""The engine's layers: one-way imports, no UI in the engine, and a Trainer that runs on parts it is given."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from engine.core.config import TrainConfig
from engine.data.tasks import Split, Task
from engine.models.registry import TransferNet
from engine.train.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["core", "data", "models", "train", "serve", "tools"]  # each may import only those before it


def _engine_imports(path: Path) -> set[str]:
    """Every module name an engine file imports, inside functions too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_each_layer_imports_only_the_layers_below_it_and_never_the_ui():
    wrong = []
    for layer in LAYERS:
        allowed = set(LAYERS[: LAYERS.index(layer) + 1])
        for path in sorted((ROOT / "engine" / layer).glob("*.py")):
            for name in _engine_imports(path):
                top = name.split(".")[0]
                if top in ("streamlit", "lessons", "views"):
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
                parts = name.split(".")
                if top == "engine" and len(parts) > 1 and parts[1] in LAYERS and parts[1] not in allowed:
                    wrong.append(f"{path.relative_to(ROOT)} ({layer}) imports {name}")
    assert wrong == []


def test_the_import_cycle_checker_finds_none():
    tool = ROOT.parent / "shared" / "tools" / "import-cycles.py"
    if not tool.exists():  # the checker ships beside the project, not in it
        import pytest

        pytest.skip("the import-cycle checker is not beside this checkout")
    out = subprocess.run([sys.executable, str(tool), str(ROOT), "engine", "lessons", "views"], capture_output=True, text=True)
    assert out.stdout.strip() == "no import cycles", out.stdout


class _Tiny(TransferNet):
    """Two layer groups on 4x4 images: small enough to reason about every number."""

    def __init__(self):
        super().__init__([("body", nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 8), nn.ReLU()))], 8, nn.Linear(8, 2))


def _tiny_task() -> Task:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(16) % 2
    x = torch.rand(16, 3, 4, 4, generator=g) + y.view(-1, 1, 1, 1) * 0.5  # class 1 is brighter: learnable
    split = Split(x, y)
    return Task("tiny", ["dark", "bright"], split, Split(x[:8], y[:8]), Split(x[8:], y[8:]))


def test_the_trainer_runs_its_loop_on_a_tiny_model_it_is_given():
    torch.manual_seed(0)
    model = _Tiny()
    before = [p.detach().clone() for p in model.parameters()]
    config = TrainConfig(weights="scratch", strategy="finetune", steps=30, batch_size=8, lr=1e-2, eval_every=30, log_every=1,
                         device="cpu")
    t = Trainer(model, _tiny_task(), config)
    assert t.group_names == ["body", "head"]
    t.fit()
    assert t.status == "finished" and t.step == 30
    losses = [float(p) for p in t.loss.detach().flatten()]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # it trained the model it was given
    assert t.drift()[0] > 0 and t.drift()[1] > 0
    loss, acc, _ = t.evaluate(t.task.test)
    assert acc >= 0.75, (loss, acc)  # the bright/dark split is learnt in 30 steps


def test_the_trainer_keeps_a_frozen_group_of_a_given_model_exactly_where_it_was():
    model = _Tiny()
    config = TrainConfig(weights="scratch", strategy="feature", steps=10, batch_size=8, lr=1e-2, eval_every=10, device="cpu")
    t = Trainer(model, _tiny_task(), config)
    t.fit()
    assert t.drift()[0] == 0.0 and t.drift()[1] > 0
