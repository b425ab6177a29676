"""What the lab shows of CLIN's memory: learnings added, strengthened, weakened, dropped between trials, and
the earlier runs whose meta-memory seeded the episode."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from lab.core.records import MemorySnapshot, MemRecord, Step

ORDER = {"added": 0, "strengthened": 1, "weakened": 2, "dropped": 3, "kept": 4}


def _live(snapshot: MemorySnapshot | None) -> dict[str, MemRecord]:
    """The learnings of a snapshot that are not removed, by id."""
    if snapshot is None:
        return {}
    return {r.id: r for r in snapshot.records if r.kind == "learning" and r.removed_step is None}


def _row(change: str, record: MemRecord, before: MemRecord | None) -> dict[str, Any]:
    return {
        "change": change,
        "learning": record.text,
        "before": before.text if before is not None and before.text != record.text else "",
        "certainty": record.attrs.get("certainty"),
        "relation": record.attrs.get("relation"),
        "trial": record.attrs.get("trial"),
        "id": record.id,
    }


def learning_changes(prev: MemorySnapshot | None, cur: MemorySnapshot) -> list[dict[str, Any]]:
    """Rows for the UI: how the learnings of ``cur`` differ from those of ``prev`` (None: empty memory).

    Both are trial-end snapshots (keyframes). A learning is ``added`` when it is new, ``strengthened``
    when its certainty went from may to should, ``weakened`` the other way, ``dropped`` when it left
    the memory, ``kept`` otherwise. Rows are ordered by change, then as the learnings are numbered.
    """
    before, after = _live(prev), _live(cur)
    rows = []
    for rid, record in after.items():
        old = before.get(rid)
        if old is None:
            change = "added"
        else:
            old_c, new_c = old.attrs.get("certainty"), record.attrs.get("certainty")
            change = (
                "strengthened"
                if (old_c, new_c) == ("may", "should")
                else "weakened"
                if (old_c, new_c) == ("should", "may")
                else "kept"
            )
        rows.append(_row(change, record, old))
    removed = {r.id: r for r in cur.records if r.kind == "learning"}
    for rid, old in before.items():
        if rid not in after:
            rows.append(_row("dropped", removed.get(rid, old), old))
    return sorted(rows, key=lambda r: ORDER[r["change"]])


def trial_changes(before: MemorySnapshot | None, after: MemorySnapshot) -> list[dict[str, Any]]:
    """The lab's hook for the trials panel: CLIN's learnings between two trial ends (see
    :func:`learning_changes`), in place of the generic added / changed / removed rows."""
    return learning_changes(before, after)


def seed_sources(snapshot: MemorySnapshot) -> list[dict[str, Any]]:
    """Rows for the UI: the earlier runs and episodes whose best trials seeded this episode's meta-memory."""
    return [dict(r.attrs) for r in snapshot.records if r.kind == "meta-source"]


def _table(title: str, header: list[str], columns: list[list[str]], widths: list[int]) -> go.Figure:
    cells = {"values": columns, "align": "left"}
    table = go.Table(header={"values": header}, cells=cells, columnwidth=widths)
    fig = go.Figure(table)
    rows = len(columns[0])
    fig.update_layout(title=title, margin={"l": 5, "r": 5, "t": 40, "b": 5}, height=min(120 + 28 * rows, 600))
    return fig


def figures(snapshot: MemorySnapshot, step: Step) -> list[go.Figure]:
    """The lab's views hook: the numbered learnings as a table (relation, certainty, the trial that wrote
    each), as they entered the prompt; and, in a seeded episode, the runs and episodes it was seeded from."""
    out = []
    live = list(_live(snapshot).values())
    if live:
        columns = [
            [str(i + 1) for i in range(len(live))],
            [r.text for r in live],
            [str(r.attrs.get("relation", "")) for r in live],
            [str(r.attrs.get("certainty", "")) for r in live],
            [str(r.attrs.get("trial", "")) for r in live],
        ]
        out.append(_table(f"CLIN memory: {len(live)} learnings", ["#", "learning", "relation", "certainty",
                                                                   "trial"], columns, [3, 40, 10, 8, 5]))
    sources = seed_sources(snapshot)
    if sources:
        keys = ["run_id", "episode", "env_id", "trial", "score", "learnings"]
        columns = [[f"{row[k]:g}" if k == "score" else str(row[k]) for row in sources] for k in keys]
        episodes = f"{len(sources)} earlier episode" + ("s" if len(sources) != 1 else "")
        title = f"CLIN meta-memory: seeded from {episodes} (same LLM and config)"
        out.append(_table(title, ["run", "episode", "env", "best trial", "score", "learnings"], columns,
                          [18, 14, 10, 6, 6, 6]))
    return out
