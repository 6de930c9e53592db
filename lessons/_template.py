"""Hour 11 · Your topic

A working lesson page to copy. To add a lesson:

1. Copy this file to lessons/hourNN_short_title.py (NN = the hour, e.g. hour11_data_curation.py).
   Files whose names start with "_" (like this one) are never shown; hour*.py files are found
   automatically, sorted by hour, and appear in the sidebar under "Lessons" with no other edit.
2. Change the first line of this docstring: it is the page's title in the sidebar
   ("Hour 11 · Data curation"). Without it the title comes from the file name.
3. Edit the texts and the experiment below. Keep the page thin: text and calls into `panel`;
   all widgets and charts come from `panel` (lessons/frame.py, lessons/live.py) and lessons/_charts.py.
4. Make "What to notice" true: run your default config (python -m engine train ... or a small
   test like tests/test_notice_hour01.py) and write down only what it actually shows.
5. Restart the app (the classroom settings do not watch files) and open your page.
   `make test` checks that it renders without an error.
"""

import streamlit as st

from engine.core.config import TrainConfig
from lessons import panel

PAGE = "hour11"  # a short key unique to this page: it prefixes every widget and keeps your runs apart

# 1. Goal: one or two sentences, and what the student can do afterwards.
panel.header(11, "Your topic", "Say what the student will understand or be able to do after this hour.")

# 2. Idea: a short, correct explanation. Plain Streamlit for text, formulas and pictures.
panel.section("Idea")
st.markdown("Explain the idea in a few paragraphs. A formula where it helps:")
st.latex(r"\mathrm{drift} = \frac{\lVert W - W_0 \rVert}{\lVert W_0 \rVert}")

# 3. Experiment: a base config (every field is in engine/config.py, with a comment on each),
#    the knobs the student may turn (names = TrainConfig fields; see lessons/_controls.py: KNOBS),
#    and the named runs to train together. Defaults should show the point within about a minute on a CPU.
panel.section("Experiment")
base = TrainConfig(backbone="glyphnet", weights="pretrained", strategy="finetune", shots=5, steps=150, seed=0)
cfg = panel.controls(PAGE, base, ["unfreeze", "lr", "shots", "steps"])
snaps = panel.experiment(PAGE, {"fine-tune": cfg, "feature extraction": cfg.replace(strategy="feature")})
# `snaps` is {label: snapshot} of the last Start: use it to draw extra pictures after the runs end,
# e.g. panel.confusion(snaps["fine-tune"]) or panel.image_grid(images, captions).

# 4. What to notice: claims the default run really shows (each one backed by a test).
panel.notice(["Only the unfrozen groups drift; frozen ones stay at exactly 0 in the per-layer panel."])

# 5. Try this: (a change to make, what should happen).
panel.try_this([("Set trainable body groups to 0", "only the head learns: every body group's drift stays 0.")])

# 6. Check yourself: questions with instant feedback ("answer" is the index of the right option).
panel.check_yourself(PAGE, [
    {"q": "What does a drift of exactly 0 mean for a layer group?",
     "options": ["its weights never changed", "it learned perfectly", "its learning rate was too high"],
     "answer": 0, "why": "Drift measures how far the weights moved from their starting values."},
])
