"""A lesson page's settings live in its address: a shared link opens the page with its settings, moving a knob
rewrites the address, a bad value is ignored with one sentence, Reset goes back to the lesson's defaults, and the
share link never carries the student's own id. No training: only the knob layer and a real page's widgets."""

from __future__ import annotations

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

import engine.serve.manager as manager_mod
from engine.serve.manager import RunManager
from engine.serve.store import RunStore

TIMEOUT = 60
STUDENT = "0123456789abcdef0123456789abcdef"
URL = "http://classroom.example:8501/mine"

# A teacher's new page: nothing but panel.controls, so everything tested here comes from the knob layer.
PAGE = """
import streamlit as st
from engine.core.config import TrainConfig
from lessons import panel

base = TrainConfig(strategy="finetune", lr=1e-3, shots=5, steps=150, seed=0)
cfg = panel.controls("mine", base, ["unfreeze", "lr", "shots", "augment", "lr_range", "steps"])
st.session_state["cfg"] = cfg.to_dict()
"""

# A page with a second experiment (like Hour 6): its second block joins the first one's address.
TWO_BLOCKS = """
import streamlit as st
from engine.core.config import TrainConfig
from lessons import panel

base = TrainConfig(shots=5, steps=150, seed=0)
cfg = panel.controls("two", base, ["shots", "steps"])
early = panel.controls("two-early", base, ["early_stopping", "steps"], sidebar=False)
st.session_state["got"] = (cfg.shots, cfg.steps, early.steps, early.early_stopping)
"""


@pytest.fixture(autouse=True)
def room(tmp_path, monkeypatch):
    """A run manager on threads with its own empty store: no worker processes, no pins from other tests."""
    store = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}", teacher_token="s3cret")
    monkeypatch.setattr(manager_mod, "_manager", RunManager(max_running=1, store=store))
    return store


def notes(at: AppTest) -> list[str]:
    """The page's sentences about its address or pin: one warning box, one sentence per paragraph."""
    return [sentence for w in at.warning for sentence in w.value.split("\n\n")]


def open_page(query: dict | None = None, script: str = PAGE) -> AppTest:
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.query_params["student"] = STUDENT
    at.query_params.update(query or {})
    at.context["url"] = URL
    return at.run()


def share_link(at: AppTest) -> str:
    return at.code[0].value


def knobs(at: AppTest) -> dict:
    return {
        "unfreeze": at.slider(key="mine:unfreeze").value,
        "lr": at.select_slider(key="mine:lr").value,
        "shots": at.select_slider(key="mine:shots").value,
        "augment": at.toggle(key="mine:augment").value,
        "lr_range": (at.toggle(key="mine:lr_range:on").value, at.select_slider(key="mine:lr_range").value),
        "steps": at.slider(key="mine:steps").value,
    }


DEFAULTS = {"unfreeze": 4, "lr": 0.001, "shots": 5, "augment": False, "lr_range": (False, (1e-5, 0.001)), "steps": 150}


def test_a_shared_link_opens_the_page_with_exactly_its_settings():
    at = open_page({"unfreeze": "2", "lr": "0.01", "shots": "3", "aug": "on", "lrs": "1e-4..0.01", "steps": "300"})
    assert not at.exception, [e.message for e in at.exception]
    assert knobs(at) == {"unfreeze": 2, "lr": 0.01, "shots": 3, "augment": True, "lr_range": (True, (1e-4, 0.01)),
                         "steps": 300}
    cfg = at.session_state["cfg"]
    assert (cfg["unfreeze"], cfg["strategy"], cfg["lr"], cfg["shots"], cfg["augment"], cfg["lr_range"], cfg["steps"]) == (
        2, "finetune", 0.01, 3, True, [1e-4, 0.01], 300)
    assert not at.warning
    # The address keeps the student's id; the share link is the page's own address without it.
    assert at.query_params == {"student": STUDENT, "unfreeze": "2", "lr": "0.01", "shots": "3", "aug": "on",
                               "lrs": "0.0001..0.01", "steps": "300"}
    assert share_link(at) == f"{URL}?unfreeze=2&lr=0.01&shots=3&aug=on&lrs=0.0001..0.01&steps=300"
    assert [c.value for c in at.caption][-1] == ("Anyone who opens this link gets this page with these settings. Your "
                                                 "student id is not in it, so your runs stay yours.")


