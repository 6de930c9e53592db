"""A teacher's pinned settings: "today everyone uses 3 labels per class".

With the teacher token (the settings' teacher_token), the Teacher expander under a lesson page's knobs pins that
page's current settings for the room, or removes the pin. Students who open the page then start with the pinned
values (lessons.address says which ones the teacher set) and can still change them for their own runs. Pins live in
the run store (engine.serve.store, table presets), so they survive a restart and every replica sharing a PostgreSQL
store sees the same ones. A pin is stored as the page's address would write it ({"shots": "3"}), so a pinned value
the page no longer offers is ignored with one sentence, like a bad value in an address.
"""

from __future__ import annotations

import streamlit as st

NO_STORE = ("The class record is not available on this server (the data folder cannot be opened), "
            "so settings cannot be pinned.")


def _store():
    """The run store of this server's run manager, or None when it cannot be opened."""
    try:
        from engine.serve.manager import get_manager

        return get_manager().store
    except Exception:
        return None


def read(page: str) -> dict[str, str] | None:
    """The settings pinned for `page` ({address name: address text}), or None (also when the store cannot be read:
    a page then opens with its defaults rather than an error)."""
    store = _store()
    if store is None:
        return None
    try:
        return store.get_preset(page)
    except Exception:
        return None


def _sentence(e: Exception) -> str:
    text = str(e)
    return text[:1].upper() + text[1:]


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


FAILED = object()  # what _in_store returns when it put the reason in state["flash"]


def _in_store(page: str, state: dict, undone: str, write):
    """write(store, token) with the page's teacher token; its result, or FAILED with the sentence in state["flash"]
    (no store, a wrong token, or a store that would not take the write: "The pin could not be <undone> ...")."""
    token = st.session_state.get(f"{page}:teacher:token", "")
    store = _store()
    if store is None:
        state["flash"] = ("error", NO_STORE)
        return FAILED
    try:
        return write(store, token)
    except PermissionError as e:
        state["flash"] = ("error", _sentence(e))
    except Exception as e:
        state["flash"] = ("error", f"The pin could not be {undone} ({type(e).__name__}); try again.")
    return FAILED


def _pin(page: str, state: dict) -> None:
    """The pin button's callback: store the page's current settings (those that differ from the lesson's defaults)."""
    values = dict(state["query"])

    def write(store, token):
        if not values:
            store.check_token(token, "pinning settings", "nothing was pinned")
            return False
        store.set_preset(page, values, token)
        return True

    pinned = _in_store(page, state, "written to the class record", write)
    if pinned is FAILED:
        return
    if not pinned:
        state["flash"] = ("info", "Every setting is at the lesson's default, so there is nothing to pin; "
                                  "“Remove the pin” sends the class back to the lesson's defaults.")
        return
    state["preset"] = values
    said = _joined([state["said"].get(p, f"{p}={v}") for p, v in values.items()])
    state["flash"] = ("success", f"Pinned for the class: {said}. Students who open this page from now on start with "
                                 "these settings.")


def _unpin(page: str, state: dict) -> None:
    """The remove button's callback."""
    removed = _in_store(page, state, "removed from the class record", lambda store, token: store.clear_preset(page, token))
    if removed is FAILED:
        return
    state["preset"] = None
    state["flash"] = (("success", "The pin is removed: students who open this page from now on start from the "
                                  "lesson's defaults.") if removed else ("info", "There is no pin on this page."))


def teacher(page: str, state: dict) -> None:
    """The Teacher expander: token, "Pin these settings for the class", "Remove the pin", and what happened."""
    with st.expander("Teacher", icon=":material/school:"):
        flash = state.pop("flash", None)
        if flash:
            getattr(st, flash[0])(flash[1])
        st.text_input("Teacher token", type="password", key=f"{page}:teacher:token",
                      help="The teacher_token of the classroom settings (CLASSROOM_TEACHER_TOKEN).")
        st.button("Pin these settings for the class", key=f"{page}:teacher:pin", on_click=_pin, args=(page, state),
                  help="Students who open this page from now on start with the settings shown above (those that "
                       "differ from the lesson's defaults); they can still change them.")
        st.button("Remove the pin", key=f"{page}:teacher:unpin", on_click=_unpin, args=(page, state),
                  help="Students who open this page from now on start from the lesson's defaults again.")
