"""The router: every lesson page found in lessons/ (hour order), plus the home, runs and board pages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
LESSON_GLOB = "hour*.py"  # a teacher's lessons/hour11_my_topic.py appears with no other edit


def lesson_files(folder: Path = ROOT / "lessons") -> list[Path]:
    """lessons/hourNN_*.py in hour order (hour2 before hour10, whatever the zero padding)."""
    def hour(p: Path) -> tuple[int, str]:
        m = re.match(r"hour(\d+)", p.stem)
        return (int(m.group(1)) if m else 10_000, p.stem)

    return sorted((p for p in folder.glob(LESSON_GLOB) if re.match(r"hour\d+", p.stem)), key=hour)


def lesson_title(path: Path) -> str:
    """The first docstring line when it names the hour ("Hour 1 · Why transfer?"), else from the file name."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (SyntaxError, UnicodeDecodeError, OSError):
        doc = ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    if first.lower().startswith("hour"):
        return first[:60]
    m = re.match(r"hour(\d+)_?(.*)", path.stem)
    words = m.group(2).replace("_", " ").strip() if m else path.stem
    return f"Hour {int(m.group(1))} · {words[:1].upper() + words[1:]}" if m else words


@st.cache_resource(show_spinner=False)
def device_line() -> str:
    from engine.device import describe

    try:
        return describe()
    except Exception:
        return "CPU"


def sidebar() -> None:
    from engine.manager import get_manager

    with st.sidebar:
        st.caption(f"**Training on:** {device_line()}")
        try:
            s = get_manager().status()
            st.caption(f"**Server:** {s['running']} training, {s['queued']} waiting (at most {s['max_running']} at once)")
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
    return {"Start": start, "Lessons": lessons}


st.set_page_config(page_title="Transfer learning, live", page_icon=":material/school:", layout="wide")
page = st.navigation(pages())
sidebar()
page.run()
