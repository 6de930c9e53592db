"""Your runs: this tab's runs and the earlier ones the server kept, with their figures; overlay two; download as CSV."""

import pandas as pd
import streamlit as st

from engine.serve.store import as_snapshot
from lessons import experiments, live

st.title("Your runs")
st.caption("Every run you started in this browser tab, newest last, and your earlier runs kept on the server. "
           "Pick two to overlay, or download one as CSV. "
           "Keep this page's address (it names you as a student) to come back to your runs later.")

runs = [r for r in experiments.session_runs() if r["snapshot"] is not None]
earlier = [r for r in experiments.stored_runs() if r["id"] not in {x["id"] for x in runs}]
if earlier:
    with st.expander(f"Earlier runs kept on the server ({len(earlier)}): before a reload or a server restart"):
        st.dataframe(pd.DataFrame(experiments.stored_rows(earlier)), hide_index=True)
if not runs and not earlier:
    st.info("No runs yet: open a lesson in the sidebar and press **Start**.")
    st.stop()
if any(r["snapshot"]["status"] in experiments.LIVE for r in runs):
    st.caption("Some runs are still training: this page shows them as they were when it opened.")
    st.button("Refresh", icon=":material/refresh:", key="runs:refresh")


def name(r: dict) -> str:
    return f"{r['page']} · {r['label']} · {r['id'][:6]}"


rows = []
if not runs:
    st.info("No runs in this tab yet: your earlier runs can still be overlaid and downloaded below.")
for r in runs:
    s = r["snapshot"]
    cfg, res = s["config"], s.get("results") or {}
    rows.append({
        "run": name(r),
        "status": s["status"],
        "step": f"{s['step']}/{s['steps']}",
        "test accuracy": res.get("test_accuracy"),
        "val accuracy": res.get("val_accuracy"),
        "weights": cfg["weights"],
        "strategy": cfg["strategy"],
        "labels/class": cfg["shots"],
        "optimizer": cfg["optimizer"],
        "lr": cfg["lr"],
        "seconds": round(s.get("elapsed") or 0.0, 1),
        "message": s.get("message") or "",
    })
if rows:
    table = pd.DataFrame(rows)
    table[["test accuracy", "val accuracy"]] = table[["test accuracy", "val accuracy"]].astype(float)  # blank, not None
    st.dataframe(
        table, hide_index=True,
        column_config={
            "test accuracy": st.column_config.NumberColumn(format="percent"),
            "val accuracy": st.column_config.NumberColumn(format="percent"),
            "lr": st.column_config.NumberColumn(format="%.0e"),
        },
    )

st.subheader("Overlay two runs")
# this tab's runs (oldest first), then the earlier ones the server kept (newest first)
by_name = {name(r): r["snapshot"] for r in runs}
for r in earlier:
    by_name[f"{name(r)} (earlier)"] = as_snapshot(r)
names = list(by_name)
c1, c2 = st.columns(2)
# by default the two newest runs of this tab, else the two newest earlier ones (e.g. a lesson's pair)
first, last = (max(0, len(runs) - 2), len(runs) - 1) if runs else (min(1, len(names) - 1), 0)
a = c1.selectbox("First run", names, index=first, key="runs:a")
b = c2.selectbox("Second run", names, index=last, key="runs:b")
chosen = {a: by_name[a]} if a == b else {a: by_name[a], b: by_name[b]}
live.compare(chosen, key="runs:overlay")

st.subheader("Download a run's numbers")
pick = st.selectbox("Run", names, index=last, key="runs:csv")
st.download_button("Download CSV", live.series_csv(by_name[pick]), file_name=f"{by_name[pick]['id']}.csv",
                   mime="text/csv", key="runs:download")
