"""Hour 7 · Batch norm, forgetting and staying close to the start"""

import streamlit as st

from lessons import panel
from lessons.recipes import hour07

panel.header(
    7, "Batch norm, forgetting and staying close to the start",
    "Watch a network forget its source task while it learns a new one, and try two ways to limit it: keeping the "
    "batch-norm statistics fixed, and pulling the weights back towards the pretrained ones (L2-SP). After this hour "
    "you can read the forgetting meter, explain what batch norm stores, and choose between the two.",
)

panel.section("Idea")
st.markdown(
    r"""
**Batch norm** normalises each channel with a mean $\mu$ and variance $\sigma^2$, then rescales it:
$y = \gamma\,(x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta$. In training mode $\mu, \sigma^2$ come from the current
batch and a running average of them is kept; at test time the running averages are used. So a batch-norm layer holds
two kinds of state: learned weights $\gamma, \beta$, and *statistics* measured on whatever data went through it.
While fine-tuning you can

- **train** them: the running statistics keep updating on target batches (the default);
- **freeze** them: keep the pretrained source statistics and use them in every forward pass;
- **re-estimate** them: measure them once on the target training images, then keep them fixed.

**Parameter sharing** is why any of this matters for the source task: the pretrained backbone is shared between the
old task (through the old head) and the new one (through the new head). Every step that helps the target moves
weights the source task also depends on. When the source task's accuracy collapses as a result, that is
**catastrophic forgetting**. The *forgetting meter* below measures it: the backbone as it is now, with the
original source head put back, classifying held-out source glyphs.

**L2-SP** ("L2 towards the Starting Point", Li et al. 2018) adds a penalty to the target loss that pulls the backbone
back to its pretrained weights $W_0$:

$$L = L_\text{target} + \frac{\alpha}{2}\,\lVert W - W_0 \rVert^2 + \frac{\beta}{2}\,\lVert W_\text{new} \rVert^2 ,$$

where $W$ are the pretrained backbone's weights, $W_\text{new}$ the weights that have no pretrained value (the new
head), and $\beta$ an ordinary weight decay on those (Li, Grandvalet and Davoine, 2018). This app implements the first
term; the head's $\beta$ term is the weight-decay knob of Hour 6.

Ordinary weight decay pulls towards zero, which for a pretrained network means *away* from what it knows;
L2-SP pulls towards the start. The strength $\alpha$ trades how far the backbone may go for the target against
how much of the source it keeps. (A related method, EWC, weights each parameter's pull by how much the source
task needs it.)

The experiment fine-tunes the whole network three times on the same few labels, with the same LR and seed: with
no help, with the batch-norm mode you pick (frozen to start with), and with L2-SP. Watch the dotted forgetting-meter
lines on the accuracy chart.
"""
)

panel.section("Experiment")
cfg = panel.controls(hour07.PAGE, hour07.PAGE_BASE, hour07.KNOBS)
configs = hour07.default_configs(bn_mode=cfg.bn_mode, l2sp=cfg.l2sp, lr=cfg.lr, steps=cfg.steps, seed=cfg.seed)
st.caption(f"Runs: **{hour07.NO_HELP}** (batch norm trains, no penalty) · **{hour07.BN_ONLY}** (batch norm "
           f"{cfg.bn_mode}, no penalty) · **{hour07.L2SP_ONLY}** (batch norm trains, L2-SP α = {cfg.l2sp:g}).")
snaps = panel.experiment(hour07.PAGE, configs)

st.subheader("Forgetting meter")
table = hour07.forgetting_table(snaps)
if table.empty:
    st.caption("Press Start: the source-task accuracy of each run is read every few steps from the start.")
else:
    st.dataframe(table.style.format("{:.1%}", na_rep="–"))
    st.caption("source = accuracy on held-out source-task glyphs with the original head (the forgetting meter); "
               "target = validation accuracy on the new classes.")

panel.notice(hour07.NOTICE)
panel.try_this(
    [
        ("Set the L2-SP strength to 0.01", "too weak at first: by step 20 the L2-SP run has forgotten about as much as "
         "the run with no help; it wins a little of the source back later, but ends well below the strong penalty."),
        ("Set the batch-norm mode to reestimate", "the statistics are measured once on the target, then fixed; like "
         "frozen, they go stale as the weights move, and the source task is forgotten just as badly."),
        ("Lower the learning rate to 1e-4", "the run with no help forgets more slowly, since the weights move less per "
         "step, and the target takes longer to learn."),
    ]
)
panel.check_yourself(
    "hour07",
    [
        {
            "q": "What does L2-SP add to the loss?",
            "options": ["α/2 · ||W||², pulling weights towards zero", "α/2 · ||W − W0||², pulling weights towards the "
                        "pretrained ones", "a penalty on the source head's outputs"],
            "answer": 1,
            "why": "The anchor is the starting point W0, not zero: that is the whole difference from weight decay.",
        },
        {
            "q": "Batch norm is frozen but every weight keeps training. Why can the source task still be forgotten?",
            "options": ["frozen statistics are never used", "the stored statistics were measured for the old weights; "
                        "once the weights move they no longer match the activations", "batch norm has no effect at "
                        "test time"],
            "answer": 1,
            "why": "Frozen statistics only protect the source while the layers feeding them stay close to where they were.",
        },
        {
            "q": "Which one thing does the forgetting meter measure?",
            "options": ["the target's training loss", "how far the weights moved", "the current backbone's accuracy on "
                        "held-out source-task images, using the original source head"],
            "answer": 2,
            "why": "It asks the old question of the new backbone: can it still do the source task?",
        },
    ],
)
