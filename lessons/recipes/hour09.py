"""Hour 9's default experiment: a small and a large backbone on one small target, each at its own LR, then evaluate.

glyphnet (0.24 M parameters) pretrained on glyphs and from scratch, and torchvision's ResNet-18 (11.2 M) from
scratch (its ImageNet weights need a download): size and pretraining told apart. ResNet-18 runs without its stem's
max-pool (backbone resnet18_nopool, the same network and weights): made for 224-px photos, its stem would leave a
32-px glyph 1x1 by its last stage, 2x2 without the pool. The same 32-px images, labels, steps, batch and seed for
all three; each model trains at the Adam LR that gave it the best validation accuracy in a sweep (LR below).
"""

from __future__ import annotations

from engine.core.config import TrainConfig
from engine.train.metrics import per_class_report
from lessons.recipes import _claims

PAGE = "hour09"
# 80 steps of 16 images: ResNet-18 without its pool costs about 4 times the 32-px network with it, and the page's
# claims are checked over five draws at this length (tests/test_claims.py).
BASE = TrainConfig(backbone="glyphnet", strategy="finetune", shots=5, steps=80, batch_size=16, eval_every=20,
                   log_every=10, seed=0)
KNOBS = ["shots", "steps", "seed"]
SMALL, BIG = "glyphnet", "resnet18_nopool"
LABELS = ("glyphnet, pretrained", "ResNet-18, from scratch", "glyphnet, from scratch")
SMALL_PRE, BIG_SCRATCH, SMALL_SCRATCH = LABELS
MANY = 50  # labels per class of the Try this

# Each model's own LR (Adam): of the LRs tried (LR_TRIED) at the page's settings, the one with the best mean
# validation accuracy (100 images, the same for every draw) over seeds 0-4; test images played no part. Mean
# validation accuracy: glyphnet pretrained 0.940, 0.956, 0.950, 0.936; glyphnet from scratch 0.772, 0.792, 0.816,
# 0.820; ResNet-18 0.688, 0.724 (each of its runs costs as much as a dozen of glyphnet's, so only two LRs; a higher
# one than 3e-3 was not tried).
LR_TRIED = {SMALL_PRE: (3e-4, 1e-3, 3e-3, 1e-2), BIG_SCRATCH: (1e-3, 3e-3), SMALL_SCRATCH: (3e-4, 1e-3, 3e-3, 1e-2)}
LR = {SMALL_PRE: 1e-3, BIG_SCRATCH: 3e-3, SMALL_SCRATCH: 1e-2}


def lr_fmt(lr: float) -> str:
    """3e-4, 1e-3, 1e-2..."""
    mantissa, exponent = f"{lr:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def lr_text() -> str:
    """Each model's LR, as the page states it."""
    return ", ".join(f"{label.replace(',', '')} {lr_fmt(lr)}" for label, lr in LR.items())


def lr_sweep_text() -> str:
    """The LRs tried, as the page states them."""
    def tried(lrs):
        return ", ".join(lr_fmt(lr) for lr in lrs[:-1]) + f" and {lr_fmt(lrs[-1])}"

    return f"{tried(LR_TRIED[SMALL_PRE])} (ResNet-18, the costliest to train: {tried(LR_TRIED[BIG_SCRATCH])})"


def default_configs(base: TrainConfig = BASE, **overrides) -> dict[str, TrainConfig]:
    """{label: config}: the three runs the page starts together, on the glyph target at 32 pixels, each at its LR."""
    cfg = (base.replace(**overrides) if overrides else base).replace(dataset="glyphs", image_size=32)
    return {
        SMALL_PRE: cfg.replace(backbone=SMALL, weights="pretrained", lr=LR[SMALL_PRE]),
        BIG_SCRATCH: cfg.replace(backbone=BIG, weights="scratch", lr=LR[BIG_SCRATCH]),
        SMALL_SCRATCH: cfg.replace(backbone=SMALL, weights="scratch", lr=LR[SMALL_SCRATCH]),
    }


def macro_f1(confusion: list[list[int]]) -> float:
    report = per_class_report(confusion)
    return sum(c["f1"] for c in report) / len(report)


def comparison_rows(results: dict[str, dict], lrs: dict[str, float] | None = None) -> list[dict]:
    """One row per finished run: what it costs and what it scores (for a table on the page); with `lrs`
    ({label: LR}), the LR each run trained at as well."""
    rows = []
    for label, r in results.items():
        if not r or r.get("test_accuracy") is None:
            continue
        sps = r.get("steps_per_second") or 0.0
        rows.append(
            {
                "model": label,
                **({"LR": lrs[label]} if lrs and label in lrs else {}),
                "parameters": r["total_params"],
                "weights (MB, float32)": round(r["total_params"] * 4 / 1e6, 2),
                "ms per step": round(1000 / sps, 1) if sps > 0 else None,
                "test accuracy": round(r["test_accuracy"], 3),
                "macro F1": round(macro_f1(r["confusion"]), 3),
            }
        )
    return rows


