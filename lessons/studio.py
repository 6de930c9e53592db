"""Studio · your own classes"""

import streamlit as st

from engine.core.config import ConfigError
from engine.data import studio
from engine.models import export
from engine.models.registry import get_spec
from lessons import experiments as ex
from lessons import panel
from lessons.recipes import hour10
from lessons.recipes import studio as recipe
from lessons.session import owner_id

PAGE = recipe.PAGE
LIMIT_MB = studio.MAX_BYTES // (1024 * 1024)  # the upload box refuses larger files itself, naming the limit
FORGOTTEN = "Your pictures are deleted: from the server's folder, from this session, and the models made from them."
STILL_STOPPING = ("Your pictures are deleted from the server's folder and this session, but a run on them is still "
                  "stopping: press Forget my pictures again in a moment to delete its model too.")
FORGET_WAIT_S = 5.0  # how long Forget waits for the page's runs to end (a run stops before its next step)


def pictures() -> studio.Pictures:
    return studio.Pictures(owner_id())


def _fresh(kind: str) -> str:
    """The key of the camera or upload widget; a new one after each use, so the same picture is never added twice."""
    return f"{PAGE}:{kind}:{st.session_state.setdefault(f'{PAGE}:{kind}_n', 0)}"


def _take(kind: str) -> None:
    """The camera took a picture or files were chosen: add them to the chosen class."""
    got = st.session_state.get(_fresh(kind))
    files = got if isinstance(got, list) else [got] if got is not None else []
    target = st.session_state.get(f"{PAGE}:target")
    named = [("" if kind == "camera" else f.name, f.getvalue()) for f in files]
    added, problems = pictures().add_pictures(target, named)
    st.session_state[f"{PAGE}:{kind}_n"] += 1
    ok = f"Added {added} picture{'s' if added > 1 else ''} to {target}." if added else None
    st.session_state[f"{PAGE}:notes"] = (ok, problems)


def _add_class() -> None:
    try:
        name = pictures().add_class(st.session_state.get(f"{PAGE}:new_class", ""))
        st.session_state[f"{PAGE}:new_class"] = ""
        st.session_state[f"{PAGE}:target"] = name  # the next pictures go to the new class
    except ConfigError as e:
        st.session_state[f"{PAGE}:notes"] = (None, [str(e)])
    else:
        st.session_state.pop(f"{PAGE}:notes", None)


def _remove_class(name: str) -> None:
    pictures().remove_class(name)
    st.session_state.pop(f"{PAGE}:notes", None)


def _forget() -> None:
    """Delete the student's pictures everywhere: the folder, the session's copies, the runs' models made from them."""
    ended = ex._manager().end_page(owner_id(), PAGE, FORGET_WAIT_S)  # stop this page's runs, drop their models
    gone = pictures().forget()
    for key in (ex._exp_key(PAGE), ex._paused_key(PAGE), f"{PAGE}:thumbs", f"{PAGE}:exports", f"{PAGE}:target"):
        st.session_state.pop(key, None)
    ex.clear_ghosts(PAGE)
    for kind in ("camera", "upload", "try_upload", "try_camera"):
        st.session_state[f"{PAGE}:{kind}_n"] = st.session_state.get(f"{PAGE}:{kind}_n", 0) + 1
    said = FORGOTTEN if gone else "You have no pictures here to delete."
    st.session_state[f"{PAGE}:notes"] = (said, []) if ended else (None, [STILL_STOPPING])


panel.header(
    None, "Studio · your own classes",
    "Make a classifier of your own: name 2 to 5 classes, show each a few pictures from your webcam or your files, "
    "fine-tune a pretrained network on them live, and take the model home.",
)
st.caption("Your pictures are yours alone: they stay in this browser session and in a folder on this server named by "
           "your student id, nobody else's page lists or shows them, and Studio runs never go on the class board. "
           "**Forget my pictures** deletes all of them.")

panel.section("Your classes")
pics = pictures()
with st.form(f"{PAGE}:class_form", clear_on_submit=False, border=False):
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.text_input("New class name", key=f"{PAGE}:new_class", placeholder="for example: thumbs up",
                  max_chars=studio.MAX_NAME)
    c2.form_submit_button("Add class", on_click=_add_class, icon=":material/add:")

classes = pics.classes()
notes = st.session_state.get(f"{PAGE}:notes")  # what the last change did: shown until the next one, or Start
if notes:
    ok, problems = notes
    if ok:
        st.success(ok)
    for p in problems:
        st.error(p)

