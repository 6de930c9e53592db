"""Every page renders; Start on Hour 1 trains runs whose metrics show up; controls reach the config; new lessons appear."""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import ROOT, page_files
from streamlit.testing.v1 import AppTest

from engine.serve.manager import get_manager

TIMEOUT = 60  # seconds per script run: generous, the test machine may be busy
HOUR1 = ROOT / "lessons" / "hour01_why_transfer.py"


def end_runs(at: AppTest) -> None:
    """Stop whatever this test's session started and wait for the threads to end."""
    owner = at.session_state["_owner_id"] if "_owner_id" in at.session_state else None  # noqa: SIM401 (no .get on it)
    if owner:
        runs = get_manager().runs_of(owner)
        get_manager().end_session(owner)
        for run in runs:
            assert run.wait(300), f"{run} did not stop"


@pytest.mark.parametrize("path", page_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_page_renders_without_exception(path):
    """Each page as a student reaches it: through the router (sidebar and all), then the page itself."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    if path.name != "app.py":
        at.switch_page(str(path.relative_to(ROOT))).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title, "every page has a title"


def hour1(steps: int = 10, shots: int = 2) -> AppTest:
    at = AppTest.from_file(str(HOUR1), default_timeout=TIMEOUT).run()
    at.slider(key="hour01:steps").set_value(steps)
    at.select_slider(key="hour01:shots").set_value(shots)
    return at.run()


def test_before_the_first_start_the_page_draws_empty_loss_and_accuracy_axes_over_the_chosen_steps():
    """The charts the caption promises are there before Start (and the browser has loaded its chart library by then)."""
    at = hour1(steps=20)
    assert not at.exception
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert [f["layout"]["title"]["text"] for f in figures] == ["Loss (lower is better)", "Accuracy (higher is better)"]
    assert [f["data"] for f in figures] == [[], []]  # no curve until a run has one
    assert [f["layout"]["xaxis"]["range"] for f in figures] == [[0, 20], [0, 20]]


def test_changing_a_control_changes_the_config_the_run_receives():
    at = hour1(steps=20, shots=2)
    try:
        at.button(key="hour01:start").click().run()
        assert at.button(key="hour01:start").disabled  # while the set trains, Start cannot be pressed again
        exp = at.session_state["panel:hour01:experiment"]
        owner = at.session_state["_owner_id"]
        assert list(exp["runs"]) == ["from scratch", "pretrained"]
        assert len(get_manager().runs_of(owner)) == 2
        runs = {label: get_manager().get(rid, owner) for label, rid in exp["runs"].items()}
        assert {label: (r.config.shots, r.config.steps, r.config.weights) for label, r in runs.items()} == {
            "from scratch": (2, 20, "scratch"),
            "pretrained": (2, 20, "pretrained"),
        }
        tags = {label: r.config.extras["experiment"] for label, r in runs.items()}  # one tag: started together
        assert tags["pretrained"] == tags["from scratch"] and re.fullmatch(r"[0-9a-f]{12}", tags["pretrained"])
        assert runs["pretrained"].config.extras == {"page": "hour01", "label": "pretrained", "experiment": tags["pretrained"]}
        at.button(key="hour01:pause").click().run()
        assert not at.exception
        assert "hour01:pause" not in [b.key for b in at.button]  # Pause became Resume
        at.button(key="hour01:resume").click().run()
        assert "hour01:resume" not in [b.key for b in at.button]
    finally:
        end_runs(at)


def test_start_produces_runs_whose_metrics_appear():
    at = hour1(steps=10, shots=2)
    try:
        at.button(key="hour01:start").click().run()
        assert not at.exception
        deadline = time.time() + 240
        while time.time() < deadline:
            time.sleep(1.0)
            at.run()
            labels = [m.label for m in at.metric]
            if "Test accuracy · from scratch" in labels and "Test accuracy · pretrained" in labels:
                break
        assert not at.exception, [e.message for e in at.exception]
        assert [m.label for m in at.metric] == ["Test accuracy · from scratch", "Test accuracy · pretrained"]
        progress = [p.proto.text for p in at.get("progress")]
        assert progress == ["**from scratch** · finished at step 10/10" + progress[0].split("10/10")[1],
                            "**pretrained** · finished at step 10/10" + progress[1].split("10/10")[1]]
        snaps = {label: at.session_state["panel:runs"][rid]["final"]
                 for label, rid in at.session_state["panel:hour01:experiment"]["runs"].items()}
        for snap in snaps.values():
            assert snap["series"]["train_loss"][0] == list(range(1, 11))
            assert set(snap["groups"]) == {"stem", "block1", "block2", "block3", "head"}
        assert "source_accuracy" in snaps["pretrained"]["series"]  # the forgetting meter exists only with a source head
        assert "source_accuracy" not in snaps["from scratch"]["series"]
        # Starting again keeps the last experiment as faded ghost curves, named by what changed.
        at.slider(key="hour01:steps").set_value(20).run()
        at.button(key="hour01:start").click().run()
        ghosts = at.session_state["panel:hour01:ghosts"]
        assert [g["name"] for g in ghosts[-1]] == ["earlier from scratch (training steps 10)", "earlier pretrained (training steps 10)"]
        at.button(key="hour01:stop").click().run()
        at.button(key="hour01:clear").click().run()
        assert at.session_state["panel:hour01:ghosts"] == []
        assert not at.exception
    finally:
        end_runs(at)


def test_a_double_start_starts_one_set():
    """Two Start presses that reach the server before the page redraws (a double click) start one set of runs."""
    at = AppTest.from_string(
        "import streamlit as st\n"
        "from engine.core.config import TrainConfig\n"
        "from lessons import panel\n"
        "cfg = TrainConfig(weights='scratch', n_classes=3, shots=2, batch_size=6, steps=200)\n"
        "if 'done' not in st.session_state:\n"
        "    st.session_state.done = [panel.start('dbl', {'a': cfg, 'b': cfg}), panel.start('dbl', {'a': cfg, 'b': cfg})]\n",
        default_timeout=TIMEOUT,
    )
    at.run()
    try:
        assert not at.exception, [e.message for e in at.exception]
        assert at.session_state["done"] == [None, None]
        assert len(get_manager().runs_of(at.session_state["_owner_id"])) == 2
        assert list(at.session_state["panel:dbl:experiment"]["runs"]) == ["a", "b"]
    finally:
        end_runs(at)


def test_a_bad_setting_is_one_sentence_not_a_traceback():
    at = AppTest.from_string(
        "from engine.core.config import TrainConfig\n"
        "from lessons import panel\n"
        "panel.experiment('bad', {'run': TrainConfig(lr=-1.0, steps=5)})\n",
        default_timeout=TIMEOUT,
    ).run()
    at.button(key="bad:start").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["the learning rate must be a positive number (got -1.0)."]
    assert "panel:bad:experiment" not in at.session_state  # nothing was submitted


def test_a_copied_template_appears_in_the_navigation(throwaway_lesson):
    from lessons._nav import lesson_files, lesson_title

    assert throwaway_lesson in lesson_files()
    assert lesson_title(throwaway_lesson) == "Hour 11 · Your topic"  # the template's first docstring line
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("lessons/hour99_throwaway.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Hour 11 · Your topic"


def test_lessons_are_sorted_by_hour_and_titled_from_their_names(tmp_path):
    from lessons._nav import lesson_files, lesson_title

    for name in ("hour10_capstone.py", "hour2_features.py", "hour01_why.py", "_template.py", "helpers.py"):
        (tmp_path / name).write_text('"""Some notes, not a title."""\n' if name == "hour2_features.py" else "")
    (tmp_path / "hour01_why.py").write_text('"""Hour 1 · Why transfer?\n\nMore text."""\n')
    assert [p.name for p in lesson_files(tmp_path)] == ["hour01_why.py", "hour2_features.py", "hour10_capstone.py"]
    assert [lesson_title(p) for p in lesson_files(tmp_path)] == ["Hour 1 · Why transfer?", "Hour 2 · Features", "Hour 10 · Capstone"]


def test_titles_are_read_once_per_version_of_a_file_and_right_from_many_threads_at_once(tmp_path):
    """Every tab's script run builds the navigation, so titles are cached per (path, mtime, size) and parsed under a
    lock (ast.parse on Python 3.11 is not thread-safe: a room of ten once showed "SystemError: AST constructor recursion
    depth mismatch"). That race is too rare to reproduce here; this checks the titles from 8 threads and that an edited
    docstring is read again."""
    from concurrent.futures import ThreadPoolExecutor

    from lessons import _nav

    files = []
    for i in range(1, 41):
        f = tmp_path / f"hour{i}_topic.py"
        f.write_text(f'"""Hour {i} · Topic {i}\n\nText."""\nx = 1\n')
        files.append(f)
    with ThreadPoolExecutor(8) as pool:
        titles = list(pool.map(_nav.lesson_title, files * 3))
    assert titles == [f"Hour {i} · Topic {i}" for i in range(1, 41)] * 3
    assert sum(path.startswith(str(tmp_path)) for path in _nav._DOCSTRINGS) == 40  # each parsed once
    files[0].write_text('"""Hour 1 · A new title, longer than before"""\n')  # a teacher edits the page: no restart
    assert _nav.lesson_title(files[0]) == "Hour 1 · A new title, longer than before"
    assert sum(path.startswith(str(tmp_path)) for path in _nav._DOCSTRINGS) == 40  # the edit replaced its old entry


def test_every_knob_draws_with_the_base_as_default_and_returns_what_the_student_set():
    from lessons._controls import KNOBS

    names = [n for n in KNOBS if n != "freeze"]  # freeze is unfreeze counted from the other end
    at = AppTest.from_string(
        "import streamlit as st\n"
        "from engine.core.config import TrainConfig\n"
        "from lessons import panel\n"
        f"st.session_state.cfg = panel.controls('knobs', TrainConfig(), {names!r}).to_dict()\n",
        default_timeout=TIMEOUT,
    ).run()
    assert not at.exception, [e.message for e in at.exception]
    from engine.core.config import TrainConfig

    assert at.session_state["cfg"] == TrainConfig(unfreeze=4).to_dict()  # glyphnet: 4 body groups, all trainable
    at.select_slider(key="knobs:lr").set_value(0.01)
    at.slider(key="knobs:unfreeze").set_value(1)
    at.toggle(key="knobs:augment").set_value(True)
    at.toggle(key="knobs:lr_range:on").set_value(True).run()
    cfg = at.session_state["cfg"]
    assert (cfg["lr"], cfg["unfreeze"], cfg["augment"], cfg["lr_range"]) == (0.01, 1, True, [1e-5, 1e-3])


def test_unfreeze_zero_means_feature_extraction_and_freeze_counts_from_the_input():
    at = AppTest.from_string(
        "import streamlit as st\n"
        "from engine.core.config import TrainConfig\n"
        "from lessons import panel\n"
        "st.session_state.a = panel.controls('a', TrainConfig(), ['unfreeze']).to_dict()\n"
        "st.session_state.b = panel.controls('b', TrainConfig(), ['freeze']).to_dict()\n",
        default_timeout=TIMEOUT,
    ).run()
    at.slider(key="a:unfreeze").set_value(0)
    at.slider(key="b:freeze").set_value(3).run()
    assert (at.session_state["a"]["strategy"], at.session_state["a"]["unfreeze"]) == ("feature", 0)
    assert (at.session_state["b"]["strategy"], at.session_state["b"]["unfreeze"]) == ("finetune", 1)


def test_charts_thin_long_series_and_label_frozen_groups():
    from lessons import _charts

    steps, _values = _charts.thin(list(range(1, 1001)), [float(i) for i in range(1, 1001)])
    assert len(steps) <= _charts.MAX_POINTS + 1 and steps[0] == 1 and steps[-1] == 1000
    snap = {"groups": ["stem", "head"], "series": {
        "drift/stem": ([0, 5], [0.0, 0.0]), "drift/head": ([0, 5], [0.0, 0.25]),
        "trainable/stem": ([0, 5], [1.0, 0.0]), "trainable/head": ([0, 5], [1.0, 1.0]),
        "lr/stem": ([0, 5], [0.0, 0.0]), "lr/head": ([0, 5], [1e-3, 1e-3]),
    }}
    assert list(_charts.drift_bars(snap).data[0].text) == ["frozen", "0.250"]
    assert list(_charts.lr_bars(snap).data[0].text) == ["frozen", "1.0e-03"]
    csv = _charts.series_csv({"series": {"train_loss": ([1, 2], [0.5, 0.4]), "val_loss": ([2], [0.6])}})
    assert csv.splitlines() == ["step,train_loss,val_loss", "1,0.5,", "2,0.4,0.6"]


def test_a_diverged_or_failed_run_shows_its_sentence_and_the_page_keeps_working():
    """The live view draws ended runs from their snapshots: one sentence each, never a traceback."""
    at = AppTest.from_string(
        "from lessons import panel\n"
        "def snap(status, message):\n"
        "    return {'id': status, 'status': status, 'message': message, 'step': 37, 'steps': 200, 'groups': ['stem', 'head'],\n"
        "            'series': {'train_loss': ([1, 2], [2.3, float('inf')])}, 'results': {}, 'warnings': ['a warning.'],\n"
        "            'config': {}, 'elapsed': 1.0}\n"
        "panel._draw('bad', {'big LR': snap('diverged', 'the loss became infinite at step 37 with LR 3: try a smaller learning rate.'),\n"
        "                    'broken': snap('failed', 'training failed (RuntimeError: boom).')})\n",
        default_timeout=TIMEOUT,
    ).run()
    assert not at.exception, [e.message for e in at.exception]
    assert [w.value for w in at.warning] == ["**big LR**: the loss became infinite at step 37 with LR 3: try a smaller learning rate."]
    assert [e.value for e in at.error] == ["**broken**: training failed (RuntimeError: boom)."]
    assert [i.value for i in at.info] == ["**big LR**: a warning.", "**broken**: a warning."]


def test_a_page_with_two_experiments_draws_one_data_and_model_section():
    at = AppTest.from_file(str(ROOT / "lessons" / "hour06_regularization.py"), default_timeout=60).run()
    assert not at.exception
    assert [e.label for e in at.sidebar.expander] == ["Data and model"]