def class_report_rows(confusion: list[list[int]], classes: list[str]) -> list[dict]:
    """Per class: precision, recall, F1, support (rows for a table), from a confusion matrix."""
    return [
        {"class": name, **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}}
        for name, row in zip(classes, per_class_report(confusion))
    ]


def most_confused(confusion: list[list[int]], k: int = 3) -> list[tuple[int, int, int]]:
    """The k largest off-diagonal cells as (count, true class, predicted class), largest first."""
    n = len(confusion)
    cells = [(confusion[i][j], i, j) for i in range(n) for j in range(n) if i != j and confusion[i][j] > 0]
    return sorted(cells, key=lambda c: (-c[0], c[1], c[2]))[:k]


def mistakes_share(confusion: list[list[int]], k: int = 3) -> float:
    """Fraction of all mistakes that fall in the k most confused (true, predicted) pairs."""
    n = len(confusion)
    wrong = sum(confusion[i][j] for i in range(n) for j in range(n) if i != j)
    return sum(c for c, _, _ in most_confused(confusion, k)) / wrong if wrong else 0.0


def scattered_share(mistakes: int, k: int = 3, n_classes: int = 10, trials: int = 400) -> float:
    """The share of `mistakes` that the k fullest of the n(n-1) (true, predicted) cells would hold if the same
    number of mistakes fell on those cells at random, each cell alike (the median over `trials` draws from a
    fixed generator): what "concentrated" is measured against. With few mistakes even a random scatter piles
    a few into one cell."""
    import random

    if mistakes <= 0:
        return 0.0
    cells, rng, shares = n_classes * (n_classes - 1), random.Random(0), []
    for _ in range(trials):
        counts = [0] * cells
        for _ in range(mistakes):
            counts[rng.randrange(cells)] += 1
        shares.append(sum(sorted(counts)[-k:]) / mistakes)
    return sorted(shares)[trials // 2]


def mistakes_count(confusion: list[list[int]]) -> int:
    n = len(confusion)
    return sum(confusion[i][j] for i in range(n) for j in range(n) if i != j)


def class_names(n: int) -> list[str]:
    """The glyph target's class names, as the engine gives them."""
    from engine.data.tasks import TARGET_NAMES

    return [f"glyph {TARGET_NAMES[k]}" for k in range(n)]


def pair_images(true_class: int, predicted_class: int, per_class: int = 4, n_classes: int = 10):
    """Fresh samples of two classes, side by side: ((2 * per_class, 3, 32, 32) images, captions)."""
    from engine.data.tasks import TARGET_NAMES, sample_grid

    x = sample_grid([0.0], per_class=per_class, n_classes=n_classes)[0.0]  # class-major: per_class of each class
    pick = [c * per_class + k for c in (true_class, predicted_class) for k in range(per_class)]
    captions = [f"glyph {TARGET_NAMES[c]}" for c in (true_class, predicted_class) for _ in range(per_class)]
    return x[pick], captions


def _a(o, key: str) -> float:
    return o[key].results["test_accuracy"]


def _f1(o, key: str) -> float:
    return macro_f1(o[key].results["confusion"])


def _ms(o, key: str) -> float:
    return 1000 / o[key].results["steps_per_second"]


def _concentration(o) -> float:
    """The pretrained glyphnet's 3 most confused pairs: their share of its mistakes above 1/3 and above a random
    scatter's (the smaller of the two)."""
    cm = o[SMALL_PRE].results["confusion"]
    share = mistakes_share(cm, 3)
    return min(share - 1 / 3, share - scattered_share(mistakes_count(cm), 3, len(cm)))


def _gain(o, label: str) -> float:
    """What MANY labels per class changed in the run's test accuracy."""
    return _a(o, f"{MANY} | {label}") - _a(o, label)


def _claim_runs(seed: int) -> dict[str, TrainConfig]:
    """The page's three runs and the two glyphnet runs at MANY labels per class (Try this). Only final results are
    read, and evaluation does not change training, so each run evaluates once, at its end."""
    base = BASE.replace(seed=seed, eval_every=BASE.steps)
    many = default_configs(base, shots=MANY)
    return {**default_configs(base), **{f"{MANY} | {k}": many[k] for k in (SMALL_PRE, SMALL_SCRATCH)}}


# "What to notice" on the page; CLAIMS below checks each claim (and the Try this it states) over five seeds.
# Measured with the 200-class backbone shipped before (CLAIMS.md has the margins with today's) (CPU, seeds 0-4, 80 steps of 16 images, 5 labels), test accuracy: glyphnet pretrained 89.7-94.7%,
# glyphnet from scratch 76.3-86.7%, ResNet-18 from scratch 63.3-72.0% (at 1e-3: 54.7-68.7%); glyphnet pretrained
# leads glyphnet from scratch by 7-18 points and ResNet-18 by 18-31. Macro F1 within 0.7 points of accuracy for
# every run. The pretrained glyphnet's 3 most confused pairs: 38-53% of its 16-31 mistakes (a random scatter: 19-26%).
# At 50 labels: glyphnet pretrained 94.7-96.7% (+0.3 to +5 points), from scratch 46.7-77.7% (5 to 30 points lower
# than at 5 labels). Re-measured on another machine of the same kind (same code, seeds and torch; the figures came
# out otherwise, most for the unstable scratch runs, and why was not pinned down): pretrained 89.7-94.7%, glyphnet scratch
# 79.3-87.3%, ResNet-18 64.0-75.3%; at 50 labels pretrained 94.3-96.7% (+0.3 to +4.7), glyphnet scratch 36.3-84.7%
# (+1.7 to -43 points), so the Try this claims what holds on both: scratch gains less than pretrained. Steps per second on the shared 2-core machine: ResNet-18 0.35-0.57, glyphnet 3.4-8.9.
NOTICE = [
    ("**ResNet-18 costs far more**: 46 times glyphnet's parameters (11.2 M against 0.24 M: 44.7 MB of float32 weights "
     "against 0.97 MB), and each of its steps takes more than 5 times as long (the table's ms per step)."),
    ("**Size does not pay from scratch here**: trained from random weights on 5 labels per class, ResNet-18 ends "
     "more than 5 points below glyphnet from scratch (each at the best of the LRs tried for it)."),
    ("**Pretraining pays more than size**: the pretrained glyphnet beats glyphnet from scratch by more than 5 points "
     "and ResNet-18 from scratch by more than 15: a small network pretrained on related data against 46 times the "
     "parameters without."),
    ("**The pretrained glyphnet is the best of the three on test accuracy and on macro F1**, and for every run the two "
     "agree within 2 points: with 30 test images in every class, macro F1 follows accuracy. It tells them apart when "
     "classes are unbalanced or a class is ignored."),
    ("**Its mistakes concentrate in a few pairs**: its 3 most confused of the 90 (true, predicted) pairs hold more "
     "than a third of them, more than the same number of mistakes scattered at random would put there (the line "
     "under the per-class table gives both). Look at the most confused pair: what do the two glyphs have in common?"),
]

TRY_THIS = [
    (f"Set labels per class to {MANY} and press Start",
     ("the pretrained glyphnet holds its accuracy or gains, while glyphnet from scratch gains less than it, and on "
      "some draws even loses accuracy: 80 steps of 16 images show each of 500 images fewer than 3 times, too few "
      "for random weights, while pretrained weights need little adjusting. More labels need more steps too: raise "
      "the steps and see where each model gets to (ResNet-18's run is yours to read).")),
    ("Change the seed and press Start a few times",
     ("the numbers move from draw to draw: over five draws the pretrained glyphnet scored 90-95%, glyphnet from "
      "scratch 76-87% and ResNet-18 63-75%. A gap of a few points between two models can be one draw's luck: "
      "compare over several seeds before choosing.")),
]

IN_PRACTICE = (
    "**What this comparison can show, and what it cannot.** Glyphnet with and without pretraining shows what a "
    "related pretraining is worth at one size; glyphnet against ResNet-18, both from scratch, shows what size is worth "
    "without pretraining, on 5 labels per class and a short run. It cannot show whether a bigger *pretrained* "
    "backbone transfers better: that needs ResNet-18 pretrained too, ideally on the same source, and its ImageNet "
    "weights cannot be downloaded here (with torchvision's file in the cache, the sidebar offers ResNet-18 with "
    "ImageNet weights on the other pages; ImageNet photos are a less related source than glyphs, so even then size "
    "and source would differ at once). In practice, with both pretrained on a large source, the bigger and better "
    "backbone usually transfers better: Kornblith, Shlens and Le (CVPR 2019, \"Do Better ImageNet Models Transfer "
    "Better?\") compared 16 ImageNet networks on 12 image datasets and found transfer accuracy tracking ImageNet "
    "accuracy closely, for fixed features (r = 0.99) and for fine-tuning (r = 0.96). What this page does show holds "
    "there too: without a good start, capacity needs data to fill it, and a related pretraining can be worth more "
    "than size (the same paper found ImageNet pretraining of little help on two small fine-grained datasets, where "
    "its features fit poorly)."
)

QUIZ = [
    {
        "q": ("Predict before you press Start: ResNet-18 has 46 times glyphnet's parameters. Trained from scratch on 5 "
              "labels per class, each model at the best of the LRs tried for it, where does it end?"),
        "options": ["above glyphnet from scratch: more capacity, more accuracy",
                    "below glyphnet from scratch, and far below the pretrained glyphnet",
                    "level with the pretrained glyphnet: its size makes up for the missing pretraining"],
        "answer": 1,
        "why": ("With 50 training images and random weights, 11 M parameters have little to learn from and many ways "
                "to fit the few images; glyphnet's 0.24 M fit sooner, and glyphnet pretrained on related glyphs starts "
                "with features that already fit (the second and third points to notice)."),
    },
    {
        "q": ("Read the table: the pretrained glyphnet scores highest, and ResNet-18 is far bigger and slower. A "
              "classmate concludes: \"small networks transfer better than big ones\". What does this experiment "
              "support?"),
        "options": ["that conclusion, as it stands: the smallest model won",
                    ("that a small network pretrained on related data beats a big one trained from scratch here; "
                     "whether a big pretrained network would do better is not tested"),
                    "nothing at all, since ResNet-18 was changed (its max-pool removed)"],
        "answer": 1,
        "why": ("The winner differs from ResNet-18 in size *and* in pretraining. Size alone is compared only without "
                "pretraining (the two scratch runs); a big pretrained network is missing, and in practice those "
                "usually transfer better (Kornblith et al. 2019). Removing the pool keeps ResNet-18's weights and "
                "makes it fit 32-px images: it makes the comparison fairer, not void."),
    },
    {
        "q": ("In the per-class table, a class has precision 1.0 and recall 0.8. What does the model do with that "
              "class?"),
        "options": [("it misses a fifth of that class's test images (calls them something else), but whenever it "
                     "names the class, it is right"),
                    "it names that class for a fifth of the other classes' images",
                    "it is right on 80% of the images it calls that class"],
        "answer": 0,
        "why": ("Precision counts its predictions of the class (all correct: 1.0); recall counts the real images of "
                "the class (80% found). The missed fifth show up in that class's row of the confusion matrix, "
                "off the diagonal."),
    },
    {
        "q": ("The 3 most confused pairs hold 40% of a model's 17 mistakes. Why does the page compare that with a "
              "random scatter of 17 mistakes rather than with 3 of 90 pairs (3%)?"),
        "options": [("with few mistakes even a random scatter piles some into the same cells, so its 3 fullest cells "
                     "hold far more than 3%: that, not 3%, is what \"concentrated\" must beat"),
                    "because the confusion matrix is symmetric, so there are only 45 pairs",
                    "it makes no difference: both give the same yardstick"],
        "answer": 0,
        "why": ("17 mistakes on 90 cells cannot spread out evenly: some cells get 2 or 3 by chance, and the 3 fullest "
                "hold about a quarter of them. A share well above that says the model really has a few confusions; "
                "then look at those images."),
    },
]

CLAIMS = _claims.PageClaims(
    page=PAGE,
    runs=_claim_runs,
    claims=(
        _claims.Claim("ResNet-18: 46x the parameters, steps > 5x as long",
                      lambda o: min(0.5 - abs(o[BIG_SCRATCH].results["total_params"] / o[SMALL_PRE].results["total_params"] - 46),
                                    _ms(o, BIG_SCRATCH) / max(_ms(o, SMALL_PRE), _ms(o, SMALL_SCRATCH)) - 5), "ratio"),
        _claims.Claim("from scratch: ResNet-18 > 5 points below glyphnet",
                      lambda o: _a(o, SMALL_SCRATCH) - _a(o, BIG_SCRATCH) - 0.05),
        _claims.Claim("pretrained glyphnet: > 5 over glyphnet scratch, > 15 over ResNet-18",
                      lambda o: min(_a(o, SMALL_PRE) - _a(o, SMALL_SCRATCH) - 0.05, _a(o, SMALL_PRE) - _a(o, BIG_SCRATCH) - 0.15)),
        _claims.Claim("pretrained glyphnet best on accuracy and macro F1",
                      lambda o: min(min(_a(o, SMALL_PRE) - _a(o, k) for k in (BIG_SCRATCH, SMALL_SCRATCH)),
                                    min(_f1(o, SMALL_PRE) - _f1(o, k) for k in (BIG_SCRATCH, SMALL_SCRATCH)))),
        _claims.Claim("every run: macro F1 within 2 points of accuracy",
                      lambda o: 0.02 - max(abs(_a(o, k) - _f1(o, k)) for k in LABELS)),
        _claims.Claim("pretrained: 3 top pairs > 1/3 of mistakes and > a random scatter's", _concentration),
        _claims.Claim(f"try {MANY} labels: pretrained holds (> -1 point) and gains > 1 point more than glyphnet scratch",
                      lambda o: min(_gain(o, SMALL_PRE) + 0.01, _gain(o, SMALL_PRE) - _gain(o, SMALL_SCRATCH) - 0.01)),
    ),
)