def test_moving_a_knob_writes_only_what_differs_from_the_lessons_defaults():
    at = open_page()
    assert knobs(at) == DEFAULTS
    assert at.query_params == {"student": STUDENT}
    assert share_link(at) == URL
    at.select_slider(key="mine:shots").set_value(20).run()
    at.slider(key="mine:steps").set_value(400).run()
    assert at.query_params == {"student": STUDENT, "shots": "20", "steps": "400"}
    assert share_link(at) == f"{URL}?shots=20&steps=400"
    assert at.session_state["cfg"]["shots"] == 20
    at.select_slider(key="mine:shots").set_value(5).run()  # back at the default: out of the address
    assert at.query_params == {"student": STUDENT, "steps": "400"}
    assert share_link(at) == f"{URL}?steps=400"


def test_a_bad_value_or_an_unknown_name_is_ignored_with_one_sentence_each():
    at = open_page({"lr": "banana", "shots": "7", "steps": "155", "foo": "1"})
    assert not at.exception, [e.message for e in at.exception]
    assert knobs(at) == DEFAULTS
    assert notes(at) == [
        "The address's lr=banana is ignored: learning rate can be 1e-05, 3e-05, 0.0001, 0.0003, 0.001, 0.003, 0.01, "
        "0.03, 0.1, 0.3, 1 or 3 here, so the lesson's default (0.001) is used.",
        "The address's shots=7 is ignored: labels per class can be 1, 2, 3, 5, 10, 20, 50 or 100 here, so the "
        "lesson's default (5) is used.",
        "The address's steps=155 is ignored: training steps can be 10 to 1000 in steps of 10 here, so the lesson's "
        "default (150) is used.",
        "The address's foo=1 is ignored: this page has no setting called foo (its settings are unfreeze, lr, shots, "
        "aug, lrs and steps).",
    ]
    assert at.query_params == {"student": STUDENT, "foo": "1"}  # the bad values are gone, the default needs none
    assert share_link(at) == URL
    at.run()  # the sentences stay while the page is open
    assert len(notes(at)) == 4


def test_reset_puts_every_knob_back_and_clears_the_address():
    at = open_page({"lr": "0.01", "shots": "3", "aug": "on", "lrs": "0.0001..0.01", "unfreeze": "1", "foo": "1"})
    at.slider(key="mine:steps").set_value(500).run()
    assert knobs(at)["steps"] == 500 and knobs(at)["lr"] == 0.01
    reset = at.button(key="mine:reset")
    assert reset.label == "Reset to the lesson's defaults"
    assert "When your teacher has pinned settings for this page, it goes back to those instead." in reset.help
    reset.click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert knobs(at) == DEFAULTS
    cfg = at.session_state["cfg"]
    assert (cfg["unfreeze"], cfg["lr"], cfg["shots"], cfg["augment"], cfg["lr_range"], cfg["steps"]) == (
        4, 0.001, 5, False, None, 150)
    assert at.query_params == {"student": STUDENT}
    assert share_link(at) == URL
    assert [c.value for c in at.caption][-1] == "These are the lesson's defaults: the page's plain address opens them."
    assert not at.warning


def test_a_second_block_of_knobs_joins_the_pages_address():
    at = open_page({"shots": "2", "patience": "4", "two-early.steps": "50"}, script=TWO_BLOCKS)
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["got"] == (2, 150, 50, 4)
    assert not at.warning  # patience belongs to the second block: not an unknown name
    assert [b.key for b in at.button] == ["two:reset", "two:teacher:pin", "two:teacher:unpin"]  # once per page
    assert [e.label for e in at.main.expander] == ["Share these settings", "Teacher"]
    assert share_link(at) == f"{URL}?shots=2&patience=4&two-early.steps=50"
    at.button(key="two:reset").click().run()
    assert at.session_state["got"] == (5, 150, 150, 0)
    assert at.query_params == {"student": STUDENT}


def test_a_lesson_page_opens_with_the_settings_of_its_address():
    """Hour 5 as it is: its knobs come from panel.controls, so its address works with no code of its own."""
    at = AppTest.from_file(str(ROOT / "lessons" / "hour05_optimizers.py"), default_timeout=TIMEOUT)
    at.query_params.update({"student": STUDENT, "batch": "8", "sched": "cosine", "seed": "7", "opt": "adam"})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.select_slider(key="hour05:batch_size").value == 8
    assert at.selectbox(key="hour05:schedule").value == "cosine"
    assert at.number_input(key="hour05:seed").value == 7
    assert notes(at) == [
        "The address's opt=adam is ignored: this page has no setting called opt (its settings are batch, sched, "
        "steps and seed)."]
    assert at.query_params["batch"] == "8" and at.query_params["student"] == STUDENT


def test_a_page_switch_does_not_carry_one_pages_settings_to_the_next():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("lessons/hour05_optimizers.py").run()
    at.select_slider(key="hour05:batch_size").set_value(8).run()
    assert at.query_params["batch"] == "8"
    at.switch_page("lessons/hour03_fine_tuning.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.warning  # not "this page has no setting called batch"
    assert set(at.query_params) == {"student"}
