"""The memory graph as a plotly figure, for any agent's :class:`MemorySnapshot`.

Nodes and edges are coloured by ``kind``. What was added at the shown step is outlined in
green, what was retrieved is outlined in magenta, and what is removed (``removed_step`` set, or
dropped at this step) is drawn faded. All text from games and models is HTML-escaped before it
reaches plotly, whose labels understand a subset of HTML.
"""

from __future__ import annotations

import functools
import hashlib
import html
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go

from lab.core.records import MemEdge, MemNode, MemoryDiff, MemorySnapshot
from lab.views.layout import Point

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#9D755D", "#FF9DA6",
           "#79706E", "#EECA3B", "#8CD17D", "#D37295")
ADDED, RETRIEVED, REMOVED_ALPHA = "#2CA02C", "#E6007E", 0.25
ATTRIBUTED = "#FF7F0E"
"""Items that attribution found moving the step's choice (``lab.attribution``)."""
OUTLINE = {"added": ADDED, "retrieved": RETRIEVED, "attributed": ATTRIBUTED}
MAX_LABELS = 150
"""Node labels are written on the graph up to this many nodes (hover shows them beyond)."""
WEBGL_FROM = 5000
"""Graphs with more nodes + edges than this are drawn with WebGL traces. Below it SVG is faster: Streamlit
remounts a chart whose figure changed, and a fresh WebGL plot costs ~0.6 s in a GPU-less browser (measured:
SVG ~0.1-0.17 s for 635 nodes and 1,300 edges)."""
EDGE_HOVER_UP_TO = 300
"""Edges get hover labels (invisible midpoint markers) up to this many edges."""


@functools.lru_cache(maxsize=1024)
def kind_color(kind: str) -> str:
    """A stable colour per kind (the same kind is the same colour in every run and page)."""
    return PALETTE[hashlib.blake2b(kind.encode(), digest_size=2).digest()[0] % len(PALETTE)]


def esc(text: Any, limit: int = 300) -> str:
    """HTML-escaped, shortened text for plotly labels and hovers."""
    value = str(text)
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return html.escape(value).replace("\n", "<br>")


@dataclass
class StepMarks:
    """What to highlight at the shown step: ids added now, retrieved now, and items dropped now."""

    step: int
    added: set[str] = field(default_factory=set)
    retrieved: set[str] = field(default_factory=set)
    attributed: set[str] = field(default_factory=set)
    """Items whose removal from the decision prompt moved the choice (from a stored attribution)."""
    dropped_nodes: list[MemNode] = field(default_factory=list)
    dropped_edges: list[MemEdge] = field(default_factory=list)


def marks_for(step: int, current: MemorySnapshot, previous: MemorySnapshot | None,
              change: MemoryDiff | None) -> StepMarks:
    """Highlights of step ``step`` from its diff (or ``added_step``) and the items the diff removed."""
    added = {i.id for i in (*current.nodes, *current.edges, *current.records) if i.added_step == step}
    dropped_nodes: list[MemNode] = []
    dropped_edges: list[MemEdge] = []
    if change is not None:
        added |= {i.id for i in (*change.nodes_added, *change.edges_added, *change.records_added)}
        if previous is not None:
            gone_n, gone_e = set(change.nodes_removed), set(change.edges_removed)
            faded = {"removed_step": step}
            dropped_nodes = [n.model_copy(update=faded) for n in previous.nodes if n.id in gone_n]
            dropped_edges = [e.model_copy(update=faded) for e in previous.edges if e.id in gone_e]
    return StepMarks(step=step, added=added, retrieved=set(current.retrieved),
                     dropped_nodes=dropped_nodes, dropped_edges=dropped_edges)


def _state(item: MemNode | MemEdge, marks: StepMarks) -> str:
    if item.removed_step is not None and item.removed_step <= marks.step:
        return "removed"
    if item.id in marks.attributed:
        return "attributed"
    if item.id in marks.retrieved:
        return "retrieved"
    if item.id in marks.added:
        return "added"
    return "normal"


def _edge_traces(edges: list[MemEdge], pos: dict[str, Point], marks: StepMarks,
                 gl: bool) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[MemEdge]] = {}
    for edge in edges:
        if edge.source in pos and edge.target in pos:
            groups.setdefault((edge.kind, _state(edge, marks)), []).append(edge)
    traces, named = [], set()
    for (kind, state), items in sorted(groups.items()):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for edge in items:
            (x0, y0), (x1, y1) = pos[edge.source], pos[edge.target]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
        color = OUTLINE.get(state, kind_color(kind))
        traces.append(dict(
            type="scattergl" if gl else "scatter", x=xs, y=ys, mode="lines", hoverinfo="skip",
            name=f"{kind} edge" if state in ("normal", "removed") else f"{kind} edge ({state})",
            line=dict(color=color if state in OUTLINE else kind_color(kind), width=2.5 if state in OUTLINE else 1),
            opacity=REMOVED_ALPHA if state == "removed" else 0.7, legendgroup=f"edge:{kind}",
            showlegend=state in ("normal", "removed") and kind not in named))  # one legend entry per edge kind
        if state in ("normal", "removed"):
            named.add(kind)
    return traces


