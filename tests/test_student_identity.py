"""A student's id lives in the URL, so a reload or a server restart finds their stored runs again."""

from __future__ import annotations

import re

from conftest import ROOT
from streamlit.testing.v1 import AppTest

from engine.core.config import TrainConfig
from engine.serve.manager import get_manager
from engine.serve.run import Run

TIMEOUT = 60


def test_a_new_visitor_gets_a_random_student_id_in_the_url():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    owner = at.session_state["_owner_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", owner)
    assert at.query_params["student"] == owner


def test_an_id_in_the_url_is_kept_and_a_malformed_one_replaced():
    good = "0123456789abcdef0123456789abcdef"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["student"] = good
    at.run()
    assert at.session_state["_owner_id"] == good
    bad = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    bad.query_params["student"] = "../../etc/passwd"
    bad.run()
    assert bad.session_state["_owner_id"] != "../../etc/passwd"
    assert re.fullmatch(r"[0-9a-f]{32}", bad.session_state["_owner_id"])


def test_the_runs_page_lists_a_students_stored_runs_after_a_reload():
    manager = get_manager()
    assert manager.store is not None, "the tests run with a throw-away SQLite store"
    student = "feedfacefeedfacefeedfacefeedface"
    run = Run(TrainConfig(steps=2, eval_every=2, shots=2, batch_size=8, extras={"page": "hour01", "label": "pretrained"}),
              owner=student).start()
    assert run.wait(120) and run.status == "finished"
    manager.store.record(run)  # as the manager does when a run ends; a fresh tab has none of it in memory

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["student"] = student
    at.run()
    at.switch_page("views/runs.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Earlier runs kept on the server (1)" in e.label for e in at.expander)
    table = at.dataframe[0].value
    assert table["status"].tolist() == ["finished"]
    assert table["test accuracy"].iloc[0] == run.results["test_accuracy"]
    # the earlier run can be overlaid and downloaded like one of this tab's
    earlier = f"hour01 · pretrained · {run.id[:6]} (earlier)"
    assert [sb.value for sb in at.selectbox] == [earlier, earlier, earlier]
    assert len(at.get("plotly_chart")) == 2  # its loss and accuracy, redrawn from the store
    assert any(e.body.startswith("No runs in this tab yet") for e in at.info)

    stranger = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    stranger.switch_page("views/runs.py").run()
    assert not any("Earlier runs" in e.label for e in stranger.expander)  # nobody else sees them
