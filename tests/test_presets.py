"""A teacher pins a page's settings for the class: kept in the run store (SQLite and PostgreSQL, across restarts and
replicas), only with the teacher token; a student's fresh session starts from the pin, a shared address beats it,
Reset goes back to it."""

from __future__ import annotations

import threading

import pytest
from streamlit.testing.v1 import AppTest

import engine.serve.manager as manager_mod
from engine.serve.manager import RunManager
from engine.serve.store import RunStore

TIMEOUT = 60
TOKEN = "s3cret"
WRONG = "that teacher token is not right: nothing was pinned."
WRONG_UNPIN = "that teacher token is not right: the pin was not removed."
SWITCHED_OFF = ("pinning settings is switched off: the teacher sets CLASSROOM_TEACHER_TOKEN (or teacher_token in "
                "classroom.toml).")

PAGE = """
import streamlit as st
from engine.core.config import TrainConfig
from lessons import panel

base = TrainConfig(strategy="finetune", lr=1e-3, shots=5, steps=150, seed=0)
cfg = panel.controls("mine", base, ["lr", "shots", "steps"])
st.session_state["cfg"] = (cfg.lr, cfg.shots, cfg.steps)
"""


# ---- the store --------------------------------------------------------------------------------


@pytest.fixture
def url(store_url):
    """Each test here runs against SQLite and against a real PostgreSQL (conftest.store_url)."""
    return store_url


def test_a_pin_survives_a_restart_is_replaced_and_removed_only_with_the_token(url):
    s = RunStore(url, teacher_token=TOKEN)
    assert s.get_preset("hour03") is None
    with pytest.raises(PermissionError) as refused:
        s.set_preset("hour03", {"shots": "3"}, "guess")
    assert str(refused.value) == WRONG
    assert s.get_preset("hour03") is None
    s.set_preset("hour03", {"shots": "3"}, TOKEN)
    s.set_preset("hour05", {"batch": "8", "sched": "cosine"}, TOKEN)
    s.set_preset("hour03", {"lr": "0.01", "shots": "2"}, TOKEN)  # pinning again replaces the pin
    s.close()

    other = RunStore(url, teacher_token=TOKEN)  # the server after a restart, or another replica on the same database
    assert other.get_preset("hour03") == {"lr": "0.01", "shots": "2"}
    assert other.get_preset("hour05") == {"batch": "8", "sched": "cosine"}
    with pytest.raises(PermissionError) as refused:
        other.clear_preset("hour03", "")
    assert str(refused.value) == WRONG_UNPIN
    assert other.clear_preset("hour03", TOKEN) is True
    assert other.clear_preset("hour03", TOKEN) is False  # nothing left to remove
    assert other.get_preset("hour03") is None
    assert other.get_preset("hour05") == {"batch": "8", "sched": "cosine"}  # other pages keep theirs
    assert other.count() == 0  # pins are not runs: the board and the students' runs are untouched

    no_token = RunStore(url)  # a server without a teacher token: nobody can pin
    with pytest.raises(PermissionError) as refused:
        no_token.set_preset("hour05", {"batch": "4"}, "")
    assert str(refused.value) == SWITCHED_OFF
    assert no_token.get_preset("hour05") == {"batch": "8", "sched": "cosine"}


