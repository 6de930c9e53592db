"""Hour 4 · Layer-wise LRs and gradual unfreezing"""

import streamlit as st

from lessons import _charts, panel
from lessons.recipes import hour04

panel.header(
    4, "Layer-wise LRs and gradual unfreezing",
    "Give each layer group its own learning rate and let groups join the training one at a time. After this hour you "
    "can set up layer-wise LR decay, discriminative learning rates and gradual unfreezing, and read their effect on "
    "the drift panel and the forgetting meter.",
)

panel.section("Idea")
st.markdown(
    r"""
Hour 3 used one learning rate for every trainable group. But the groups are not alike: the **early** groups hold
general features (strokes, edges) that should barely change, the **late** groups hold source-specific parts that may
need reshaping, and the **head** is brand new and must learn everything. So give them different rates.

**Layer-wise LR decay.** The head gets the base rate $\eta$; each group below gets the rate of the group above it
times a factor $\gamma < 1$. Numbering the groups $l = 0$ (stem) to $L$ (head):
"""
)
st.latex(r"\eta_l = \eta \cdot \gamma^{\,L - l}")
st.markdown(
    r"""
Published values depend on the depth and the model: ELECTRA-Base fine-tunes with $\gamma = 0.8$ over its 12
layers (Clark et al., 2020), BEiT and MAE fine-tune ViT-B and ViT-L with 0.65 to 0.75 (Bao et al., 2022; He et
al., 2022). This backbone has only four groups under the head; we use 0.7: the stem learns at
$0.7^4 \approx 0.24$ of the head's rate.

**Discriminative learning rates** (ULMFiT, Howard and Ruder, 2018) say the same thing with two numbers: the rate of the
first group and that of the head, with the groups in between spaced evenly on a log scale,
$\eta_l = \eta_{\text{low}} \cdot (\eta_{\text{high}} / \eta_{\text{low}})^{\,l/L}$. (fastai writes this as
`slice(low, high)`.) ULMFiT itself divided the rate by **2.6** from each layer to the one below
($\eta_{l-1} = \eta_l / 2.6$), and ran it with a *slanted triangular* schedule: a short linear warm-up to the peak
rate (the first 10% of steps), then a long linear decay.

**Gradual unfreezing** (also ULMFiT) changes *when* groups train instead of how fast: first only the head, then one
more group every $N$ steps, from the top down. The new head starts random, so its first gradients are large and
noisy; training it alone first means those gradients never reach the pretrained layers.

All three protect the early layers; the price is a slower start and one or two more settings to choose. Some methods
go further and *learn* the rates: **hypergradient descent** (Baydin et al., 2018) treats $\eta$ as a parameter and
updates it with the derivative of the loss with respect to $\eta$, which for SGD is
$-\nabla L(\theta_t) \cdot \nabla L(\theta_{t-1})$; done per group, it gives each group its own learned rate. It is
not built into this app.
"""
)

panel.section("Experiment")
st.markdown(
    "Your settings train beside **the same run with one flat LR** (no decay, no LR range, the same unfreezing), so any "
    "difference between the two runs comes from the LR profile. (Within one run, drift also depends on how long each "
    "group has trained since it joined: see What to notice.)"
)
cfg = panel.controls(hour04.PAGE, hour04.BASE, hour04.KNOBS)
configs = hour04.configs(cfg)

left, right = st.columns(2)
left.plotly_chart(_charts.lr_profile_figure({label: hour04.lr_profile(c) for label, c in configs.items()}),
                  key="chart:hour04:profile", config={"displayModeBar": False})
snaps = panel.latest(hour04.PAGE)
ran = snaps.get(hour04.DECAYED) or {}
measured = {g: ran["series"][f"trainable/{g}"] for g in ran.get("groups", []) if ran.get("series", {}).get(f"trainable/{g}")}
if measured:
    right.plotly_chart(_charts.timeline_figure(measured, "Which groups train (blue), measured in your last run"),
                       key="chart:hour04:timeline", config={"displayModeBar": False})
