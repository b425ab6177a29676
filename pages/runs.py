"""Runs and export: search and filter the run list, open, compare, delete and export runs, import a trace."""

import datetime as dt

import pandas as pd
import streamlit as st

from lab.core.errors import LabError
from lab.export import FORMATS, export_bytes, import_jsonl
from lab.ui import link, page_setup, runs_frame
from lab.views.usage import cost_note, price_table, run_costs

store = page_setup("Runs and export")
if "flash" in st.session_state:
    st.success(st.session_state.pop("flash"))

with st.expander("Import a JSONL trace"):
    upload = st.file_uploader("memlab JSONL export", type=["jsonl"], key="upload")
    if upload is not None and st.button("Import", key="import"):
        try:
            lines = upload.getvalue().decode("utf-8").splitlines()
            run_id = import_jsonl(store, lines)
            st.success(f"imported run {run_id} ({len(lines) - 1} steps)")
        except UnicodeDecodeError:
            st.error("the file is not UTF-8 text: not a JSONL trace; nothing was imported")
        except LabError as err:
            st.error(f"{err}; nothing was imported")

infos = store.list_runs(limit=5000)
if not infos:
    st.info("No runs yet: start one on the Run page, or import a trace above.")
    st.stop()
prices = price_table()
costs, unpriced = run_costs(store, infos, prices)
runs = runs_frame(infos, costs)

search = st.text_input("search (run id, agent, env, label)", value=st.query_params.get("q", ""), key="q")
f1, f2, f3, f4 = st.columns(4)
envs = f1.multiselect("env", sorted(runs["env"].unique()), key="f_env")
agents = f2.multiselect("agent", sorted(runs["agent"].unique()), key="f_agent")
statuses = f3.multiselect("status", sorted(runs["status"].unique()), key="f_status")
dates = pd.to_datetime(runs["created"]).dt.date
since = f4.date_input("created since", value=dates.min(), key="f_since")
scores = runs["score"].dropna()
low = st.number_input("minimum score", value=float(scores.min()) if len(scores) else 0.0, key="f_score",
                      help="runs without a score (still running) are kept")

keep = pd.Series(True, index=runs.index)
if search:
    text = runs[["run", "agent", "env", "label"]].astype(str).agg(" ".join, axis=1)
    keep &= text.str.contains(search, case=False, regex=False)
for column, chosen in (("env", envs), ("agent", agents), ("status", statuses)):
    if chosen:
        keep &= runs[column].isin(chosen)
if isinstance(since, dt.date):
    keep &= dates >= since
keep &= runs["score"].isna() | (runs["score"] >= low)
shown = runs[keep].reset_index(drop=True)
shown.insert(1, "open", [link("explore", run=r) for r in shown["run"]])

st.caption(f"{len(shown)} of {len(runs)} runs · select rows to compare, delete or export them")
event = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                     key="table",
                     column_config={"open": st.column_config.LinkColumn("open", display_text="explore"),
                                    "cost USD": st.column_config.NumberColumn("cost USD", format="$%.4f")})
cost_note(prices, unpriced)
rows = event.selection.rows if event is not None else []
selected = [shown["run"].iloc[i] for i in rows if i < len(shown)]  # a selection can outlive deleted rows
targets = selected or shown["run"].tolist()
if selected:
    st.markdown(f"**{len(selected)} selected**: " + ", ".join(f"`{r}`" for r in selected))
    if 2 <= len(selected) <= 4:
        st.markdown(f"[Compare them]({link('compare', runs=','.join(selected))})")
else:
    st.caption(f"No row selected: export applies to the {len(targets)} run(s) shown; select rows to "
               "compare or delete them.")

export_col, delete_col = st.columns(2)
with export_col:
    fmt = st.selectbox("export format", FORMATS, key="fmt",
                       help="jsonl: canonical, re-importable · minari: MiniGrid dataset (zip) · "
                            "atif: ATIF v1.4 JSON · html: offline replay report")
    if targets and st.button(f"Prepare export of {len(targets)} run(s)", key="prepare"):
        bar = st.progress(0.0, text=f"exporting {len(targets)} run(s) as {fmt}…")
        try:
            name, payload = export_bytes(store, targets, fmt, progress=lambda d, n: bar.progress(d / n))
            st.session_state["download"] = ((tuple(targets), fmt), name, payload)
        except LabError as err:
            st.error(str(err))
        bar.empty()
    ready = st.session_state.get("download")
    if ready and ready[0] == (tuple(targets), fmt):
        st.download_button(f"Download {ready[1]}", ready[2], file_name=ready[1], key="download_button")
if selected:
    with delete_col:
        sure = st.checkbox(f"yes, delete {len(selected)} run(s) with their steps", key="sure")
        if st.button("Delete", key="delete", disabled=not sure, type="primary"):
            try:
                for run_id in selected:
                    store.delete_run(run_id)
            except LabError as err:  # a read-only or full store: the runs not yet deleted stay whole
                st.error(str(err))
                st.stop()
            st.session_state.pop("download", None)
            st.session_state["flash"] = f"deleted {len(selected)} run(s): {', '.join(selected)}"
            st.rerun()