if classes:
    st.radio("Add pictures to", classes, key=f"{PAGE}:target", horizontal=True)
    c1, c2 = st.columns(2)
    with c1:
        st.camera_input("Take a picture with your webcam", key=_fresh("camera"), on_change=_take, args=("camera",))
        st.caption("No webcam, or the browser blocks it? Upload pictures instead: they work the same.")
    with c2:
        st.file_uploader(f"Or upload pictures ({studio.FORMATS})", accept_multiple_files=True, key=_fresh("upload"),
                         on_change=_take, args=("upload",), max_upload_size=LIMIT_MB)

    thumbs = pics.thumbnails(st.session_state.setdefault(f"{PAGE}:thumbs", {}))
    for cls in classes:
        n = len(thumbs.get(cls, []))
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.markdown(f"**{cls}** · {n} picture{'' if n == 1 else 's'} (at most {studio.MAX_PICTURES})")
        c2.button("Remove class", key=f"{PAGE}:remove:{cls}", on_click=_remove_class, args=(cls,))
        if n:
            st.image(thumbs[cls], width=studio.THUMB_SIDE)
        else:
            st.caption("No pictures yet.")
else:
    st.info("Start by naming a class above, for example *thumbs up*; then a second one, for example *thumbs down*.")

st.button("Forget my pictures", key=f"{PAGE}:forget", on_click=_forget, icon=":material/delete:",
          help="Stop any run on them and delete every picture you added here, from this session and from the server, "
               "with the models trained on them.")

panel.section("Train")
cfg = panel.controls(PAGE, recipe.BASE, recipe.KNOBS)
st.sidebar.caption("On the Studio page the data is always your own pictures; the sidebar's backbone applies.")
cfg = recipe.configure(cfg, pics)
st.markdown(f"**What to expect:** {recipe.expectation(cfg.backbone)}")
counts = pics.counts()
st.markdown(
    f"**How your pictures are split:** in each class a fifth is kept for validation and a fifth for the test, at least "
    f"one each, and the rest trains; with {studio.MIN_PICTURES} pictures that is one of each, so the test accuracy "
    "moves in big steps (one test picture per class). Each Start trains on your pictures as they are at that moment."
    + (f" Now: {recipe.split_line(counts)}." if counts else "")
)
problems = pics.problems()
snaps = ex.latest(PAGE)
live = ex.is_live(snaps)
if problems and not live:
    for p in problems:
        st.warning(p)
    st.button("Start", key=f"{PAGE}:start_waiting", disabled=True, type="primary", icon=":material/play_arrow:",
              help="Start trains once every class has enough pictures.")
    if snaps:
        st.caption("Your last run, as it ended:")
        panel._draw(PAGE, snaps)
else:
    if st.session_state.get(f"{PAGE}:start") and not problems and not live:
        pics.freeze()  # Start was pressed: the run trains on the pictures as they are now
        st.session_state.pop(f"{PAGE}:notes", None)
    snaps = panel.experiment(PAGE, {recipe.RUN: cfg}, pictures=False)

done = snaps.get(recipe.RUN) if snaps else None
if done and (done.get("results") or {}).get("confusion") and ex.run_of(done["id"]) is not None:
    panel.confusion(done, ex.run_of(done["id"]), key=f"{PAGE}:confusion")

panel.section("Take your model home")
if not done or (done.get("results") or {}).get("test_accuracy") is None:
    st.info("Train your classes first: then you can download the model and try it on a new picture here.")
else:
    model, names, size = ex.trained_model(done, owner_id())
    if model is None:
        st.warning("This run's weights are no longer on the server (it was restarted or the run was cleared): press Start again.")
    else:
        files = hour10.export_files(model, names, done["config"], st.session_state.setdefault(f"{PAGE}:exports", {}), done["id"])
        norm = get_spec(done["config"]["backbone"]).input_norm
        c1, c2 = st.columns(2)
        c1.download_button("Download the state dict (.pt)", files["state_dict"], file_name=recipe.STATE_FILE,
                           key=f"{PAGE}:dl_state", help="For code that has this engine: rebuild the model and load these weights.")
        c2.download_button("Download the program (.pt2, torch.export)", files["program"], file_name=recipe.EXPORT_FILE,
                           key=f"{PAGE}:dl_program", help="Runs with plain PyTorch: no engine code needed.")
        st.markdown("**Use it anywhere with PyTorch** (save a photo as `my_picture.jpg` next to the file):")
        st.code(studio.snippet(names, size, norm, recipe.EXPORT_FILE), language="python")
        c1, c2 = st.columns(2)
        with c1:
            shot = st.file_uploader("Try it on a new picture", key=_fresh("try_upload"), max_upload_size=LIMIT_MB)
            shot_name = shot.name if shot is not None else ""
        with c2:
            if st.toggle("Try it with the webcam", key=f"{PAGE}:try_webcam"):
                cam = st.camera_input("Show the model something", key=_fresh("try_camera"))
                if cam is not None:
                    shot, shot_name = cam, ""
        if shot is not None:
            try:
                x = studio.to_input(shot.getvalue(), size, norm, shot_name)
            except ConfigError as e:
                st.error(str(e)[0].upper() + str(e)[1:])
            else:
                probs = export.probabilities(model, x, names)
                best = max(probs, key=probs.get)
                c1, c2 = st.columns([1, 3])
                c1.image(shot.getvalue(), caption="your picture", width=studio.THUMB_SIDE)
                c2.markdown(f"The model says **{best}** ({probs[best]:.0%} sure).")
                c2.dataframe(hour10.top_rows(probs, len(names)), hide_index=True)
