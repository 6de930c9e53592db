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
compute. The **forgetting meter** shows this: it puts the *original* pretrained head back on the current backbone
and measures its accuracy on held-out images of 200 of the source classes, images the network never trained on.
While the backbone keeps its features, the old head still works; when the features are destroyed, it fails. (Even a careful run loses some,
here 10 to 25 points of the meter: its weights move a little, and the batch-norm statistics in the trainable groups
drift towards the target's images, a topic of Hour 7.)

**How big is one step?** Under the layer panel, the *update/weight ratio* $\lVert \Delta W\rVert / \lVert W\rVert$
says how much one step changes each group relative to its size. A common rule of thumb puts it near $10^{-3}$ (the
dashed line): far above it, a few steps rewrite the layer.
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
st.info(
    "**In this world / in practice.** Here the too-large LR costs the target almost nothing: the target is ten glyph "
    "classes drawn by the same generator as the source, easy enough that the network re-fits them from the 50 labels "
    "while it overwrites the features. On real data a too-large LR usually costs target accuracy as well, since the "
    "features the target needed are gone and a few labels cannot rebuild them: learning-rate sweeps in fine-tuning "
    "studies fall off at the high end (Li et al., 2020, *Rethinking the Hyperparameters for Fine-tuning*, ICLR). "
    f"Try LR {hour03.HUGE_LR:g} below to see this world's target suffer too. Either way, choose the LR with the "
    "validation set, and watch the source task when what was pretrained still matters."
)
panel.try_this(
    [
        ("Set trainable body groups to 0", ("this is feature extraction: every body group's drift stays exactly 0, "
         "and the forgetting meter does not move in either run, whatever the LR.")),
        ("Set trainable body groups to 4 (full fine-tuning)", ("now the stem's drift leaves 0 too, though it stays "
         "the smallest, under half of any other group's. Not because its gradients are small: Adam makes every "
         "weight's step about the LR in size, whatever the gradient's. The stem's weights are about twice as large as "
         "the deeper groups' (RMS 0.12 against 0.05-0.06: a 3x3 filter over 3 channels against one over 64 or 128), "
         "so the same step is a smaller fraction of them: see the update/weight ratios under the layer panel.")),
        (f"Set your learning rate to {hour03.HUGE_LR:g}", ("ten times the too-large one: now the target suffers too. "
         "Your run ends below the 1e-2 run on the target test set, and below what 1e-4 gave you: by at least 2 points "
         "and usually by 5 or more. The forgetting meter, of course, collapses as well.")),
    ]
)
panel.check_yourself(
    hour03.PAGE,
    [
        {
            "q": ("Read the charts of the 1e-2 run: its update/weight ratios start more than 20 times above the dashed "
                  "1e-3 line and fall below it later. When is most of the source task forgotten?"),
            "options": [
                f"in the first few dozen steps: the forgetting meter is already below 15% at its first check (step "
                f"{hour03.FIRST_CHECK})",
                "gradually over all 200 steps, since drift keeps adding up as long as the run trains",
                "near the end, when the head has fitted the target and the backbone starts to specialise",
            ],
            "answer": 0,
            "why": ("The big steps come first: Adam's first steps are about the LR in size, and 1e-2 is large next to "
                    "weights of 0.05 to 0.1. The meter says so: below 15% by step 50, and the later, smaller steps do not "
                    "bring the old features back."),
        },
        {
            "q": ("Predict, then run: you set trainable body groups to 0 and keep both LRs. What does the forgetting "
                  "meter do?"),
            "options": [
                "it stays exactly at its start value in both runs",
                "it still falls in the 1e-2 run, because the head's large steps send large gradients into the backbone",
                "it slips a little in both runs, because batch norm's running statistics follow the target's images",
            ],
            "answer": 0,
            "why": ("With 0 groups trainable no backbone weight gets a gradient and the engine keeps the backbone's "
                    "batch norm in eval mode, so its statistics stay as pretrained too. The meter puts the original "
                    "head on that unchanged backbone: the same network, the same score. (Batch norm in training mode "
                    "would move it, which is why feature extraction needs both switches.)"),
        },
        {
            "q": (f"Predict, then run: you set your learning rate to {hour03.HUGE_LR:g}, ten times the too-large one. "
                  "How does your run's target test accuracy compare with the 1e-2 run beside it?"),
            "options": [
                "about the same: on this page the target accuracy hides even a destroyed backbone",
                "lower: the target suffers too, by several points",
                "the run diverges: the loss turns to NaN and training stops",
            ],
            "answer": 1,
            "why": ("1e-2 already overwrites the features, but the network re-fits this easy target from the 50 labels. "
                    "At 1e-1 Adam's steps are about 0.1 in size, larger than the weights themselves (0.05 to 0.12), "
                    "too coarse to fit even this target well; Adam keeps the steps bounded, so the run finishes rather than diverges. On real data "
                    "the target usually suffers already at the smaller too-large LR."),
        },
    ],
)
