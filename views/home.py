"""Home: what the course is, how to use a lesson page, and where training happens."""

import streamlit as st

from engine.core.device import describe
from engine.serve.manager import get_manager

st.title("Transfer learning, live")
st.markdown(
    "A ten-hour course on **transfer learning**: taking a network that already learned one task and "
    "reusing it for a new task with far fewer labelled examples. Every hour is one page in the sidebar. "
    "Each page trains a small real network *while you watch*: the loss falling, the accuracy rising, "
    "and every layer of the network changing (or staying frozen)."
)

c1, c2, c3 = st.columns(3)
with c1:
    st.subheader("1. Pick an hour")
    st.markdown("Open **Hour 1** in the sidebar and go in order; each hour builds on the one before.")
with c2:
    st.subheader("2. Press Start")
    st.markdown(
        "Read the goal and the idea, set the controls (every one has a **?** that explains it), "
        "then press **Start**. Your runs train on the server; you can pause or stop them."
    )
with c3:
    st.subheader("3. Watch, then change one thing")
    st.markdown(
        "Check the **What to notice** box against your charts, then try a change from **Try this**: "
        "your earlier run stays on the charts as a faded curve so you can compare."
    )

st.subheader("What you will see on every page")
st.markdown(
    "- **Loss** (train and validation) and **accuracy** against training step.\n"
    "- A **progress bar** with steps per second and the time left.\n"
    "- **Inside the network**: how far each layer group's weights have moved from where they started "
    "(drift: ||W − W0|| / ||W0||; frozen groups stay at exactly 0) and the learning rate each group gets right now.\n"
    "- The **forgetting meter**: how well the network still does its *original* task while it learns the new one."
)

st.subheader("The data")
st.markdown(
    "By default everything works offline on **glyphs**: made-up symbols drawn with random strokes. "
    "A small network was pretrained on 1,000 glyph classes, half the samples drawn as if by a hand with a pen "
    "(the *source* task); the lessons reuse it for "
    "10 *new* glyph classes it has never seen (the *target* task), often with only a handful of labels each."
)

st.subheader("Where training happens")
get_manager()  # sets torch's thread count for the runs, which describe() reports
st.info(f"This server trains on: **{describe()}**. Your runs and their charts stay while you switch pages; "
        "**Your runs** in the sidebar lists them all.")
