"""Hour 10 · Strategy, capstone and deployment"""

import streamlit as st

from engine.core.config import ConfigError
from engine.models import export
from lessons import drawing_pad, experiments, panel
from lessons.recipes import hour10
from lessons.session import owner_id
from views.board import show_board

PAGE = "hour10"

panel.header(
    10, "Strategy, capstone and deployment",
    "Choose a transfer strategy from how similar the tasks are and how much labelled data you have, check the "
    "choice with a small grid of runs, and ship the model. After this hour you can plan a transfer-learning "
    "project end to end, name its risks, and export a model with the code to use it.",
)

panel.section("Idea")
st.markdown(
    """
**Two questions pick the strategy**: how close is the target to the source, and how many labels do you have?

| | few labels | many labels |
|---|---|---|
| **similar to the source** | feature extraction: freeze the backbone, train a new head | fine-tune the top groups, or everything with small, layer-wise decayed LRs |
| **different from the source** | feature extraction from *early* layers, or a closer source; watch for negative transfer | fine-tune everything (the start still helps), or train from scratch if data is plentiful |

Frozen features have few parameters to fit, so they win when labels are scarce; fine-tuning can reshape the
features to the target, which pays once there are enough labels to do it without overfitting.

**A roadmap** for a real project: (1) define the target and how you will measure it (a held-out test set, the
metric that matters, Hour 9); (2) pick a source and backbone close to the target and affordable to run;
(3) start with feature extraction as the baseline; (4) fine-tune step by step (top groups first, small LRs,
layer-wise decay, Hours 3-5), regularise (Hour 6) and keep an eye on forgetting (Hour 7); (5) check for shift
between your training data and deployment data (Hour 8); (6) export, test the exported model, monitor it in use.

**Risks to plan for**: overfitting a small target; catastrophic forgetting when the source skills still matter;
negative transfer from a far or unrelated source; compute and memory (a bigger backbone is not free, Hour 9); and
the pretrained model itself: its **licence** may limit commercial use or redistribution of the weights, and its
training data carries **biases** (who and what is over- or under-represented) that fine-tuning inherits.
"""
)

panel.section("Experiment")
st.markdown(
    "A grid in one go: feature extraction and full fine-tuning of the pretrained glyphnet, each at the fewest and "
    "at many labels per class (four runs, all with the same data, steps and seed). The target sits a little away from "
    "the source (domain shift 0.3, Hour 8). Each arm gets its own good recipe: feature extraction trains the new "
    "head with Adam at 1e-3; fine-tuning uses the course's recipe, Adam with the head at 1e-3 and each group below at "
    "0.7x the group above (layer-wise decay, Hour 4), unfrozen one group every 10 steps from the top (block3 at step "
    "10, the stem at 40), so the new head has settled before the pretrained layers move."
)
cfg = panel.controls(PAGE, hour10.BASE, hour10.KNOBS)
panel.glyph_world_only(cfg, "The grid always uses glyphnet on the glyph world here, so the exported model can be tried on a glyph picture")
lo, hi = st.select_slider(
    "Labels per class: the two columns of the grid", hour10.SHOT_CHOICES, value=(hour10.SHOTS[0], hour10.SHOTS[1]),
    key=f"{PAGE}:grid_shots", help="The grid runs each strategy at these two amounts of labelled data.",
)
snaps = panel.experiment(PAGE, hour10.default_configs(cfg, shots=sorted({lo, hi})), pictures=False)

results = {label: (s.get("results") or None) for label, s in snaps.items()}
table = hour10.results_table(results)
if any(v is not None for row in table.values() for v in row.values()):
    from views.board import board_figure

    st.markdown("**Your grid**: test accuracy of each strategy at each number of labels per class")
    st.plotly_chart(board_figure(hour10.heatmap_cells(table)), key=f"{PAGE}:grid")

panel.notice(hour10.NOTICE)

panel.section("The class board")
st.markdown("Everyone's Hour 10 runs land here, averaged per cell. Does the room agree with your grid?")
show_board(page=PAGE, teacher=False, key=f"{PAGE}:board")

panel.section("Deployment: export the model and try it")
finished = {label: s for label, s in snaps.items() if (s.get("results") or {}).get("test_accuracy") is not None}
if not finished:
    st.info("Run the grid first: then pick one of its models here, download it and try it on a picture of your own.")
