"""Every page's claims over five students' draws: `python scripts/claims.py [hour01 ...] [--seeds 0,1,2,3,4] [--md]`.

Trains each page's runs once per seed (lessons/recipes/hourNN.py, `CLAIMS`), prints each claim's margin per
seed and whether it holds for enough of them; --md prints the table as CLAIMS.md keeps it.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lessons.recipes import _claims  # noqa: E402


def pages() -> list[str]:
    return sorted(p.stem for p in (ROOT / "lessons" / "recipes").glob("hour*.py"))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("pages", nargs="*", help="hour01 ... (default: every page with CLAIMS)")
    ap.add_argument("--seeds", default=",".join(map(str, _claims.SEEDS)))
    ap.add_argument("--md", action="store_true", help="a Markdown table")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    import torch

    torch.set_num_threads(1)
    print(f"# {platform.machine()}, {platform.system()}, torch {torch.__version__}, seeds {seeds}")
    if args.md:
        print("| page | claim | unit | " + " | ".join(f"seed {s}" for s in seeds) + " | holds |")
        print("|---|---|---|" + "---|" * len(seeds) + "---|")
    failed = 0
    for name in args.pages or pages():
        page = getattr(importlib.import_module(f"lessons.recipes.{name}"), "CLAIMS", None)
        if page is None:
            continue
        t0 = time.time()
        table = _claims.check(page, seeds)
        units = {c.name: c.unit for c in page.claims}
        for claim, margins in table.items():
            ok = _claims.holds(margins)
            failed += not ok
            cells = [f"{margins[s]:+.3f}" for s in seeds]
            n = sum(m > 0 for m in margins.values())
            if args.md:
                print(f"| {name} | {claim} | {units[claim]} | " + " | ".join(cells) + f" | {n}/{len(seeds)} |")
            else:
                print(f"{name}  {claim:<60} {units[claim]:<10} " + " ".join(f"{c:>8}" for c in cells)
                      + f"   {n}/{len(seeds)} {'ok' if ok else 'FAILS'}")
        if not args.md:
            print(f"{name}: {time.time() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
