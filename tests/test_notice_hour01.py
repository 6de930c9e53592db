"""Hour 1's default experiment is what the page describes. Its "What to notice" claims are checked over five
seeds at the page's own length by tests/test_claims.py (lessons/recipes/hour01.py, CLAIMS)."""

from __future__ import annotations

from lessons.recipes import hour01


def test_the_default_is_what_the_page_describes():
    runs = hour01.configs()
    assert {k: (c.weights, c.strategy, c.unfreeze) for k, c in runs.items()} == {
        "from scratch": ("scratch", "finetune", None),
        "pretrained": ("pretrained", "finetune", None),
    }
    a, b = runs.values()
    assert a.replace(weights="pretrained") == b  # nothing differs but the starting weights
    assert (b.shots, b.steps, b.seed) == (5, 200, 0)


def test_every_notice_line_has_its_claims():
    names = [c.name for c in hour01.CLAIMS.claims]
    assert len(names) == 4 and hour01.CLAIMS.page == "hour01"
    assert f"(step {hour01.BASE.eval_every})" in hour01.NOTICE[0] and hour01.BASE.eval_every == 50
    assert set(hour01.CLAIMS.runs(3)) == {"from scratch", "pretrained", "from scratch @20", "pretrained @20"}
    assert {c.seed for c in hour01.CLAIMS.runs(3).values()} == {3}
