"""Hour 5 · Optimizers and schedules"""

import streamlit as st

from lessons import _charts, panel
from lessons.recipes import hour05

panel.header(
    5, "Optimizers and schedules",
    "See how the rule that turns gradients into steps changes a fine-tuning run. After this hour you can tell "
    "SGD, momentum and the adaptive methods apart by their curves, pick an LR schedule, and find a good learning "
    "rate with an LR range test instead of guessing.",
)

panel.section("Idea")
st.markdown(
    r"""
Every optimizer here follows the gradient $g_t = \nabla_w L(w_t)$ of the loss on a **mini-batch**. Using the whole
training set for each step is *batch* gradient descent (exact but slow per step); one image per step is
*stochastic* gradient descent (cheap but very noisy); a mini-batch of $B$ images sits in between, and its noise
shrinks roughly like $1/\sqrt{B}$. What differs is how the step is built from $g_t$ (learning rate $\eta$):

| optimizer | update | keeps per weight |
|---|---|---|
| **SGD** | $w \leftarrow w - \eta\, g$ | nothing |
| **momentum** | $v \leftarrow \mu v + g,\quad w \leftarrow w - \eta\, v$ &nbsp; ($\mu = 0.9$) | a velocity $v$ |
| **Nesterov** | as momentum, but the step uses $g + \mu v$: a look at where the velocity is taking it | a velocity |
| **Adagrad** | $G \leftarrow G + g^2,\quad w \leftarrow w - \eta\, g / (\sqrt{G} + \epsilon)$ | the sum of squared gradients |
| **RMSprop** | $s \leftarrow \rho s + (1-\rho) g^2,\quad w \leftarrow w - \eta\, g / (\sqrt{s} + \epsilon)$ | a running mean of $g^2$ |
| **Adam** | $m \leftarrow \beta_1 m + (1-\beta_1) g,\ \ s \leftarrow \beta_2 s + (1-\beta_2) g^2,\ \ w \leftarrow w - \eta\, \hat m / (\sqrt{\hat s} + \epsilon)$ | two moments $m, s$ |
| **AdamW** | Adam, plus weight decay applied to $w$ directly ($w \leftarrow w - \eta \lambda w$) instead of through the gradient | two moments |

**Momentum** averages the gradients of recent steps, so the batch-to-batch noise partly cancels and steps along
a consistent direction add up (with $\mu = 0.9$ the steady-state step is about $10\times$ plain SGD's). Those are two
effects, and a fair comparison separates them: plain SGD at $10\times$ the LR takes the same size of step, so the
experiment below runs it beside momentum.
**Adaptive** methods divide each weight's step by a running root-mean-square of its recent gradients: every weight gets its own step size,
so weights with small gradients still move and one learning rate suits the whole network more easily. The price
is memory (one or two extra numbers per weight) and, at times, slightly worse generalisation than well-tuned SGD.

A **schedule** multiplies the learning rate at each step: *constant*; *step* (divide by 10 every third of the run);
*cosine* (a smooth slide to 0); *warm-up* (start at 1% and ramp up linearly, which keeps the first steps from
wrecking pretrained weights while Adam's moment estimates are still poor); *one-cycle* (up to the peak for 30% of
the run, then down far below the start).

The **LR range test** (the "LR finder") trains for a few steps while raising the learning rate exponentially,
say from $10^{-6}$ to $10$, and records the smoothed loss at each LR. The loss stays flat while the LR is too small
to matter, falls in a **valley**, and shoots up once the LR is too large. A good LR sits where the loss falls
fastest, or about a tenth of the LR at the bottom of the valley.
"""
)

panel.section("Experiment")
st.markdown(
    "The same fine-tuning run (200 training images, every layer learning, one seed) with each optimizer you pick, "
    "at the LR people usually start it with: "
    + ", ".join(f"{name} {lr:g}" for name, lr in hour05.USUAL_LR.items()) + "."
)
chosen = st.multiselect(
    "Optimizers to compare", list(hour05.USUAL_LR), default=list(hour05.SHOWN), key="hour05:optimizers",
    help="Each one trains the same network from the same start on the same batches; the curves are overlaid.",
)
equal_step = st.checkbox(
    f"With momentum, also run plain SGD at momentum's step size (LR x {1 / (1 - hour05.MOMENTUM):g}: *{hour05.EQUAL_STEP}*)",
    value=True, key="hour05:equal_step",
    help="Momentum's steady step is 1 / (1 - 0.9) = 10 times plain SGD's at the same LR. This run tells the larger "
         "step apart from the averaging of gradients.",
)
cfg = panel.controls(hour05.PAGE, hour05.BASE, hour05.KNOBS)
if not chosen:
    st.info("Pick at least one optimizer to compare.")
    st.stop()
configs = hour05.default_configs(chosen, equal_step, batch_size=cfg.batch_size, schedule=cfg.schedule, steps=cfg.steps,
                                 seed=cfg.seed)
