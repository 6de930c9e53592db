"""Hour 6 · Overfitting and regularization"""

import streamlit as st

from lessons import panel
from lessons.recipes import hour06

panel.header(
    6, "Overfitting and regularization",
    "See a network memorise a handful of training images, and see what each standard remedy does about it. After this "
    "hour you can spot overfitting on a loss chart, and choose between augmentation, dropout, weight decay and early "
    "stopping.",
)

panel.section("Idea")
st.markdown(
    r"""
A network with a few hundred thousand weights and thirty training images can fit every one of them exactly, and
**overfitting** is what happens when it does: the training loss keeps falling towards zero while the loss on
images it has not seen (the **validation** set) stops falling and then rises. The model is no longer learning what a
class looks like, only which training image is which, and it grows ever more confident, also on the validation
images it gets wrong. The distance between the two curves, the **train/validation gap**, is the symptom to watch.

The remedies all make memorising harder or less attractive:

- **Data augmentation** shows each training image slightly changed at every step (here: a small rotation, shift and
  scale, plus pixel noise, changes that do not alter which glyph it is). The network sees many variants instead of
  a few fixed pictures, so it has to learn what stays the same.
- **Dropout** sets a random fraction $p$ of the features to zero at each training step (and scales the rest by
  $1/(1-p)$), so the head cannot rely on any single feature. At test time nothing is dropped.
- **Weight decay** adds $\frac{\lambda}{2}\lVert W \rVert^2$ to the loss (for Adam here; AdamW subtracts
  $\eta\lambda W$ directly instead), keeping weights small and the function smoother.
- **Early stopping** watches the validation loss and stops once it has not improved for a number of evaluations
  (the *patience*), then goes back to the weights of the best evaluation. It uses the validation set to choose
  *when* to stop, so the test set stays untouched for the final verdict.

The target here is deliberately hard: three labels per class, drawn far from the source (part of the images
inverted, blurred and tinted), so the pretrained features fit poorly and memorising is the easy way down. Watch
which remedies actually help: a remedy works when it counters the cause, and augmentation in particular only
helps when its changes look like the variety in the real data.
"""
)
with st.expander("See the target: three labels per class, far from the source's look"):
    panel.target_samples(hour06.BASE, per_class=1)

panel.section("Experiment")
st.markdown("Four runs on the same images and seed: **no help**, then each remedy on its own. Set the remedies' strength:")
cfg = panel.controls(hour06.PAGE, hour06.PAGE_BASE, hour06.KNOBS)
snaps = panel.experiment(hour06.PAGE, hour06.default_configs(dropout=cfg.dropout, weight_decay=cfg.weight_decay,
                                                             steps=cfg.steps, seed=cfg.seed))
table = hour06.gap_table(snaps)
if not table.empty:
    st.dataframe(table.style.format({c: "{:.3f}" for c in table.columns if c not in ("best step", "test accuracy")}
                                    | {"test accuracy": "{:.1%}"}, na_rep="–"))
    st.caption("gap = validation loss minus training loss (mean of the last 10 steps) at the end; best step = where "
               "the validation loss was lowest; climbed = how far it rose again after that.")

st.subheader("Early stopping")
st.markdown("The run with no help again, now stopped once the validation loss has not improved for *patience* "
            "evaluations (one every 20 steps); the weights of the best evaluation are put back.")
early_cfg = panel.controls(hour06.EARLY_PAGE, hour06.PAGE_BASE, hour06.EARLY_KNOBS)
early = panel.experiment(hour06.EARLY_PAGE, hour06.early_configs(early_stopping=early_cfg.early_stopping, steps=cfg.steps,
                                                                 seed=cfg.seed), pictures=False)
for label, s in early.items():
    best = (s.get("results") or {}).get("best_step")
    if best is not None:
        t = hour06.turn(s)
        st.markdown(f"**{label}**: best validation loss {t['best val loss']:.3f} at step **{best}**; the run stopped at "
                    f"step {s['step']} and its final weights (and test accuracy) are those of step {best}.")

panel.notice(hour06.NOTICE)
panel.try_this(
    [
        ("Set the weight decay to 1e-05", "too weak to matter: that run's curves lie almost on top of the no-help run."),
        ("Set the early-stopping patience to 1 and press Start under Early stopping", "the run stops at step 40, one "
         "evaluation after the best one (step 20); with a noisy validation loss a patience this short can stop too soon."),
        ("Turn the dropout up to 0.8", "the training loss falls more slowly and stays noisier, since each step sees a "
         "different random 80% of the features switched off."),
    ]
)
panel.check_yourself(
    "hour06",
    [
        {
            "q": "The training loss keeps falling while the validation loss rises. What is happening?",
            "options": ["the learning rate is too small", "the model is memorising the training images (overfitting)",
                        "the validation set is broken"],
            "answer": 1,
            "why": "Better on the images it trains on, worse on new ones: it learns the examples, not the classes.",
        },
        {
            "q": "Why should early stopping watch the validation set and not the test set?",
            "options": ["the test set is too small", "choosing when to stop is a decision fitted to that data; the test "
                        "set must stay unseen to give an honest final score", "it makes no difference"],
            "answer": 1,
            "why": "Anything used to make a choice stops being an unbiased estimate of performance on new data.",
        },
        {
            "q": "Which of these augmentations could change what a glyph *is*, and so must not be used here?",
            "options": ["a rotation of a few degrees", "a mirror image (left-right flip)", "a little pixel noise"],
            "answer": 1,
            "why": "An augmentation must keep the label: a mirrored glyph can be a different glyph (think b and d).",
        },
    ],
)
