"""Claims a page makes, checked over several students' draws: each claim is a margin computed from one seed's runs.

A recipe lists its page's claims as a `PageClaims`: the runs the page starts for a seed (`runs(seed)`, every run
any claim reads) and its `Claim`s, each a function of {label: Outcome} for one seed that returns a margin in
its own unit (> 0: the claim holds for that seed). `check(page)` trains every run once per seed and scores
every claim on the same runs; `python scripts/claims.py` prints the table, tests/test_claims.py asserts that
each claim holds for at least NEED of SEEDS. No streamlit here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from engine.core.config import TrainConfig

SEEDS = (0, 1, 2, 3, 4)  # five students' draws: a run's seed moves its training labels, init and batches
NEED = 4  # a claim must hold for at least this many of SEEDS
# The forgetting meter before any step with assets/glyphnet.pt, on every draw (the same backbone, the same held-out
# images). Pages quote it and their claims check it: re-pretraining the backbone means measuring it again.
METER_START = 0.885


@dataclass
class Outcome:
    """What a claim may read of one finished run: its final figures and its metric series."""

    results: dict
    series: dict[str, tuple[list, list]]

    def at(self, name: str, step: int) -> float:
        steps, values = self.series[name]
        return values[steps.index(step)]

    def last(self, name: str) -> float:
        return self.series[name][1][-1]


@dataclass(frozen=True)
class Claim:
    name: str  # short, for the table
    margin: Callable[[Mapping[str, Outcome]], float]  # > 0: holds for this seed
    unit: str = "points"  # how to read the margin (accuracy points, loss units, a ratio...)


@dataclass(frozen=True)
class PageClaims:
    page: str
    runs: Callable[[int], dict[str, TrainConfig]]  # seed -> {label: config}
    claims: Sequence[Claim] = field(default_factory=tuple)


def train(configs: Mapping, concurrent: int = 2) -> dict:
    """{key: Outcome} of every config in {key: config}, trained to its end `concurrent` at a time (one torch thread
    each), through the run manager."""
    import torch

    from engine.core.device import configure_threads
    from engine.serve.manager import RunManager

    threads = torch.get_num_threads()
    configure_threads(concurrent)
    manager = RunManager(max_running=concurrent, per_owner=len(configs) + 1)
    try:
        runs = {label: manager.submit(cfg, "claims") for label, cfg in configs.items()}
        out = {}
        for label, run in runs.items():
            run.wait()
            if run.status not in ("finished", "diverged"):
                raise RuntimeError(f"{label}: {run.status} {run.message}")
            out[label] = Outcome(dict(run.results), run.log.snapshot())
        return out
    finally:
        manager.shutdown()
        torch.set_num_threads(threads)


def check(page: PageClaims, seeds: Sequence[int] = SEEDS) -> dict[str, dict[int, float]]:
    """{claim name: {seed: margin}}, every claim scored on the same runs of each seed."""
    return check_pages([page], seeds)[page.page]


def check_pages(pages: Sequence[PageClaims], seeds: Sequence[int] = SEEDS) -> dict[str, dict[str, dict[int, float]]]:
    """{page: {claim name: {seed: margin}}}. Every page's runs for every seed go to the run manager at once, so
    both workers stay busy to the end (a page's seed with one run would leave one idle); each claim is scored
    on the runs of its own page and seed. A config two pages share (the same settings and seed) trains once: a run's
    figures are a function of its config."""
    configs = {(p.page, seed, label): cfg for p in pages for seed in seeds for label, cfg in p.runs(seed).items()}
    same = {key: json.dumps(cfg.to_dict(), sort_keys=True, default=str) for key, cfg in configs.items()}
    first: dict[str, tuple] = {}  # the first key of each distinct config
    for key, settings in same.items():
        first.setdefault(settings, key)
    trained = train({key: configs[key] for key in first.values()})
    outcomes = {key: trained[first[settings]] for key, settings in same.items()}
    tables: dict[str, dict[str, dict[int, float]]] = {}
    for p in pages:
        tables[p.page] = {c.name: {} for c in p.claims}
        for seed in seeds:
            mine = {label: out for (page, s, label), out in outcomes.items() if page == p.page and s == seed}
            for c in p.claims:
                tables[p.page][c.name][seed] = float(c.margin(mine))
    return tables


def holds(margins: Mapping[int, float], need: int = NEED) -> bool:
    return sum(m > 0 for m in margins.values()) >= min(need, len(margins))
