"""Plotly views of the graph-schemas memory, as pure functions of a :class:`MemorySnapshot`.

- :func:`latent_graph_figure`: clones coloured by the observation they emit, transitions as edges,
  the current clone and the planned path highlighted;
- :func:`grid_figure`: the room's true grid seen through the decoded clone-to-cell map, with the
  belief mass per cell and the planned path;
- :func:`bps_curve_figure`: bits per step over the EM iterations (schema learning, rebinding).
"""

from __future__ import annotations

import math
from collections import defaultdict

import networkx as nx
import plotly.graph_objects as go

from lab.core.records import MemNode, MemorySnapshot, Step


def _clones(snapshot: MemorySnapshot) -> dict[str, MemNode]:
    return {n.id: n for n in snapshot.nodes if n.kind == "clone" and n.removed_step is None}


def _record_attrs(snapshot: MemorySnapshot, record_id: str) -> dict:
    return next((r.attrs for r in snapshot.records if r.id == record_id), {})


def node_positions(snapshot: MemorySnapshot) -> dict[str, tuple[float, float]]:
    """Clone positions: around their decoded cell when known, else a seeded spring layout."""
    clones = _clones(snapshot)
    by_cell: dict[tuple[int, int], list[str]] = defaultdict(list)
    free = []
    for node_id, node in clones.items():
        cell = node.attrs.get("cell")
        if cell:
            by_cell[(int(cell[0]), int(cell[1]))].append(node_id)
        else:
            free.append(node_id)
    pos: dict[str, tuple[float, float]] = {}
    for (x, y), ids in by_cell.items():
        for k, node_id in enumerate(sorted(ids)):
            angle = 2 * math.pi * k / len(ids)
            radius = 0.0 if len(ids) == 1 else 0.25
            pos[node_id] = (x + radius * math.cos(angle), -(y + radius * math.sin(angle)))
    if free:
        graph = nx.DiGraph()
        graph.add_nodes_from(free)
        graph.add_edges_from(
            (e.source, e.target) for e in snapshot.edges if e.source in free and e.target in free
        )
        pos.update(
            {k: (float(v[0]) * 5, float(v[1]) * 5) for k, v in nx.spring_layout(graph, seed=0).items()}
        )
    return pos


def latent_graph_figure(snapshot: MemorySnapshot, title: str = "Latent graph (clones)") -> go.Figure:
    """Clones as nodes coloured by their observation; edges by action; current clone and path highlighted."""
    clones = _clones(snapshot)
    pos = node_positions(snapshot)
    fig = go.Figure()
    xs, ys = [], []
    for edge in snapshot.edges:
        if (
            edge.kind == "transition"
            and edge.source in pos
            and edge.target in pos
            and edge.source != edge.target
        ):
            xs += [pos[edge.source][0], pos[edge.target][0], None]
            ys += [pos[edge.source][1], pos[edge.target][1], None]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line={"color": "#bbbbbb", "width": 1},
            hoverinfo="skip",
            name="transitions",
        )
    )
    path = _path_ids(snapshot)
    if len(path) > 1:
        fig.add_trace(
            go.Scatter(
                x=[pos[p][0] for p in path if p in pos],
                y=[pos[p][1] for p in path if p in pos],
                mode="lines",
                line={"color": "black", "width": 3},
                name="plan",
            )
        )
    ids = list(clones)
    current = set(snapshot.retrieved[:1])
    fig.add_trace(
        go.Scatter(
            x=[pos[i][0] for i in ids],
            y=[pos[i][1] for i in ids],
            mode="markers+text",
            name="clones",
            text=[clones[i].label.split(":")[0] for i in ids],
            textposition="middle center",
            textfont={"size": 8},
            marker={
                "size": [18 if i in current else 12 for i in ids],
                "color": [clones[i].attrs.get("colour") for i in ids],
                "line": {"width": [3 if i in current else 0.5 for i in ids], "color": "black"},
            },
            hovertext=[f"{clones[i].label} cell={clones[i].attrs.get('cell')}" for i in ids],
            hoverinfo="text",
        )
    )
    return map_layout(fig, title)


