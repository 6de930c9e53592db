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

The gap has to be measured fairly. The training loss a run logs comes from its own training batches, in training
mode: augmented images for the augmentation run, dropout-masked features for the dropout run, batch norm on batch
statistics. The validation loss comes from clean images in eval mode. So the table below measures the training
images again the way the validation images are measured (as they are, in eval mode), and shows **accuracy beside
loss**: cross-entropy also grows when a network becomes more *confident* in answers it already had wrong, so a
loss can rise while the number of mistakes stays the same, and a remedy can lower the loss without fixing a
single mistake.

The remedies all make memorising harder or less attractive:

- **Data augmentation** shows each training image slightly changed at every step (here: a rotation of up to 15
  degrees, a shift and scale, plus pixel noise, changes that do not alter which glyph it is). The network sees many
  variants instead of a few fixed pictures, so it has to learn what stays the same.
- **Dropout** sets a random fraction $p$ of the features to zero at each training step (and scales the rest by
  $1/(1-p)$), so the head cannot rely on any single feature. At test time nothing is dropped.
- **Weight decay** adds $\frac{\lambda}{2}\lVert W \rVert^2$ to the loss (for Adam here; AdamW subtracts
  $\eta\lambda W$ directly instead), keeping weights small and the function smoother.
- **Early stopping** watches the validation loss and stops once it has not improved for a number of evaluations
  (the *patience*), then goes back to the weights of the best evaluation. It uses the validation set to choose
  *when* to stop, so the test set stays untouched for the final verdict.

The target here is deliberately hard: three labels per class, drawn far from the source (rotated by up to 60
degrees, tinted, textured, blurred, and partly inverted), so the pretrained features fit poorly and memorising is
the easy way down. Watch which remedies actually help, and by which measure.
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
    pct = ("train accuracy (clean)", "val accuracy", "accuracy gap", "test accuracy")
    st.dataframe(table.style.format({c: "{:.1%}" if c in pct else "{:.3f}" for c in table.columns if c != "best step"},
                                    na_rep="–"))
    st.caption("At the end of each run. train (clean) = the training images as they are, in eval mode, measured like "
               "the validation images; loss gap = val loss minus that train loss; accuracy gap = train minus val "
               "accuracy; best step = where the validation loss was lowest; climbed = how far it rose after that; "
               "train loss (logged) = the mean of the run's last 10 training steps, on its own (augmented or "
               "dropout-masked) batches, for comparison.")

st.subheader("Early stopping")
st.markdown("The run with no help again, now stopped once the validation loss has not improved for *patience* "
            "evaluations (one every 20 steps); the weights of the best evaluation are put back.")
early_cfg = panel.controls(hour06.EARLY_PAGE, hour06.PAGE_BASE, hour06.EARLY_KNOBS, sidebar=False)
early = panel.experiment(hour06.EARLY_PAGE, hour06.early_configs(early_stopping=early_cfg.early_stopping, steps=cfg.steps,
                                                                 seed=cfg.seed), pictures=False)
for label, s in early.items():
    best = (s.get("results") or {}).get("best_step")
    if best is not None:
        t = hour06.turn(s)
        st.markdown(f"**{label}**: best validation loss {t['best val loss']:.3f} at step **{best}**; the run stopped at "
                    f"step {s['step']} and its final weights (and test accuracy) are those of step {best}.")

panel.notice(hour06.NOTICE)
st.info(
    "**In this world / in practice.** Here the augmentation (a rotation of up to 15 degrees, small shifts, noise) "
    "covers only part of what varies in the target: nothing in it blurs, tints, textures or inverts an image, so it "
    "raises test accuracy, but by less than 10 points. In practice augmentation is one of the most reliable remedies for "
    "few labels when it imitates the variation of the real data (crops and flips for photos, colour jitter, blur), "
    "and it is chosen for the data at hand (Shorten and Khoshgoftaar, *A survey on image data augmentation for deep "
    "learning*, 2019). Weight decay with Adam is usually the decoupled kind (AdamW, Loshchilov and Hutter, 2019) and "
    "small; when fine-tuning, pulling towards the pretrained weights (L2-SP, Hour 7) keeps what they know. Early "
    "stopping can watch the metric you care about (Keras's `EarlyStopping(monitor=\"val_accuracy\")`, for one); "
    "this app's watches the validation loss."
)
panel.try_this(
    [
        ("Set the weight decay to 1e-05", "compare that run's validation loss and test accuracy with the no-help run's: "
         "how weak must a penalty be before it stops mattering?"),
        ("Set the early-stopping patience to 1 and press Start under Early stopping", "the run stops at the first "
         "evaluation that is not better than the best so far; with a noisy validation loss a patience this short can "
         "stop too soon."),
        ("Turn the dropout up to 0.8", "compare the dropout run's logged training loss (on masked features) with its "
         "clean one in the table: the logged figure is the one taken with 80% of the features switched off."),
    ]
)
panel.check_yourself(
    "hour06",
    [
        {
            "q": "Without help, the validation loss rises from step 40 to the end while the validation accuracy stays "
                 "within a few points. What is the network doing?",
            "options": ["making more and more mistakes on the validation images",
                        "growing more confident in its answers, the wrong ones too, which cross-entropy punishes",
                        "oscillating because the learning rate is too high"],
            "answer": 1,
            "why": "Accuracy counts mistakes, and their number hardly changes. Cross-entropy also weighs how sure each "
                   "answer is: as the network memorises its 30 training images its outputs grow extreme, and a "
                   "confident wrong answer costs more than a hesitant one. The training loss keeps falling smoothly, "
                   "which an LR too high would not allow.",
        },
        {
            "q": "Weight decay's validation loss usually ends below the no-help run's. What does that tell you about its "
                 "test accuracy?",
            "options": ["it must be higher: a lower loss means fewer mistakes",
                        "nothing for certain: a loss also falls when predictions get less confident, and here its test "
                        "accuracy ends below no help's",
                        "it must be lower: a lower loss always costs accuracy"],
            "answer": 1,
            "why": "Small weights give soft outputs, which cross-entropy rewards on the images a network gets wrong; "
                   "the mistakes can stay. Here the L2 pull towards zero also drags the pretrained weights away from "
                   "what they knew, and the table shows its accuracy below no help's. Neither direction is a law: "
                   "measure both.",
        },
        {
            "q": "Early stopping restores the weights of step 20 or 40, and they score a lower test accuracy than the "
                 "no-help run trained to step 120. Which change would make it serve accuracy better?",
            "options": ["a longer patience, so that it stops later",
                        "watching the validation accuracy instead of the validation loss",
                        "watching the test set instead of the validation set"],
            "answer": 1,
            "why": "It keeps the weights where the *loss* was lowest, and the loss turned up from confidence, not from "
                   "mistakes. A longer patience would stop later but still put back the same lowest-loss weights; "
                   "the test set must stay untouched for the final verdict.",
        },
    ],
)
