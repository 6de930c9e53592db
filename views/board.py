"""The class board: every run of the room, mean test accuracy per strategy and labels per class.

A page of its own (`st.Page("views/board.py")` or `st.Page(views.board.render)`), and a section
Hour 10 embeds with `show_board()`. The teacher clears it with the token from the settings.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from engine.serve.store import ARMS

ALL_PAGES = "all pages"


def board_figure(cells: list[dict]) -> go.Figure:
    """Heatmap: rows = strategy, columns = labels per class, colour = mean test accuracy, text = mean and count."""
    arms = [a for a in ARMS if any(c["arm"] == a for c in cells)] + sorted({c["arm"] for c in cells} - set(ARMS))
    shots = sorted({c["shots"] for c in cells})
    z = [[None] * len(shots) for _ in arms]
    text = [[""] * len(shots) for _ in arms]
    for c in cells:
        i, j = arms.index(c["arm"]), shots.index(c["shots"])
        z[i][j] = c["mean"]
        mean = "-" if c["mean"] is None else f"{c['mean']:.0%}"
        extra = f", {c['diverged']} diverged" if c["diverged"] else ""
        text[i][j] = f"{mean}<br>n={c['n']}{extra}"
    fig = go.Figure(
        go.Heatmap(
            z=z, x=[str(s) for s in shots], y=arms, text=text, texttemplate="%{text}", zmin=0.0, zmax=1.0,
            colorscale="Viridis", colorbar={"title": "test acc.", "tickformat": ".0%"},
            hovertemplate="%{y}, %{x} labels per class: %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="labels per class", yaxis_title="strategy", xaxis_type="category", height=120 + 90 * len(arms),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def show_board(page: str | None = None, teacher: bool = True, key: str = "board") -> list[dict]:
    """The board (all pages, or one), a table of its cells, and the teacher's clear button. Returns the cells."""
    from engine.serve.manager import get_manager

    manager = get_manager()
    store = manager.store
    if store is None:
        st.warning("The class record is not available on this server (the data folder cannot be opened), so there is no board.")
        return []
    if page is None:
        choices = [ALL_PAGES, *store.pages()]
        pick = st.selectbox("Runs from", choices, key=f"{key}_page")
        page = None if pick == ALL_PAGES else pick
    flash = st.session_state.pop(f"{key}_flash", None)
    if flash:
        st.success(flash)
    cells = store.board(page=page)
    s = manager.status()
    st.caption(f"Training now: {s['running']} of {s['max_running']} slots, {s['queued']} waiting.")
    if not cells:
        st.info("No finished runs on the board yet: finished runs from every student land here.")
    else:
        st.plotly_chart(board_figure(cells), key=f"{key}_heatmap")
        total = sum(c["n"] for c in cells)
        st.caption(f"{total} finished runs. Each cell: mean test accuracy and how many runs it averages.")
        with st.expander("The numbers"):
            st.dataframe(
                [{"strategy": c["arm"], "labels per class": c["shots"],
                  "mean test accuracy": None if c["mean"] is None else round(c["mean"], 3),
                  "runs": c["n"], "diverged": c["diverged"]} for c in cells],
                hide_index=True,
            )
    if teacher:
        with st.expander("Teacher"):
            token = st.text_input("Teacher token", type="password", key=f"{key}_token")
            if st.button("Clear the board", key=f"{key}_clear"):
                try:
                    hidden = store.clear_board(token)
                except PermissionError as e:
                    st.error(str(e)[0].upper() + str(e)[1:])
                else:
                    done = f"The board is cleared ({hidden} runs); students keep their own earlier runs."
                    st.session_state[f"{key}_flash"] = done
                    st.rerun()
    return cells


def render() -> None:
    """The Board page."""
    st.title("Class board")
    st.markdown(
        "Every finished run of the room, by strategy and labels per class. Does the room agree with your own grid: "
        "frozen features ahead at the fewest labels, fine-tuning catching up as labels grow?"
    )
    show_board()


if __name__ == "__main__":
    render()
