"""Who is asking: a stable id for this browser session, used as the owner of its runs, and whether
that session is still there (so the run manager can stop and forget the runs of a closed tab)."""

from __future__ import annotations

import uuid

import streamlit as st


def owner_id() -> str:
    """The Streamlit session id (one per browser tab); a random id when run outside a server (AppTest).

    The first call also starts the run manager's reaper, which asks `is_alive` about every owner."""
    if "_owner_id" not in st.session_state:
        sid = None
        try:
            from streamlit.runtime.scriptrunner import get_script_run_ctx

            ctx = get_script_run_ctx()
            sid = ctx.session_id if ctx is not None else None
        except Exception:
            sid = None
        st.session_state["_owner_id"] = sid or uuid.uuid4().hex
        watch_sessions()
    return st.session_state["_owner_id"]


def is_alive(owner: str) -> bool:
    """False once the browser session `owner` is gone for good: its tab closed and the server's
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
        from engine.manager import get_manager
        from engine.settings import get_settings

        get_manager().set_liveness(is_alive, interval=get_settings().reap_seconds)
    except Exception:
        pass  # a page keeps working without the reaper