else:
    label = st.selectbox("Model to export", list(finished), key=f"{PAGE}:export_choice",
                         format_func=lambda k: f"{k} (test accuracy {finished[k]['results']['test_accuracy']:.0%})")
    model, classes, size = experiments.trained_model(finished[label], owner_id())
    if model is None:
        st.warning("This run's weights are no longer on the server (it was restarted or the run was cleared): run the grid again.")
    else:
        files = hour10.export_files(model, classes, finished[label]["config"], st.session_state, finished[label]["id"])
        c1, c2 = st.columns(2)
        c1.download_button("Download the state dict (.pt)", files["state_dict"], file_name="glyph_model_state.pt",
                           key=f"{PAGE}:dl_state", help="For code that has this engine: rebuild the model and load these weights.")
        c2.download_button("Download the program (.pt2, torch.export)", files["program"], file_name=hour10.EXPORT_FILE,
                           key=f"{PAGE}:dl_program", help="Runs with plain PyTorch: no engine code needed.")
        st.markdown("**Use it anywhere with PyTorch** (save a picture as `my_glyph.png` next to the file):")
        st.code(export.predict_snippet(classes, size, hour10.EXPORT_FILE), language="python")
        upload_col, pad_col = st.columns(2, gap="large")
        with upload_col:
            upload = st.file_uploader("Try it on a picture: a glyph drawn dark on light (or light on dark)",
                                      type=["png", "jpg", "jpeg", "bmp", "gif", "webp"], key=f"{PAGE}:upload")
            if upload is not None:
                try:
                    picture = export.open_image(upload.getvalue())
                except ConfigError as e:
                    st.error(str(e)[0].upper() + str(e)[1:])
                else:
                    probs = export.predict_image(model, picture, classes, size)
                    best = max(probs, key=probs.get)
                    c1, c2 = st.columns([1, 3])
                    c1.image(picture, caption="your picture", width=96)
                    c2.markdown(f"The model says **{best}** ({probs[best]:.0%} sure). The top five:")
                    c2.dataframe(hour10.top_rows(probs, 5), hide_index=True)
        with pad_col:
            st.markdown("**Or draw a glyph**")  # short: the pad's toolbar floats over the line above it
            clears = st.session_state.get(f"{PAGE}:pad_clears", 0)
            drawing = drawing_pad.pad(f"{PAGE}:pad:{clears}")  # a new key is a fresh, empty pad
            st.caption("Fill the square, as the target glyphs below fill theirs: the model sees the whole pad.")
            st.button("Clear the pad", key=f"{PAGE}:pad_clear", icon=":material/ink_eraser:",
                      on_click=lambda: st.session_state.update({f"{PAGE}:pad_clears": clears + 1}))
            found = drawing_pad.name_drawing(model, drawing, classes, size)
            if found is None:
                st.info(drawing_pad.EMPTY_PAD)
            else:
                c1, c2 = st.columns([1, 3])
                c1.image(found[0], caption="your drawing", width=96)
                c2.markdown(drawing_pad.top_lines(found[1]))
        with st.expander("Target glyphs to copy or draw, as the model saw them (it only knows these classes)"):
            panel.image_grid(*hour10.class_examples(len(classes), finished[label]["config"]["domain_shift"]))

panel.try_this(hour10.TRY_THIS)
panel.check_yourself(
    PAGE,
    [
        {
            "q": ("Read your grid: feature extraction leads at 1 label per class and fine-tuning at 20. What does it "
                  "tell you about 5 labels, before you run that column?"),
            "options": ["fine-tuning wins there too: it is the better strategy as soon as there is more than one label",
                        ("only that the winner flips somewhere between 1 and 20 labels: to find where, run columns "
                         "closer together"),
                        "feature extraction wins there: the flip is halfway, at about 10 labels"],
            "answer": 1,
            "why": ("Two columns only bound the crossover. Where it falls depends on how far the target is from the "
                    "source and on each arm's recipe, so it has to be measured (Try this, 1), and the class board "
                    "shows whether the room's draws agree."),
        },
        {
            "q": ("Read your grid: fine-tuning leads by several points at 20 labels but trails at 1. What explains the "
                  "1-label cell?"),
            "options": ["fine-tuning's LR is too small to learn anything from 10 images",
                        ("with 10 images in all, adapting every layer fits those images rather than the classes, while "
                         "the frozen body only lets a linear head be fitted"),
                        "the frozen backbone is better at this target than any fine-tuned one can be"],
            "answer": 1,
            "why": ("The same recipe is the winner at 20 labels, so neither the LR nor a better frozen body explains the "
                    "loss: with one example per class there is too little data to move every backbone weight "
                    "without fitting noise, while a head on fixed features has far fewer parameters to get wrong."),
        },
        {
            "q": ("You set the domain shift to 0 and rerun the 20-label column. What happens to fine-tuning's lead, "
                  "and why?"),
            "options": ["it grows: a closer source makes every fine-tuned weight more useful",
                        ("it shrinks to a point or two: the frozen features already fit a target that looks like the "
                         "source, so there is little left for fine-tuning to fix"),
                        "it reverses by many points: fine-tuning destroys features when the target matches the source"],
            "answer": 1,
            "why": ("At shift 0 both arms score over 94% and their gap falls under 3 points (Try this, 2): the value "
                    "of adapting the features grows with how far the target is from the source. That is the table's "
                    "first row (similar source: feature extraction first) against its second."),
        },
    ],
)