def test_two_replicas_pinning_at_once_leave_one_whole_pin(url):
    stores = [RunStore(url, teacher_token=TOKEN), RunStore(url, teacher_token=TOKEN)]
    errors = []

    def pin(i: int) -> None:
        try:
            for n in range(15):
                stores[i].set_preset("hour10", {"shift": f"0.{i}", "steps": str(10 * (n + 1))}, TOKEN)
        except Exception as e:  # a lost race would show here
            errors.append(e)

    threads = [threading.Thread(target=pin, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert stores[0].get_preset("hour10") in ({"shift": "0.0", "steps": "150"}, {"shift": "0.1", "steps": "150"})
    assert stores[1].get_preset("hour10") == stores[0].get_preset("hour10")


# ---- the pages --------------------------------------------------------------------------------


@pytest.fixture
def room(tmp_path, monkeypatch):
    """This server's run manager (on threads) with its own store and the teacher token."""
    store = RunStore(f"sqlite:///{tmp_path / 'runs.sqlite3'}", teacher_token=TOKEN)
    monkeypatch.setattr(manager_mod, "_manager", RunManager(max_running=1, store=store))
    return store


def notes(at: AppTest) -> list[str]:
    """The page's sentences about its address or pin: one warning box, one sentence per paragraph."""
    return [sentence for w in at.warning for sentence in w.value.split("\n\n")]


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_string(PAGE, default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.context["url"] = "http://classroom.example/mine"
    return at.run()


def pin(at: AppTest, token: str) -> AppTest:
    at.text_input(key="mine:teacher:token").input(token)
    return at.button(key="mine:teacher:pin").click().run()


NOTE = ("Your teacher pinned these starting settings for this page: learning rate 0.01 and labels per class 3. You can "
        "still change them for your own runs.")


def test_a_pin_is_where_a_students_fresh_session_starts(room):
    teacher = open_page()
    teacher.select_slider(key="mine:lr").set_value(0.01).run()
    teacher.select_slider(key="mine:shots").set_value(3).run()
    pin(teacher, TOKEN)
    assert not teacher.exception, [e.message for e in teacher.exception]
    assert [m.value for m in teacher.success] == [
        "Pinned for the class: learning rate 0.01 and labels per class 3. Students who open this page from now on "
        "start with these settings."]
    assert room.get_preset("mine") == {"lr": "0.01", "shots": "3"}

    student = open_page({"student": "feedfacefeedfacefeedfacefeedface"})
    assert student.session_state["cfg"] == (0.01, 3, 150)
    assert [i.value for i in student.info] == [NOTE]
    assert student.query_params == {"student": "feedfacefeedfacefeedfacefeedface", "lr": "0.01", "shots": "3"}
    assert student.code[0].value == "http://classroom.example/mine?lr=0.01&shots=3"  # a link that carries the pin
    assert "(now lr=0.01, shots=3)" in student.button(key="mine:reset").help

    student.select_slider(key="mine:shots").set_value(10).run()  # still the student's own to change
    assert student.session_state["cfg"] == (0.01, 10, 150)
    student.button(key="mine:reset").click().run()  # Reset goes back to the pin, the class's defaults for today
    assert student.session_state["cfg"] == (0.01, 3, 150)
    assert student.select_slider(key="mine:shots").value == 3

    shared = open_page({"steps": "300"})  # an explicit address beats the pin: exactly its settings
    assert shared.session_state["cfg"] == (0.001, 5, 300)
    assert [i.value for i in shared.info] == [
        "Your teacher pinned learning rate 0.01 and labels per class 3 for this page; this address's own settings "
        "are used instead, and Reset goes to the pin."]
    shared.button(key="mine:reset").click().run()
    assert shared.session_state["cfg"] == (0.01, 3, 150)

    teacher.button(key="mine:teacher:unpin").click().run()
    assert [m.value for m in teacher.success] == [
        "The pin is removed: students who open this page from now on start from the lesson's defaults."]
    assert room.get_preset("mine") is None
    later = open_page()
    assert later.session_state["cfg"] == (0.001, 5, 150)
    assert not later.info


def test_pinning_is_refused_without_the_right_token(room, tmp_path, monkeypatch):
    teacher = open_page()
    teacher.select_slider(key="mine:shots").set_value(3).run()
    pin(teacher, "guess")
    assert [e.value for e in teacher.error] == ["That teacher token is not right: nothing was pinned."]
    assert room.get_preset("mine") is None
    room.set_preset("mine", {"shots": "2"}, TOKEN)
    teacher.button(key="mine:teacher:unpin").click().run()  # the wrong token is still in the field
    assert [e.value for e in teacher.error] == ["That teacher token is not right: the pin was not removed."]
    assert room.get_preset("mine") == {"shots": "2"}
    assert open_page().session_state["cfg"] == (0.001, 2, 150)

    no_token = RunStore(f"sqlite:///{tmp_path / 'other.sqlite3'}")  # a server whose settings have no teacher token
    monkeypatch.setattr(manager_mod, "_manager", RunManager(max_running=1, store=no_token))
    pin(teacher, "")
    assert [e.value for e in teacher.error] == [SWITCHED_OFF[:1].upper() + SWITCHED_OFF[1:]]
    assert no_token.get_preset("mine") is None


def test_a_pinned_value_the_page_no_longer_offers_is_ignored_with_one_sentence(room):
    room.set_preset("mine", {"shots": "7", "lr": "0.01", "aug": "on"}, TOKEN)
    at = open_page()
    assert at.session_state["cfg"] == (0.01, 5, 150)
    assert notes(at) == [
        "Your teacher's pinned shots=7 is ignored: labels per class can be 1, 2, 3, 5, 10, 20, 50 or 100 here, so the "
        "lesson's default (5) is used.",
        "Your teacher's pinned aug=on is ignored: this page has no setting called aug (its settings are lr, shots and "
        "steps).",
    ]
    assert [i.value for i in at.info] == [
        "Your teacher pinned these starting settings for this page: learning rate 0.01. You can still change them for "
        "your own runs."]
