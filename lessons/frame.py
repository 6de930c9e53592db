"""The page frame of a lesson: title and goal, sections, the settings block, "What to notice", "Try this", quizzes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from engine.core.config import TrainConfig
from lessons import _controls, data_model


def header(hour: int | None, title: str, goal: str) -> None:
    """The page title and its goal in a box."""
    st.title(f"Hour {hour} · {title}" if hour is not None else title)
    st.info(f"**Goal.** {goal}")


def section(name: str) -> None:
    st.header(name, divider="gray")


def controls(page_key: str, base: TrainConfig, knobs: Sequence[str] | Mapping[str, dict], columns: int = 3,
             sidebar: bool = True) -> TrainConfig:
    """Widgets for `knobs` (TrainConfig field names, plus "freeze"), defaults from `base`; returns base with them applied.

    `knobs` may map a name to overrides of its row, e.g. {"steps": {"hi": 400}, "lr": {"label": "Head LR"}}.
    The sidebar's "Data and model" choice (lessons.data_model) applies to every page with controls; a page with a
    second experiment passes sidebar=False for it, so the section is drawn once and its choice applies to both.
    The knobs' values are in the page's address (lessons.address): the first controls of a page show "Share these
    settings", "Reset to the lesson's defaults" and the teacher's pin, and a sidebar=False call joins them.
    """
    base = data_model.sidebar(page_key, base) if sidebar else data_model.resolve(base, data_model._choice())[0]
    names = list(knobs)
    overrides = dict(knobs) if isinstance(knobs, Mapping) else {}
    changes = _controls.draw(page_key, base, names, overrides, columns, join=not sidebar)
    return base.replace(**changes)


def glyph_world_only(cfg: TrainConfig, why: str) -> None:
    """For pages that always train glyphnet on the glyph world: say so when the sidebar chose otherwise."""
    if (cfg.backbone, cfg.dataset) != ("glyphnet", "glyphs"):
        st.caption(f"{why}; the sidebar's choice of data and model applies on the other pages.")


def notice(claims: Sequence[str]) -> None:
    """'What to notice': the observations the default experiment shows (each one is tested)."""
    section("What to notice")
    st.success("\n".join(f"- {c}" for c in claims))


def try_this(items: Sequence[tuple[str, str]]) -> None:
    """'Try this': (change to make, what should happen) pairs."""
    section("Try this")
    st.markdown("\n".join(f"{i}. **{change}** → {expect}" for i, (change, expect) in enumerate(items, 1)))


def check_yourself(page_key: str, questions: Sequence[Mapping]) -> None:
    """Multiple-choice questions {q, options, answer (index), why} with instant feedback."""
    section("Check yourself")
    for i, q in enumerate(questions):
        choice = st.radio(f"**{i + 1}.** {q['q']}", q["options"], index=None, key=f"{page_key}:quiz{i}")
        if choice is None:
            continue
        if q["options"].index(choice) == q["answer"]:
            st.success(f"Correct. {q.get('why', '')}")
        else:
            st.warning(f"Not quite: the answer is “{q['options'][q['answer']]}”. {q.get('why', '')}")
