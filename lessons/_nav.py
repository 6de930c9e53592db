"""Which lesson pages exist and what they are called: every lessons/hour*.py, in hour order."""

from __future__ import annotations

import ast
import re
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
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (SyntaxError, UnicodeDecodeError, OSError):
        doc = ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    if first.lower().startswith("hour"):
        return first[:60]
    words = re.sub(r"^hour\d+_?", "", path.stem).replace("_", " ").strip()
    return f"Hour {_hour(path)} · {words[:1].upper() + words[1:]}" if words else f"Hour {_hour(path)}"
