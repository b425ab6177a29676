"""Record memories as tables, and memory changes as rows: generic over every agent's snapshot.

Records (episodic entries, subgoal chunks, CLIN learnings, transformer slots) become one row
each, with the ones retrieved at the shown step marked and listed first. Changes (one step's
diff, or the difference between two trial-end snapshots) become rows of
``change / what / id / text``.
"""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from typing import Any

import pandas as pd

from lab.core import memory as memlib
from lab.core.records import MemEdge, MemNode, MemoryDiff, MemorySnapshot, MemRecord

STATUS_ORDER = {"attributed": 0, "retrieved": 1, "new": 2, "": 3, "removed": 4}


def _status(record: MemRecord, step: int, retrieved: set[str], added: set[str],
            attributed: AbstractSet[str] = frozenset()) -> str:
    if record.removed_step is not None and record.removed_step <= step:
        return "removed"
    if record.id in attributed:
        return "attributed"
    if record.id in retrieved:
        return "retrieved"
    if record.id in added or record.added_step == step:
        return "new"
    return ""


def _attrs(attrs: dict[str, Any]) -> str:
    return json.dumps(attrs, ensure_ascii=False, default=str) if attrs else ""


def records_frame(snapshot: MemorySnapshot, step: int, added: set[str] | None = None,
                  attributed: set[str] | None = None) -> pd.DataFrame:
    """One row per record: status (attributed / retrieved / new / removed), id, kind, text, added step, attrs.
    ``attributed``: the records that attribution found moving this step's choice."""
    retrieved, added = set(snapshot.retrieved), added or set()
    rows = [{"status": _status(r, step, retrieved, added, attributed or set()), "id": r.id, "kind": r.kind,
             "text": r.text,
             "added": r.added_step, "attrs": _attrs(r.attrs)} for r in snapshot.records]
    frame = pd.DataFrame(rows, columns=["status", "id", "kind", "text", "added", "attrs"])
    if len(frame):
        frame = frame.sort_values("status", key=lambda s: s.map(STATUS_ORDER), kind="stable")
    return frame.reset_index(drop=True)


def highlight(frame: pd.DataFrame) -> Any:
    """A pandas Styler colouring attributed rows orange, retrieved rows gold, new rows green and removed rows
    grey."""
    colors = {"attributed": "background-color: #ffd8b0", "retrieved": "background-color: #fff3b0",
              "new": "background-color: #d9f2d9",
              "removed": "color: #999999"}
    return frame.style.apply(lambda row: [colors.get(row["status"], "")] * len(row), axis=1)


def _label(item: MemNode | MemEdge | MemRecord) -> str:
    if isinstance(item, MemRecord):
        return item.text
    if isinstance(item, MemEdge):
        return f"{item.source} -[{item.label or item.kind}]-> {item.target}"
    return item.label


def diff_frame(change: MemoryDiff, before: MemorySnapshot | None = None) -> pd.DataFrame:
    """Rows ``change, what, id, text`` for a diff; removed items take their text from ``before``."""
    old: dict[str, Any] = {}
    if before is not None:
        old = {i.id: i for i in (*before.nodes, *before.edges, *before.records)}
    rows = []
    for what in ("nodes", "edges", "records"):
        for item in getattr(change, f"{what}_added"):
            rows.append(("added", what[:-1], item.id, _label(item)))
        for item in getattr(change, f"{what}_changed"):
            rows.append(("changed", what[:-1], item.id, _label(item)))
        for item_id in getattr(change, f"{what}_removed"):
            rows.append(("removed", what[:-1], item_id, _label(old[item_id]) if item_id in old else ""))
    if change.prompt_text is not None:
        rows.append(("changed", "prompt", "prompt_text", change.prompt_text[:200]))
    return pd.DataFrame(rows, columns=["change", "what", "id", "text"])


def trial_changes(before: MemorySnapshot | None, after: MemorySnapshot) -> pd.DataFrame:
    """What the memory gained, changed and lost between two trial ends (generic snapshot diff)."""
    change = memlib.diff(before, after).model_copy(update={"prompt_text": None, "retrieved": None})
    return diff_frame(change, before)


SIGNS = {"added": "+", "changed": "~", "removed": "-"}


def diff_text(change: MemoryDiff, before: MemorySnapshot | None = None, limit: int = 200) -> str:
    """One line per change (``+ node n3: label``), at most ``limit`` lines (plain text, cheap to redraw)."""
    frame = diff_frame(change, before)
    lines = [f"{SIGNS[c]} {w} {i}: {t}" for c, w, i, t in frame.itertuples(index=False)]
    more = f"\n… and {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more if lines else "(no change)"


def matches(query: str, *texts: object) -> bool:
    """Whether every word of ``query`` occurs (case-insensitive) in the joined texts."""
    hay = " ".join(str(t) for t in texts).lower()
    return all(word in hay for word in query.lower().split())


def filter_snapshot(snapshot: MemorySnapshot, query: str) -> MemorySnapshot:
    """The items whose text holds every word of ``query``: nodes by id, label and attributes, edges by label
    and attributes (a matching edge keeps its two ends), records by text and kind; the rest as it was.

    >>> from lab.core.records import MemEdge, MemNode, MemRecord
    >>> snap = MemorySnapshot(nodes=[MemNode(id="v:key", kind="object", label="key"),
    ...                              MemNode(id="v:box", kind="object", label="box"),
    ...                              MemNode(id="v:hall", kind="room", label="hall")],
    ...                       edges=[MemEdge(id="t0", source="v:key", target="v:box", kind="semantic",
    ...                                      label="is in", attrs={"triplet": "key, is in, box"})],
    ...                       records=[MemRecord(id="r1", kind="episodic", text="A key on the table")])
    >>> kept = filter_snapshot(snap, "KEY")
    >>> [n.id for n in kept.nodes], [e.id for e in kept.edges], [r.id for r in kept.records]
    (['v:key', 'v:box'], ['t0'], ['r1'])
    >>> [n.id for n in filter_snapshot(snap, "hall").nodes], filter_snapshot(snap, "hall").edges
    (['v:hall'], [])
    """
    if not query.strip():
        return snapshot
    edges = [e for e in snapshot.edges if matches(query, e.label, e.kind, e.attrs)]
    ends = {i for e in edges for i in (e.source, e.target)}
    nodes = [n for n in snapshot.nodes if n.id in ends or matches(query, n.id, n.label, n.attrs)]
    records = [r for r in snapshot.records if matches(query, r.text, r.kind)]
    return snapshot.model_copy(update={"nodes": nodes, "edges": edges, "records": records})
