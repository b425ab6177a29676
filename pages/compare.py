"""Compare 2 to 4 runs step by step (``?runs=A,B&step=N``), their curves and summaries, and batches
aggregated over seeds."""

import pandas as pd
import streamlit as st

from lab.aggregate import aggregate_frame, paired_frame, summary_rows
from lab.ui import link, page_setup, run_label
from lab.views import data
from lab.views.charts import CURVES, aggregate_figure, overlay_figure
from lab.views.memdiff import memory_diff_panel
from lab.views.memory import memory_view
from lab.views.navigator import parse_runs, parse_step, step_navigator
from lab.views.panels import env_panel, thoughts_panel
from lab.views.probes import compare_probes_panel, step_line
from lab.views.usage import usage_panel

store = page_setup("Compare")
asked = parse_runs(st.query_params.get("runs"))
for missing in [r for r in asked if not store.has_run(r)]:
    st.error(f"No run with id {missing!r} in the store; it is left out.")
current = [r for r in asked if store.has_run(r)][:4]

same = st.checkbox("only runs on the same env and seed as the first one", value=True, key="same")
first = store.get_run(current[0]) if current else None
recent = store.list_runs(limit=500, env_id=first.config.env_id if first and same else None)
candidates = {i.run_id: i for i in recent if not (first and same and i.config.seed != first.config.seed)}
candidates.update({r: store.get_run(r) for r in current})
chosen = st.multiselect("runs (2 to 4)", list(candidates), default=current, max_selections=4, key="runs",
                        format_func=lambda r: run_label(candidates[r]))
if chosen != current:
    st.query_params["runs"] = ",".join(chosen)
infos = [candidates[r] for r in chosen]
frames = {i.run_id: data.series(store, str(store.path), i.run_id, i.n_steps) for i in infos}
names = {i.run_id: f"{i.config.agent_id} · {i.run_id[-6:]}" for i in infos}


def actions_around(index: int, width: int = 3) -> object:
    """The actions of every run at steps ``index - width .. index + width``, differing rows highlighted."""
    rows = range(max(index - width, 0), index + width + 1)
    columns = {names[r]: [f["action"].iloc[k] if k < len(f) else "" for k in rows] for r, f in frames.items()}
    table = pd.DataFrame(columns, index=pd.Index(list(rows), name="step"))
    differ = table.apply(lambda row: len({a for a in row if a}) > 1, axis=1)

    def style(row: pd.Series) -> list[str]:
        css = "background-color: #ffe0b2;" if differ[row.name] else ""
        css += "font-weight: bold;" if row.name == index else ""
        return [css] * len(row)

    return table.style.apply(style, axis=1)


def columns_at(index: int) -> None:
    """One column per run at step ``index``; actions that differ between the runs are highlighted."""
    actions = {r: f["action"].iloc[index] if index < len(f) else None for r, f in frames.items()}
    distinct = {a for a in actions.values() if a is not None}
    diverge = next((k for k in range(min(len(f) for f in frames.values()))
                    if len({f["action"].iloc[k] for f in frames.values()}) > 1), None)
    st.caption("Actions first differ at step " + (f"{diverge}" if diverge is not None else "— never (so far)")
               + " · rows where the actions differ are highlighted")
    st.dataframe(actions_around(index), width="stretch", height=180)
    for col, info in zip(st.columns(len(infos)), infos):
        with col:
            there = link("explore", run=info.run_id, step=index)
            st.markdown(f"**{names[info.run_id]}** · [explore]({there})")
            if info.config.fork is not None:
                st.caption(f"fork of {info.config.fork.parent[-6:]} at step {info.config.fork.step}")
            if actions[info.run_id] is None:
                st.info(f"This run ended at step {info.n_steps - 1}.")
                continue
            if len(distinct) > 1:
                st.markdown(":orange-background[**action differs**]")
            step = store.step(info.run_id, index)
            env_panel(store, info, step, compact=True)
            if probes_here := step_line(step):
                st.caption(probes_here)
            with st.expander("thoughts"):
                thoughts_panel(step, info.config.agent_id)
            memory_view(store, info, index, key=f"cmp:{info.run_id}", compact=True)


def aligned_view(longest: int, requested: int | None) -> None:
    """The shared step navigator and the step-aligned columns (a step change reruns only this part)."""
    index = step_navigator(longest, key="compare:" + ",".join(chosen), initial=requested)
    st.subheader(f"Step {index}", anchor=False)
    columns_at(index)
    with st.expander("Memory diff at this step (items matched by content)", expanded=True):
        memory_diff_panel(store, infos, names, index)
    st.caption(f"rendered step {index}")


if len(infos) < 2:
    st.info("Pick 2 to 4 runs to compare (the list shows runs on the same env and seed as the first one; "
            "untick the box to see all).")
elif max(i.n_steps for i in infos) == 0:
    st.info("These runs have no steps yet.")
else:
    longest = max(i.n_steps for i in infos)
    requested, problem = parse_step(st.query_params.get("step"), longest)
    if problem:
        st.error(f"{problem} (the longest of these runs); showing step {max(longest - 1, 0)} instead.")
        requested = max(longest - 1, 0)
    aligned, curves, probes, summary = st.tabs(["Step by step", "Curves", "Probes", "Summary"])
    with aligned:
        st.fragment(aligned_view)(longest, requested)
    with curves:
        labelled = {names[r]: f for r, f in frames.items()}
        for title, column in CURVES.items():
            st.markdown(f"**{title}**")
            st.plotly_chart(overlay_figure(labelled, column, y_title=title), key=f"curve:{column}")
    with probes:
        compare_probes_panel(store, names, {i.run_id: i.n_steps for i in infos})
    with summary:
        st.dataframe(pd.DataFrame(summary_rows(infos)), hide_index=True, width="stretch")
        usage_panel(store, infos, names)

st.subheader("Aggregate over seeds", anchor=False)
labels = sorted({i.config.label for i in store.list_runs(limit=2000) if i.config.label})
groups = ["(runs picked above)", *labels]
default = groups.index(infos[0].config.label) if infos and infos[0].config.label in labels else 0
group = st.selectbox("batch or sweep (runs are grouped by their label)", groups, index=default, key="group")
pool = infos if group == groups[0] else store.list_runs(limit=10_000, label=group)
rows = [r for r in summary_rows(pool) if r["status"] == "finished"]
if rows:
    st.plotly_chart(aggregate_figure(rows), key="aggregate")
    st.dataframe(aggregate_frame(rows), hide_index=True, width="stretch")
    pairs = paired_frame(rows)
    if len(pairs):
        st.markdown("**Paired by seed** (first agent minus second; a verdict needs the interval to exclude 0)")
        st.dataframe(pairs, hide_index=True, width="stretch")
else:
    st.caption("No finished runs in this group yet.")
