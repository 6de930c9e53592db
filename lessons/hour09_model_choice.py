"""Hour 9 · Choosing and evaluating a model"""

import streamlit as st

from lessons import panel
from lessons.recipes import hour09

PAGE = "hour09"

panel.header(
    9, "Choosing and evaluating a model",
    "Pick a backbone for a small target by what it costs and what it scores, and read an evaluation beyond one "
    "accuracy number. After this hour you can compare models fairly on parameters, step time and accuracy, and use a "
    "confusion matrix, precision, recall and F1 to see which classes a model gets wrong.",
)

panel.section("Idea")
st.markdown(
    """
**Choosing a backbone** is a trade. A bigger network can represent more, but it has more weights to fit, costs more
compute and memory per step, and needs more data (or a good pretraining) before that capacity pays off. For a
small target, ask in this order: is there a backbone *pretrained on something related*? How many parameters must
learn from my few labels? How long is one step, and how much memory do the weights take (4 bytes per parameter
in float32, plus gradients and optimizer state while training)?

**A backbone is built for an image size.** torchvision's ResNet-18 was made for 224-pixel photos: its stem (a 7x7
convolution at stride 2, then a max-pool at stride 2) shrinks a picture 4-fold before the first stage, and the
stages shrink it 8-fold more, so a 224-px photo reaches the last stage (layer4) as 7x7 maps. A 32-px glyph would
reach it as 1x1: nothing left of the layout for the last stage to look at. The usual fixes: feed it larger images,
or change the stem. Here ResNet-18 runs **without its max-pool** (the pool has no weights, so ImageNet weights would
still fit): a 32-px glyph reaches layer4 as 2x2 maps, as a 64-px one does with the pool, for about 4 times the
compute. (The CIFAR versions of ResNet go further: a 3x3 first convolution at stride 1 and no pool, 4x4 maps at the
end, 16 times the compute.)

**Compare like with like.** Change one thing at a time: glyphnet pretrained against glyphnet from scratch is
pretraining at the same size; glyphnet from scratch against ResNet-18 from scratch is size with the same (no)
pretraining. And give each model its own best settings, chosen on *validation* data, never on the test set: one
learning rate for all would favour whichever model it happens to suit.

**One accuracy number hides a lot.** For each class *c*, count on the test set:

- **precision** = correct predictions of *c* / all predictions of *c* (when it says *c*, how often is it right?)
- **recall** = correct predictions of *c* / all test images of *c* (of the real *c*s, how many did it find?)
- **F1** = their harmonic mean, 2PR / (P + R): high only when both are high.

The **confusion matrix** has one row per true class and one column per predicted class; the diagonal is what it
got right, and every off-diagonal cell is a particular confusion. **Macro F1** averages F1 over classes, so a class
the model ignores pulls it down even when accuracy looks fine. And always *look at the mistakes*: the images a
model gets wrong tell you whether the fault is the model, the labels or the data.
"""
)

panel.section("Experiment")
st.markdown(
    "Three runs on the same 10 new glyph classes, with the same 32-px images, labels, steps, batch size and seed: the "
    "small **glyphnet** pretrained on other glyphs, glyphnet **from scratch**, and torchvision's **ResNet-18** (without "
    "its stem's max-pool) from scratch, since its ImageNet weights would need a download. Each trains with Adam at "
    f"its own learning rate, the one that gave it the best validation accuracy when we tried {hour09.lr_sweep_text()} "
    f"over five draws: {hour09.lr_text()}."
)
cfg = panel.controls(PAGE, hour09.BASE, hour09.KNOBS)
panel.glyph_world_only(cfg, "This page always compares these three models on the glyph world")
snaps = panel.experiment(PAGE, hour09.default_configs(cfg))

results = {label: (s.get("results") or {}) for label, s in snaps.items()}
rows = hour09.comparison_rows(results, hour09.LR)
if rows:
    st.markdown("**Cost and score, side by side** (step time is measured on this machine while the runs share it, so "
                "it varies)")
    st.dataframe(rows, hide_index=True)
    best = results.get(hour09.SMALL_PRE) or {}
    if best.get("confusion"):
        st.markdown(f"**Per class, {hour09.SMALL_PRE}**: precision, recall and F1 from its confusion matrix")
        classes = hour09.class_names(len(best["confusion"]))
        st.dataframe(hour09.class_report_rows(best["confusion"], classes), hide_index=True)
        top = hour09.most_confused(best["confusion"], 3)
        if top:
            count, true, pred = top[0]
            share = hour09.mistakes_share(best["confusion"], 3)
            wrong = hour09.mistakes_count(best["confusion"])
            scattered = hour09.scattered_share(wrong, 3, len(classes))
            st.markdown(
                f"**Most confused pair**: {classes[true]} was called {classes[pred]} {count} times. Its three most "
                f"confused pairs hold {share:.0%} of its {wrong} mistakes; the same {wrong} mistakes scattered at "
                f"random over the {len(classes) * (len(classes) - 1)} pairs would put about {scattered:.0%} in the "
                f"three fullest. Fresh samples of both, {classes[true]} first:"
            )
            images, captions = hour09.pair_images(true, pred, n_classes=len(classes))
            panel.image_grid(images, captions)
    st.caption("Open *Where did each model go wrong?* above for each run's confusion matrix and misclassified images.")

with st.expander("In this world / in practice"):
    st.markdown(hour09.IN_PRACTICE)

panel.notice(hour09.NOTICE)
panel.try_this(hour09.TRY_THIS)
panel.check_yourself(PAGE, hour09.QUIZ)
