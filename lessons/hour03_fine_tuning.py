"""Hour 3 · Fine-tuning"""

import streamlit as st

from lessons import panel
from lessons.recipes import hour03

panel.header(
    3, "Fine-tuning",
    "Let the top layers of the pretrained network keep learning on the target. After this hour you can choose how "
    "many layer groups to unfreeze, explain why fine-tuning uses small learning rates, and recognise catastrophic "
    "forgetting on the forgetting meter.",
)

panel.section("Idea")
st.markdown(
    r"""
Feature extraction (Hour 2) keeps every backbone weight fixed. **Fine-tuning** lets some of them change too: the
backbone's layer groups are split into a frozen bottom and a trainable top, and the top $k$ groups train together
with the new head.

```
input → stem → block1 → block2 → block3 → head
        └──┘   └───── trainable (k = 3) ─────┘
       frozen
```

Why the top? Early layers detect general things (edges, stroke ends, corners) that suit almost any glyph; later
layers combine them into parts that were useful for the *source* classes, and those are the ones the target may need
changed. $k = 0$ is feature extraction; $k$ = all groups is **full fine-tuning**. More trainable groups give more
room to adapt, and more room to overfit the few labels or to forget.

**Why the learning rate must be small.** The pretrained weights $W_0$ already sit in a good place; fine-tuning
should nudge them, not replace them. Adam scales every weight's step to about the learning rate $\eta$ in size, so
after $T$ steps a weight can have moved by up to about $\eta T$. Typical weights in this backbone are 0.04 to 0.1 in
size. With $\eta = 10^{-4}$ and 200 steps the bound is 0.02, and since the steps partly cancel the real change is
smaller still; with $\eta = 10^{-2}$ the bound is 2, twenty times a typical weight: enough to overwrite it. The
per-layer panel measures how far each group actually went, its relative drift:
"""
)
st.latex(r"\mathrm{drift} = \frac{\lVert W - W_0 \rVert}{\lVert W_0 \rVert}")
st.markdown(
    r"""
**Catastrophic forgetting.** When the backbone moves far, it stops computing the features it was pretrained to
compute. The **forgetting meter** shows this: it puts the *original* 200-class head back on the current backbone and
measures its accuracy on held-out source images the network never trained on. While the backbone keeps its
features, the old head still works; when the features are destroyed, it fails. (Even a careful run loses a little:
batch-norm statistics in the trainable groups drift towards the target's images, a topic of Hour 7.)
"""
)

panel.section("Experiment")
st.markdown(
    f"Your run trains beside **the same run with learning rate {hour03.TOO_LARGE_LR:g}**, a value that is fine for "
    "training a new head from scratch but far too large for pretrained weights."
)
cfg = panel.controls(hour03.PAGE, hour03.BASE, hour03.KNOBS)
flags = hour03.trainable_groups(cfg)
st.caption(
    "With this setting: " + " → ".join(f"**{g}** (trains)" if on else f"{g} (frozen)" for g, on in flags.items())
)
snaps = panel.experiment(hour03.PAGE, hour03.configs(cfg))

panel.notice(hour03.NOTICE)
panel.try_this(
    [
        ("Set trainable body groups to 0", ("this is feature extraction: every body group's drift stays exactly 0, "
         "and the forgetting meter does not move in either run, whatever the LR.")),
        ("Set trainable body groups to 4 (full fine-tuning)", ("now the stem's drift leaves 0 too, though it stays "
         "the smallest. Not because its gradients are small: Adam makes every weight's step about the LR in size, "
         "whatever the gradient's. The stem's weights are about twice as large as the deeper groups' (RMS 0.12 "
         "against 0.05-0.06: a 3x3 filter over 3 channels against one over 64 or 128), so the same step is a smaller "
         "fraction of them: see the update/weight ratios under the layer panel.")),
        ("Raise your learning rate to 1e-3", ("your run's drift grows and its forgetting meter ends lower: the closer "
         "your LR gets to the too-large one, the more of the source task is forgotten.")),
    ]
)
panel.check_yourself(
    hour03.PAGE,
    [
        {
            "q": "With 3 trainable body groups out of 4, which group's drift stays exactly 0?",
            "options": ["the head", "the stem, the group closest to the input", "block3, the group closest to the head"],
            "answer": 1,
            "why": "Unfreezing counts down from the head, so the groups nearest the input are the ones left frozen.",
        },
        {
            "q": "Why do fine-tuning runs use a much smaller learning rate than training from scratch?",
            "options": ["small LRs always train faster", ("the pretrained weights are already good: big steps would move "
                        "them far and destroy the features they compute"), "the head needs a small LR"],
            "answer": 1,
            "why": "Fine-tuning should adjust the pretrained features, not overwrite them; drift and the forgetting meter "
                   "show what a big LR does.",
        },
        {
            "q": "Two runs reach the same target accuracy. One has a much lower forgetting meter. What does that tell you?",
            "options": ["nothing: only the target matters", ("its backbone moved further from the pretrained features; "
                        "it has forgotten more of what pretraining taught"), "it overfitted the target"],
            "answer": 1,
            "why": "The target test alone cannot see forgetting; the source-task accuracy can.",
        },
    ],
)
