"""Hour 2 · Feature extraction"""

import streamlit as st

from engine.core.config import ConfigError
from lessons import _charts, panel
from lessons.recipes import hour02

panel.header(
    2, "Feature extraction",
    "Use a pretrained network as a fixed feature extractor and train only a new head on top. After this hour you "
    "can say what is frozen and what learns, why each step is cheap, and why accuracy comes fast but then stops rising.",
)

panel.section("Idea")
st.markdown(
    r"""
A pretrained network is two parts: a **backbone** $f_{\theta_0}$ that turns an image into a feature vector
$z = f_{\theta_0}(x)$ (here 128 numbers), and a **head** that turns features into classes. Its old head knows
the 1,000 source classes (200 glyph classes, 800 character-like ones), so we throw it away and put a new one on
top for our 10 target classes.

In **feature extraction** the backbone is **frozen**: $\theta_0$ never changes. Only the head's weights $W, b$ learn,
by the usual cross-entropy over the few labelled target images:
"""
)
st.latex(r"\min_{W,\,b}\ \sum_i \mathrm{CE}\big(W\, f_{\theta_0}(x_i) + b,\ y_i\big)")
st.markdown(
    r"""
With a linear head this is just logistic regression on the pretrained features (a *linear probe*); the *MLP* head
adds one hidden layer of 128 units. Three things follow:

- **Nothing in the backbone moves.** Its weights get no gradient (`requires_grad = False`), and the engine also puts
  its batch-norm layers in eval mode (`module.eval()`), so their running statistics stay as pretrained: drift
  $\lVert W - W_0\rVert / \lVert W_0\rVert$ is exactly 0. The two are separate switches: `requires_grad = False`
  alone stops the weights, but a batch-norm layer left in training mode still updates its running mean and
  variance on every batch (PyTorch's documentation of `BatchNorm2d`).
- **Each step is cheap.** Backpropagation stops at the head: no gradients for the backbone, no optimizer state for
  it. (A real pipeline goes further: compute every image's features once and train the head on those.)
- **The features are fixed, so accuracy plateaus.** The head can only draw boundaries between the points the
  backbone already places; if two classes land on top of each other, no head can separate them.

Below are the target's test images in the pretrained feature space, squeezed to 2-D by PCA (the two directions along
which the 128 features vary most). Classes that form tight, separate clusters are easy for a head on these features.
"""
)


@st.cache_data(show_spinner="Computing features…", max_entries=8)
def feature_space(cfg_dict: dict, weights: str) -> tuple[list[dict], list[float], float]:
    from engine.core.config import TrainConfig
    from engine.train.projection import project_target

    p = project_target(TrainConfig.from_dict(cfg_dict), split="test", weights=weights)
    return p.rows(), p.explained, p.separation


def draw_feature_space(column, title: str, weights: str) -> None:
    try:
        rows, explained, separation = feature_space(hour02.BASE.to_dict(), weights)
    except ConfigError as e:
        column.warning(str(e))
        return
    column.plotly_chart(_charts.feature_space_figure(rows, explained, title), key=f"chart:hour02:space:{weights}",
                        config={"displayModeBar": False})
    column.caption(f"Nearest class mean (in all 128 dimensions) is the right class for **{separation:.0%}** of the images.")


left, right = st.columns(2)
draw_feature_space(left, "Pretrained backbone: what the head gets to read", "pretrained")
draw_feature_space(right, "The same network with random weights, for contrast", "scratch")

panel.section("Experiment")
st.markdown(
    "The head-only run trains beside the same run with **every** layer trainable (full fine-tuning), so you can "
    "compare what each one trains and how fast its steps are. Same images, optimizer, LR and seed."
)
cfg = panel.controls(hour02.PAGE, hour02.BASE, hour02.KNOBS)
configs = hour02.configs(cfg)
counts = {label: hour02.param_counts(c) for label, c in configs.items()}
c1, c2 = st.columns(2)
for col, (label, (trainable, total)) in zip((c1, c2), counts.items()):
    col.metric(f"Trainable parameters · {label}", f"{trainable:,} of {total:,}", f"{trainable / total:.1%} of the network",
               delta_color="off", delta_arrow="off")

snaps = panel.experiment(hour02.PAGE, configs)
table = hour02.speed_table(snaps)
if table:
    st.markdown("**Step speed** (median of the live steps/s; runs that train at the same time share the CPU)")
    st.dataframe(table, hide_index=True)

panel.notice(hour02.NOTICE)
panel.try_this(
    [
        ("Switch the head to mlp", ("the head trains 17,802 of 258,986 parameters instead of 1,290: still a small "
         "share, and the backbone's drift is still exactly 0.")),
        ("Set labels per class to 1", (f"accuracy drops, but one example per class still takes the head above "
         f"{hour02.ONE_LABEL_FLOOR:.0%} (80 to 90% on most draws), far above the 10% of guessing: look how well the "
         "classes already cluster in the picture above.")),
        (f"Set the learning rate to {hour02.SLOW_LR:g}", (f"the head hardly moves in 200 steps and stays below "
         f"{hour02.SLOW_CEILING:.0%}, near chance: a frozen backbone still needs a head that is trained properly.")),
    ]
)
panel.check_yourself(
    hour02.PAGE,
    [
        {
            "q": (f"Predict, then run: you set the learning rate to {hour02.SLOW_LR:g}, 100 times smaller than the "
                  "default, and keep 200 steps. Where does the head-only run's test accuracy end?"),
            "options": [
                "about where it ends at 1e-3: a smaller LR only makes the curve slower, and 200 steps are plenty",
                (f"below {hour02.SLOW_CEILING:.0%}, near chance: 200 steps of about 1e-5 each move the head's weights "
                 "far too little"),
                "a little higher than at 1e-3, because smaller steps overfit the 50 labelled images less",
            ],
            "answer": 1,
            "why": ("Adam moves each weight by about the LR per step, so in 200 steps a head weight can travel at most "
                    "about 200 × 1e-5 = 0.002: the random head barely changes and the predictions stay near guessing. "
                    "At 1e-3 the same 200 steps allow 0.2, enough to fit the head; 'slower but gets there' would need "
                    "thousands of steps here."),
        },
        {
            "q": ("In the PCA picture of the pretrained features two classes overlap. Can a linear head on these "
                  "features still tell them apart?"),
            "options": [
                "no: points that lie on top of each other get the same prediction from any linear head",
                ("possibly: the picture keeps only the 2 of 128 directions along which the features vary most, and "
                 "the classes may separate along others"),
                "only with the mlp head, because a linear head sees the same 2 dimensions the picture shows",
            ],
            "answer": 1,
            "why": ("PCA is a view, not what the head reads: the head gets all 128 features. The caption's "
                    "nearest-class-mean accuracy is measured in all 128 dimensions, not in the 2 drawn; classes that "
                    "overlap in 2-D may be separated by a direction the picture drops."),
        },
        {
            "q": ("Predict, then run: you switch the head to mlp (one hidden layer of 128 units). What do the "
                  "backbone's drift bars show in the head-only run?"),
            "options": [
                "still exactly 0: the hidden layer belongs to the head, and no backbone weight gets a gradient",
                "small but not 0: the MLP's extra layer sends gradients back into block3",
                "block3 moves and the rest stay at 0, since the MLP replaces the last backbone block",
            ],
            "answer": 0,
            "why": ("Freezing is decided per group, not by the head's size: the backbone's weights have requires_grad "
                    "off and its batch norm is in eval mode whatever head sits on top. The MLP only adds head "
                    "parameters (17,802 instead of 1,290)."),
        },
    ],
)
