"""The app benchmark's own bookkeeping: the summary over repeated passes, the server's tracebacks (the benchmark itself
drives a browser and times the app: run it, do not test it)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import bench_app


def test_repeated_passes_give_each_page_its_ratios_median_and_count_within_the_target():
    rows = [{"page": "hour01", "ratio": 1.2}, {"page": "hour02", "ratio": 1.5}, {"page": "hour01", "ratio": 1.4},
            {"page": "hour02", "ratio": None}, {"page": "hour01", "ratio": 1.3}]
    assert bench_app.summarise(rows, ["hour01", "hour02", "hour03"]) == [
        {"page": "hour01", "ratios": [1.2, 1.4, 1.3], "median": 1.3, "within": 2, "target": 1.3},
        {"page": "hour02", "ratios": [1.5], "median": 1.5, "within": 0, "target": 1.3},  # a failed try has no ratio
        {"page": "hour03", "ratios": [], "median": None, "within": 0, "target": 1.3},
    ]


def test_the_server_log_gives_back_each_traceback_up_to_its_exception_line():
    server = bench_app.Server(8765, "unused")
    try:
        server.log.write(b"  You can now view your Streamlit app in your browser.\n"
                         b"2026-12-07 19:00:00.000 Uncaught app exception\n"
                         b"Traceback (most recent call last):\n"
                         b'  File "lessons/live.py", line 1, in experiment\n'
                         b"    ex.start(page_key, configs)\n"
                         b"SystemError: error return without exception set\n"
                         b"2026-12-07 19:00:01.000 a later line\n")
        assert server.tracebacks() == ['Traceback (most recent call last):\n  File "lessons/live.py", line 1, in experiment\n'
                                       "    ex.start(page_key, configs)\nSystemError: error return without exception set"]
    finally:
        server.log.close()


def test_one_manager_process_for_the_pass_gives_each_page_its_result_or_the_same_problem(monkeypatch):
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        out = '[{"page": "hour01", "manager_s": 9.5}, {"page": "hour02", "manager_s": 20.1}]'
        return subprocess.CompletedProcess(cmd, 0, stdout="a line torch printed\n" + out + "\n", stderr="")

    monkeypatch.setattr(bench_app.subprocess, "run", run)
    got = bench_app.manager_subprocess(["hour01", "hour02"], "runs.sqlite3", "data", 900, "app")
    assert got == {"hour01": {"page": "hour01", "manager_s": 9.5}, "hour02": {"page": "hour02", "manager_s": 20.1}}
    assert len(calls) == 1 and calls[0][calls[0].index("--pages") + 1] == "hour01,hour02"

    monkeypatch.setattr(bench_app.subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, stdout="", stderr="Traceback ...\nOSError: no\n"))
    got = bench_app.manager_subprocess(["hour01", "hour02"], "runs.sqlite3", "data", 900, "app")
    assert got == {s: {"page": s, "problem": "the manager process failed (exit 1): Traceback ...\nOSError: no"}
                   for s in ("hour01", "hour02")}