def map_layout(fig: go.Figure, title: str) -> go.Figure:
    """A map's layout: no axes, square cells, no legend."""
    fig.update_layout(
        title=title,
        showlegend=False,
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def _path_ids(snapshot: MemorySnapshot) -> list[str]:
    clones = _record_attrs(snapshot, "plan").get("clones", [])
    return [f"c{c}" for c in clones]


def grid_figure(snapshot: MemorySnapshot, title: str = "Room through the clone-to-cell map") -> go.Figure:
    """Cells coloured by the observation their clones are bound to, belief mass per cell, the planned path."""
    clones = _clones(snapshot)
    cells: dict[tuple[int, int], list[MemNode]] = defaultdict(list)
    for node in clones.values():
        cell = node.attrs.get("cell")
        if cell:
            cells[(int(cell[0]), int(cell[1]))].append(node)
    fig = go.Figure()
    for (x, y), nodes in cells.items():
        colour = max(nodes, key=lambda n: n.attrs.get("p", 0)).attrs.get("colour", "#cccccc")
        fig.add_shape(
            type="rect",
            x0=x - 0.5,
            x1=x + 0.5,
            y0=-y - 0.5,
            y1=-y + 0.5,
            fillcolor=colour,
            opacity=0.55,
            line={"color": "#444444", "width": 1},
        )
    mass: dict[tuple[int, int], float] = defaultdict(float)
    for record in snapshot.records:
        if record.kind == "belief" and record.attrs.get("cell"):
            mass[tuple(record.attrs["cell"][:2])] += float(record.attrs.get("p", 0.0))
    if mass:
        fig.add_trace(
            go.Scatter(
                x=[c[0] for c in mass],
                y=[-c[1] for c in mass],
                mode="markers",
                name="belief",
                marker={"size": [8 + 30 * m for m in mass.values()], "color": "black", "opacity": 0.6},
                hovertext=[f"p={m:.2f}" for m in mass.values()],
                hoverinfo="text",
            )
        )
    path_cells = [clones[p].attrs.get("cell") for p in _path_ids(snapshot) if p in clones]
    path_cells = [c for c in path_cells if c]
    if len(path_cells) > 1:
        fig.add_trace(
            go.Scatter(
                x=[c[0] for c in path_cells],
                y=[-c[1] for c in path_cells],
                mode="lines+markers",
                line={"color": "white", "width": 3},
                name="plan",
            )
        )
    if not cells:
        fig.add_annotation(
            text="no clone is mapped to a cell (a model learned without ground truth)",
            showarrow=False,
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
        )
    return map_layout(fig, title)


def learning_curves(snapshot: MemorySnapshot) -> dict[str, list[float]]:
    """The bits-per-step curves stored at learn time: schema EM and Viterbi, and the last (re)binding."""
    attrs = _record_attrs(snapshot, "learning")
    curves = {f"schema {k}": v for k, v in attrs.get("schema_curve", {}).items()}
    if attrs.get("bps"):
        curves[str(attrs.get("source", "binding"))] = attrs["bps"]
    return curves


def bps_curve_figure(
    curves: dict[str, list[float]] | list[float] | MemorySnapshot,
    title: str = "Bits per step over EM iterations",
) -> go.Figure:
    """One line per curve, log scale (a learning curve spans 2 down to 1e-4)."""
    if isinstance(curves, MemorySnapshot):
        curves = learning_curves(curves)
    if isinstance(curves, list):
        curves = {"bits per step": curves}
    fig = go.Figure()
    for name, values in curves.items():
        fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=values, mode="lines", name=name))
    fig.update_layout(
        title=title,
        xaxis_title="iteration",
        yaxis_title="bits per step",
        yaxis_type="log",
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def figures(snapshot: MemorySnapshot, step: Step) -> list[go.Figure]:
    """The lab's views hook: the latent graph, the room through the clone-to-cell map (once clones are bound
    to cells) and the learning curves (once EM has run)."""
    clones = _clones(snapshot)
    if not clones:
        return []
    out = [latent_graph_figure(snapshot)]
    if any(node.attrs.get("cell") for node in clones.values()):
        out.append(grid_figure(snapshot))
    if learning_curves(snapshot):
        out.append(bps_curve_figure(snapshot))
    return out
