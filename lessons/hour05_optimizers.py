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
a consistent direction add up (with $\mu = 0.9$ the steady-state step is about $10\times$ plain SGD's).
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
cfg = panel.controls(hour05.PAGE, hour05.BASE, hour05.KNOBS)
if not chosen:
    st.info("Pick at least one optimizer to compare.")
    st.stop()
configs = hour05.default_configs(chosen, batch_size=cfg.batch_size, schedule=cfg.schedule, steps=cfg.steps, seed=cfg.seed)
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
         "good LRs: plain SGD is slow here partly because its usual LR is too small for this problem, while Adam's "
         "1e-3 sits near its steepest point."),
        ("Set the batch size to 4", "every training curve gets much jumpier (the oscillation column grows), because "
         "each step's loss and gradient come from only 4 images."),
        ("Pick the cosine schedule", "the LR curve above slides down to 0, and the loss curves flatten out in the last "
         "steps as the steps get smaller."),
    ]
)
panel.check_yourself(
    "hour05",
    [
        {
            "q": "Adam keeps two extra numbers for every weight. For a 25-million-parameter network in float32, "
                 "roughly how much memory does that state take?",
            "options": ["about 25 MB", "about 200 MB", "about 2 GB"],
            "answer": 1,
            "why": "2 x 25 million x 4 bytes = 200 MB, on top of the weights and their gradients.",
        },
        {
            "q": "In an LR range test the loss is flat, then falls, then shoots up. Which LR do you pick?",
            "options": ["the largest LR before the loss shoots up", "one where the loss falls fastest, "
                        "or about a tenth of the LR at the lowest loss", "the smallest LR tried"],
            "answer": 1,
            "why": "At the bottom of the valley the LR is already close to unstable; the steep part trains fast and safely.",
        },
        {
            "q": "Why does momentum make the loss curve smoother than plain SGD at the same LR?",
            "options": ["it uses a bigger batch", "it averages the gradients of recent steps, so batch noise "
                        "partly cancels", "it lowers the LR automatically"],
            "answer": 1,
            "why": "The velocity is a running sum of gradients: consistent directions add up, random ones cancel.",
        },
    ],
)
