"""Plotly figures of a SAT memory snapshot: the slot grid (place x time) and the read's attention.

Pure functions of a :class:`lab.core.records.MemorySnapshot` as :class:`agents.sat.memory.SlotMemory`
writes it (records of kind ``slot`` with attrs place, time, kept, decision, attention, chunk; records
of kind ``chunk`` with attrs index, slots, attention, selected).
"""

from __future__ import annotations

import plotly.graph_objects as go

from lab.core.records import MemorySnapshot, MemRecord, Step


def slots(snapshot: MemorySnapshot) -> list[MemRecord]:
    """The slot records, time order."""
    return sorted((r for r in snapshot.records if r.kind == "slot"), key=lambda r: r.attrs.get("time", 0))


def slot_grid_figure(snapshot: MemorySnapshot, step: int | None = None) -> go.Figure:
    """Every slot written so far at (time, room): kept ones filled, evicted ones hollow; size = attention.

    ``step`` shows the memory as it was then (slots removed later count as kept).
    """
    rows = [r for r in slots(snapshot) if step is None or (r.added_step or 0) <= step]
    kept = [r.removed_step is None or (step is not None and r.removed_step > step) for r in rows]
    att = [float(r.attrs.get("attention") or 0.0) for r in rows]
    peak = max(att, default=0.0) or 1.0
    fig = go.Figure()
    for flag, name, symbol in ((True, "kept", "square"), (False, "evicted", "square-open")):
        pick = [i for i, k in enumerate(kept) if k is flag]
        fig.add_trace(
            go.Scatter(
                x=[rows[i].attrs.get("time") for i in pick],
                y=[rows[i].attrs.get("place") for i in pick],
                mode="markers",
                name=name,
                marker={
                    "symbol": symbol,
                    "size": [8 + 16 * att[i] / peak for i in pick],
                    "color": [att[i] for i in pick],
                    "colorscale": "Viridis",
                    "cmin": 0,
                    "cmax": peak,
                },
                text=[f"{rows[i].text}<br>{rows[i].attrs.get('decision', '')}" for i in pick],
                hoverinfo="text",
            )
        )
    fig.update_layout(
        xaxis_title="time (step)",
        yaxis_title="room",
        yaxis={"dtick": 1, "range": [-0.5, 8.5]},
        title="Memory slots (place x time); size and colour = attention at answer time",
        legend={"orientation": "h"},
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
    )
    return fig


def attention_figure(snapshot: MemorySnapshot) -> go.Figure:
    """Heatmap of the last read's attention: a row per chunk (one row for a flat read), slots as columns."""
    chunks = sorted((r for r in snapshot.records if r.kind == "chunk"), key=lambda r: r.attrs.get("index", 0))
    by_step = {r.attrs.get("time"): r for r in slots(snapshot)}
    if chunks:
        width = max(len(c.attrs.get("slots", [])) for c in chunks) or 1
        z = [
            [_att(by_step, s) for s in c.attrs.get("slots", [])]
            + [None] * (width - len(c.attrs.get("slots", [])))
            for c in chunks
        ]
        labels = [
            f"{c.text} ({'read' if c.attrs.get('selected') else 'skipped'}, "
            f"w={c.attrs.get('attention', 0):.2f})"
            for c in chunks
        ]
        text = [
            [f"t={s}" for s in c.attrs.get("slots", [])] + [""] * (width - len(c.attrs.get("slots", [])))
            for c in chunks
        ]
    else:
        kept = [r for r in slots(snapshot) if r.removed_step is None]
        z, labels, text = (
            [[_att(by_step, r.attrs.get("time")) for r in kept]],
            ["all slots"],
            [[f"t={r.attrs.get('time')} room {r.attrs.get('place')}" for r in kept]],
        )
    fig = go.Figure(go.Heatmap(z=z, y=labels, text=text, hoverinfo="text+z", colorscale="Viridis"))
    fig.update_layout(
        title=f"Attention at answer time: {snapshot.prompt_text[:80]}",
        xaxis_title="slot in chunk",
        margin={"l": 10, "r": 10, "t": 40, "b": 40},
    )
    return fig


def _att(by_step: dict, step: int | None) -> float:
    """Attention of the slot written at ``step`` (0 when it was not read)."""
    record = by_step.get(step)
    return float(record.attrs.get("attention") or 0.0) if record is not None else 0.0


def figures(snapshot: MemorySnapshot, step: Step) -> list[go.Figure]:
    """The lab's views hook: the slot grid as of ``step`` and the last read's attention (none before a
    write)."""
    if not slots(snapshot):
        return []
    return [slot_grid_figure(snapshot, step.index), attention_figure(snapshot)]
