"""A lesson page's settings live in its address, as in TensorFlow Playground: `?lr=0.01&shots=3`.

- Moving a knob rewrites the page's query parameters: only the settings that differ from the lesson's defaults,
  each under its short name (lessons._controls.KNOBS, `param`) with its value as the student reads it.
- Opening an address with such parameters opens the page with exactly those settings. A value the page does not
  offer (lr=banana, shots=7) or a name it does not know is ignored, with one sentence naming it, and the lesson's
  default is used.
- "Share these settings" shows the page's link with its settings and without the student's own id (?student=,
  lessons.session), so sharing an experiment never shares one's runs.
- "Reset to the lesson's defaults" puts every knob of the page back and takes them out of the address; where the
  teacher has pinned settings for the page (lessons.presets) it goes back to those, which are the class's defaults
  for the day.
- Where a page starts: an address that names any setting, else the teacher's pin, else the lesson's defaults.

lessons._controls.draw calls `prepare` before it draws a block of knobs and `finish` after, so every page (and a
teacher's new one) gets all of this with no code of its own. Widgets a page draws itself, outside the knob table
(the sidebar's data and model, Hour 5's choice of optimizers, Hour 10's grid columns), are not in the address.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlencode

import streamlit as st

from lessons import presets


class BadValue(ValueError):
    """An address text a knob cannot take; the message says what it can take ("labels per class can be 1 or 2 here")."""


RESERVED = ("student", "embed", "embed_options")  # the student id (lessons.session) and Streamlit's own
_BAR = "_address:bar"  # session_state: the address block of the page being drawn (this run or the last)
_WRITTEN = "_address:written"  # session_state: {"page": page key, "params": what its knobs wrote in the address}


def _state(page: str) -> dict:
    """What a page's address block keeps between runs (session_state["<page>:address"])."""
    return st.session_state.setdefault(f"{page}:address", {
        "notes": {},  # {page key: sentences about the address's bad values, from when the page opened}
        "preset": None,  # the teacher's pin as last read: {address name: address text}
        "mode": "default",  # where the page started: "address", "preset" or "default"
        "query": {},  # this page's settings that differ from the lesson's defaults: the share link and the pin
        "said": {},  # {address name: "labels per class 3"} of the current settings
        "keys": [],  # the session-state keys of every knob on the page, for Reset
        "reset": False,  # Reset was pressed: the next run writes every widget's state back
    })


class Bar:
    """One page's address block during one script run: the knobs drawn so far and the placeholders to fill."""

    def __init__(self, page: str):
        self.page = page
        self.state = _state(page)
        self.claims: dict = {}  # {address name: lessons._controls.Setting}, in drawing order
        self.query: dict[str, str] = {}
        self.slots = None  # (notes, pin note, share link) placeholders, made under the page's first knobs
        self.source: dict[str, str] | None = None  # the settings the page opened with, and whose they were
        self.who = ""
        self.reset = False


def _drawn_this_run(key: str) -> bool:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return ctx is not None and key in ctx.shared.widget_user_keys_this_run
    except Exception:
        return False


def _address() -> dict[str, str]:
    """The page's query parameters, less the student id and Streamlit's own."""
    return {k: str(st.query_params.get(k)) for k in st.query_params if k not in RESERVED}


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def prepare(page_key: str, settings: list, known: set[str], join: bool = False) -> Bar:
    """Before a block of knobs is drawn: name each in the address, and give the widgets that have no state yet
    (the page has just been opened, or Reset pressed) their starting state from the address, the pin or the lesson.
    `known`: every knob's address name (an address naming any of them is an explicit choice of settings)."""
    bar = st.session_state.get(_BAR)
    if not (join and bar is not None and _drawn_this_run(f"{bar.page}:reset")):
        bar = Bar(page_key)
        st.session_state[_BAR] = bar
        bar.reset, bar.state["reset"] = bar.state["reset"], False
        written = st.session_state.get(_WRITTEN)
        if written and written["page"] != page_key:  # another page's settings, carried along by a page switch
            for p, v in written["params"].items():
                if st.query_params.get(p) == v:
                    del st.query_params[p]
            del st.session_state[_WRITTEN]
    for s in settings:
        if s.param in bar.claims:  # the page shows this knob twice (two experiments): the second one is prefixed
            s.param = f"{page_key}.{s.param}"
        bar.claims[s.param] = s
    fresh = [s for s in settings if s.keys[0] not in st.session_state]
    if fresh and bar.source is None:
        address = _address()
        state = bar.state
        state["preset"] = presets.read(bar.page)  # read as the page opens: a pin set on another replica counts too
        if any(p.rsplit(".", 1)[-1] in known for p in address):
            bar.source, bar.who, state["mode"] = address, "The address's", "address"
        else:
            bar.source = dict(state["preset"] or {})
            bar.who, state["mode"] = "Your teacher's pinned", "preset" if state["preset"] else "default"
    notes = []
    for s in fresh:
        states = s.default
        raw = (bar.source or {}).get(s.param)
        if raw is not None:
            try:
                states = s.parse(raw)
            except BadValue as e:
                notes.append(f"{bar.who} {s.param}={raw} is ignored: {e}, so the lesson's default "
                             f"({s.show(s.default)}) is used.")
        _write(s, states, bar.reset)
    if fresh:
        bar.state["notes"][page_key] = notes
    for s in settings:
        if s not in fresh and not s.valid(s.states()):  # e.g. another backbone has fewer layer groups
            _write(s, s.default, True)
    return bar


