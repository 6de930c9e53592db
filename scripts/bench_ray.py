"""The Ray executor against the local worker pool, one after the other in one invocation:

    python scripts/bench_ray.py [--students 10] [--steps 100] [--json]

Each runs engine.tools.loadtest.run_loadtest with the same students, configs and cap (2), polling every 50 ms,
Ray on a one-machine cluster started here (`ray_address = "local"`). Per executor: the wall time, the queue wait,
the start latency (training starts -> the first loss point a poll sees), the gap between the step counts a poll saw
change (how often records arrive: the pool streams them as they happen, Ray's driver drains each actor every
0.25 s) and each run's time. Needs the [cluster] extra.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.tools.loadtest import run_loadtest

FIGURES = ("queue_wait_s", "start_latency_s", "update_gap_s", "first_point_s", "run_s")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=10)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        import ray  # noqa: F401
    except ImportError:
        print('the Ray figures need Ray: pip install -e ".[cluster]"', file=sys.stderr)
        return 2
    out = {}
    for executor in ("processes", "ray"):
        out[executor] = run_loadtest(students=args.students, steps=args.steps, max_running=2, poll_s=0.05,
                                     executor=executor, ray_address="local")
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(out["processes"]["machine"])
    print("| executor | wall | " + " | ".join(f"{f[:-2].replace('_', ' ')} median (p90)" for f in FIGURES) + " | statuses |")
    print("|---" * (len(FIGURES) + 3) + "|")
    for r in out.values():
        cells = [f"{r[f]['median']:.2f} s ({r[f]['p90']:.2f})" if r[f].get("median") is not None else "" for f in FIGURES]
        print(f"| {r['executor']} | {r['wall_s']} s | " + " | ".join(cells) + f" | {r['statuses']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