def _edge_hover(edges: list[MemEdge], pos: dict[str, Point], limit: int = 400) -> dict[str, Any] | None:
    """Invisible points at edge midpoints carrying the edge label (small graphs only)."""
    shown = [e for e in edges if e.source in pos and e.target in pos][:limit]
    if not shown:
        return None
    xs = [(pos[e.source][0] + pos[e.target][0]) / 2 for e in shown]
    ys = [(pos[e.source][1] + pos[e.target][1]) / 2 for e in shown]
    text = [esc(f"{e.kind}: {e.label or e.id}") for e in shown]
    return dict(type="scatter", x=xs, y=ys, mode="markers", marker=dict(size=6, opacity=0), hovertext=text,
                hoverinfo="text", showlegend=False, customdata=[f"edge:{e.id}" for e in shown])


def _hover(node: MemNode) -> str:
    added = "" if node.added_step is None else f" · added at step {node.added_step}"
    return f"{node.label} [{node.kind}]{added}"


def _node_trace(kind: str, nodes: list[MemNode], pos: dict[str, Point], marks: StepMarks,
                labels: bool, selected: str | None, gl: bool) -> dict[str, Any]:
    states = [_state(n, marks) for n in nodes]
    outline = [OUTLINE.get(s, "#FFFFFF") for s in states]
    outline = ["#000000" if n.id == selected else c for n, c in zip(nodes, outline)]
    return dict(
        type="scattergl" if gl else "scatter",
        x=[pos[n.id][0] for n in nodes], y=[pos[n.id][1] for n in nodes],
        mode="markers+text" if labels else "markers", name=kind,
        text=[esc(n.label, 24) for n in nodes] if labels else None, textposition="top center",
        textfont=dict(size=10),
        hovertext=[esc(_hover(n)) for n in nodes],
        hoverinfo="text", customdata=[n.id for n in nodes],
        marker=dict(color=kind_color(kind), size=[14 if s != "normal" else 10 for s in states],
                    opacity=[REMOVED_ALPHA if s == "removed" else 1.0 for s in states],
                    line=dict(color=outline, width=[3 if c != "#FFFFFF" else 1 for c in outline])),
    )


def graph_figure(snapshot: MemorySnapshot, pos: dict[str, Point], marks: StepMarks, height: int = 460,
                 selected: str | None = None) -> go.Figure:
    """The whole memory graph at one step (removed items faded, added and retrieved outlined)."""
    nodes = list(snapshot.nodes) + marks.dropped_nodes
    edges = list(snapshot.edges) + marks.dropped_edges
    gl = len(nodes) + len(edges) > WEBGL_FROM
    traces = _edge_traces(edges, pos, marks, gl)
    hover = None if gl or len(edges) > EDGE_HOVER_UP_TO else _edge_hover(edges, pos)
    if hover is not None:
        traces.append(hover)
    by_kind: dict[str, list[MemNode]] = {}
    for node in nodes:
        if node.id in pos:
            by_kind.setdefault(node.kind, []).append(node)
    labels = len(nodes) <= MAX_LABELS
    traces += [_node_trace(kind, by_kind[kind], pos, marks, labels, selected, gl) for kind in sorted(by_kind)]
    layout = dict(
        height=height, margin=dict(l=0, r=0, t=0, b=0), clickmode="event+select", dragmode="pan",
        xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"), uirevision="memory-graph",
        legend=dict(orientation="h", yanchor="bottom", y=0.0, x=0.0), hovermode="closest",
    )
    # built from plain dicts without plotly's per-element validation (a third of a second at 1,000 edges)
    return go.Figure(data=traces, layout=layout, _validate=False)


def node_details(snapshot: MemorySnapshot, node_id: str) -> dict[str, Any] | None:
    """A node's fields, attributes and its edges (for the click panel); None when absent."""
    node = next((n for n in snapshot.nodes if n.id == node_id), None)
    if node is None:
        return None
    out = [f"{e.label or e.kind} → {e.target}" for e in snapshot.edges if e.source == node_id]
    into = [f"{e.source} → {e.label or e.kind}" for e in snapshot.edges if e.target == node_id]
    return {"id": node.id, "kind": node.kind, "label": node.label, "added_step": node.added_step,
            "removed_step": node.removed_step, "attrs": node.attrs, "edges_out": out, "edges_in": into}
