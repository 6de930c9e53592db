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
st.info(
    "**In this world / in practice.** The usual advice for fine-tuning a network with batch norm is to keep its layers "
    "in inference mode (the stored statistics, \"frozen\" here), to train the new head first, and to fine-tune at a "
    "low LR (the Keras guide *Transfer learning & fine-tuning*; torchvision's detection models ship with "
    "`FrozenBatchNorm2d`). Its main reason is the *target*: small or unrepresentative target batches give noisy "
    "statistics, and train-mode batch norm overwrites the pretrained ones. It is not, by itself, a guard against "
    "forgetting, and in this world frozen statistics forget more than training ones both at this page's LR and at "
    "a tenth of it (Try this 3). What keeps the source task here is keeping the weights near W0: L2-SP, or a low LR."
)
panel.try_this(
    [
        ("Set the L2-SP strength to 0.01", "too weak at first: by step 20 the L2-SP run has forgotten about as much as "
         "the run with no help; it wins some of the source back later, but ends well below the strong penalty."),
        ("Set the batch-norm mode to reestimate", "the statistics are measured once on the target training images, "
         "then fixed. Predict first: do statistics measured on the target go stale as the weights move, as the "
         "source's own did? Then compare the meter with the frozen run's."),
        (f"Lower the learning rate to {hour07.LOW_LR:g}", "the run with no help forgets more slowly and ends well above "
         "where it ends at 1e-3, while its target is learned far more slowly (at step 20 its validation accuracy is "
         "much lower); the frozen-statistics run still forgets more than the one with no help (its meter is below "
         "from step 20 on)."),
    ]
)
panel.check_yourself(
    "hour07",
    [
        {
            "q": "Before you press Start: batch norm is frozen (the source's own statistics) and every weight trains at "
                 "1e-3. How will its forgetting meter compare with the run with no help?",
            "options": ["higher: the source's own statistics keep the source task working",
                        "lower: the weights move while the stored statistics stay, so they stop matching the "
                        "activations they normalise",
                        "the same: batch-norm statistics only matter at test time"],
            "answer": 1,
            "why": "The meter reads the backbone with its stored statistics. Training-mode batch norm renormalises "
                   "every batch and moves its statistics with the weights; frozen statistics stay where the source "
                   "left them while the layers feeding them change. On this page the frozen run's meter is below the "
                   "no-help run's at every reading, even though both learn the target.",
        },
        {
            "q": "On the accuracy chart, the L2-SP run's target validation accuracy at step 10 is far below the no-help "
                 "run's, yet both end above 90%. What causes the slow start?",
            "options": ["L2-SP gives the backbone a smaller learning rate",
                        "the penalty pulls the backbone back towards W0, so at first the target is learned mostly "
                        "through the head and small moves of the backbone",
                        "L2-SP freezes the batch-norm statistics until the head has trained"],
            "answer": 1,
            "why": "The two runs have the same LR and batch-norm mode; L2-SP only adds α/2 ||W − W0||² to the loss. "
                   "The backbone moves only as far as the target's gradient outweighs that pull, which is also why "
                   "its meter stays near the start. Learning the target and keeping the source trade against each "
                   "other through α.",
        },
        {
            "q": "Which one thing does the forgetting meter measure?",
            "options": ["how far the weights have moved from W0, as a fraction of their size",
                        "the target's validation accuracy on classes shared with the source",
                        "the current backbone's accuracy on held-out source-task images, using the original source head"],
            "answer": 2,
            "why": "It asks the old question of the new backbone. Weights can move a lot in directions the source "
                   "task does not need (Hour 3's drift), so distance from W0 is not the same thing; and the target's "
                   "classes are new ones, with a new head.",
        },
    ],
)
