"""Who is asking: a student id that owns their runs, and whether any of its browser sessions is still
there (so the run manager can stop and forget the runs of a closed tab).

The id lives in the page's URL (`?student=...`, 32 random hex digits), so a reload, a reconnect
after a server restart, or a bookmark brings the student back to their own stored runs. Whoever
has that URL is that student: share the plain address, not your own.
"""

from __future__ import annotations

import re
import threading
import uuid

import streamlit as st

QUERY_KEY = "student"
_ID = re.compile(r"^[0-9a-f]{32}$")
_sessions: dict[str, set[str]] = {}  # student id -> the Streamlit session ids it has used
_lock = threading.Lock()


def _session_id() -> str | None:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return ctx.session_id if ctx is not None else None
    except Exception:
        return None


def owner_id() -> str:
    """This student's id: from the URL when it carries a valid one, else a new random one (put in the URL).

    The first call in a session also starts the run manager's reaper, which asks `is_alive` about every owner."""
    if "_owner_id" not in st.session_state:
        given = str(st.query_params.get(QUERY_KEY, "")).lower()
        owner = given if _ID.match(given) else uuid.uuid4().hex
        st.session_state["_owner_id"] = owner
        sid = _session_id()
        if sid is not None:
            with _lock:
                _sessions.setdefault(owner, set()).add(sid)
        watch_sessions()
    owner = st.session_state["_owner_id"]
    if st.query_params.get(QUERY_KEY) != owner:  # page switches drop query parameters: put it back
        st.query_params[QUERY_KEY] = owner
    return owner


def is_alive(owner: str) -> bool:
    """True while any browser session of student `owner` is connected or may still reconnect (see
    _session_alive); an owner with no known session is taken to be a session id itself."""
    with _lock:
        sids = list(_sessions.get(owner, ()))
    if not sids:
        return _session_alive(owner)
    return any(_session_alive(sid) for sid in sids)


def _session_alive(owner: str) -> bool:
    """False once the browser session `owner` (a Streamlit session id) is gone for good: its tab closed and the server's
    disconnect timeout (server.disconnectedSessionTTL, 120 s by default) passed, so it can no longer
    reconnect. True while it is connected or may still reconnect, and whenever we cannot tell
    (no Streamlit server in this process, e.g. tests and the CLI)."""
    try:
        from streamlit import runtime

        if not runtime.exists():
            return True
        rt = runtime.get_instance()
        if rt.is_active_session(owner):
            return True
        mgr = getattr(rt, "_session_mgr", None)  # disconnected sessions wait here until their TTL ends
        if mgr is not None and hasattr(mgr, "get_session_info"):
            return mgr.get_session_info(owner) is not None
        return False
    except Exception:
        return True


def watch_sessions() -> None:
    """Give the run manager `is_alive` (idempotent): its reaper ends the runs of closed tabs."""
    try:
        from engine.core.settings import get_settings
        from engine.serve.manager import get_manager

        get_manager().set_liveness(is_alive, interval=get_settings().reap_seconds)
    except Exception:
        pass  # a page keeps working without the reaper
