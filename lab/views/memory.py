"""The memory view: one Streamlit component used by the Run, Explore and Compare pages.

For any agent's :class:`MemorySnapshot` at one step: the graph (a cytoscape.js component that stays
mounted across steps, :mod:`lab.views.graphview`; or plotly with ``MEMLAB_GRAPH=plotly``; stable positions,
added / retrieved / removed highlighted; click a node for its attributes and provenance), the
records table (retrieved rows first and highlighted), the prompt text, this step's changes, the
memory-size timeline, and the agent package's own figures if it offers ``views.figures``.
Only the shown step is read: one keyframe plus a few diffs (:func:`lab.views.data.memory_pair`).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from lab.core.records import MemorySnapshot, RunInfo, Step
from lab.store import RunStore
from lab.ui import on_demand
from lab.views import data, graph, graphview, layout, records
from lab.views.charts import memory_size_figure
from lab.views.hooks import agent_figures

STYLE_LIMIT = 400
"""Records tables up to this many rows are coloured (pandas styling is slow beyond)."""


def memory_view(store: RunStore, info: RunInfo, index: int, key: str, compact: bool = False,
                timeline: bool = True, attributed: set[str] | None = None) -> None:
    """Draw the memory of run ``info`` after step ``index`` (``timeline``: with the memory-size curve;
    ``attributed``: ids to mark as moving the step's choice)."""
    step, before, current = data.memory_pair(store, info.run_id, index)
    marks = graph.marks_for(index, current, before, step.memory_diff)
    marks.attributed = set(attributed or ())
    if not (current.nodes or current.records or current.prompt_text or marks.dropped_nodes):
        st.caption("No memory at this step (this agent keeps none, or it is still empty).")
        return
    if not compact:  # the key has no step in it: the filter stays as the steps change
        query = st.text_input("filter the memory (nodes, edges and records holding every word)", key=f"{key}:filter",
                              placeholder="e.g. kitchen fridge")
        if query.strip():
            everything = current
            current = records.filter_snapshot(current, query)
            marks.dropped_nodes = [n for n in marks.dropped_nodes if records.matches(query, n.label, n.attrs)]
            marks.dropped_edges = [e for e in marks.dropped_edges if records.matches(query, e.label, e.attrs)]
            st.caption(f"filter {query.strip()!r}: {len(current.nodes)} of {len(everything.nodes)} nodes, "
                       f"{len(current.edges)} of {len(everything.edges)} edges, {len(current.records)} of "
                       f"{len(everything.records)} records")
            if not (current.nodes or current.records):
                return
    graphed = bool(current.nodes or marks.dropped_nodes)
    if graphed:
        graph_panel(store, info, current, marks, key, compact)
    if current.records and graphed and not compact:  # beside a graph, the table is drawn once opened
        with on_demand("Records table", key=f"{key}:records") as shown:  # a fixed label keeps it open
            if shown:
                records_panel(current, marks, compact)
    elif current.records:
        records_panel(current, marks, compact)
    if current.prompt_text and not compact:
        with on_demand("Memory text in the prompt at this step", key=f"{key}:prompt-text") as shown:
            if shown:
                st.text(current.prompt_text)
    if step.memory_diff is not None and not compact:
        with on_demand("Changes at this step", key=f"{key}:changes") as shown:
            if shown:
                st.text(records.diff_text(step.memory_diff, before))
    if timeline and not compact:
        frame = data.series(store, str(store.path), info.run_id, info.n_steps)
        st.plotly_chart(memory_size_figure(frame, index), key=f"{key}:size", config={"displaylogo": False})
    if not compact:
        extra_figures(info, current, step)


def graph_panel(store: RunStore, info: RunInfo, current: MemorySnapshot, marks: graph.StepMarks, key: str,
                compact: bool) -> None:
    """The interactive graph and, for a clicked node, its attributes and provenance."""
    basis = data.layout_basis(info.n_steps, info.status == "running")
    base = data.layout(store, str(store.path), info.run_id, basis)
    shown = current.model_copy(update={"nodes": current.nodes + marks.dropped_nodes,
                                       "edges": current.edges + marks.dropped_edges})
    pos = layout.place(shown, base)
    alive = sum(1 for n in current.nodes if n.removed_step is None)
    counts = f"Graph: {alive} nodes, {sum(1 for e in current.edges if e.removed_step is None)} edges · "
    height = 300 if compact else 460
    if graphview.renderer() == "plotly":
        st.caption(counts + "green = added now, magenta = retrieved now, orange = moved the choice "
                   "(attribution), faded = removed · click a node for details")
        event = st.plotly_chart(graph.graph_figure(current, pos, marks, height=height), key=f"{key}:graph",
                                on_select="rerun", selection_mode="points",
                                config={"displaylogo": False, "scrollZoom": True})
        picked = selected_id(event)
    else:  # stays mounted across steps: the key holds no step
        st.caption(counts + "click a node for details · scroll to zoom, drag to pan, double-click to fit "
                   "(colours in the legend under the graph)")
        previous = st.session_state.get(f"{key}:graph")
        picked = graphview.memory_graph(current, pos, marks, info.run_id, key=f"{key}:graph", height=height,
                                        selected=previous if isinstance(previous, str) else None, frame=base)
    if picked:
        details_panel(store, info.run_id, shown, picked)


def selected_id(event: Any) -> str | None:
    """The id of the first clicked point carrying one, from a plotly selection event."""
    points = (getattr(event, "selection", None) or {}).get("points", []) if event is not None else []
    for point in points:
        custom = point.get("customdata")
        if isinstance(custom, list):
            custom = custom[0] if custom else None
        if isinstance(custom, str):
            return custom
    return None


def details_panel(store: RunStore, run_id: str, snapshot: MemorySnapshot, picked: str) -> None:
    """Attributes of the clicked node (or edge) and the step and observation that created it."""
    if picked.startswith("edge:"):
        edge = next((e for e in snapshot.edges if e.id == picked[5:]), None)
        if edge is not None:
            st.markdown(f"**Edge** `{edge.id}`")
            st.json(edge.model_dump(mode="json"), expanded=1)
            provenance(store, run_id, edge.added_step)
        return
    details = graph.node_details(snapshot, picked)
    if details is None:
        st.caption(f"Node {picked!r} is not in memory at this step.")
        return
    st.markdown(f"**Node** `{details['id']}` ({details['kind']})")
    st.json(details, expanded=1)
    provenance(store, run_id, details["added_step"])


def provenance(store: RunStore, run_id: str, added_step: int | None) -> None:
    """The step and observation that created an item (from its ``added_step``)."""
    if added_step is None:
        st.caption("Provenance: the agent did not record the step that created it.")
        return
    try:
        origin = store.step(run_id, added_step)
    except IndexError:
        st.caption(f"Provenance: created at step {added_step}, which is not in this run.")
        return
    st.markdown(f"Created at **step {added_step}** (trial {origin.trial}) after action `{origin.action}`; "
                "its observation:")
    st.text(origin.observation.text[:3000])


def records_panel(current: MemorySnapshot, marks: graph.StepMarks, compact: bool) -> None:
    """The records table, retrieved rows first and highlighted."""
    frame = records.records_frame(current, marks.step, marks.added, marks.attributed)
    n_retrieved = int((frame["status"] == "retrieved").sum())
    st.caption(f"Records: {len(frame)} · retrieved now: {n_retrieved}")
    if compact:
        frame = frame[["status", "kind", "text"]].head(12)
    shown = records.highlight(frame) if len(frame) <= STYLE_LIMIT else frame
    height = min(220 if compact else 320, 36 * (len(frame) + 1) + 2)  # no empty rows under short tables
    st.dataframe(shown, hide_index=True, width="stretch", height=height)


def extra_figures(info: RunInfo, current: MemorySnapshot, step: Step) -> None:
    """The agent package's own figures (``agents/<pkg>/views.py``), when it offers them."""
    try:
        figures = agent_figures(info.config.agent_id, current, step)
    except Exception as err:  # an agent's optional figure code must not break the page
        st.warning(f"the agent's extra views failed: {type(err).__name__}: {err}".splitlines()[0])
        return
    if figures:
        with st.expander(f"{info.config.agent_id} views", expanded=False):
            for i, figure in enumerate(figures):
                st.plotly_chart(figure, key=f"agentfig:{info.run_id}:{i}")
