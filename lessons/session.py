"""Who is asking: a stable id for this browser session, used as the owner of its runs."""

from __future__ import annotations

import uuid

import streamlit as st


def owner_id() -> str:
    """The Streamlit session id (one per browser tab); a random id when run outside a server (AppTest)."""
    if "_owner_id" not in st.session_state:
        sid = None
        try:
            from streamlit.runtime.scriptrunner import get_script_run_ctx

            ctx = get_script_run_ctx()
            sid = ctx.session_id if ctx is not None else None
        except Exception:
            sid = None
        st.session_state["_owner_id"] = sid or uuid.uuid4().hex
    return st.session_state["_owner_id"]
