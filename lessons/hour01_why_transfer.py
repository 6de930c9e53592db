"""Hour 1 · Why transfer?"""

import streamlit as st

from lessons import panel
from lessons.recipes import hour01

panel.header(
    1, "Why transfer?",
    "See what a pretrained network buys you when labels are scarce. After this hour you can say what the source "
    "and the target are (domain and task), name the three kinds of transfer, and predict when transfer pays.",
)

panel.section("Idea")
st.markdown(
    """
Training a network **from scratch** means starting from random weights and learning everything, edges and
strokes and shapes, from your own labelled images. With five labels per class there is not much to learn from.

**Transfer learning** starts instead from a network trained on a *source* problem with lots of data, and reuses
what it learned for a *target* problem. Two words make this precise:

- A **domain** is the kind of inputs and how they are spread: the feature space 𝒳 and the distribution P(X)
  (glyphs drawn as light strokes on a dark background, say).
- A **task** is what we want from those inputs: the label space 𝒴 and the function f: 𝒳 → 𝒴 to learn
  (which of 1,000 glyph classes this is).

Source and target can differ in the domain, in the task, or both. That gives three families of transfer:

| kind | labels in the target? | what differs | example |
|---|---|---|---|
| **inductive** | yes, at least a few | the task (new classes) | this course: new glyph classes, 5 labels each |
| **transductive** | no, only in the source | the domain, same task | a digit reader trained on print, used on handwriting |
| **unsupervised** | no, in neither | both; the goal is clustering or features | a network pretrained without labels (an autoencoder on unlabelled scans) used to cluster unlabelled photos |
"""
)
st.markdown(
    """
**When it pays**: the target has *few labels*, and it is *related* to the source, so features like strokes and
corners that helped there help here. **When it does not**: the target has plenty of labels (scratch catches up),
or the source is unrelated or looks very different (Hour 8: the pretrained features can even hurt, which is called
*negative transfer*).

Below, the same network is trained twice on the same few labelled glyphs, with the same optimizer, steps and
seed. The only difference is the start: random weights, or the weights pretrained on 1,000 other glyph classes.
"""
)
with st.expander("See the target: new glyph classes, never seen in pretraining"):
    panel.target_samples(hour01.BASE, per_class=2)

panel.section("Experiment")
cfg = panel.controls("hour01", hour01.BASE, hour01.KNOBS)
panel.experiment("hour01", hour01.configs(cfg))

panel.notice(hour01.NOTICE)
panel.try_this(
    [
        ("Set labels per class to 20 and press Start", "both runs do better and the gap between them narrows: "
         "with more labels, scratch has more to learn from."),
        ("Set labels per class to 1", "both runs drop and the gap grows to over 20 points: from a single example per "
         "class the pretrained run still recognises most test glyphs; from scratch gets fewer than half."),
        ("Halve the training steps to 100", "from scratch loses a few points of test accuracy; the pretrained run "
         "hardly changes, because it reached a low loss early."),
    ]
)
panel.check_yourself(
    "hour01",
    [
        {
            "q": "A model pretrained on 1,000 glyph classes is reused for 10 new glyph classes with 5 labels each. "
                 "Which kind of transfer is this?",
            "options": ["inductive", "transductive", "unsupervised"],
            "answer": 0,
            "why": "The task changed (new classes) and the target has some labels: that is inductive transfer.",
        },
        {
            "q": "When does pretraining help most?",
            "options": ["when the target has many labels", "when the target has few labels and is related to the source",
                        "when the source and target look completely different"],
            "answer": 1,
            "why": "Few labels leave scratch little to learn from; a related source supplies features that still fit.",
        },
        {
            "q": "In the experiment, both runs use the same data, optimizer, steps and seed. Why does that matter?",
            "options": ["it makes training faster", "so the only difference is the starting weights, and any gap is due to them",
                        "it is required by PyTorch"],
            "answer": 1,
            "why": "A fair comparison changes one thing at a time; here that one thing is pretraining.",
        },
    ],
)
