"""The router: every lesson page found in lessons/ (hour order) and the Studio, plus the home, runs and board pages."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lessons._nav import lesson_files, lesson_title
from lessons.live import STILL_BARS
from lessons.session import owner_id

ROOT = Path(__file__).resolve().parent


def sidebar() -> None:
    """Where training happens and how busy the server is, under the page list."""
    from engine.core.device import describe
    from engine.serve.manager import get_manager

    with st.sidebar:
        try:
            s = get_manager().status()  # first: the manager sets torch's thread count that describe() reports
            st.caption(f"**Training on:** {describe()}")
            st.caption(f"**Server:** {s['running']} training, {s['queued']} waiting (at most {s['max_running']} at once, "
                       f"in {s.get('executor', 'threads')})")
            if s.get("problem"):
                st.warning(s["problem"])
            from lessons.live import REDRAWS, redraw_ms

            if REDRAWS:
                st.caption(f"**Live redraw:** {redraw_ms():.0f} ms on the server (median of the last {len(REDRAWS)})")
        except Exception:
            st.caption("**Server:** status unavailable")


def pages() -> dict[str, list]:
    start = [
        st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("views/runs.py", title="Your runs", icon=":material/monitoring:"),
    ]
    if (ROOT / "views" / "board.py").exists():
        start.append(st.Page("views/board.py", title="Class board", icon=":material/groups:"))
    lessons = [st.Page(str(p.relative_to(ROOT)), title=lesson_title(p), url_path=p.stem) for p in lesson_files()]
    lessons.append(st.Page("lessons/studio.py", title="Studio · your own classes", icon=":material/photo_camera:",
                           url_path="studio"))
    return {"Start": start, "Lessons": lessons}


st.set_page_config(page_title="Transfer learning, live", page_icon=":material/school:", layout="wide")
page = st.navigation(pages(), expanded=True)
st.html(STILL_BARS)  # progress bars without their easing animation: a live page redraws them every second
owner_id()  # every page: the student id stays in the URL, so a reload finds the student's runs again
sidebar()
page.run()
