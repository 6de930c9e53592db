"""The app benchmark's summary over repeated passes (the benchmark itself drives a browser: not a test)."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import bench_app  # noqa: E402


def test_repeated_passes_give_each_page_its_ratios_median_and_count_within_the_target():
    rows = [{"page": "hour01", "ratio": 1.2}, {"page": "hour02", "ratio": 1.5}, {"page": "hour01", "ratio": 1.4},
            {"page": "hour02", "ratio": None}, {"page": "hour01", "ratio": 1.3}]
    assert bench_app.summarise(rows, ["hour01", "hour02", "hour03"]) == [
        {"page": "hour01", "ratios": [1.2, 1.4, 1.3], "median": 1.3, "within": 2, "target": 1.3},
        {"page": "hour02", "ratios": [1.5], "median": 1.5, "within": 0, "target": 1.3},  # a failed try has no ratio
        {"page": "hour03", "ratios": [], "median": None, "within": 0, "target": 1.3},
    ]
