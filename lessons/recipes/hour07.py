"""Hour 7 - batch norm, forgetting and L2-SP: the same fine-tune with no help, with a batch-norm mode,
and with L2-SP, each watched on the forgetting meter (accuracy on held-out source-task images).
"""

from __future__ import annotations

from engine.core.config import TrainConfig
from lessons.recipes import _claims

PAGE = "hour07"
NO_HELP = "no help"
BN_ONLY = "batch-norm mode only"
L2SP_ONLY = "L2-SP only"
KNOBS = ["bn_mode", "l2sp", "lr", "steps", "seed"]

L2SP_ALPHA = 10.0  # strong enough that the backbone stays close to W0 while the new head still learns

BASE = TrainConfig(
    strategy="finetune",  # every group learns: the backbone is free to forget
    shots=5,
    optimizer="adam",
    lr=1e-3,  # a usual fine-tuning LR; without help the source task is forgotten within 20 steps
    steps=100,
    eval_every=10,  # the forgetting meter reads every 10 steps
    seed=0,
)
# What the two mode knobs start at on the page: the runs they drive are "frozen BN" and "L2-SP 10".
PAGE_BASE = BASE.replace(bn_mode="frozen", l2sp=L2SP_ALPHA)


def default_configs(**overrides) -> dict[str, TrainConfig]:
    """{label: config}. `bn_mode` and `l2sp` overrides set the two helped runs; the rest apply to all three."""
    bn_mode = overrides.pop("bn_mode", "frozen")
    alpha = overrides.pop("l2sp", L2SP_ALPHA)
    base = BASE.replace(**overrides)
    return {
        NO_HELP: base.replace(bn_mode="train", l2sp=0.0),
        BN_ONLY: base.replace(bn_mode=bn_mode, l2sp=0.0),
        L2SP_ONLY: base.replace(bn_mode="train", l2sp=alpha),
    }


def forgetting(snap: dict) -> dict[str, float]:
    """Start, lowest and final source-task accuracy, and final target validation accuracy, of one run."""
    series = snap.get("series") or {}
    src = series.get("source_accuracy", ([], []))[1]
    val = series.get("val_accuracy", ([], []))[1]
    if not src:
        return {}
    return {"source at start": src[0], "source lowest": min(src), "source now": src[-1],
            "target now": val[-1] if val else float("nan")}


def forgetting_table(snaps: dict[str, dict]):
    """One row per run: how much of the source task it kept and how well it learned the target (pandas)."""
    import pandas as pd

    rows = {label: forgetting(s) for label, s in snaps.items()}
    rows = {k: v for k, v in rows.items() if v}
    return pd.DataFrame.from_dict(rows, orient="index") if rows else pd.DataFrame()


# "What to notice" on the page; the CLAIMS below check each claim, and the Try this outcomes the page states,
# over five students' draws at the page's length.
# Measured (CPU, seeds 0-4, 100 steps, the 160-per-class source; the meter starts at 88.5% on every draw): no help,
# lowest within 20 steps 57-65%, end 53.5-61% (27.5 to 35 points lost); L2-SP, lowest 75.5-82%, from step 20 on
# never below 78.5%, end 81-83.5% (5 to 7.5 points lost); frozen BN, end 14.5-22%; at LR 1e-4 no help ends at
# 70.5-75% and frozen BN at 32.5-48%, below no help from step 20 on (at step 10 it reads up to half a point above).
# Earlier figures, with the 200-class backbone shipped before (the meter started at 86%): no help, lowest meter
# within 20 steps 44-61%, end 50-58%, validation accuracy at step 20 83-96%; L2-SP, lowest 72-87%, from step 20 on
# 81-87%, end 83-87%, validation accuracy at step 10 33-63% (no help: 76-89%), at the end 94-97%; frozen BN, meter
# at step 10 10-27%, end 6-20%, validation accuracy at the end 91-99%. Try this: L2-SP 0.01 at step 20 within 3
# points of no help, ending 67-76%; at LR 1e-4 no help ends at 74-78% with validation accuracy 23-44% at step 20,
# and frozen BN ends at 20-44%.
NOTICE = [
    f"With **no help** the source task is forgotten fast: within 20 steps the forgetting meter falls from {_claims.METER_START:.1%} to "
    "around 60% (under 70% on every draw), while the target's validation accuracy is already above 80%.",
    f"With **L2-SP** (α = {L2SP_ALPHA:g}) the meter never falls below 70%, holds above 72% from step 20 to the end "
    "and ends less than 15 points below where it started (no help's ends 25 to 40 below), while the target's validation accuracy still climbs past 90%. "
    "The price is a slower start: at step 10 its validation accuracy is far below the no-help run's.",
    "**Frozen batch-norm statistics alone do not protect the source task here**: that run's meter is below the "
    "no-help run's at every reading and ends under 25%, though it still learns the target (validation accuracy "
    "above 85%). The weights keep moving, so the stored statistics no longer match the activations they "
    "normalise; fixed statistics only help while the weights stay close to W0.",
]
LOW_LR = 1e-4  # Try this: a tenth of the default LR


