"""The classroom load test with the UI probe: `python scripts/loadtest.py [STUDENTS] [STEPS] [CAP]`.

engine.tools.loadtest.run_loadtest through the run manager and store, with the class board page rendered
through AppTest while runs train (the probe below); prints one JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.tools.loadtest import run_loadtest

BOARD_PAGE = Path(__file__).resolve().parent.parent / "views" / "board.py"


def board_probe(timeout: float = 30.0):
    """A callable that renders the class board once through AppTest; raises if the page raised."""
    from streamlit.testing.v1 import AppTest

    def probe() -> None:
        """board page via AppTest"""
        at = AppTest.from_file(str(BOARD_PAGE), default_timeout=timeout)
        at.run()
        if at.exception:
            raise RuntimeError(at.exception[0].message)

    return probe


def main(argv: list[str]) -> int:
    students, steps, cap = (int(a) for a in (argv + ["30", "20", "0"][len(argv):])[:3])
    print(json.dumps(run_loadtest(students=students, steps=steps, max_running=cap or None, probe=board_probe()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