first = next(iter(configs.values()))
panel.schedule_plot(first, key="hour05:schedule")
st.caption(f"Drawn for {chosen[0]}'s LR ({first.lr:g}); every optimizer's LR is multiplied by the same schedule.")

snaps = panel.experiment(hour05.PAGE, configs)

st.subheader("The comparison, measured on your runs")
finder_snaps = panel.latest(hour05.FINDER_PAGE)
table = hour05.comparison_table(snaps, finder_snaps)
if table.empty:
    st.caption("Press Start above: the table fills in from the runs' own loss curves.")
else:
    st.dataframe(table, column_config={k: st.column_config.Column(help=v) for k, v in hour05.TABLE_HELP.items()})
    st.caption(" · ".join(f"**{k}**: {v}" for k, v in hour05.TABLE_HELP.items()))

st.subheader("LR range test")
st.markdown(
    "One short run per optimizer picked above, the LR rising from 1e-6 to 10 over "
    f"{hour05.FINDER_STEPS} steps; each stops once its smoothed loss passes 4x its best. The shaded band is "
    "where the loss has made at least half of its drop (its width is the table's *good-LR band*); the dotted "
    "line is where it falls fastest. Start it once the comparison above has finished: each student may train a "
    "few runs at a time."
)
finder_snaps = panel.experiment(hour05.FINDER_PAGE, hour05.finder_configs(chosen, batch_size=cfg.batch_size, seed=cfg.seed),
                                pictures=False)
if finder_snaps:
    st.plotly_chart(_charts.finder_figure(finder_snaps), key="hour05:finder")
    for label, s in finder_snaps.items():
        found = (s.get("results") or {}).get("lr_finder") or {}
        if found.get("steepest_lr"):
            st.markdown(f"- **{label}**: steepest descent at LR {found['steepest_lr']:.2g}; lowest loss at "
                        f"{found['min_lr']:.2g}, so a tenth of it is {found['suggested_lr']:.2g}.")

panel.notice(hour05.NOTICE)
panel.try_this(
    [
        ("Run the LR range test and compare SGD's shaded band with its LR of 0.01", "0.01 lies below SGD's band of "
         "good LRs: plain SGD is slow here because its usual LR is too small for this problem (its blocks move by "
         "under 5e-4 of their size per step), while Adam's 1e-3 sits near its steepest point."),
        ("Set the batch size to 4", "predict first: each step's loss and gradient now come from 4 images instead of "
         "32. Then compare the oscillation column with your last run's."),
        ("Pick the cosine schedule", "the LR curve above slides down to 0; watch whether the loss curves flatten out "
         "in the last steps as the steps get smaller."),
    ]
)
panel.check_yourself(
    "hour05",
    [
        {
            "q": "Momentum at LR 0.01 gets under a loss of 0.5 more than twice as soon as plain SGD at 0.01. Predict: "
                 f"where does plain SGD at 0.1 (*{hour05.EQUAL_STEP}*) land?",
            "options": ["as slow as SGD at 0.01: without momentum's averaging the batch noise holds it back",
                        "at least as fast as momentum: with μ = 0.9 momentum's steady step is 10 times SGD's, and SGD "
                        "at 0.1 takes that step",
                        "it diverges: 0.1 is far too large an LR for fine-tuning"],
            "answer": 1,
            "why": "v ← 0.9 v + g settles at v = g / (1 − 0.9) = 10 g along a steady direction. Run it: on every draw "
                   "SGD at 0.1 gets under 0.5 a few steps before momentum, and the LR range test's band for SGD "
                   "(from about 0.05) says 0.1 is a good LR here, not a reckless one.",
        },
        {
            "q": "On the loss chart, SGD at 0.01's curve jumps the most in raw loss units. Why does the table divide "
                 "the jumps by the loss level before comparing the optimizers' noise?",
            "options": ["a loss that is still high moves by more in absolute terms, whatever the optimizer",
                        "dividing makes every optimizer's oscillation equal",
                        "raw loss changes are not defined for SGD"],
            "answer": 0,
            "why": "SGD at 0.01 is still near 0.4 in the second half while the others are near 0.02; jumps of the same "
                   "relative size are then more than ten times larger in raw units. Relative to its level, momentum's loss is "
                   "not smoother than SGD's at the same step size here.",
        },
        {
            "q": "Read the update/weight chart under the layer panel: Adam's blocks move by about 1e-3 of their size "
                 "per step, plain SGD's at 0.01 by under 5e-4. What does Adam do that SGD does not?",
            "options": ["it uses a larger learning rate",
                        "it divides each weight's step by a running RMS of its recent gradients, so a step is about "
                        "the LR in size whatever the gradient's scale",
                        "it skips the layers whose gradients are small"],
            "answer": 1,
            "why": "Adam's LR (1e-3) is a tenth of SGD's, so the LR is not it. SGD's step is the LR times the "
                   "gradient, and the blocks' gradients are small beside their weights; Adam's normalised step is not. Every layer still "
                   "trains with both.",
        },
    ],
)
