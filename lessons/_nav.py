"""Which lesson pages exist and what they are called: every lessons/hour*.py, in hour order."""

from __future__ import annotations

import ast
import re
import threading
from pathlib import Path

LESSONS = Path(__file__).resolve().parent
LESSON_GLOB = "hour*.py"  # a teacher's lessons/hour11_my_topic.py appears with no other edit


def _hour(path: Path) -> int | None:
    m = re.match(r"hour(\d+)", path.stem)
    return int(m.group(1)) if m else None


def lesson_files(folder: Path = LESSONS) -> list[Path]:
    """lessons/hourNN_*.py sorted by hour (hour2 before hour10, whatever the zero padding)."""
    found = [p for p in folder.glob(LESSON_GLOB) if _hour(p) is not None]
    return sorted(found, key=lambda p: (_hour(p), p.stem))


def lesson_title(path: Path) -> str:
    """The docstring's first line when it names the hour ("Hour 1 · Why transfer?"), else from the file name
    (hour11_my_topic.py -> "Hour 11 · My topic")."""
    doc = _docstring(path)
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    if first.lower().startswith("hour"):
        return first[:60]
    words = re.sub(r"^hour\d+_?", "", path.stem).replace("_", " ").strip()
    return f"Hour {_hour(path)} · {words[:1].upper() + words[1:]}" if words else f"Hour {_hour(path)}"


# Every script run of every tab builds the navigation, so the titles are read once per version of each file. And
# ast.parse is not thread-safe on Python 3.11: two tabs' script threads parsing at once can raise "SystemError: AST
# constructor recursion depth mismatch" (a room of 10 students on the 2-core VM hit it in 2 of 11 tries;
# BENCHMARKS.md), so parsing takes a lock.
_PARSE_LOCK = threading.Lock()
_DOCSTRINGS: dict[str, tuple[tuple[int, int], str]] = {}  # path -> ((mtime, size) it was read at, its docstring)


def _docstring(path: Path) -> str:
    """The module docstring of `path` ("" when it cannot be read), parsed again only when its mtime or size changes."""
    try:
        st = path.stat()
    except OSError:
        return ""
    version = (st.st_mtime_ns, st.st_size)
    with _PARSE_LOCK:
        known = _DOCSTRINGS.get(str(path))
        if known is None or known[0] != version:
            try:
                doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            except (SyntaxError, UnicodeDecodeError, OSError):
                doc = ""
            known = _DOCSTRINGS[str(path)] = (version, doc)  # an edited file replaces its old entry
        return known[1]
