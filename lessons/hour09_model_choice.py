"""Hour 9 · Choosing and evaluating a model"""

import streamlit as st

from lessons import panel
from lessons.recipes import hour09

PAGE = "hour09"

panel.header(
    9, "Choosing and evaluating a model",
    "Pick a backbone for a small target by what it costs and what it scores, and read an evaluation beyond one "
    "accuracy number. After this hour you can compare models on parameters, step time and accuracy, and use a "
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
    "Three runs on the same 10 new glyph classes, same labels, steps, optimizer and seed: the small glyphnet "
    "pretrained on glyphs, the large torchvision **ResNet-18** from scratch (its ImageNet weights would need a "
    "download), and glyphnet from scratch, so you can tell size and pretraining apart."
)
cfg = panel.controls(PAGE, hour09.BASE, hour09.KNOBS)
panel.glyph_world_only(cfg, "This page always compares these three models on the glyph world")
snaps = panel.experiment(PAGE, hour09.default_configs(cfg))

results = {label: (s.get("results") or {}) for label, s in snaps.items()}
rows = hour09.comparison_rows(results)
if rows:
    st.markdown("**Cost and score, side by side** (step time is measured on this machine, so it varies)")
    st.dataframe(rows, hide_index=True)
    best = results.get(hour09.LABELS[0]) or {}
    if best.get("confusion"):
        st.markdown(f"**Per class, {hour09.LABELS[0]}**: precision, recall and F1 from its confusion matrix")
        classes = hour09.class_names(len(best["confusion"]))
        st.dataframe(hour09.class_report_rows(best["confusion"], classes), hide_index=True)
        top = hour09.most_confused(best["confusion"], 3)
        if top:
            count, true, pred = top[0]
            share = hour09.mistakes_share(best["confusion"], 3)
            st.markdown(
                f"**Most confused pair**: {classes[true]} was called {classes[pred]} {count} times. The three most "
                f"confused pairs hold {share:.0%} of all its mistakes. Fresh samples of both, {classes[true]} first:"
            )
            images, captions = hour09.pair_images(true, pred, n_classes=len(classes))
            panel.image_grid(images, captions)
    st.caption("Open *Where did each model go wrong?* above for each run's confusion matrix and misclassified images.")

panel.notice(hour09.NOTICE)
panel.try_this(
    [
        ("Set labels per class to 50 and press Start", ("compare how much of its gap to the pretrained glyphnet "
         "ResNet-18 closes: capacity can only pay off once there is data to fill it.")),
        ("Set labels per class to 1", ("the pretrained glyphnet keeps a clear lead over both scratch models; look at "
         "the per-class table to see which classes suffer most.")),
        ("Change the seed and press Start a few times", ("the numbers move from seed to seed: a gap of one or two "
         "points between two models is within this noise, so compare over several seeds before choosing.")),
    ]
)
panel.check_yourself(
    PAGE,
    [
        {
            "q": "A model predicts class 'cat' 10 times; 8 are cats. There are 16 cats in the test set. "
                 "What are its precision and recall for 'cat'?",
            "options": ["precision 0.8, recall 0.5", "precision 0.5, recall 0.8", "precision 0.8, recall 0.8"],
            "answer": 0,
            "why": "Precision = 8 / 10 predictions; recall = 8 / 16 real cats.",
        },
        {
            "q": "Why can a 46x larger network lose to a small one on a 5-labels-per-class target?",
            "options": ["large networks are always worse", ("it has far more weights to fit from the same few labels, "
                        "and here it starts from random weights"), "the optimizer does not work for large networks"],
            "answer": 1,
            "why": "Capacity needs data or a good starting point; with neither, the extra weights mostly overfit.",
        },
        {
            "q": "Accuracy is 90% but one of ten classes has recall 0. Which number shows it?",
            "options": ["accuracy", "macro F1 (and the per-class table)", "training loss"],
            "answer": 1,
            "why": "Macro F1 averages over classes, so a class with F1 = 0 pulls it down; accuracy can hide it.",
        },
    ],
)
