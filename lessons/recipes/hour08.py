"""Hour 8's default experiment: one target at a chosen domain gap, from scratch and from two sources.

The three runs differ only in where the backbone starts: random weights, glyphnet (pretrained on
other glyphs: a related source) or glyphnet_unrelated (the same CNN pretrained on colour fields:
an unrelated source, see engine/unrelated.py). The pretrained runs reuse their backbone as it is
(feature extraction) by default, so what the source learned is exactly what the target gets.
"""

from __future__ import annotations

from engine.core.config import TrainConfig

RELATED, UNRELATED = "glyphnet", "glyphnet_unrelated"
DIAL_POSITIONS = (0.0, 0.25, 0.5, 0.75, 1.0)  # rows of the sample picture
NEAR, MID, FAR = 0.0, 0.5, 1.0  # the dial positions the notice compares

BASE = TrainConfig(backbone=RELATED, strategy="feature", shots=5, steps=120, eval_every=20, log_every=10, seed=0)
KNOBS = {
    "domain_shift": {},
    "strategy": {"help": "For the two pretrained runs: keep the backbone as it is (feature extraction) or let it "
                          "adapt to the target (fine-tuning). The run from scratch always trains every layer."},
    "bn_mode": {"help": "For the two pretrained runs: train = batch norm keeps adapting in trained layers; frozen = "
                         "statistics from pretraining; reestimate = measured once on the target images, then fixed. "
                         "The run from scratch always uses train."},
    "shots": {},
    "steps": {},
    "seed": {},
}

LABELS = ("from scratch", "related source (glyphs)", "unrelated source (colour fields)")


def default_configs(base: TrainConfig = BASE, **overrides) -> dict[str, TrainConfig]:
    """{label: config}: scratch, related source, unrelated source; same data, steps and seed."""
    cfg = base.replace(**overrides) if overrides else base
    cfg = cfg.replace(dataset="glyphs", image_size=32)  # the dial is a property of the glyph world
    scratch, related, unrelated = LABELS
    return {
        scratch: cfg.replace(backbone=RELATED, weights="scratch", strategy="finetune", unfreeze=None, bn_mode="train"),
        related: cfg.replace(backbone=RELATED, weights="pretrained"),
        unrelated: cfg.replace(backbone=UNRELATED, weights="pretrained"),
    }


def advantage(results: dict[str, dict]) -> dict[str, float]:
    """Test accuracy of each pretrained run minus the scratch run's ({label: in [-1, 1]}); {} until all have ended."""
    accs = [(results.get(label) or {}).get("test_accuracy") for label in LABELS]
    if any(a is None for a in accs):
        return {}
    return {label: a - accs[0] for label, a in zip(LABELS[1:], accs[1:])}


def unrelated_samples(n: int = 8):
    """A few images of the unrelated source task, one per class: ((n, 3, 32, 32), captions)."""
    import torch

    from engine.data.colourfields import colour_fields

    x, y = colour_fields(1, torch.Generator().manual_seed(0))
    return x[:n], [f"class {int(c)}" for c in y[:n]]


# "What to notice" on the page; tests/test_notice_hour08.py checks each claim (and each "Try this") on these configs.
NOTICE = [
    "At dial 0 the related source's frozen features beat training from scratch by several points.",
    ("The unrelated source's frozen features score far below scratch, even at dial 0: negative transfer from a "
     "source task that has nothing to do with the target."),
    ("Turn the dial up and press Start again: at 0.5 the related source's advantage has shrunk to a few points, and "
     "at 1 it is reversed, its frozen features now score below scratch. A far domain turns positive transfer into "
     "negative transfer."),
]

TRY_THIS = [
    ("At dial 1, switch the strategy to fine-tuning",
     "the related source is back above scratch: letting the layers adapt to the target is the first remedy."),
    ("At dial 1 with feature extraction, set batch-norm statistics to reestimate",
     ("the related source wins back part of what it lost without training a single backbone weight (each frozen "
      "layer now normalises with the target's own statistics), though here not all the way to scratch.")),
    ("At dial 0, switch the strategy to fine-tuning",
     ("even the unrelated source now beats scratch: as a starting point its weights still help a little; it was "
      "its frozen features that did not fit.")),
]
