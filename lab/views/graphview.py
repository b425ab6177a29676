"""The memory graph in the browser: a Streamlit component over cytoscape.js that stays mounted.

:func:`graph_elements` turns a :class:`MemorySnapshot` at one step (stable positions, the step's marks) into
plain node and edge records; :func:`memory_graph` hands them to the component in ``memgraph/``. The
component keeps one cytoscape instance for the page's life and brings it to each step in place, so a step
change costs a diff in the browser instead of a new figure (``docs/ui.md`` measures both). The colours and
states are :mod:`lab.views.graph`'s, so the plotly figure (HTML export, ``MEMLAB_GRAPH=plotly``) and this
view agree. cytoscape.js 3.35.0 (MIT, ``memgraph/vendor/LICENSE-cytoscape.txt``) is shipped built, from npm.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lab.core.records import MemEdge, MemNode, MemorySnapshot
from lab.views.graph import MAX_LABELS, OUTLINE, StepMarks, _hover, _state, kind_color
from lab.views.layout import Point

COMPONENT_DIR = Path(__file__).with_name("memgraph")
DIGITS = 4
"""Positions are sent in layout units (about a unit square), rounded; the component scales them per run."""
STATES = (("added now", "added"), ("retrieved now", "retrieved"), ("moved the choice (attribution)", "attributed"))
"""The highlight legend: what each outline colour means."""
_component: Any = None


def renderer() -> str:
    """``cytoscape`` (the default) or ``plotly`` (``MEMLAB_GRAPH=plotly``: a new figure per step, as before)."""
    value = os.environ.get("MEMLAB_GRAPH", "cytoscape").strip().lower()
    return value if value in ("cytoscape", "plotly") else "cytoscape"


def _styled(out: dict[str, Any], item: MemNode | MemEdge, marks: StepMarks) -> dict[str, Any]:
    """``out`` with the item's outline colour (added, retrieved, attributed) or its fading (removed)."""
    state = _state(item, marks)
    if state in OUTLINE:
        out["stroke"] = OUTLINE[state]
    if state == "removed":
        out["removed"] = True
    return out


def _node(node: MemNode, pos: Point, marks: StepMarks, labels: bool) -> dict[str, Any]:
    out = _styled({"id": node.id, "x": round(pos[0], DIGITS), "y": round(pos[1], DIGITS),
                   "color": kind_color(node.kind), "hover": _hover(node)}, node, marks)
    if labels:
        out["text"] = node.label if len(node.label) <= 24 else node.label[:23] + "…"
    return out


def _edge(edge: MemEdge, marks: StepMarks) -> dict[str, Any]:
    return _styled({"id": edge.id, "source": edge.source, "target": edge.target, "color": kind_color(edge.kind),
                    "hover": f"{edge.kind}: {edge.label or edge.id}"}, edge, marks)


def graph_elements(snapshot: MemorySnapshot, pos: dict[str, Point], marks: StepMarks,
                   frame: dict[str, Point] | None = None) -> dict[str, Any]:
    """The graph at one step as the component's records: nodes with positions, colours and outline; edges
    between placed nodes; the legend (node kinds, edge kinds, highlight colours); ``bounds``, the box of
    ``frame`` (the run's whole layout; ``pos`` without one), which sets the view's scale once per run. Items
    dropped at this step (``marks``) are included, faded. Text is sent as text: cytoscape draws it on a
    canvas."""
    nodes = [n for n in (*snapshot.nodes, *marks.dropped_nodes) if n.id in pos]
    placed = {n.id for n in nodes}
    edges = [e for e in (*snapshot.edges, *marks.dropped_edges) if e.source in placed and e.target in placed]
    labels = len(nodes) <= MAX_LABELS
    points = list((frame or pos).values()) or [(0.0, 0.0)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return {
        "bounds": [round(v, DIGITS) for v in (min(xs), min(ys), max(xs), max(ys))],
        "nodes": [_node(n, pos[n.id], marks, labels) for n in nodes],
        "edges": [_edge(e, marks) for e in edges],
        "legend": {
            "nodes": [[kind, kind_color(kind)] for kind in sorted({n.kind for n in nodes})],
            "edges": [[kind, kind_color(kind)] for kind in sorted({e.kind for e in edges})],
            "states": [[name, OUTLINE[state]] for name, state in STATES],
        },
    }


def memory_graph(snapshot: MemorySnapshot, pos: dict[str, Point], marks: StepMarks, run_id: str, key: str,
                 height: int = 460, selected: str | None = None,
                 frame: dict[str, Point] | None = None) -> str | None:
    """Draw the graph (``frame``: the run's whole layout, see :func:`graph_elements`); returns the clicked
    node's id (``edge:<id>`` for an edge), or None.

    ``key`` must not hold the step: the same key keeps the component mounted across steps."""
    global _component
    if _component is None:
        import streamlit.components.v1 as components

        _component = components.declare_component("memgraph", path=str(COMPONENT_DIR))
    value = _component(run=run_id, step=marks.step, height=height, selected=selected,
                       **graph_elements(snapshot, pos, marks, frame), key=key, default=None)
    return value if isinstance(value, str) else None
