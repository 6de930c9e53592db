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

**Negative transfer** is when the source makes the target *worse*: the same learner, trained the same way on the
same target data, does better without the source than with it (Rosenstein et al. 2005, "To transfer or not to
transfer"; Wang et al., CVPR 2019, "Characterizing and avoiding negative transfer"). Compare like with like: a
frozen backbone against a fully trained network from scratch differs in the learner as well as in the start. It
happens when what the source learned does not fit the target: a far domain, or an unrelated source task. Reusing
the features as they are (feature extraction) is the most exposed, since nothing below the head can adapt.

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
    "**related source** (glyphnet, pretrained on 1,000 other glyph classes) and one from the **unrelated source** "
    "(the same network pretrained on colour fields). By default all three fine-tune every layer with the same "
    "optimizer, LR, data and steps, so the only difference is the start: the same learner with and without each "
    "source. Switch the strategy to feature extraction to see what each source's features are worth as they are "
    "(the run from scratch still trains every layer: a frozen random body has nothing to offer)."
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
    if snaps[hour08.LABELS[1]]["config"]["strategy"] == "feature":
        st.caption("With feature extraction the pretrained runs and the run from scratch are different learners (a "
                   "frozen body and a new head against a network trained whole): below zero says the frozen features "
                   "are worth less than training from scratch, not that the source itself hurts.")

with st.expander("In this world / in practice"):
    st.markdown(
        "Here, at 5 labels per class and dial 0 or 1, the network fine-tuned from either source ended above the one "
        "trained from scratch on every draw we measured: a source's weights are a better start than random ones, and "
        "the harm shows when its features are kept frozen. Give the far target more data and it starts to show: at "
        "dial 1 with 50 labels per class, one of our five draws had the unrelated source end 2 points below scratch. "
        "In practice negative transfer under fine-tuning does happen, mostly with a source far from the target and "
        "plenty of target data, where "
        "pretraining stops helping (He, Girshick and Dollár, ICCV 2019, \"Rethinking ImageNet pre-training\": from "
        "scratch catches up given enough data and steps). So check it the way this page does: the same recipe, "
        "with and without the source, on your own target."
    )

panel.notice(hour08.NOTICE)
panel.try_this(hour08.TRY_THIS)
panel.check_yourself(
    PAGE,
    [
        {
            "q": ("At dial 1 with feature extraction, the related source's run scores below the run from scratch. Is "
                  "that negative transfer?"),
            "options": ["yes: anything that starts from a source and ends below scratch is negative transfer",
                        ("not shown yet: the two runs are different learners; with fine-tuning (the same learner as "
                         "scratch) the related source is still ahead at dial 1"),
                        "no: negative transfer only happens with an unrelated source, never with a related one"],
            "answer": 1,
            "why": ("Negative transfer compares the same learner with and without the source. A frozen body with a new "
                    "head is a weaker learner than a network trained whole; fine-tuned from the related source, the "
                    "network stays above scratch even at dial 1 (the third point to notice). A related source at a "
                    "far dial can hurt too, which is why the test is like against like, not a list of safe sources."),
        },
        {
            "q": ("Predict before you run: at dial 0 you switch the strategy to feature extraction. What happens to the "
                  "unrelated source's run compared with scratch?"),
            "options": ["it stays a few points above scratch, as when fine-tuned",
                        ("it falls more than 10 points below scratch: its weights were a fine start, but its features "
                         "as they are do not fit glyphs"),
                        "it rises to match the related source, since only the head has to learn"],
            "answer": 1,
            "why": ("Fine-tuning let the colour-field layers move towards glyph features; frozen, they must serve as "
                    "they are, and features for smooth colour fields say little about strokes (Try this, 1)."),
        },
        {
            "q": ("At dial 1 with feature extraction, re-estimating batch-norm statistics on target images wins back "
                  "several points. Why does it help without training any backbone weight?"),
            "options": ["it gives the head a larger learning rate",
                        ("each frozen layer then normalises its activations with the target's own mean and variance, "
                         "so the layers above receive inputs on the scale they were trained on"),
                        "it retrains the convolutions on the target images for one pass"],
            "answer": 1,
            "why": ("The shift (inversion, tint, blur) moves each layer's activation statistics; the running mean and "
                    "variance from pretraining no longer centre them. Measuring them once on the target fixes the "
                    "scale, not the features: it recovers part of the loss, not all (Try this, 3)."),
        },
    ],
)
