"""Hour 9's default experiment: two backbones of very different size on one small target, then evaluate.

glyphnet (about 0.24 M parameters, pretrained on glyphs) against torchvision's ResNet-18 (about 11 M),
here from scratch, since its ImageNet weights need a download; plus glyphnet from scratch, so size
and pretraining can be told apart. Same data, steps, optimizer and seed for all three.
"""

from __future__ import annotations

from engine.core.config import TrainConfig
from engine.train.metrics import per_class_report

BASE = TrainConfig(backbone="glyphnet", strategy="finetune", shots=5, steps=120, eval_every=20, log_every=10, seed=0)
KNOBS = ["shots", "steps", "seed"]
SMALL, BIG = "glyphnet", "resnet18"
LABELS = ("glyphnet, pretrained", "ResNet-18, from scratch", "glyphnet, from scratch")


def default_configs(base: TrainConfig = BASE, **overrides) -> dict[str, TrainConfig]:
    """{label: config}: the three runs the page starts together, on the glyph target at 32 pixels."""
    cfg = (base.replace(**overrides) if overrides else base).replace(dataset="glyphs", image_size=32)
    small_pre, big_scratch, small_scratch = LABELS
    return {
        small_pre: cfg.replace(backbone=SMALL, weights="pretrained"),
        big_scratch: cfg.replace(backbone=BIG, weights="scratch"),
        small_scratch: cfg.replace(backbone=SMALL, weights="scratch"),
    }


def comparison_rows(results: dict[str, dict]) -> list[dict]:
    """One row per finished run: what it costs and what it scores (for a table on the page)."""
    rows = []
    for label, r in results.items():
        if not r or r.get("test_accuracy") is None:
            continue
        sps = r.get("steps_per_second") or 0.0
        report = per_class_report(r["confusion"])
        rows.append(
            {
                "model": label,
                "parameters": r["total_params"],
                "weights (MB, float32)": round(r["total_params"] * 4 / 1e6, 2),
                "ms per step": round(1000 / sps, 1) if sps > 0 else None,
                "test accuracy": round(r["test_accuracy"], 3),
                "macro F1": round(sum(c["f1"] for c in report) / len(report), 3),
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


NOTICE = [
    ("ResNet-18 has about 46 times as many parameters as glyphnet, yet trained from scratch on 5 labels per class it "
    "scores below glyphnet from scratch, and far below the pretrained glyphnet (look at the table)."),
    "The pretrained glyphnet is the best of the three on test accuracy and on macro F1 (the mean F1 over classes).",
    ("Its mistakes are not spread evenly: three of the 90 possible (true, predicted) pairs hold over 40% of them. "
    "Look at the most confused pair below: what do the two glyphs have in common?"),
]
