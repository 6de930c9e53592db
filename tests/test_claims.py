"""Every page's "What to notice" claims hold for the room: at least NEED of SEEDS draws, at the page's own length.

Each page's runs train once per seed and every claim of the page is scored on them (lessons/recipes/_claims.py).
`make test-fast` runs seed 0 only (CLAIM_SEEDS=0); `python scripts/claims.py` prints the margins.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from lessons.recipes import _claims

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SEEDS = tuple(int(s) for s in os.environ.get("CLAIM_SEEDS", ",".join(map(str, _claims.SEEDS))).split(","))
PAGES = [p.stem for p in sorted((ROOT / "lessons" / "recipes").glob("hour*.py"))
         if getattr(importlib.import_module(f"lessons.recipes.{p.stem}"), "CLAIMS", None) is not None]


def recipe(page: str):
    return importlib.import_module(f"lessons.recipes.{page}").CLAIMS


@pytest.fixture(scope="module")
def tables(request) -> dict[str, dict[str, dict[int, float]]]:
    """The margins of every page a selected test asks about, all trained in one go (_claims.check_pages)."""
    wanted = sorted({item.callspec.params["page"] for item in request.session.items
                     if item.module is request.module and hasattr(item, "callspec")})
    return _claims.check_pages([recipe(p) for p in wanted], SEEDS)


CASES = [(p, c.name) for p in PAGES for c in recipe(p).claims]


@pytest.mark.parametrize(("page", "claim"), CASES, ids=[f"{p}: {c}" for p, c in CASES])
def test_the_claim_holds_for_the_room(tables, page, claim):
    margins = tables[page][claim]
    need = min(_claims.NEED, len(SEEDS))
    assert sum(m > 0 for m in margins.values()) >= need, f"margins per seed: {margins}"


def test_a_claim_that_fails_on_two_draws_is_caught():
    assert not _claims.holds({0: 0.1, 1: -0.01, 2: 0.2, 3: -0.3, 4: 0.05})
    assert _claims.holds({0: 0.1, 1: -0.01, 2: 0.2, 3: 0.3, 4: 0.05})


def test_a_config_two_pages_share_trains_once_and_each_page_reads_it(monkeypatch):
    from engine.core.config import TrainConfig

    shared, other = TrainConfig(steps=3), TrainConfig(steps=3, lr=1e-4)
    seen = []

    def fake_train(configs):
        seen.append(dict(configs))
        return {key: _claims.Outcome({"lr": cfg.lr}, {}) for key, cfg in configs.items()}

    monkeypatch.setattr(_claims, "train", fake_train)
    a = _claims.PageClaims("a", lambda seed: {"x": shared.replace(seed=seed)},
                           (_claims.Claim("lr", lambda o: o["x"].results["lr"]),))
    b = _claims.PageClaims("b", lambda seed: {"y": shared.replace(seed=seed), "z": other.replace(seed=seed)},
                           (_claims.Claim("lr", lambda o: o["y"].results["lr"] + o["z"].results["lr"]),))
    tables = _claims.check_pages([a, b], (0, 1))
    assert len(seen) == 1 and len(seen[0]) == 4  # 6 configs, 2 of them repeats of page a's
    assert tables == {"a": {"lr": {0: 1e-3, 1: 1e-3}}, "b": {"lr": {0: 1e-3 + 1e-4, 1: 1e-3 + 1e-4}}}
