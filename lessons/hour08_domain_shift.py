"""Hour 8 · Domain shift and negative transfer"""

import streamlit as st

from lessons import panel
from lessons.recipes import hour08

PAGE = "hour08"

panel.header(
    8, "Domain shift and negative transfer",
    "See pretraining stop paying, and then hurt, when the target drifts away from the source or the source has "
    "nothing to do with the target. After this hour you can name the kinds of dataset shift, recognise negative "
    "transfer in a run, and try the usual remedies.",
)

panel.section("Idea")
st.markdown(
    """
Transfer assumes the source taught the network something that still holds on the target. **Dataset shift** is
any difference between the data a model learned from and the data it meets:

- **covariate shift**: the inputs look different, P(X) changes, but what makes a class does not
  (the same glyphs, drawn inverted, blurred or tinted);
- **label shift**: the classes are mixed in other proportions, P(Y) changes;
- **concept shift**: the same input now means something else, P(Y | X) changes.

The dial below makes covariate shift on purpose: turning it up adds a colour tint, a striped texture, blur,
inversion (for a growing share of images) and extra rotation, one after another. The strokes stay the same; only
the look moves away from what the backbone saw in pretraining.

**Negative transfer** is when starting from the source makes the target *worse* than training from scratch. It
happens when the source's features do not fit the target: a far domain, or an unrelated source task. Reusing the
features as they are (feature extraction) is the most exposed, since nothing below the head can adapt.

**Domain adaptation** is the family of fixes: fine-tune more layers so the features can move to the target;
re-estimate batch-norm statistics on target images (each layer's activations are then normalised with the target's
own mean and variance, so the layers above receive what they were trained on);
augment the source towards the target's look; or, with unlabelled target data, learn features that cannot tell
source from target apart (adversarial adaptation, e.g. DANN). And sometimes the honest answer is a closer source.
"""
)
with st.expander("See the target at each dial position (the same glyphs, only the look changes)", expanded=True):
    panel.shift_samples(hour08.DIAL_POSITIONS)
with st.expander("See what the unrelated source was pretrained on: 100 classes of smooth colour fields"):
    images, captions = hour08.unrelated_samples()
    panel.image_grid(images, captions)

panel.section("Experiment")
st.markdown(
    "Three runs on the same target at the same dial position: a network **from scratch**, one started from the "
    "**related source** (glyphnet, pretrained on 200 other glyph classes) and one from the **unrelated source** "
    "(the same network pretrained on colour fields). By default the two pretrained backbones stay frozen and only "
    "a new head learns, so each run shows exactly what its source's features are worth here."
)
cfg = panel.controls(PAGE, hour08.BASE, hour08.KNOBS)
panel.glyph_world_only(cfg, "The domain-shift dial belongs to the glyph world, so this page always uses it")
snaps = panel.experiment(PAGE, hour08.default_configs(cfg))

results = {label: (s.get("results") or {}) for label, s in snaps.items()}
gain = hour08.advantage(results)
if gain:
    dial = snaps[hour08.LABELS[0]]["config"]["domain_shift"]
    st.markdown(f"**Advantage of each source over scratch** at domain shift {dial:g} (test accuracy, in points; "
                "below zero is negative transfer)")
    cols = st.columns(len(gain))
    for col, (label, points) in zip(cols, gain.items()):
        col.metric(label, f"{points * 100:+.1f} points")

panel.notice(hour08.NOTICE)
panel.try_this(hour08.TRY_THIS)
panel.check_yourself(
    PAGE,
    [
        {
            "q": "Pretrained features plus a new head score below the same network trained from scratch. What is that called?",
            "options": ["overfitting", "negative transfer", "catastrophic forgetting"],
            "answer": 1,
            "why": "Transfer that makes the target worse than no transfer at all is negative transfer.",
        },
        {
            "q": "The target images are inverted and tinted compared with the source; the labels mean the same. Which shift is it?",
            "options": ["covariate shift (P(X) changes)", "label shift (P(Y) changes)", "concept shift (P(Y|X) changes)"],
            "answer": 0,
            "why": "Only the look of the inputs changed; what makes each class is the same.",
        },
        {
            "q": "With a far target, which change helps a frozen pretrained backbone without training any of its weights?",
            "options": ["a larger learning rate for the head", "re-estimating batch-norm statistics on target images",
                        "more training steps"],
            "answer": 1,
            "why": "Batch norm's running mean and variance can be measured on the target: no gradient step needed.",
        },
    ],
)