def _meter(o, label: str, upto: int | None = None, since: int = 0) -> list[float]:
    steps, values = o[label].series["source_accuracy"]
    return [v for s, v in zip(steps, values) if since <= s and (upto is None or s <= upto)]


def _claim_runs(seed: int) -> dict[str, TrainConfig]:
    """The page's three runs, and the Try this runs whose outcome the page states: L2-SP at 0.01, and no help and
    frozen BN at a tenth of the LR."""
    low = default_configs(seed=seed, lr=LOW_LR)
    return {**default_configs(seed=seed), "L2-SP 0.01": default_configs(seed=seed, l2sp=0.01)[L2SP_ONLY],
            "no help @1e-4": low[NO_HELP], "frozen BN @1e-4": low[BN_ONLY]}


def _below_at_every_reading(o, lower: str, upper: str, since: int = 1) -> float:
    return min(a - b for a, b in zip(_meter(o, upper, since=since), _meter(o, lower, since=since)))


CLAIMS = _claims.PageClaims(
    page=PAGE,
    runs=_claim_runs,
    claims=(
        _claims.Claim(f"every run's meter starts at {_claims.METER_START:.1%} (within half a point)",
                      lambda o: min(0.005 - abs(_meter(o, k)[0] - _claims.METER_START) for k in (NO_HELP, BN_ONLY, L2SP_ONLY))),
        _claims.Claim("no help: meter under 70% within 20 steps", lambda o: 0.70 - min(_meter(o, NO_HELP, upto=20))),
        _claims.Claim("no help: val accuracy above 80% at step 20", lambda o: o[NO_HELP].at("val_accuracy", 20) - 0.80),
        _claims.Claim("L2-SP: meter never below 70%", lambda o: min(_meter(o, L2SP_ONLY)) - 0.70),
        _claims.Claim("L2-SP: meter above 72% from step 20 on", lambda o: min(_meter(o, L2SP_ONLY, since=20)) - 0.72),
        _claims.Claim("L2-SP: meter ends less than 15 points below its start",
                      lambda o: 0.15 - (_meter(o, L2SP_ONLY)[0] - _meter(o, L2SP_ONLY)[-1])),
        _claims.Claim("no help: meter ends 25 to 40 points below its start",
                      lambda o: min(_meter(o, NO_HELP)[0] - _meter(o, NO_HELP)[-1] - 0.25,
                                    0.40 - (_meter(o, NO_HELP)[0] - _meter(o, NO_HELP)[-1]))),
        _claims.Claim("L2-SP: meter above no help's at every reading",
                      lambda o: _below_at_every_reading(o, NO_HELP, L2SP_ONLY)),
        _claims.Claim("L2-SP: val accuracy ends above 90%", lambda o: o[L2SP_ONLY].last("val_accuracy") - 0.90),
        _claims.Claim("L2-SP: val accuracy at step 10 > 15 points below no help's",
                      lambda o: o[NO_HELP].at("val_accuracy", 10) - o[L2SP_ONLY].at("val_accuracy", 10) - 0.15),
        _claims.Claim("frozen BN: meter below no help's at every reading",
                      lambda o: _below_at_every_reading(o, BN_ONLY, NO_HELP)),
        _claims.Claim("frozen BN: meter ends under 25%", lambda o: 0.25 - _meter(o, BN_ONLY)[-1]),
        _claims.Claim("frozen BN: val accuracy ends above 85%", lambda o: o[BN_ONLY].last("val_accuracy") - 0.85),
        _claims.Claim("try L2-SP 0.01: at step 20 within 5 points of no help",
                      lambda o: 0.05 - abs(o["L2-SP 0.01"].at("source_accuracy", 20) - o[NO_HELP].at("source_accuracy", 20))),
        _claims.Claim("try L2-SP 0.01: wins > 5 points back, ends > 5 below α=10",
                      lambda o: min(_meter(o, "L2-SP 0.01")[-1] - min(_meter(o, "L2-SP 0.01")) - 0.05,
                                    _meter(o, L2SP_ONLY)[-1] - _meter(o, "L2-SP 0.01")[-1] - 0.05)),
        _claims.Claim("try LR 1e-4: no help's meter ends > 10 points higher",
                      lambda o: _meter(o, "no help @1e-4")[-1] - _meter(o, NO_HELP)[-1] - 0.10),
        _claims.Claim("try LR 1e-4: val accuracy at step 20 > 30 points lower",
                      lambda o: o[NO_HELP].at("val_accuracy", 20) - o["no help @1e-4"].at("val_accuracy", 20) - 0.30),
        _claims.Claim("try LR 1e-4: frozen BN still below no help from step 20 on",
                      lambda o: _below_at_every_reading(o, "frozen BN @1e-4", "no help @1e-4", since=20)),
    ),
)