def _write(s, states: tuple, rewrite: bool) -> None:
    for k, v in zip(s.keys, states, strict=True):
        if k in s.valued and not rewrite:
            s.start[k] = v  # a widget that takes its state as an argument and has none yet
        else:
            st.session_state[k] = v


def finish(bar: Bar, settings: list) -> None:
    """After a block of knobs is drawn: write the address, and fill the page's notes and share link (drawn under
    its first block, with Reset and the Teacher expander)."""
    state = bar.state
    for s in settings:
        states = s.states()
        text = s.text(states)
        state["said"][s.param] = s.say(states)
        if text != s.text(s.default):
            bar.query[s.param] = text
            if st.query_params.get(s.param) != text:
                st.query_params[s.param] = text
        elif s.param in st.query_params:
            del st.query_params[s.param]
    state["query"] = dict(bar.query)
    st.session_state[_WRITTEN] = {"page": bar.page, "params": dict(bar.query)}
    state["keys"] = [k for s in bar.claims.values() for k in s.keys]
    if bar.slots is None:
        _draw_bar(bar)
    _fill(bar)


def _draw_bar(bar: Bar) -> None:
    notes, pin = st.empty(), st.empty()
    share_col, reset_col, teacher_col = st.columns([3, 2, 2])
    with share_col, st.expander("Share these settings", icon=":material/link:"):
        share = st.empty()
    pinned = bar.state["preset"]
    with reset_col:
        st.button(
            "Reset to the lesson's defaults", key=f"{bar.page}:reset", on_click=_reset, args=(bar.state,),
            icon=":material/restart_alt:",
            help="Puts every setting of this page back to the lesson's defaults and takes them out of the address. "
                 "When your teacher has pinned settings for this page, it goes back to those instead"
                 + (f" (now {', '.join(f'{p}={v}' for p, v in pinned.items())})." if pinned else "."),
        )
    with teacher_col:
        presets.teacher(bar.page, bar.state)
    bar.slots = (notes, pin, share)


def _fill(bar: Bar) -> None:
    state = bar.state
    notes_slot, pin_slot, share_slot = bar.slots
    notes = [n for page_notes in state["notes"].values() for n in page_notes]
    names = _joined(list(bar.claims))
    stray = {p: v for p, v in _address().items() if p not in bar.claims}
    if state["mode"] == "preset":
        stray.update({p: v for p, v in (state["preset"] or {}).items() if p not in bar.claims})
    for p, raw in stray.items():
        who = "The address's" if p in st.query_params else "Your teacher's pinned"
        notes.append(f"{who} {p}={raw} is ignored: this page has no setting called {p} (its settings are {names}).")
    if notes:  # one element, rewritten by each block of knobs (a name the first block does not know may be the next one's)
        notes_slot.warning("\n\n".join(notes), icon=":material/link_off:")
    else:
        notes_slot.empty()
    pinned, preset = [], state["preset"] or {}
    for p, raw in preset.items():
        if p in bar.claims:
            with contextlib.suppress(BadValue):  # a pinned value the page no longer offers is among the notes
                pinned.append(bar.claims[p].say(bar.claims[p].parse(raw)))
    same = {p: v for p, v in preset.items() if p in bar.claims} == bar.query
    if not pinned:
        pin_slot.empty()
    elif state["mode"] == "address" and not same:
        pin_slot.info(f"Your teacher pinned {_joined(pinned)} for this page; this address's own settings are used "
                      "instead, and Reset goes to the pin.", icon=":material/push_pin:")
    else:
        pin_slot.info(f"Your teacher pinned these starting settings for this page: {_joined(pinned)}. You can still "
                      "change them for your own runs.", icon=":material/push_pin:")
    url = st.context.url or ""
    query = urlencode(bar.query, safe=".:")
    link = f"{url}?{query}" if query else url
    with share_slot.container():
        st.code(link or "(this page's address)", language=None, wrap_lines=True)
        if not query:
            st.caption("These are the lesson's defaults: the page's plain address opens them.")
        elif url:
            st.caption("Anyone who opens this link gets this page with these settings. Your student id is not in it, "
                       "so your runs stay yours.")
        else:
            st.caption("Add this to the end of the page's address to share these settings (your student id is not in it).")


def _reset(state: dict) -> None:
    """Reset's callback, before the page runs: forget every knob's state and take the settings out of the address;
    the page then starts again from the teacher's pin, or the lesson's defaults."""
    for k in state["keys"]:
        if k in st.session_state:
            del st.session_state[k]
    for p in list(st.query_params):
        if p not in RESERVED:
            del st.query_params[p]
    state["notes"] = {}
    state["reset"] = True