else:
    right.plotly_chart(_charts.timeline_figure(hour04.trainable_plan(cfg), "Which groups train (blue), planned"),
                       key="chart:hour04:timeline", config={"displayModeBar": False})
joins = hour04.joins_at(cfg)
if cfg.gradual_unfreeze:
    right.caption("Joins at step: " + ", ".join(f"{g} {s}" if s is not None else f"{g} never" for g, s in joins.items()))
else:
    right.caption("Gradual unfreezing is off: every trainable group trains from the first step.")

snaps = panel.experiment(hour04.PAGE, configs)

panel.notice(hour04.NOTICE)
panel.try_this(
    [
        ("Set the layer decay to 1", "both runs are now the same run: their curves and drift bars match exactly."),
        ("Turn on discriminative LRs with the range 1e-5 to 1e-3", ("the bar chart spans two orders of magnitude: "
         "the stem learns 100 times more slowly than the head, its drift nearly vanishes (under 0.005), and the "
         "forgetting meter ends higher than with decay 0.7 (by 6 to 10 points on the draws we measured).")),
        ("Set gradual unfreezing to 0", ("every group trains from step 0: the timeline turns all blue and the stem "
         "drifts from the first steps. Now the LR profile acts alone: the drift ratios between the runs rise neatly "
         "from the stem to block3, and the decayed run's lead on the forgetting meter grows to more than 8 points "
         "(8.5 to 16 on our draws). Compare the flat run's meter with the one it had with gradual unfreezing: "
         "unfreezing alone kept more than 8 points of the source on most draws (5 to 20 on ours). The two protect the same early layers, "
         "so together each adds less than it does alone.")),
    ]
)
panel.check_yourself(
    hour04.PAGE,
    [
        {
            "q": ("Read the flat run's drift bars: every group had the same LR, yet the stem drifted least, well under "
                  "half as far as block1. Why?"),
            "options": [
                ("it joined last, so it trained only the last 100 steps, and its weights are the largest, so equal "
                 "Adam steps are a smaller fraction of them"),
                "its gradients are the smallest, having passed back through every layer above it",
                "Adam gives lower layers smaller steps by design, even with one flat LR",
            ],
            "answer": 0,
            "why": ("Adam scales each weight's step to about the LR whatever the gradient's size, so small gradients "
                    "do not make small steps; but fewer steps and larger weights both mean less relative drift. That "
                    "is why one run's bars cannot show the LR profile's effect: compare each group between the two "
                    "runs, which share the unfreezing."),
        },
        {
            "q": ("Predict, then run: set gradual unfreezing to 0 (both runs). What happens to the decayed run's lead "
                  "over the flat run on the forgetting meter?"),
            "options": [
                "it grows: with every group training from step 0, the lower LRs are what protects the early layers",
                "it vanishes: layer decay only matters when the lower groups join late",
                "it stays at a few points: the LR profile and unfreezing act independently",
            ],
            "answer": 0,
            "why": ("Without unfreezing the flat run's stem and block1 train for all 200 steps at the full LR and the "
                    "meter falls further; the decayed run's small lower LRs now do all the protecting. Its lead grows "
                    "from a few points to more than 8. The two techniques overlap: each adds less when the other is on."),
        },
        {
            "q": ("ULMFiT divides the LR by 2.6 from each layer to the one below. Written as this page's layer decay, "
                  "with a head LR of 1e-3, what does the stem (four groups below the head) get?"),
            "options": [
                "decay 1/2.6 ≈ 0.385, stem 1e-3 × 0.385⁴ ≈ 2.2e-5",
                "decay 0.26, stem 1e-3 × 0.26⁴ ≈ 4.6e-6",
                "decay 1/2.6 ≈ 0.385, stem 1e-3 × 0.385 ≈ 3.8e-4",
            ],
            "answer": 0,
            "why": ("Dividing by 2.6 is multiplying by 1/2.6 ≈ 0.385 (not 0.26), once per group: four groups down "
                    "gives 0.385⁴ ≈ 0.022 of the head's LR, a far steeper profile than this page's 0.7 (0.24)."),
        },
    ],
)
